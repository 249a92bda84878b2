package initramfs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// RouteInterface returns the interface the host routes dst through, from
// /proc/net/route (IPv4) or /proc/net/ipv6_route: the matching route with
// the longest prefix, then the lowest metric.
func (h Host) RouteInterface(dst netip.Addr) (string, error) {
	file := "/proc/net/route"
	parse := parseRoute4
	if dst.Is6() && !dst.Is4In6() {
		file, parse = "/proc/net/ipv6_route", parseRoute6
	}
	b, err := h.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("route to %s: %w", dst, err)
	}
	routes, err := parse(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	best := -1
	for i, r := range routes {
		if r.iface == "lo" || !r.prefix.Contains(dst.Unmap()) {
			continue
		}
		if best < 0 || r.prefix.Bits() > routes[best].prefix.Bits() ||
			(r.prefix.Bits() == routes[best].prefix.Bits() && r.metric < routes[best].metric) {
			best = i
		}
	}
	if best < 0 {
		return "", fmt.Errorf("no route to %s in %s", dst, file)
	}
	return routes[best].iface, nil
}

type route struct {
	iface  string
	prefix netip.Prefix
	metric uint64
}

const rtfUp = 0x1

// parseRoute4 reads /proc/net/route: addresses are little-endian hex.
func parseRoute4(b []byte) ([]route, error) {
	var out []route
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if n == 1 || len(f) == 0 {
			continue // header
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("line %d: want 11 fields, got %d", n, len(f))
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		flags, err2 := strconv.ParseUint(f[3], 16, 32)
		metric, err3 := strconv.ParseUint(f[6], 10, 32)
		mask, err4 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("line %d: bad number in %q", n, sc.Text())
		}
		if flags&rtfUp == 0 {
			continue
		}
		var a, m [4]byte
		binary.LittleEndian.PutUint32(a[:], uint32(dst))
		binary.LittleEndian.PutUint32(m[:], uint32(mask))
		bits := 0
		for _, x := range m {
			for ; x&0x80 != 0; x <<= 1 {
				bits++
			}
		}
		p, err := netip.AddrFrom4(a).Prefix(bits)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, route{iface: f[0], prefix: p, metric: metric})
	}
	return out, sc.Err()
}

// parseRoute6 reads /proc/net/ipv6_route: DEST PLEN SRC SLEN NEXTHOP
// METRIC REFCNT USE FLAGS IFACE, addresses as 32 hex digits.
func parseRoute6(b []byte) ([]route, error) {
	var out []route
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 10 || len(f[0]) != 32 {
			return nil, fmt.Errorf("line %d: want 10 fields starting with a 32-digit address", n)
		}
		raw, err := hex.DecodeString(f[0])
		plen, err2 := strconv.ParseUint(f[1], 16, 8)
		metric, err3 := strconv.ParseUint(f[5], 16, 32)
		flags, err4 := strconv.ParseUint(f[8], 16, 32)
		if err != nil || err2 != nil || err3 != nil || err4 != nil || plen > 128 {
			return nil, fmt.Errorf("line %d: bad field in %q", n, sc.Text())
		}
		if flags&rtfUp == 0 {
			continue
		}
		p, err := netip.AddrFrom16([16]byte(raw)).Prefix(int(plen))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, route{iface: f[9], prefix: p, metric: metric})
	}
	return out, sc.Err()
}
