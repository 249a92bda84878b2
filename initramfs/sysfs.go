package initramfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Host is the system the image is built for, seen through a root
// directory: "/" in production, a fixture tree in tests. All paths below
// are absolute paths inside that root.
type Host struct {
	Root string
}

func (h Host) abs(p string) string { return filepath.Join(h.Root, filepath.FromSlash(p)) }

// ReadFile reads a file inside the root.
func (h Host) ReadFile(p string) ([]byte, error) { return os.ReadFile(h.abs(p)) }

// Resolve follows symbolic links in p component by component, treating
// absolute link targets as relative to the root, and returns the
// resulting absolute path inside the root.
func (h Host) Resolve(p string) (string, error) {
	todo := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	done := "/"
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, c)
		fi, err := os.Lstat(h.abs(next))
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			done = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("resolve %s: too many symbolic links", p)
		}
		target, err := os.Readlink(h.abs(next))
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		if strings.HasPrefix(target, "/") {
			done = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return done, nil
}

// Device is one device in the chain between a target and the bus it
// hangs off, as /sys shows it.
type Device struct {
	SysPath  string // e.g. /sys/devices/pci0000:00/0000:00:04.0/virtio1
	Driver   string // bound driver name ("" when none)
	Module   string // module of the bound driver ("" when built in or none)
	Modalias string // the device's modalias, if any
}

// deviceChain returns sysPath and each parent up to /sys/devices, nearest
// first, with their drivers.
func (h Host) deviceChain(sysPath string) ([]Device, error) {
	var out []Device
	for p := sysPath; strings.HasPrefix(p, "/sys/devices/"); p = path.Dir(p) {
		d := Device{SysPath: p}
		if drv, err := h.Resolve(p + "/driver"); err == nil {
			d.Driver = path.Base(drv)
			if mod, err := h.Resolve(drv + "/module"); err == nil {
				d.Module = ModuleName(path.Base(mod))
			}
		}
		if b, err := h.ReadFile(p + "/modalias"); err == nil {
			d.Modalias = strings.TrimSpace(string(b))
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is not under /sys/devices", sysPath)
	}
	return out, nil
}

// BlockDevice names a block device the way kdump.conf does and resolves
// it to its name under /sys/class/block (e.g. "vda1"): a /dev path
// (symbolic links such as /dev/mapper/x followed), UUID=, LABEL=,
// PARTUUID= or PARTLABEL=.
func (h Host) BlockDevice(spec string) (string, error) {
	dev := spec
	for prefix, dir := range map[string]string{"UUID=": "by-uuid", "LABEL=": "by-label", "PARTUUID=": "by-partuuid", "PARTLABEL=": "by-partlabel"} {
		if v, ok := strings.CutPrefix(spec, prefix); ok {
			dev = "/dev/disk/" + dir + "/" + strings.Trim(v, `"`)
		}
	}
	if !strings.HasPrefix(dev, "/dev/") {
		return "", fmt.Errorf("block device %q: want a /dev path, UUID=, LABEL=, PARTUUID= or PARTLABEL=", spec)
	}
	p, err := h.Resolve(dev)
	if err != nil {
		return "", fmt.Errorf("block device %s: %w", spec, err)
	}
	name := path.Base(p)
	if _, err := os.Lstat(h.abs("/sys/class/block/" + name)); err != nil {
		return "", fmt.Errorf("block device %s: %s has no /sys/class/block entry: %w", spec, p, err)
	}
	return name, nil
}

// BlockDrivers returns the devices behind block device name (as under
// /sys/class/block) and any stacked devices below it (device-mapper and
// md members through slaves/), plus the modules the stacking itself
// needs (dm_mod, md_mod and the RAID personality).
func (h Host) BlockDrivers(name string) (devs []Device, modules []string, err error) {
	seen := map[string]bool{}
	var walk func(name string) error
	walk = func(name string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		p, err := h.Resolve("/sys/class/block/" + name)
		if err != nil {
			return fmt.Errorf("block device %s: %w", name, err)
		}
		slaves, _ := os.ReadDir(h.abs(p + "/slaves"))
		if len(slaves) == 0 {
			// A partition's own directory has no slaves; its disk's may
			// (a partitioned md array).
			slaves, _ = os.ReadDir(h.abs(path.Dir(p) + "/slaves"))
		}
		switch {
		case strings.HasPrefix(name, "dm-"):
			modules = append(modules, "dm_mod")
		case strings.HasPrefix(name, "md"):
			modules = append(modules, "md_mod")
			if lvl, err := h.ReadFile(p + "/md/level"); err == nil {
				if m := raidModule(strings.TrimSpace(string(lvl))); m != "" {
					modules = append(modules, m)
				}
			}
		}
		if len(slaves) > 0 {
			for _, s := range slaves {
				if err := walk(s.Name()); err != nil {
					return err
				}
			}
			return nil
		}
		chain, err := h.deviceChain(p)
		if err != nil {
			return fmt.Errorf("block device %s: %w", name, err)
		}
		devs = append(devs, chain...)
		return nil
	}
	err = walk(name)
	return devs, modules, err
}

func raidModule(level string) string {
	switch level {
	case "raid0", "raid1", "raid10":
		return level
	case "raid4", "raid5", "raid6":
		return "raid456"
	case "linear":
		return "linear"
	}
	return ""
}

// NetDrivers returns the devices behind network interface ifname and,
// for bonds, bridges, VLANs and other stacked interfaces, behind every
// lower interface, plus the modules the stacking needs.
func (h Host) NetDrivers(ifname string) (devs []Device, modules []string, err error) {
	seen := map[string]bool{}
	var walk func(name string) error
	walk = func(name string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		base := "/sys/class/net/" + name
		if _, err := os.Lstat(h.abs(base)); err != nil {
			return fmt.Errorf("network interface %s: %w", name, err)
		}
		if _, err := os.Stat(h.abs(base + "/bonding")); err == nil {
			modules = append(modules, "bonding")
		}
		if _, err := os.Stat(h.abs(base + "/bridge")); err == nil {
			modules = append(modules, "bridge")
		}
		if ue, err := h.ReadFile(base + "/uevent"); err == nil && strings.Contains(string(ue), "DEVTYPE=vlan") {
			modules = append(modules, "8021q")
		}
		entries, _ := os.ReadDir(h.abs(base))
		var lowers []string
		for _, e := range entries {
			if l, ok := strings.CutPrefix(e.Name(), "lower_"); ok {
				lowers = append(lowers, l)
			}
		}
		sort.Strings(lowers)
		for _, l := range lowers {
			if err := walk(l); err != nil {
				return err
			}
		}
		dev, err := h.Resolve(base + "/device")
		if errors.Is(err, os.ErrNotExist) {
			return nil // virtual: its lowers carry the hardware
		}
		if err != nil {
			return fmt.Errorf("network interface %s: %w", name, err)
		}
		chain, err := h.deviceChain(dev)
		if err != nil {
			return fmt.Errorf("network interface %s: %w", name, err)
		}
		devs = append(devs, chain...)
		return nil
	}
	err = walk(ifname)
	return devs, modules, err
}
