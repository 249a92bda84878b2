package capture

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// reply builds a BOOTREPLY the way a server (QEMU's slirp, dnsmasq)
// sends one.
func reply(typ byte, xid uint32, opts ...[]byte) []byte {
	b := make([]byte, 240)
	b[0], b[1], b[2] = 2, 1, 6
	b[4], b[5], b[6], b[7] = byte(xid>>24), byte(xid>>16), byte(xid>>8), byte(xid)
	copy(b[16:20], []byte{10, 0, 2, 15})
	copy(b[236:], dhcpCookie[:])
	b = append(b, 53, 1, typ)
	for _, o := range opts {
		b = append(b, o...)
	}
	return append(b, 255)
}

func TestDHCPMessage(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	m := dhcpMessage(dhcpRequest, 0x01020304, mac, netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("10.0.2.2"))
	if m[0] != 1 || !bytes.Equal(m[4:8], []byte{1, 2, 3, 4}) || !bytes.Equal(m[28:34], mac) || m[10] != 0x80 {
		t.Errorf("header % x", m[:44])
	}
	opts := m[240:]
	for _, want := range [][]byte{{53, 1, 3}, {50, 4, 10, 0, 2, 15}, {54, 4, 10, 0, 2, 2}, {55, 4, 1, 3, 6, 51}} {
		if !bytes.Contains(opts, want) {
			t.Errorf("options % x lack % x", opts, want)
		}
	}
	if opts[len(opts)-1] != 255 {
		t.Error("no end option")
	}
	d := dhcpMessage(dhcpDiscover, 1, mac, netip.Addr{}, netip.Addr{})
	if bytes.Contains(d[240:], []byte{50, 4}) {
		t.Error("DISCOVER carries a requested address")
	}
}

func TestParseDHCPReply(t *testing.T) {
	b := reply(dhcpAck, 7, []byte{0, 0}, []byte{1, 4, 255, 255, 255, 0}, []byte{3, 4, 10, 0, 2, 2},
		[]byte{6, 8, 10, 0, 2, 3, 1, 1, 1, 1}, []byte{54, 4, 10, 0, 2, 2}, []byte{51, 4, 0, 1, 81, 128})
	r, err := parseDHCPReply(b)
	if err != nil {
		t.Fatal(err)
	}
	l, err := r.lease()
	if err != nil {
		t.Fatal(err)
	}
	if r.typ != dhcpAck || r.xid != 7 || l.Addr != netip.MustParsePrefix("10.0.2.15/24") ||
		l.Gateway != netip.MustParseAddr("10.0.2.2") || len(l.DNS) != 2 || l.Server != netip.MustParseAddr("10.0.2.2") {
		t.Errorf("reply %+v lease %+v", r, l)
	}
}

func TestParseDHCPReplyErrors(t *testing.T) {
	good := reply(dhcpOffer, 1)
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"short", good[:100], "100-byte message"},
		{"request", append([]byte{1}, good[1:]...), "op 1 at offset 0"},
		{"cookie", append(append(append([]byte{}, good[:236]...), 1, 2, 3, 4), good[240:]...), "bad magic cookie"},
		{"truncated option", append(append([]byte{}, good[:243]...), 3, 9, 1), "option 3 at offset 243: length 9 runs past"},
		{"no length", append(append([]byte{}, good[:243]...), 3), "option 3 at offset 243 has no length"},
		{"no type", append(append([]byte{}, good[:240]...), 255), "without a message type"},
	}
	for _, tt := range tests {
		if _, err := parseDHCPReply(tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
	r, _ := parseDHCPReply(reply(dhcpAck, 1, []byte{1, 4, 255, 0, 255, 0}))
	if _, err := r.lease(); err == nil {
		t.Error("non-contiguous mask accepted")
	}
}

func FuzzParseDHCPReply(f *testing.F) {
	f.Add(reply(dhcpAck, 7, []byte{1, 4, 255, 255, 255, 0}, []byte{3, 4, 10, 0, 2, 2}))
	f.Add(reply(dhcpOffer, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseDHCPReply(b)
		if err != nil {
			return
		}
		r.lease()
	})
}
