package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kdumpkit/kdumpkit/dump"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/targets"
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
	// Logf receives messages of the network and SSH layers.
	Logf func(format string, a ...any)

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

// SetupNetwork configures the network kdump.conf describes (see
// network_linux.go) and returns this machine's address.
func (l *Linux) SetupNetwork(ctx context.Context, cfg *Config) (string, error) {
	return setupNetwork(ctx, cfg.Conf.Net, l.logf)
}

// OpenTarget reaches the target: mounts a local file system or an NFS
// export, or connects to an SSH server. The wait for a device, server or
// mount is bounded by cfg.WaitTimeout; an SSH target keeps ctx for its
// reconnects.
func (l *Linux) OpenTarget(ctx context.Context, cfg *Config, w Where) (targets.Target, error) {
	kc := cfg.Conf
	t := kc.Target
	if w == RootfsTarget {
		if kc.RootFS == nil {
			return nil, errors.New("no root file system is known for dump_to_rootfs")
		}
		t = kdumpconf.Target{Kind: kdumpconf.TargetFS, FSType: kc.RootFS.FSType, Device: kc.RootFS.Device}
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.WaitTimeout)
	defer cancel()
	switch t.Kind {
	case kdumpconf.TargetFS:
		m, err := targets.MountDevice(wctx, targets.SystemDevices, t.Device, t.FSType, l.nextMountDir(), "")
		if err != nil {
			return nil, err
		}
		return local(m, kc.Path)
	case kdumpconf.TargetNFS:
		m, err := targets.MountNFS(wctx, targets.NFSConfig{Target: t.Host + ":" + t.Export}, l.nextMountDir())
		if err != nil {
			return nil, err
		}
		l.logf("mounted %s (%s %s)", m.Source, m.FSType, m.Data)
		return local(m, kc.Path)
	case kdumpconf.TargetSSH:
		key, err := os.ReadFile(cfg.SSHKey)
		if err != nil {
			return nil, fmt.Errorf("ssh key: %w", err)
		}
		return targets.DialSSH(ctx, targets.SSHConfig{
			User: t.User, Host: t.Host, Port: kc.SSHPort, Path: kc.Path,
			Key: key, KnownHosts: []string{cfg.KnownHosts}, Logf: l.logf,
		})
	}
	return nil, fmt.Errorf("%s targets: %w", describe(t), errors.ErrUnsupported)
}

// OpenRaw waits for the raw target's device and opens it.
func (l *Linux) OpenRaw(ctx context.Context, cfg *Config) (targets.File, error) {
	wctx, cancel := context.WithTimeout(ctx, cfg.WaitTimeout)
	defer cancel()
	found, err := targets.SystemDevices.Wait(wctx, cfg.Conf.Target.Device)
	if err != nil {
		return nil, err
	}
	return targets.CreateRaw(found.Path)
}

func (l *Linux) nextMountDir() string {
	l.mounts++
	return filepath.Join(l.MountBase, strconv.Itoa(l.mounts))
}

// local returns the target at path on a mounted file system; closing it
// unmounts.
func local(m *targets.Mounted, path string) (targets.Target, error) {
	t, err := targets.NewLocal(filepath.Join(m.Dir, filepath.FromSlash(path)))
	if err != nil {
		m.Unmount()
		return nil, err
	}
	return &mountTarget{Target: t, m: m}, nil
}

// mountTarget is a target on a file system capture-init mounted.
type mountTarget struct {
	targets.Target
	m *targets.Mounted
}

func (t *mountTarget) Close() error {
	err := t.Target.Close()
	unix.Sync()
	if uerr := t.m.Unmount(); uerr != nil && err == nil {
		err = uerr
	}
	return err
}

