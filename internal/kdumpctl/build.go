package kdumpctl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kdumpkit/kdumpkit/initramfs"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

// Image is a capture initramfs ready to load, with what it was built from.
type Image struct {
	Release string
	Kernel  string // capture kernel image, inside Root
	Path    string // initramfs, inside Root
	Result  *initramfs.Result
	// Baked is the config as stored in the image: the target, path and
	// network resolved on this system.
	Baked *kdumpconf.Config
}

// resolved is a config with everything looked up on the running system.
type resolved struct {
	baked  *kdumpconf.Config
	target initramfs.Target
	// dumpDir is where the dumps land as seen from the running system
	// when the target is mounted here ("" otherwise).
	dumpDir string
}

// resolve works out the target, dump path and network on this system
// and returns the config to bake into the image.
func (e *Env) resolve(ctx context.Context, cfg *kdumpconf.Config) (*resolved, error) {
	host := initramfs.Host{Root: e.rootOrSlash()}
	c := *cfg
	r := &resolved{baked: &c}
	switch cfg.Target.Kind {
	case kdumpconf.TargetDefault:
		mounts, err := host.Mounts()
		if err != nil {
			return nil, fmt.Errorf("find the file system of path %s: %w", cfg.Path, err)
		}
		m, ok := initramfs.MountOf(mounts, cfg.Path)
		if !ok {
			return nil, fmt.Errorf("%s:%d: path %s: no mounted file system holds it", cfg.File, cfg.Line("path"), cfg.Path)
		}
		rel := strings.TrimPrefix(cfg.Path, m.MountPoint)
		rel = path.Join("/", m.Root, rel)
		r.dumpDir = e.path(cfg.Path)
		switch {
		case m.FSType == "nfs" || m.FSType == "nfs4":
			host, export, ok := strings.Cut(m.Source, ":")
			if !ok {
				return nil, fmt.Errorf("path %s is on NFS mount %s without host:export", cfg.Path, m.Source)
			}
			c.Target = kdumpconf.Target{Kind: kdumpconf.TargetNFS, Host: strings.Trim(host, "[]"), Export: export}
		default:
			dev, err := host.BlockDeviceOfMount(m)
			if err != nil {
				return nil, fmt.Errorf("path %s: %w", cfg.Path, err)
			}
			c.Target = kdumpconf.Target{Kind: kdumpconf.TargetFS, FSType: m.FSType, Device: e.stableDeviceName(dev)}
		}
		c.Path = rel
	case kdumpconf.TargetFS:
		if mp := e.mountPointOf(cfg.Target.Device); mp != "" {
			r.dumpDir = e.path(path.Join(mp, cfg.Path))
		}
	}
	t := c.Target
	switch t.Kind {
	case kdumpconf.TargetFS, kdumpconf.TargetRaw:
		kind := initramfs.TargetBlock
		if t.Kind == kdumpconf.TargetRaw {
			kind = initramfs.TargetRaw
		}
		dev, err := e.blockDevice(t.Device)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", cfg.File, cfg.Line("target"), err)
		}
		r.target = initramfs.Target{Kind: kind, Device: dev, FSType: t.FSType}
	case kdumpconf.TargetNFS, kdumpconf.TargetSSH:
		addr, err := lookupAddr(ctx, t.Host)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", cfg.File, cfg.Line("target"), err)
		}
		kind := initramfs.TargetNFS
		if t.Kind == kdumpconf.TargetSSH {
			kind = initramfs.TargetSSH
		}
		r.target = initramfs.Target{Kind: kind, Addr: addr}
		ifname := ""
		if c.Net.Interface != "" && !strings.Contains(c.Net.Interface, ":") {
			ifname = c.Net.Interface
		}
		if ifname == "" {
			if ifname, err = host.RouteInterface(addr); err != nil {
				return nil, err
			}
		}
		r.target.Interface = ifname
		if c.Net.Mode == kdumpconf.NetAuto || c.Net.Mode == "" {
			if err := e.copyNetwork(&c, host, ifname, addr); err != nil {
				return nil, err
			}
		} else if c.Net.Interface == "" {
			// dhcp or static without an interface: the one that routes
			// to the server here, by MAC address (the capture kernel may
			// name it differently).
			c.Net.Interface = e.interfaceID(ifname)
		}
	}
	if t.Kind == kdumpconf.TargetSSH {
		c.SSHKey = "/" + initramfs.SSHKeyPath
		c.SSHKnownHosts = "/" + initramfs.KnownHostsPath
	}
	return r, nil
}

func (e *Env) rootOrSlash() string {
	if e.Root == "" {
		return "/"
	}
	return e.Root
}

