package targets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Devices finds block devices named the way kdump.conf names them:
// a path ("/dev/vdb1", "/dev/disk/by-id/…"), "UUID=…" or "LABEL=…". The
// capture initramfs has no udev, so when /dev/disk/by-uuid or by-label
// lacks the name, every block device listed in Sys/class/block is probed
// for an ext4, xfs or btrfs superblock.
type Devices struct {
	Dev string // where device nodes are, normally "/dev"
	Sys string // sysfs, normally "/sys"
	// Poll is the wait between scans in Wait; 0 means 100 ms.
	Poll time.Duration
}

// SystemDevices looks at the running system's /dev and /sys.
var SystemDevices = Devices{Dev: "/dev", Sys: "/sys"}

// Found is a device that matched a spec.
type Found struct {
	Path string // device node, e.g. /dev/vdb1
	FS   FSInfo // what its superblock says (zero for a path spec whose device has none)
}

// parseSpec splits "UUID=x" and "LABEL=x"; a path comes back as key "".
func parseSpec(spec string) (key, val string, err error) {
	switch {
	case strings.HasPrefix(spec, "UUID="):
		key, val = "UUID", strings.ToLower(strings.Trim(spec[5:], `"`))
	case strings.HasPrefix(spec, "LABEL="):
		key, val = "LABEL", strings.Trim(spec[6:], `"`)
	case strings.HasPrefix(spec, "/"):
		return "", spec, nil
	default:
		return "", "", fmt.Errorf("device %q: want a /dev path, UUID= or LABEL=", spec)
	}
	if val == "" {
		return "", "", fmt.Errorf("device %q: empty %s", spec, key)
	}
	return key, val, nil
}

// Find looks for the device once. It returns an error wrapping
// ErrNotFound when no device matches (yet).
func (d Devices) Find(spec string) (Found, error) {
	key, val, err := parseSpec(spec)
	if err != nil {
		return Found{}, err
	}
	if key == "" {
		p := filepath.Join(d.Dev, strings.TrimPrefix(filepath.Clean(val), "/dev/"))
		if !strings.HasPrefix(val, "/dev/") {
			p = val
		}
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return Found{}, fmt.Errorf("device %s: %w", val, ErrNotFound)
			}
			return Found{}, fmt.Errorf("device %s: %w", val, err)
		}
		info, _ := probePath(p)
		return Found{Path: p, FS: info}, nil
	}
	// udev's links first, where a udev ran.
	link := filepath.Join(d.Dev, "disk", "by-"+strings.ToLower(key), val)
	if key == "LABEL" {
		link = filepath.Join(d.Dev, "disk", "by-label", udevEscape(val))
	}
	if p, err := filepath.EvalSymlinks(link); err == nil {
		if info, err := probePath(p); err == nil && matches(info, key, val) {
			return Found{Path: p, FS: info}, nil
		}
	}
	var errs []error
	names, err := d.blockDevices()
	if err != nil {
		return Found{}, err
	}
	for _, name := range names {
		p := filepath.Join(d.Dev, name)
		info, err := probePath(p)
		if err != nil {
			if !errors.Is(err, ErrUnknownFS) && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if matches(info, key, val) {
			return Found{Path: p, FS: info}, nil
		}
	}
	if len(errs) > 0 {
		return Found{}, fmt.Errorf("device %s: %w (probe errors: %v)", spec, ErrNotFound, errors.Join(errs...))
	}
	return Found{}, fmt.Errorf("device %s: %w among %d block devices", spec, ErrNotFound, len(names))
}

func matches(info FSInfo, key, val string) bool {
	if key == "UUID" {
		return info.UUID == val
	}
	return info.Label == val
}

// udevEscape escapes a label the way udev names its by-label links.
func udevEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == ' ' || c == '\\' || c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// blockDevices lists the block devices sysfs knows, skipping empty ones
// (unbound loop devices, drives without media).
func (d Devices) blockDevices() ([]string, error) {
	dir := filepath.Join(d.Sys, "class", "block")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var names []string
	for _, e := range ents {
		size, err := os.ReadFile(filepath.Join(dir, e.Name(), "size"))
		if err == nil && strings.TrimSpace(string(size)) == "0" {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func probePath(p string) (FSInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return FSInfo{}, err
	}
	defer f.Close()
	info, err := ProbeFS(f)
	if err != nil {
		return FSInfo{}, fmt.Errorf("%s: %w", p, err)
	}
	return info, nil
}

// Wait looks for the device until it appears or ctx ends (drivers probe
// disks asynchronously after boot). The error after the deadline wraps
// both ErrNotFound and the context's error.
func (d Devices) Wait(ctx context.Context, spec string) (Found, error) {
	poll := d.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	start := time.Now()
	for {
		f, err := d.Find(spec)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return f, err
		}
		select {
		case <-ctx.Done():
			return Found{}, fmt.Errorf("%w after %v: %w", err, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-time.After(poll):
		}
	}
}
