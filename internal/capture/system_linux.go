package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kdumpkit/kdumpkit/dump"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// Linux is the real System of a capture kernel.
type Linux struct {
	// VmcorePath is the crashed kernel's memory, /proc/vmcore.
	VmcorePath string
	// MountBase is where targets are mounted.
	MountBase string
	// Console is the terminal hooks and the shell use.
	Console *os.File
	// Shells are tried in order by Shell.
	Shells []string

	mounts int
}

// NewLinux returns the System of a capture kernel's PID 1.
func NewLinux(console *os.File) *Linux {
	return &Linux{
		VmcorePath: "/proc/vmcore",
		MountBase:  "/kdumpkit/mnt",
		Console:    console,
		Shells:     []string{"/bin/sh", "/bin/bash", "/bin/busybox"},
	}
}

// MountPseudo mounts /proc, /sys and /dev; ones already mounted (listed
// in /proc/mounts) are left alone, so calling it twice stacks nothing.
func (l *Linux) MountPseudo() error {
	for _, m := range []struct{ fstype, dir string }{
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"},
	} {
		if mounted(m.dir) {
			continue
		}
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fstype, m.dir, m.fstype, unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	return nil
}

func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// LoadModule loads an uncompressed module file with finit_module; a module
// that is already loaded is not an error.
func (l *Linux) LoadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

// SetupNetwork is not implemented yet in the stand-in: network targets
// come with package targets.
func (l *Linux) SetupNetwork(ctx context.Context, cfg *Config) error {
	return fmt.Errorf("network setup %q: %w", cfg.Network, errors.ErrUnsupported)
}

// OpenTarget waits for a local target's device, mounts it and returns it.
func (l *Linux) OpenTarget(ctx context.Context, t Target) (Dest, error) {
	switch t.Kind {
	case TargetLocal:
		dev, err := waitDevice(ctx, t.Device)
		if err != nil {
			return nil, err
		}
		l.mounts++
		dir := filepath.Join(l.MountBase, strconv.Itoa(l.mounts))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := unix.Mount(dev, dir, t.FSType, 0, ""); err != nil {
			return nil, fmt.Errorf("mount %s (%s) on %s: %w", dev, t.FSType, dir, err)
		}
		return &localDest{root: dir, mounted: true}, nil
	}
	return nil, fmt.Errorf("%s targets: %w", t.Kind, errors.ErrUnsupported)
}

// waitDevice polls for the device spec names until ctx ends: drivers probe
// asynchronously after their module loads.
func waitDevice(ctx context.Context, spec string) (string, error) {
	for {
		dev, err := FindDevice("/sys/class/block", "/dev", spec)
		if err == nil {
			return dev, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for %s: %w (last: %v)", spec, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HostID is 127.0.0.1 for local targets, else the first non-loopback
// IPv4 address.
func (l *Linux) HostID(t Target) string {
	if t.Kind == TargetLocal || t.Kind == TargetRaw {
		return "127.0.0.1"
	}
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && ip.IP.To4() != nil {
				return ip.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// Dmesg is a stand-in until the kernel package reads the printk buffer.
func (l *Linux) Dmesg(ctx context.Context) ([]byte, error) { return nil, ErrDmesgUnsupported }

// Dump filters and writes /proc/vmcore with the in-process engine.
func (l *Linux) Dump(ctx context.Context, cfg *Config, f File) (DumpStats, error) {
	src, err := vmcore.Open(l.VmcorePath)
	if err != nil {
		return DumpStats{}, err
	}
	defer src.Close()
	p, err := filter.Exclude(ctx, src, cfg.Level, filter.Options{})
	if err != nil {
		return DumpStats{}, err
	}
	cw := &countingFile{File: f}
	if cfg.Flatten {
		err = dump.WriteKdumpFlat(ctx, src, p, cfg.Method, cw)
	} else {
		err = dump.WriteKdump(ctx, src, p, cfg.Method, cw)
	}
	st := DumpStats{Bytes: cw.end, Pages: p.Original - p.Counts.Excluded()}
	return st, err
}

// countingFile records the end of the data written.
type countingFile struct {
	File
	end int64
	off int64
}

func (c *countingFile) Write(p []byte) (int, error) {
	n, err := c.File.Write(p)
	c.off += int64(n)
	c.end = max(c.end, c.off)
	return n, err
}

func (c *countingFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.File.WriteAt(p, off)
	c.end = max(c.end, off+int64(n))
	return n, err
}

// RunHook runs prog with the console as its terminal.
func (l *Linux) RunHook(ctx context.Context, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdout, cmd.Stderr = l.Console, l.Console
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", prog, err)
	}
	return nil
}

// Shell runs the first shell found on the console.
func (l *Linux) Shell() error {
	for _, sh := range l.Shells {
		if _, err := os.Stat(sh); err != nil {
			continue
		}
		args := []string{}
		if filepath.Base(sh) == "busybox" {
			args = []string{"sh"}
		}
		cmd := exec.Command(sh, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = l.Console, l.Console, l.Console
		return cmd.Run()
	}
	return ErrNoShell
}

// PeakMemoryKiB reads VmHWM from /proc/self/status; -1 if unknown.
func (l *Linux) PeakMemoryKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	n, err := StatusKiB(f, "VmHWM")
	if err != nil {
		return -1
	}
	return n
}

// Finish syncs and reboots, halts or powers off.
func (l *Linux) Finish(a Action) error {
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_RESTART
	switch a {
	case ActionHalt:
		cmd = unix.LINUX_REBOOT_CMD_HALT
	case ActionPoweroff:
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	}
	return unix.Reboot(cmd)
}

// Now is the wall clock.
func (l *Linux) Now() time.Time { return time.Now() }

// localDest is a mounted file system.
type localDest struct {
	root    string
	mounted bool
}

func (d *localDest) path(name string) string { return filepath.Join(d.root, filepath.FromSlash(name)) }

func (d *localDest) MkdirAll(dir string) error { return os.MkdirAll(d.path(dir), 0o700) }

func (d *localDest) Create(name string) (File, error) {
	// O_EXCL: never overwrite an earlier dump.
	return os.OpenFile(d.path(name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

func (d *localDest) Rename(from, to string) error {
	if err := os.Rename(d.path(from), d.path(to)); err != nil {
		return err
	}
	// Make the rename durable: sync the directory.
	f, err := os.Open(filepath.Dir(d.path(to)))
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (d *localDest) Close() error {
	if !d.mounted {
		return nil
	}
	unix.Sync()
	if err := unix.Unmount(d.root, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", d.root, err)
	}
	d.mounted = false
	return nil
}

// StartWatchdog pets the watchdog device at path every interval until ctx
// ends; it returns false if there is no such device. On exit it leaves the
// watchdog armed on purpose: if capture-init hangs, the machine resets.
func StartWatchdog(ctx context.Context, path string, interval time.Duration, logf func(string, ...any)) bool {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	go func() {
		defer f.Close()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if _, err := f.Write([]byte{0}); err != nil {
				logf("watchdog %s: %v", path, err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return true
}