// blockDevice turns a kdump.conf device into a /sys/class/block name.
// UUID= and LABEL= go through udev's /dev/disk links; without udev (a
// minimal system) every block device's superblock is probed.
func (e *Env) blockDevice(spec string) (string, error) {
	host := initramfs.Host{Root: e.rootOrSlash()}
	name, err := host.BlockDevice(spec)
	if err == nil {
		return name, nil
	}
	if dev := e.probeDevice(spec); dev != "" {
		return dev, nil
	}
	return "", err
}

// stableDeviceName names a block device by its file system UUID when
// udev made a link for it, else by its kernel name.
func (e *Env) stableDeviceName(dev string) string {
	host := initramfs.Host{Root: e.rootOrSlash()}
	ents, _ := os.ReadDir(e.path("/dev/disk/by-uuid"))
	for _, ent := range ents {
		if p, err := host.Resolve("/dev/disk/by-uuid/" + ent.Name()); err == nil && path.Base(p) == dev {
			return "UUID=" + ent.Name()
		}
	}
	if u := e.probeUUID(dev); u != "" {
		return "UUID=" + u
	}
	return "/dev/" + dev
}

// mountPointOf returns where the running system has the device mounted.
func (e *Env) mountPointOf(spec string) string {
	host := initramfs.Host{Root: e.rootOrSlash()}
	dev, err := e.blockDevice(spec)
	if err != nil {
		return ""
	}
	mounts, err := host.Mounts()
	if err != nil {
		return ""
	}
	for _, m := range mounts {
		if d, err := host.BlockDeviceOfMount(m); err == nil && d == dev && m.Root == "/" {
			return m.MountPoint
		}
	}
	return ""
}

// lookupAddr resolves a host name; an IP address is returned as is.
func lookupAddr(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: %v", host, err)
	}
	// IPv4 first, as kdump-utils prefers it.
	sort.SliceStable(addrs, func(i, j int) bool { return addrs[i].Unmap().Is4() && !addrs[j].Unmap().Is4() })
	return addrs[0].Unmap(), nil
}

// copyNetwork turns net_config auto into a static configuration: the
// address, gateway and name servers the interface has now, and the
// interface named by its MAC address (kernel names may differ in the
// capture kernel).
func (e *Env) copyNetwork(c *kdumpconf.Config, host initramfs.Host, ifname string, dst netip.Addr) error {
	if e.InterfaceAddrs == nil {
		return errors.New("net_config auto: no way to read interface addresses")
	}
	addrs, err := e.InterfaceAddrs(ifname)
	if err != nil {
		return fmt.Errorf("net_config auto: addresses of %s: %w", ifname, err)
	}
	var pick netip.Prefix
	for _, a := range addrs {
		if a.Addr().Is4() == dst.Is4() && !a.Addr().IsLinkLocalUnicast() && !a.Addr().IsLoopback() {
			pick = a
			break
		}
	}
	if !pick.IsValid() {
		return fmt.Errorf("net_config auto: %s has no address of the target's family to copy; set net_config dhcp or static", ifname)
	}
	n := kdumpconf.Net{Mode: kdumpconf.NetStatic, Address: pick, Interface: e.interfaceID(ifname)}
	if !pick.Contains(dst) {
		if gw, ok := defaultGateway(e.path("/proc/net/route"), ifname); ok && dst.Is4() {
			n.Gateway = gw
		}
	}
	n.DNS = nameservers(e.path("/etc/resolv.conf"))
	c.Net = n
	return nil
}

// interfaceID names an interface by its MAC address when it has one.
func (e *Env) interfaceID(ifname string) string {
	if mac, err := os.ReadFile(e.path("/sys/class/net/" + ifname + "/address")); err == nil {
		if m := strings.TrimSpace(string(mac)); m != "" && m != "00:00:00:00:00:00" {
			return m
		}
	}
	return ifname
}

// defaultGateway reads the IPv4 default route of ifname.
func defaultGateway(routeFile, ifname string) (netip.Addr, bool) {
	b, err := os.ReadFile(routeFile)
	if err != nil {
		return netip.Addr{}, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] != ifname || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		var gw [4]byte
		if _, err := fmt.Sscanf(f[2], "%02X%02X%02X%02X", &gw[3], &gw[2], &gw[1], &gw[0]); err == nil && gw != [4]byte{} {
			return netip.AddrFrom4(gw), true
		}
	}
	return netip.Addr{}, false
}

// nameservers reads the nameserver lines of resolv.conf, skipping
// loopback resolvers (systemd-resolved's 127.0.0.53) the capture
// kernel does not have.
func nameservers(file string) []netip.Addr {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && !a.IsLoopback() {
				out = append(out, a)
			}
		}
	}
	return out
}

