package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

// setupNetwork brings up loopback and the interface n names (by name or
// MAC address; the first non-loopback interface if none), configures it as
// n says and waits for its link until ctx ends. It returns the address.
func setupNetwork(ctx context.Context, n kdumpconf.Net, logf func(string, ...any)) (string, error) {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	link, err := waitLink(ctx, n.Interface)
	if err != nil {
		return "", err
	}
	name := link.Attrs().Name
	if err := netlink.LinkSetUp(link); err != nil {
		return "", fmt.Errorf("%s up: %w", name, err)
	}
	switch n.Mode {
	case kdumpconf.NetStatic:
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.Address.Addr().AsSlice(), Mask: net.CIDRMask(n.Address.Bits(), n.Address.Addr().BitLen())}}
		if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("%s: add %s: %w", name, n.Address, err)
		}
		if err := waitCarrier(ctx, name); err != nil {
			return "", err
		}
		if n.Gateway.IsValid() {
			r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: n.Gateway.AsSlice()}
			if err := netlink.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
				return "", fmt.Errorf("%s: default route via %s: %w", name, n.Gateway, err)
			}
		}
		logf("network: %s %s gateway %v", name, n.Address, n.Gateway)
		return n.Address.Addr().String(), nil
	case kdumpconf.NetDHCP:
		if err := waitCarrier(ctx, name); err != nil {
			return "", err
		}
		l, err := dhcp(ctx, name, link.Attrs().HardwareAddr)
		if err != nil {
			return "", err
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: l.Addr.Addr().AsSlice(), Mask: net.CIDRMask(l.Addr.Bits(), 32)}}
		if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("%s: add %s: %w", name, l.Addr, err)
		}
		if l.Gateway.IsValid() {
			r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: l.Gateway.AsSlice()}
			if err := netlink.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
				return "", fmt.Errorf("%s: default route via %s: %w", name, l.Gateway, err)
			}
		}
		logf("network: %s %s gateway %v from DHCP server %v", name, l.Addr, l.Gateway, l.Server)
		return l.Addr.Addr().String(), nil
	}
	return "", fmt.Errorf("net_config %q: kdumpctl should have resolved it to static", n.Mode)
}

// waitLink waits for the interface to appear (drivers probe after their
// module loads).
func waitLink(ctx context.Context, want string) (netlink.Link, error) {
	for {
		links, err := netlink.LinkList()
		if err != nil {
			return nil, fmt.Errorf("list interfaces: %w", err)
		}
		for _, l := range links {
			a := l.Attrs()
			if a.Name == "lo" || a.Flags&net.FlagLoopback != 0 {
				continue
			}
			if want == "" || a.Name == want || strings.EqualFold(a.HardwareAddr.String(), want) {
				return l, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for network interface %q: %w", want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitCarrier waits until the link reports carrier.
func waitCarrier(ctx context.Context, name string) error {
	for {
		l, err := netlink.LinkByName(name)
		if err == nil && (l.Attrs().OperState == netlink.OperUp || l.Attrs().OperState == netlink.OperUnknown) && l.Attrs().Flags&net.FlagUp != 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for carrier on %s: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
