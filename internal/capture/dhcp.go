package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// DHCPv4 message types (RFC 2132 option 53).
const (
	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5
	dhcpNak      = 6
)

// dhcpCookie is the magic cookie that starts the options (RFC 2131).
var dhcpCookie = [4]byte{99, 130, 83, 99}

// Lease is what a DHCP server gave us.
type Lease struct {
	Addr    netip.Prefix
	Gateway netip.Addr // invalid if the server named no router
	DNS     []netip.Addr
	Server  netip.Addr // the server identifier (option 54)
}

// dhcpMessage builds a client message: DISCOVER, or REQUEST for offered
// from server. The broadcast flag asks the server to broadcast its reply,
// since we have no address to receive unicast on.
func dhcpMessage(typ byte, xid uint32, mac net.HardwareAddr, offered, server netip.Addr) []byte {
	b := make([]byte, 240, 300)
	b[0], b[1], b[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, hlen
	binary.BigEndian.PutUint32(b[4:], xid)
	binary.BigEndian.PutUint16(b[10:], 0x8000)
	copy(b[28:44], mac)
	copy(b[236:240], dhcpCookie[:])
	b = append(b, 53, 1, typ)
	if typ == dhcpRequest {
		o, s := offered.As4(), server.As4()
		b = append(b, 50, 4, o[0], o[1], o[2], o[3])
		b = append(b, 54, 4, s[0], s[1], s[2], s[3])
	}
	b = append(b, 55, 4, 1, 3, 6, 51) // subnet mask, router, DNS, lease time
	b = append(b, 255)
	return b
}

// dhcpReply is a parsed server message.
type dhcpReply struct {
	typ    byte
	xid    uint32
	yiaddr netip.Addr
	mask   net.IPMask
	router netip.Addr
	dns    []netip.Addr
	server netip.Addr
}

// parseDHCPReply reads a BOOTREPLY. The bytes come from the network:
// every length is checked, and errors name the offset.
func parseDHCPReply(b []byte) (*dhcpReply, error) {
	if len(b) < 240 {
		return nil, fmt.Errorf("dhcp: %d-byte message, want at least 240", len(b))
	}
	if b[0] != 2 {
		return nil, fmt.Errorf("dhcp: op %d at offset 0, want 2 (BOOTREPLY)", b[0])
	}
	if [4]byte(b[236:240]) != dhcpCookie {
		return nil, fmt.Errorf("dhcp: bad magic cookie % x at offset 236", b[236:240])
	}
	r := &dhcpReply{xid: binary.BigEndian.Uint32(b[4:]), yiaddr: netip.AddrFrom4([4]byte(b[16:20]))}
	for off := 240; off < len(b); {
		code := b[off]
		if code == 255 {
			break
		}
		if code == 0 {
			off++
			continue
		}
		if off+1 >= len(b) {
			return nil, fmt.Errorf("dhcp: option %d at offset %d has no length", code, off)
		}
		n := int(b[off+1])
		if off+2+n > len(b) {
			return nil, fmt.Errorf("dhcp: option %d at offset %d: length %d runs past the end (%d bytes)", code, off, n, len(b))
		}
		v := b[off+2 : off+2+n]
		switch code {
		case 53:
			if n == 1 {
				r.typ = v[0]
			}
		case 1:
			if n == 4 {
				r.mask = net.IPMask(append([]byte(nil), v...))
			}
		case 3:
			if n >= 4 {
				r.router = netip.AddrFrom4([4]byte(v[:4]))
			}
		case 6:
			for i := 0; i+4 <= n; i += 4 {
				r.dns = append(r.dns, netip.AddrFrom4([4]byte(v[i:i+4])))
			}
		case 54:
			if n == 4 {
				r.server = netip.AddrFrom4([4]byte(v))
			}
		}
		off += 2 + n
	}
	if r.typ == 0 {
		return nil, errors.New("dhcp: reply without a message type (option 53)")
	}
	return r, nil
}

// lease turns an ACK into a Lease.
func (r *dhcpReply) lease() (Lease, error) {
	if !r.yiaddr.IsValid() || r.yiaddr.IsUnspecified() {
		return Lease{}, errors.New("dhcp: ACK without an address")
	}
	bits := 24
	if r.mask != nil {
		ones, size := r.mask.Size()
		if size != 32 {
			return Lease{}, fmt.Errorf("dhcp: subnet mask %v is not contiguous", r.mask)
		}
		bits = ones
	}
	return Lease{Addr: netip.PrefixFrom(r.yiaddr, bits), Gateway: r.router, DNS: r.dns, Server: r.server}, nil
}