// programs lists the hooks and extra_bins with the executables of the
// hook directories, as paths inside Root.
func (e *Env) programs(cfg *kdumpconf.Config) ([]string, error) {
	var out []string
	for _, p := range []string{cfg.Hooks.Pre, cfg.Hooks.Post, cfg.Hooks.Emergency} {
		if p != "" {
			out = append(out, p)
		}
	}
	out = append(out, cfg.ExtraBins...)
	for _, dir := range []string{kdumpconf.PreDir, kdumpconf.PostDir, kdumpconf.EmergencyDir} {
		ents, err := os.ReadDir(e.path(dir))
		if err != nil {
			continue
		}
		for _, ent := range ents {
			if fi, err := ent.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				out = append(out, path.Join(dir, ent.Name()))
			}
		}
	}
	for _, p := range out {
		fi, err := os.Stat(e.path(p))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if fi.Mode().Perm()&0o111 == 0 {
			return nil, fmt.Errorf("%s is not executable", p)
		}
	}
	return out, nil
}

// knownHosts returns the known_hosts text baked into an image for an
// ssh target: the pinned key, or the configured file, or the one
// `kdumpctl propagate` recorded.
func (e *Env) knownHosts(cfg *kdumpconf.Config) ([]byte, error) {
	t := cfg.Target
	hostPat := t.Host
	if cfg.SSHPort != 0 && cfg.SSHPort != 22 {
		hostPat = fmt.Sprintf("[%s]:%d", t.Host, cfg.SSHPort)
	}
	if cfg.SSHHostKey != "" {
		return []byte(hostPat + " " + cfg.SSHHostKey + "\n"), nil
	}
	for _, f := range []string{cfg.SSHKnownHosts, path.Join(e.stateDir(), "known_hosts")} {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(e.path(f))
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, os.ErrNotExist) || f == cfg.SSHKnownHosts {
			return nil, fmt.Errorf("%s:%d: %w", cfg.File, cfg.Line("ssh_known_hosts"), err)
		}
	}
	return nil, fmt.Errorf("no known host key for %s: run `kdumpctl propagate` (or set ssh_host_key)", t.Host)
}

// Spec returns the initramfs build spec for a config.
func (e *Env) Spec(ctx context.Context, cfg *kdumpconf.Config) (initramfs.Spec, *resolved, error) {
	var spec initramfs.Spec
	rel, err := e.release()
	if err != nil {
		return spec, nil, err
	}
	r, err := e.resolve(ctx, cfg)
	if err != nil {
		return spec, nil, err
	}
	init, err := e.captureInit()
	if err != nil {
		return spec, nil, err
	}
	progs, err := e.programs(cfg)
	if err != nil {
		return spec, nil, err
	}
	for i, p := range progs {
		progs[i] = e.path(p)
	}
	spec = initramfs.Spec{
		Host:          initramfs.Host{Root: e.rootOrSlash()},
		KernelRelease: rel,
		ModulesDir:    e.path("/lib/modules/" + rel),
		FirmwareDir:   e.path("/lib/firmware"),
		KernelConfig:  e.path("/boot/config-" + rel),
		KernelImage:   e.path(e.kernelImage(rel)),
		Init:          e.path(init),
		Config:        kdumpconf.Canonical(r.baked),
		Target:        r.target,
		Programs:      progs,
		ExtraModules:  cfg.ExtraModules,
	}
	if cfg.Target.Kind == kdumpconf.TargetSSH {
		key := e.path(cfg.SSHKey)
		if _, err := os.Stat(key); err != nil {
			return spec, nil, fmt.Errorf("ssh key %s: %w (run `kdumpctl propagate`)", cfg.SSHKey, err)
		}
		spec.SSHKey = key
		if spec.KnownHosts, err = e.knownHosts(cfg); err != nil {
			return spec, nil, err
		}
	}
	return spec, r, nil
}

// Build builds the capture initramfs unless it is up to date (force
// rebuilds anyway; force_no_rebuild uses an existing image as it is).
func (e *Env) Build(ctx context.Context, cfg *kdumpconf.Config, force bool) (*Image, error) {
	spec, r, err := e.Spec(ctx, cfg)
	if err != nil {
		return nil, err
	}
	img := &Image{Release: spec.KernelRelease, Kernel: e.kernelImage(spec.KernelRelease), Baked: r.baked}
	img.Path = filepath.Join(e.stateDir(), filepath.Base(initramfs.ImagePath(spec.KernelRelease)))
	if _, err := os.Stat(e.path(img.Kernel)); err != nil {
		return nil, fmt.Errorf("capture kernel: %w", err)
	}
	out := e.path(img.Path)
	if cfg.ForceNoRebuild && !force {
		if fi, err := os.Stat(out); err == nil {
			e.warnf("force_no_rebuild: using %s as it is", img.Path)
			img.Result = &initramfs.Result{Path: out, Bytes: fi.Size()}
			return img, nil
		}
	}
	res, err := initramfs.Build(spec, out, force || cfg.ForceRebuild)
	if err != nil {
		return nil, err
	}
	for _, w := range res.Plan.Warnings {
		e.warnf("warning: %s", w)
	}
	img.Result = res
	return img, nil
}
