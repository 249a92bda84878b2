package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Marker lines on the console.
const (
	MarkerLoaded = "KDUMPKIT-AGENT-LOADED" // the capture kernel is armed
	MarkerPanic  = "KDUMPKIT-AGENT-PANIC"  // printed right before the sysrq write
	MarkerFailed = "KDUMPKIT-AGENT-FAILED" // followed by the reason
	// MarkerStopped is printed after `kdumpctl stop` with the exit code
	// of the `kdumpctl status` that followed and kexec_crash_loaded.
	MarkerStopped = "KDUMPKIT-AGENT-STOPPED"
)

// Net is a static interface configuration.
type Net struct {
	Interface string `json:"interface"`
	Address   string `json:"address"` // 10.0.2.15/24
	Gateway   string `json:"gateway"`
}

// Config is /etc/guestagent.json, written by the harness.
type Config struct {
	Modules []string `json:"modules"` // module files to load, in order
	// Kdumpctl, if set, is run as "start" then "status" to arm the
	// capture kernel; else the agent loads Kernel and Initrd itself.
	Kdumpctl string   `json:"kdumpctl,omitempty"`
	Kernel   string   `json:"kernel,omitempty"`
	Initrd   string   `json:"initrd,omitempty"`
	Cmdline  string   `json:"cmdline,omitempty"`
	Mounts   []string `json:"mounts,omitempty"` // "DEV DIR FSTYPE" mounted before kdumpctl runs
	// Net, if set, configures an interface statically before kdumpctl
	// runs (kdumpctl resolves network targets on the running system).
	Net      *Net `json:"net,omitempty"`
	AnonMiB  int  `json:"anon_mib"`
	TmpfsMiB int  `json:"tmpfs_mib"`
	ZeroMiB  int  `json:"zero_mib"`
	NoPanic  bool `json:"no_panic,omitempty"` // power off instead (tests of the agent itself)
	// KdumpctlTest: panic with `kdumpctl test --force` instead of the
	// sysrq write, with kdumpctl's state directory on the (mounted)
	// local disk so that it survives. The harness boots the guest a
	// second time; the agent knows it by the marker the first boot left
	// there, runs `kdumpctl status` (which reports the recorded test
	// result) and powers off.
	KdumpctlTest bool `json:"kdumpctl_test,omitempty"`
}

// Where KdumpctlTest keeps kdumpctl's state and the first boot's marker:
// on the local disk, mounted at /mnt.
const (
	testStateDir = "/mnt/kdumpkit-state"
	testMarker   = "/mnt/kdumpkit-agent-tested"
	// MarkerSecondBoot starts the second boot's output.
	MarkerSecondBoot = "KDUMPKIT-AGENT-SECOND-BOOT"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout)) }

func run(args []string, out io.Writer) int {
	path := "/etc/guestagent.json"
	if len(args) > 0 {
		path = args[0]
	}
	err := agent(path, out)
	fmt.Fprintf(out, "%s: %v\n", MarkerFailed, err)
	unix.Sync()
	time.Sleep(time.Second)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	return 1
}

func logf(out io.Writer, format string, a ...any) {
	fmt.Fprintf(out, "guestagent: "+format+"\n", a...)
}

func agent(path string, out io.Writer) error {
	for _, m := range []struct{ fs, dir string }{{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"}, {"tmpfs", "/tmp"}} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	logf(out, "kernel %s", strings.TrimSpace(string(rel)))
	for _, m := range cfg.Modules {
		if err := loadModule(m); err != nil {
			return err
		}
	}
	for _, m := range cfg.Mounts {
		f := strings.Fields(m)
		if len(f) != 3 {
			return fmt.Errorf("mount %q: want DEV DIR FSTYPE", m)
		}
		if err := waitFile(f[0], 20*time.Second); err != nil {
			return err
		}
		os.MkdirAll(f[1], 0o755)
		if err := unix.Mount(f[0], f[1], f[2], 0, ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", f[0], f[1], err)
		}
	}
	if cfg.Net != nil {
		if err := setupNet(*cfg.Net); err != nil {
			return err
		}
		logf(out, "network %s %s via %s", cfg.Net.Interface, cfg.Net.Address, cfg.Net.Gateway)
	}
	if cfg.KdumpctlTest {
		if err := os.MkdirAll(testStateDir, 0o755); err != nil {
			return err
		}
		os.RemoveAll("/var/lib/kdump")
		if err := os.Symlink(testStateDir, "/var/lib/kdump"); err != nil {
			return err
		}
		if _, err := os.Stat(testMarker); err == nil {
			fmt.Fprintln(out, MarkerSecondBoot)
			if _, err := kdumpctl(cfg.Kdumpctl, "status", out); err != nil {
				return err
			}
			logf(out, "second boot done: powering off")
			unix.Sync()
			unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
			return errors.New("still running after power off")
		}
	}
	if cfg.Kdumpctl != "" {
		if err := lifecycle(cfg.Kdumpctl, out); err != nil {
			return err
		}
	} else if err := kexecLoad(cfg); err != nil {
		return err
	}
	loaded, _ := os.ReadFile("/sys/kernel/kexec_crash_loaded")
	if strings.TrimSpace(string(loaded)) != "1" {
		return fmt.Errorf("/sys/kernel/kexec_crash_loaded is %q after loading", strings.TrimSpace(string(loaded)))
	}
	size, _ := os.ReadFile("/sys/kernel/kexec_crash_size")
	fmt.Fprintf(out, "%s crash_size=%s\n", MarkerLoaded, strings.TrimSpace(string(size)))

	hold, err := workload(cfg, out)
	if err != nil {
		return err
	}
	if mi, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(mi), "\n") {
			if strings.HasPrefix(l, "MemTotal") || strings.HasPrefix(l, "MemFree") || strings.HasPrefix(l, "Shmem:") || strings.HasPrefix(l, "AnonPages") {
				logf(out, "meminfo %s", strings.Join(strings.Fields(l), " "))
			}
		}
	}
	if cfg.NoPanic {
		logf(out, "no_panic set: powering off")
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
	if cfg.KdumpctlTest {
		if err := os.WriteFile(testMarker, []byte("kdumpctl test\n"), 0o644); err != nil {
			return err
		}
		unix.Sync()
		fmt.Fprintln(out, MarkerPanic)
		cmd := exec.Command(cfg.Kdumpctl, "test", "--force")
		cmd.Stdout, cmd.Stderr = out, out
		err := cmd.Run()
		runtime.KeepAlive(hold)
		return fmt.Errorf("kdumpctl test --force returned (%v) instead of panicking", err)
	}
	unix.Sync()
	fmt.Fprintln(out, MarkerPanic)
	if err := os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0); err != nil {
		return fmt.Errorf("sysrq-trigger: %w", err)
	}
	runtime.KeepAlive(hold)
	return errors.New("still running after the sysrq crash")
}

