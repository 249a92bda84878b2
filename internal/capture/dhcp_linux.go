package capture

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dhcp asks for an address on the interface ifname (which must be up):
// DISCOVER, OFFER, REQUEST, ACK, each sent again with a doubling wait
// (1, 2, 4, 8 s) until ctx ends. It uses a UDP socket bound to the device
// with broadcast allowed, which Linux lets send from an interface with no
// address yet.
func dhcp(ctx context.Context, ifname string, mac net.HardwareAddr) (Lease, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
				return
			}
			serr = unix.BindToDevice(int(fd), ifname)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:68")
	if err != nil {
		return Lease{}, fmt.Errorf("dhcp on %s: %w", ifname, err)
	}
	defer pc.Close()
	var x [4]byte
	rand.Read(x[:])
	xid := binary.BigEndian.Uint32(x[:])
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 67}

	exchange := func(msg []byte, want byte) (*dhcpReply, error) {
		wait := time.Second
		for {
			if _, err := pc.WriteTo(msg, bcast); err != nil {
				return nil, fmt.Errorf("dhcp send on %s: %w", ifname, err)
			}
			end := time.Now().Add(wait)
			if d, ok := ctx.Deadline(); ok && d.Before(end) {
				end = d
			}
			pc.SetReadDeadline(end)
			buf := make([]byte, 1500)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						break
					}
					return nil, fmt.Errorf("dhcp receive on %s: %w", ifname, err)
				}
				r, err := parseDHCPReply(buf[:n])
				if err != nil || r.xid != xid {
					continue // another client's, or garbage
				}
				if r.typ == dhcpNak {
					return nil, fmt.Errorf("dhcp on %s: server %v sent NAK", ifname, r.server)
				}
				if r.typ == want {
					return r, nil
				}
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("dhcp on %s: no answer: %w", ifname, ctx.Err())
			}
			wait = min(2*wait, 8*time.Second)
		}
	}
	offer, err := exchange(dhcpMessage(dhcpDiscover, xid, mac, netip.Addr{}, netip.Addr{}), dhcpOffer)
	if err != nil {
		return Lease{}, err
	}
	if !offer.server.IsValid() {
		return Lease{}, fmt.Errorf("dhcp on %s: offer of %v names no server", ifname, offer.yiaddr)
	}
	ack, err := exchange(dhcpMessage(dhcpRequest, xid, mac, offer.yiaddr, offer.server), dhcpAck)
	if err != nil {
		return Lease{}, err
	}
	return ack.lease()
}