// Dmesg reads the crashed kernel's log from /proc/vmcore in the format of
// makedumpfile --dump-dmesg (vmcore-dmesg.txt). A corrupt buffer still
// gives the records before the fault, followed by a line naming the error.
func (l *Linux) Dmesg(ctx context.Context) ([]byte, error) {
	d, err := vmcore.Open(l.VmcorePath)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	log, err := kernel.ReadDumpLog(d.VMCOREINFO(), d, kernel.LogOptions{})
	var b bytes.Buffer
	if log != nil {
		if werr := log.WriteDmesg(&b, kernel.DmesgOptions{CallerID: true}); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		if b.Len() == 0 {
			return nil, err
		}
		fmt.Fprintf(&b, "capture-init: the log ends here: %v\n", err)
	}
	return b.Bytes(), nil
}

// captureWriteBuffer is how much page data capture-init hands the target
// per write: 256 KiB, not makedumpfile's 64 KiB. Measured in the e2e
// guest (6.1, 1 GiB, local ext4 on virtio, -l -d 31): the dump step took
// 2.1-2.2 s with 64 KiB writes and 1.4 s with 256 KiB; a write system
// call costs the capture kernel far more than it costs a host, and the
// 192 KiB are a fraction of the reservation. SFTP files ask for more
// (targets.WriteSizer).
const captureWriteBuffer = 256 << 10

// Dump filters and writes /proc/vmcore with the in-process engine, one
// worker (the capture kernel runs with nr_cpus=1), logging every tenth.
func (l *Linux) Dump(ctx context.Context, cfg *Config, f targets.File, flat bool, logf func(string, ...any)) (DumpStats, error) {
	src, err := vmcore.Open(l.VmcorePath)
	if err != nil {
		return DumpStats{}, err
	}
	defer src.Close()
	// The capture kernel is where memory is short: the keep map gets
	// the collector's --cyclic-buffer, or makedumpfile's automatic
	// budget, and a larger plan is walked a window at a time.
	budget := cfg.CyclicBuffer
	if budget <= 0 {
		budget = filter.DefaultBudget()
	}
	p, err := filter.Exclude(ctx, src, cfg.Level, filter.Options{Budget: budget})
	if err != nil {
		return DumpStats{}, err
	}
	mode := "one pass"
	if p.Cyclic != nil {
		mode = fmt.Sprintf("cyclic, %d windows of %d pages (budget %d KiB)", p.Cyclic.Windows(), p.Cyclic.Window, budget>>10)
	}
	logf("dump: filtered at level %d: %d of %d pages kept before the zero check; %s", cfg.Level, p.Original-p.Counts.Excluded(), p.Original, mode)
	next := uint64(0)
	opt := dump.Options{
		Workers: 1,
		Progress: func(done, total uint64) {
			if total == 0 {
				return
			}
			for pct := done * 100 / total; next <= pct && next <= 100; next += 10 {
				logf("dump: %d%% (%d of %d pages)", next, done, total)
			}
		},
		ReadError: func(r mem.PFNRange, err error) {
			logf("dump: pages %#x-%#x unreadable, written as lost: %v", r.Start, r.End, err)
		},
	}
	opt.WriteBuffer = captureWriteBuffer
	if ws, ok := f.(targets.WriteSizer); ok {
		opt.WriteBuffer = ws.WriteSize()
	}
	cw := &countingFile{File: f}
	if flat {
		err = dump.WriteKdumpFlatWith(ctx, src, p, cfg.Method, cw, opt)
	} else {
		err = dump.WriteKdumpWith(ctx, src, p, cfg.Method, cw, opt)
	}
	st := DumpStats{Bytes: cw.end, Pages: p.Original - p.Counts.Excluded()}
	return st, err
}

// countingFile records the end of the data written.
type countingFile struct {
	targets.File
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
func (l *Linux) Finish(a kdumpconf.Action) error {
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_RESTART
	switch a {
	case kdumpconf.ActionHalt:
		cmd = unix.LINUX_REBOOT_CMD_HALT
	case kdumpconf.ActionPoweroff:
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	}
	return unix.Reboot(cmd)
}

// HookDir lists the executables in dir in lexical order.
func (l *Linux) HookDir(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

func (l *Linux) logf(format string, a ...any) {
	if l.Logf != nil {
		l.Logf(format, a...)
	}
}

// Now is the wall clock.
func (l *Linux) Now() time.Time { return time.Now() }

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