func waitFile(path string, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		} else if time.Now().After(end) {
			return fmt.Errorf("waiting for %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func loadModule(path string) error {
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

// kexecLoad arms the capture kernel the way kdumpctl does: kexec_file_load
// with KEXEC_FILE_ON_CRASH.
func kexecLoad(cfg Config) error {
	k, err := os.Open(cfg.Kernel)
	if err != nil {
		return err
	}
	defer k.Close()
	i, err := os.Open(cfg.Initrd)
	if err != nil {
		return err
	}
	defer i.Close()
	if err := unix.KexecFileLoad(int(k.Fd()), int(i.Fd()), cfg.Cmdline, unix.KEXEC_FILE_ON_CRASH); err != nil {
		return fmt.Errorf("kexec_file_load %s %s: %w", cfg.Kernel, cfg.Initrd, err)
	}
	return nil
}

// workload fills memory: anonymous pages with non-zero data, anonymous
// pages written with zeros, and tmpfs files (page cache). The returned
// slices keep the anonymous memory alive until the panic.
func workload(cfg Config, out io.Writer) ([][]byte, error) {
	var hold [][]byte
	t := time.Now()
	x := uint64(0x9e3779b97f4a7c15)
	for range cfg.AnonMiB {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 8 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			b[i] = byte(x)
			b[i+3] = byte(x >> 24)
		}
		hold = append(hold, b)
	}
	for range cfg.ZeroMiB {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 0 // touch: the page is allocated and stays zero
		}
		hold = append(hold, b)
	}
	if cfg.TmpfsMiB > 0 {
		f, err := os.Create("/tmp/fill")
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 1<<20)
		for i := range cfg.TmpfsMiB {
			for j := range buf {
				buf[j] = byte(i + j*7)
			}
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return nil, fmt.Errorf("tmpfs fill: %w", err)
			}
		}
		f.Close()
	}
	logf(out, "workload: anon %d MiB, zero %d MiB, tmpfs %d MiB in %.1fs", cfg.AnonMiB, cfg.ZeroMiB, cfg.TmpfsMiB, time.Since(t).Seconds())
	return hold, nil
}

// setupNet brings up loopback and the interface with a static address and
// default route.
func setupNet(n Net) error {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	var link netlink.Link
	var err error
	for i := 0; i < 100; i++ {
		if link, err = netlink.LinkByName(n.Interface); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("interface %s: %w", n.Interface, err)
	}
	addr, err := netlink.ParseAddr(n.Address)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("%s: add %s: %w", n.Interface, n.Address, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	if n.Gateway != "" {
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(n.Gateway)}); err != nil {
			return fmt.Errorf("default route via %s: %w", n.Gateway, err)
		}
	}
	return nil
}

// kdumpctl runs one kdumpctl command with its output on the console and
// returns its exit code; err is set only when it could not run.
func kdumpctl(bin, sub string, out io.Writer) (int, error) {
	t := time.Now()
	cmd := exec.Command(bin, sub)
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("kdumpctl %s: %w", sub, err)
	}
	logf(out, "kdumpctl %s: exit %d, %.2fs", sub, code, time.Since(t).Seconds())
	return code, nil
}

// lifecycle arms the capture kernel the way a host does and goes once
// through the rest of what a service manager does with it: start,
// status (0), estimate (logged for the calibration table), stop, status
// (must be 3, with kexec_crash_loaded 0), start again (the image is
// unchanged, so it must not be rebuilt). The harness checks the lines.
func lifecycle(bin string, out io.Writer) error {
	steps := []struct {
		sub  string
		want int
	}{{"start", 0}, {"status", 0}, {"estimate", 0}, {"stop", 0}, {"status", 3}}
	for _, s := range steps {
		code, err := kdumpctl(bin, s.sub, out)
		if err != nil {
			return err
		}
		if code != s.want {
			return fmt.Errorf("kdumpctl %s: exit %d, want %d", s.sub, code, s.want)
		}
	}
	loaded, _ := os.ReadFile("/sys/kernel/kexec_crash_loaded")
	fmt.Fprintf(out, "%s status=3 kexec_crash_loaded=%s\n", MarkerStopped, strings.TrimSpace(string(loaded)))
	if strings.TrimSpace(string(loaded)) != "0" {
		return fmt.Errorf("/sys/kernel/kexec_crash_loaded is %q after kdumpctl stop", strings.TrimSpace(string(loaded)))
	}
	code, err := kdumpctl(bin, "start", out)
	if err == nil && code != 0 {
		err = fmt.Errorf("kdumpctl start (again): exit %d", code)
	}
	return err
}
