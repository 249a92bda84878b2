package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kdumpkit/kdumpkit/initramfs"
	"github.com/kdumpkit/kdumpkit/internal/cpio"
	"github.com/kdumpkit/kdumpkit/internal/debkernel"
	"github.com/kdumpkit/kdumpkit/internal/flock"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/internal/qemu"
	"github.com/kdumpkit/kdumpkit/kexec"
	"github.com/kdumpkit/kdumpkit/targets"
)

// Kernel names a kernel series the harness boots.
type Kernel string

// Kernel series.
const (
	Kernel61  Kernel = "6.1"  // Debian 12's cloud kernel
	Kernel612 Kernel = "6.12" // bookworm-backports' cloud kernel
)

type kernelSpec struct {
	prefix, suffix string
	// cpu: kernels newer than 6.1 crash at random under QEMU 7.2's TCG
	// right after cmpxchg16b (fixed in QEMU 8.1); hiding cx16 avoids it.
	cpu string
}

var kernelSpecs = map[Kernel]kernelSpec{
	Kernel61:  {prefix: "linux-image-6.1.0-", suffix: "-cloud-amd64-unsigned"},
	Kernel612: {prefix: "linux-image-6.12.", suffix: "+deb12-cloud-amd64-unsigned", cpu: "qemu64,-cx16"},
}

// Target kinds of a case.
const (
	TargetLocal = "local"
	TargetSSH   = "ssh"
	TargetNFS   = "nfs"
	TargetRaw   = "raw" // a second virtio disk, /dev/vdb
	// TargetNFSDown is an NFS export that does not exist, with
	// failure_action dump_to_rootfs onto the local disk: the failure path.
	TargetNFSDown = "nfs-down"
	// TargetLocalFull is the local disk made too small for the dump: the
	// vmcore must stay as vmcore-incomplete, marked incomplete in its
	// header, and capture-init must take the failure action.
	TargetLocalFull = "local-full"
)

// QEMULock serializes QEMU runs of all kdumpkit helpers and tests on a
// machine with few CPUs.
const QEMULock = "/tmp/kdumpkit-qemu.lock"

// Case is one end-to-end run: boot Kernel with MemoryMiB of RAM and
// crashkernel=CrashKernel, panic it, capture to Target.
type Case struct {
	Kernel      Kernel
	Target      string
	MemoryMiB   int
	CrashKernel string // e.g. "256M"
	// Collector is the kdump.conf core_collector line.
	Collector string
	// Watchdog adds the softdog module to the capture initramfs
	// (extra_modules): capture-init must find /dev/watchdog and pet it.
	Watchdog bool
	// DHCP makes the capture kernel ask QEMU's DHCP server for its
	// address (net_config dhcp) instead of the static one.
	DHCP bool
	// AgentLoad makes the guest agent build nothing and load the capture
	// kernel with a capture initramfs the harness built, instead of
	// running kdumpctl start in the guest (which builds its own).
	AgentLoad bool
	// KdumpctlTest (local target, kdumpctl in the guest): the guest
	// panics with `kdumpctl test --force`; the harness then boots it a
	// second time, as a reboot would, and `kdumpctl status` there must
	// report the test's success that capture-init recorded on the disk.
	KdumpctlTest bool
}

// Name is a short name for logs and directories.
func (c Case) Name() string {
	n := fmt.Sprintf("%s-%s-%dM-ck%s", c.Kernel, c.Target, c.MemoryMiB, c.CrashKernel)
	if c.DHCP {
		n += "-dhcp"
	}
	if c.Watchdog {
		n += "-wdt"
	}
	if c.AgentLoad {
		n += "-agent"
	}
	if c.KdumpctlTest {
		n += "-test"
	}
	return n
}

// Result is what a run measured and found.
type Result struct {
	Case    Case
	Release string
	// Saved: the dump was collected with its final name.
	Saved bool
	// Times on the host clock between console lines.
	PanicToStart time.Duration // sysrq write → capture-init's first line
	PanicToSaved time.Duration // sysrq write → capture-init's "saved" line
	DumpDuration time.Duration // capture-init's dump step
	PeakKiB      int64         // capture-init's VmHWM
	// InitramfsBytes is the capture initramfs size.
	InitramfsBytes int64
	DumpBytes      int64
	// EstimateMiB is what `kdumpctl estimate` recommended in the guest
	// (0: not run) and EstimateInputs its "Inputs in bytes:" line.
	EstimateMiB    int
	EstimateInputs string
	Dir            string // host directory with the collected files
	Console        string // console log path
	Vmcore         string // collected vmcore path
	Files          []string
	// Checks holds each reader's verdict: "ok" or the failure.
	Checks map[string]string
	// PanicLine and Backtrace are read back from the dump with crash.
	PanicLine string
	Backtrace []string
	Err       error
}

// Harness builds and boots the guests. One Harness may run many cases;
// binaries are built once.
type Harness struct {
	CacheDir string // debkernel cache; debkernel.CacheDir() if empty
	WorkDir  string // scratch; made by New
	Log      io.Writer
	// Timeout bounds each QEMU run.
	Timeout time.Duration
	// KeepAll keeps the work files of successful cases.
	KeepAll bool

	mu       sync.Mutex
	built    map[string]string // binary name → path
	kernels  map[Kernel]*debkernel.Kernel
	vmlinux  map[Kernel]string
	repoRoot string
	srv      *servers
}

// New returns a harness working under workDir (created if needed).
func New(workDir string, log io.Writer) (*Harness, error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	return &Harness{
		CacheDir: debkernel.CacheDir(), WorkDir: workDir, Log: log, Timeout: 15 * time.Minute,
		built: map[string]string{}, kernels: map[Kernel]*debkernel.Kernel{}, vmlinux: map[Kernel]string{},
		repoRoot: root,
	}, nil
}

func (h *Harness) logf(format string, a ...any) {
	fmt.Fprintf(h.Log, "e2e: "+format+"\n", a...)
}

// repoRoot finds the module root from this file's location.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("e2e: source location unknown")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("e2e: module root: %w", err)
	}
	return filepath.Abs(dir)
}

// RequiredTools are the programs a local-target run needs.
var RequiredTools = []string{"qemu-system-x86_64", "mkfs.ext4", "debugfs", "apt-get", "dpkg-deb", "depmod", "go"}

// MissingTools lists RequiredTools not found.
func MissingTools() []string {
	var miss []string
	for _, t := range RequiredTools {
		if _, err := oracle.LookPath(t); err != nil {
			miss = append(miss, t)
		}
	}
	return miss
}

// Binary builds a static binary of package pkg (relative to the module
// root, e.g. ./cmd/capture-init) once and returns its path.
func (h *Harness) Binary(ctx context.Context, pkg string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.built[pkg]; ok {
		return p, nil
	}
	out := filepath.Join(h.WorkDir, "bin", filepath.Base(pkg))
	gobin, err := oracle.LookPath("go")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = h.repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	h.built[pkg] = out
	return out, nil
}

// Kernel fetches (or finds cached) the newest kernel of series k.
func (h *Harness) Kernel(ctx context.Context, k Kernel) (*debkernel.Kernel, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if kk, ok := h.kernels[k]; ok {
		return kk, nil
	}
	spec, ok := kernelSpecs[k]
	if !ok {
		return nil, fmt.Errorf("e2e: unknown kernel %q", k)
	}
	pkg, err := debkernel.NewestPackage(ctx, spec.prefix, spec.suffix)
	if err != nil {
		return nil, err
	}
	kk, err := debkernel.Fetch(ctx, h.CacheDir, pkg)
	if err != nil {
		return nil, err
	}
	h.kernels[k] = kk
	return kk, nil
}

// Vmlinux returns the debug vmlinux of series k (a large download on
// first use).
func (h *Harness) Vmlinux(ctx context.Context, k Kernel) (string, error) {
	kk, err := h.Kernel(ctx, k)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.vmlinux[k]; ok {
		return p, nil
	}
	p, err := debkernel.DebugVmlinux(ctx, h.CacheDir, kk)
	if err != nil {
		return "", err
	}
	h.vmlinux[k] = p
	return p, nil
}

// moduleFiles returns the module files needed for names on kernel k,
// dependencies first, less those built in, each decompressed into dir
// when compressed. The returned pairs are (path in the initramfs, host
// file).
func moduleFiles(ctx context.Context, k *debkernel.Kernel, dir string, names ...string) ([][2]string, error) {
	builtin := map[string]bool{}
	if f, err := os.Open(filepath.Join(k.ModulesDir, "modules.builtin")); err == nil {
		builtin, err = debkernel.BuiltinModules(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	var want []string
	for _, n := range names {
		if !builtin[n] {
			want = append(want, n)
		}
	}
	dep, err := os.Open(filepath.Join(k.ModulesDir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer dep.Close()
	mods, err := debkernel.ModuleClosure(dep, want...)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, m := range mods {
		src := filepath.Join(k.ModulesDir, m)
		name := filepath.Base(m)
		if debkernel.IsCompressedModule(m) {
			name = filepath.Base(debkernel.PlainModuleName(m))
			dst := filepath.Join(dir, name)
			if err := debkernel.DecompressModule(ctx, src, dst); err != nil {
				return nil, err
			}
			src = dst
		}
		out = append(out, [2]string{"lib/modules/" + name, src})
	}
	return out, nil
}

// archive writes a newc cpio of the given directories, device nodes and
// files (path in archive → host file, or literal data).
type archive struct {
	dirs  []string
	files [][2]string // archive path, host path
	data  map[string][]byte
	modes map[string]os.FileMode
}

func (a *archive) write(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := cpio.NewWriter(f)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	dirs := slices.Clone(a.dirs)
	for _, p := range a.files {
		dirs = append(dirs, parents(p[0])...)
	}
	for p := range a.data {
		dirs = append(dirs, parents(p)...)
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	for _, d := range dirs {
		add(w.WriteDir(d, 0o755))
	}
	add(w.WriteCharDev("dev/console", 0o600, 5, 1))
	add(w.WriteCharDev("dev/null", 0o666, 1, 3))
	for _, p := range a.files {
		add(w.CopyFile(p[0], p[1]))
	}
	names := make([]string, 0, len(a.data))
	for p := range a.data {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		mode := os.FileMode(0o644)
		if m, ok := a.modes[p]; ok {
			mode = m
		}
		add(w.WriteFile(p, mode, a.data[p]))
	}
	add(w.Close())
	add(f.Close())
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("initramfs %s: %w", path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// parents returns the directories above an archive path, outermost first.
func parents(p string) []string {
	var out []string
	for d := filepath.Dir(p); d != "." && d != "/"; d = filepath.Dir(d) {
		out = append([]string{d}, out...)
	}
	return out
}

// CaptureCmdline is the capture kernel's command line (kdumpctl's
// defaults for x86_64, trimmed to what these kernels know).
const CaptureCmdline = "console=ttyS0 irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off panic=-1 oops=panic loglevel=6 rdinit=/init acpi_no_memhotplug transparent_hugepage=never"

// markers the host times on the console.
var (
	panicRE = regexp.MustCompile(`KDUMPKIT-AGENT-PANIC|sysrq: Trigger a crash`)
	startRE = regexp.MustCompile(`^capture-init: starting`)
	savedRE = regexp.MustCompile(`^capture-init: \[ *[0-9.]+s\] saved `)
	dumpRE  = regexp.MustCompile(`^capture-init: \[ *[0-9.]+s\] (?:dump_to_rootfs )?dump: done in ([0-9.]+)s`)
	peakRE  = regexp.MustCompile(`peak memory (-?[0-9]+) KiB`)
	builtRE = regexp.MustCompile(`initramfs \S+ built \(([0-9]+) bytes`)
	recRE   = regexp.MustCompile(`^Recommended crashkernel: ([0-9]+)M`)
)

// Run runs one case: build, boot, panic, capture, collect, check.
func (h *Harness) Run(ctx context.Context, c Case) *Result {
	res := &Result{Case: c, Checks: map[string]string{}}
	res.Err = h.run(ctx, c, res)
	return res
}

func (h *Harness) run(ctx context.Context, c Case, res *Result) error {
	if c.Collector == "" {
		c.Collector = DefaultCollector
	}
	dir := filepath.Join(h.WorkDir, c.Name())
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	res.Dir = dir
	k, err := h.Kernel(ctx, c.Kernel)
	if err != nil {
		return err
	}
	res.Release = k.Release
	captureInit, err := h.Binary(ctx, "./cmd/capture-init")
	if err != nil {
		return err
	}
	agent, err := h.Binary(ctx, "./internal/cmd/guestagent")
	if err != nil {
		return err
	}

	// The capture initramfs: capture-init as /init, kdump.conf, modules,
	// in the layout package initramfs defines.
	var conf strings.Builder
	capMods := []string{"virtio_pci", "virtio_blk"}
	// path is the dump path on the target; collected is where the host
	// finds it.
	path := "/var/crash/" + c.Name()
	var collected string
	data := map[string][]byte{}
	modes := map[string]os.FileMode{}
	failureAction, wait := "poweroff", "60s"
	switch c.Target {
	case TargetNFSDown:
		if !c.AgentLoad {
			return errors.New("e2e: the nfs-down case runs with -agent-load (its image must hold the rootfs disk's drivers too)")
		}
		capMods = append(capMods, "virtio_net", "nfsv4")
		fmt.Fprintf(&conf, "nfs %s:/kdumpkit-e2e-no-such-export\nnet_config static %s %s\nnet_interface eth0\n", GuestHostAddr, GuestAddr, GuestHostAddr)
		fmt.Fprintf(&conf, "rootfs ext4 LABEL=kdumpkit-e2e\n")
		failureAction, wait = "dump_to_rootfs", "20s"
	case TargetLocal, TargetLocalFull:
		fmt.Fprintf(&conf, "ext4 LABEL=kdumpkit-e2e\n")
	case TargetRaw:
		fmt.Fprintf(&conf, "raw /dev/vdb\n")
	case TargetSSH, TargetNFS:
		srv, err := h.servers(ctx, c.Target == TargetNFS)
		if err != nil {
			return err
		}
		capMods = append(capMods, "virtio_net")
		if c.Target == TargetSSH {
			path = filepath.Join(srv.sshRoot, path)
			collected = path
			fmt.Fprintf(&conf, "ssh %s@%s\nssh_port %d\n", srv.sshUser, GuestHostAddr, srv.sshPort)
			data[initramfs.SSHKeyPath] = srv.sshKey
			modes[initramfs.SSHKeyPath] = 0o600
			data[initramfs.KnownHostsPath] = []byte(srv.knownHosts(GuestHostAddr))
		} else {
			if srv.nfsErr != nil {
				return fmt.Errorf("e2e: no NFS server: %w", srv.nfsErr)
			}
			collected = filepath.Join(srv.nfsRoot, path)
			// kdumpctl's builder takes both NFS versions' modules.
			capMods = append(capMods, "nfsv4", "nfsv3")
			fmt.Fprintf(&conf, "nfs %s:%s\n", GuestHostAddr, srv.nfsExport)
		}
		if c.DHCP {
			fmt.Fprintf(&conf, "net_config dhcp\nnet_interface eth0\n")
		} else {
			fmt.Fprintf(&conf, "net_config static %s %s\nnet_interface eth0\n", GuestAddr, GuestHostAddr)
		}
	default:
		return fmt.Errorf("e2e: unknown target %q", c.Target)
	}
	if c.Watchdog {
		capMods = append(capMods, "softdog")
		fmt.Fprintf(&conf, "extra_modules softdog\n")
	}
	mods, err := moduleFiles(ctx, k, filepath.Join(dir, "modules"), capMods...)
	if err != nil {
		return err
	}
	var modList strings.Builder
	for _, m := range mods {
		fmt.Fprintf(&modList, "/%s\n", m[0])
	}
	collector := c.Collector
	if (c.Target == TargetSSH || c.Target == TargetRaw) && !strings.Contains(collector, "-F") {
		// kdump.conf wants -F for ssh and raw (kdump-utils sends a
		// stream); capture-init drops it when the server takes SFTP
		// writes.
		collector = strings.Replace(collector, "makedumpfile ", "makedumpfile -F ", 1)
	}
	fmt.Fprintf(&conf, "path %s\ncore_collector %s\nfailure_action %s\nfinal_action poweroff\ncapture_deadline 20m\ntarget_wait %s\n", path, collector, failureAction, wait)
	data[initramfs.ConfigPath] = []byte(conf.String())
	data[initramfs.ModulesPath] = []byte(modList.String())
	capImg := filepath.Join(dir, "capture.img")
	capArch := &archive{
		dirs:  []string{"proc", "sys", "dev", "tmp", "etc", "var", "kdumpkit"},
		files: append([][2]string{{initramfs.InitPath, captureInit}}, mods...),
		data:  data,
		modes: modes,
	}
	if res.InitramfsBytes, err = capArch.write(capImg); err != nil {
		return err
	}
	h.logf("%s: capture initramfs %d bytes, kdump.conf:\n%s", c.Name(), res.InitramfsBytes, conf.String())

	// The first kernel's initramfs: the agent as /init, and either
	// kdumpctl with what it builds the capture initramfs from (the
	// kernel, its module tree, kdump.conf, keys) or the image built above.
	firstImg := filepath.Join(dir, "first.img")
	workload := fmt.Sprintf(`"anon_mib":%d,"zero_mib":%d,"tmpfs_mib":%d`, c.MemoryMiB/4, c.MemoryMiB/16, c.MemoryMiB/8)
	var firstArch *archive
	if c.AgentLoad {
		agentConf := fmt.Sprintf(`{"kernel":"/boot/vmlinuz","initrd":"/boot/capture.img","cmdline":%q,%s}`, CaptureCmdline, workload)
		firstArch = &archive{
			dirs:  []string{"proc", "sys", "dev", "tmp", "etc"},
			files: [][2]string{{"init", agent}, {"boot/vmlinuz", k.Vmlinuz}, {"boot/capture.img", capImg}},
			data:  map[string][]byte{"etc/guestagent.json": []byte(agentConf)},
		}
	} else {
		if firstArch, err = h.kdumpctlArchive(ctx, k, agent, captureInit, c, data, capMods, workload); err != nil {
			return err
		}
	}
	if _, err := firstArch.write(firstImg); err != nil {
		return err
	}

	disk := filepath.Join(dir, "disk.img")
	diskMiB := 2048 + c.MemoryMiB
	if c.Target == TargetLocalFull {
		diskMiB = 16 // the dump of a 1 GiB guest at -d 31 is about 22 MiB
	}
	if err := mkfs(ctx, disk, "kdumpkit-e2e", diskMiB); err != nil {
		return err
	}

	drives := []qemu.Drive{{Path: disk}}
	rawDisk := filepath.Join(dir, "raw.img")
	if c.Target == TargetRaw {
		if err := sparseFile(rawDisk, int64(1024+c.MemoryMiB)<<20); err != nil {
			return err
		}
		drives = append(drives, qemu.Drive{Path: rawDisk})
	}
	res.Console = filepath.Join(dir, "console.log")
	cfg := qemu.Config{
		CPU:        kernelSpecs[c.Kernel].cpu,
		SMP:        1,
		MemoryMiB:  c.MemoryMiB,
		Kernel:     k.Vmlinuz,
		Initrd:     firstImg,
		Append:     "console=ttyS0 crashkernel=" + c.CrashKernel + " panic=-1 oops=panic loglevel=6 rdinit=/init",
		Drives:     drives,
		ConsoleLog: res.Console,
		// User networking: the guest reaches the host's loopback at
		// 10.0.2.2 (GuestHostAddr).
		Extra: []string{"-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"},
		Dir:   dir,
	}
	lines, err := h.boot(ctx, cfg)
	if err != nil {
		return err
	}
	h.measure(lines, res)
	panics := 0
	for _, l := range lines {
		if strings.HasPrefix(l.Text, "KDUMPKIT-AGENT-FAILED") {
			return fmt.Errorf("e2e: the first kernel's agent failed before the panic: %s (console %s)", l.Text, res.Console)
		}
		// The first panic is the sysrq one; a second is the capture
		// kernel's own (out of memory before /init, a capture-init crash).
		if i := strings.Index(l.Text, "Kernel panic - not syncing:"); i >= 0 {
			if panics++; panics == 2 {
				return fmt.Errorf("e2e: the capture kernel panicked: %s (console %s)", strings.TrimSpace(l.Text[i:]), res.Console)
			}
		}
	}
	if c.KdumpctlTest {
		if c.Target != TargetLocal || c.AgentLoad {
			return errors.New("e2e: the kdumpctl test case needs the local target and kdumpctl in the guest")
		}
		cfg.ConsoleLog = filepath.Join(dir, "console-2.log")
		second, err := h.boot(ctx, cfg)
		if err != nil {
			return fmt.Errorf("second boot: %w", err)
		}
		if err := checkKdumpctlTest(lines, second); err != nil {
			return fmt.Errorf("%w (consoles %s, %s)", err, res.Console, cfg.ConsoleLog)
		}
		res.Checks["kdumpctl-test"] = "ok"
	}
	if !c.AgentLoad {
		if err := checkLifecycle(lines); err != nil {
			return fmt.Errorf("%w (console %s)", err, res.Console)
		}
		res.InitramfsBytes = 0
		for _, l := range lines {
			if m := builtRE.FindStringSubmatch(l.Text); m != nil {
				res.InitramfsBytes, _ = strconv.ParseInt(m[1], 10, 64)
			}
		}
	}

	switch c.Target {
	case TargetLocal, TargetNFSDown, TargetLocalFull:
		err = h.collectLocal(ctx, disk, res)
	case TargetRaw:
		err = h.collectRaw(rawDisk, res)
	default:
		err = h.findDump(collected, res)
	}
	if err != nil {
		return err
	}
	if c.Target == TargetLocalFull {
		return h.checkIncomplete(ctx, res)
	}
	if !res.Saved {
		return fmt.Errorf("e2e: no vmcore saved; console %s", res.Console)
	}
	h.check(ctx, res)
	var failed []string
	for name, v := range res.Checks {
		if v != "ok" {
			failed = append(failed, name+": "+v)
		}
	}
	slices.Sort(failed)
	if len(failed) > 0 {
		return fmt.Errorf("e2e: checks failed:\n%s", strings.Join(failed, "\n"))
	}
	if !h.KeepAll {
		os.Remove(disk)
		os.Remove(firstImg)
		os.RemoveAll(filepath.Join(dir, "modules"))
	}
	return nil
}

// boot runs QEMU under the machine-wide lock until it exits by itself
// (capture-init powers off) or the timeout ends, and returns the console
// lines.
func (h *Harness) boot(ctx context.Context, cfg qemu.Config) ([]qemu.Line, error) {
	unlock, err := flock.Lock(ctx, QEMULock)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	vm, err := qemu.Start(rctx, cfg)
	if err != nil {
		return nil, err
	}
	defer vm.Close()
	h.logf("qemu pid %d: %s", vm.PID(), strings.Join(vm.CommandLine(), " "))
	werr := vm.Wait(rctx)
	lines := vm.Lines()
	if werr != nil {
		return lines, fmt.Errorf("e2e: %w\n--- console tail ---\n%s", werr, tail(vm.Console(), 4000))
	}
	return lines, nil
}

// measure reads the timings from the console lines.
func (h *Harness) measure(lines []qemu.Line, res *Result) {
	var panicT, startT, savedT time.Time
	for _, l := range lines {
		switch {
		case panicT.IsZero() && panicRE.MatchString(l.Text):
			panicT = l.Time
		case startT.IsZero() && startRE.MatchString(l.Text):
			startT = l.Time
		case savedT.IsZero() && savedRE.MatchString(l.Text):
			savedT = l.Time
		}
		if m := dumpRE.FindStringSubmatch(l.Text); m != nil {
			if s, err := strconv.ParseFloat(m[1], 64); err == nil {
				res.DumpDuration = time.Duration(s * float64(time.Second))
			}
		}
		if m := recRE.FindStringSubmatch(l.Text); m != nil {
			res.EstimateMiB, _ = strconv.Atoi(m[1])
		}
		if v, ok := strings.CutPrefix(l.Text, "Inputs in bytes: "); ok {
			res.EstimateInputs = v
		}
		if m := peakRE.FindStringSubmatch(l.Text); m != nil && strings.HasPrefix(l.Text, "capture-init") {
			res.PeakKiB, _ = strconv.ParseInt(m[1], 10, 64)
		}
	}
	if !panicT.IsZero() && !startT.IsZero() {
		res.PanicToStart = startT.Sub(panicT)
	}
	if !panicT.IsZero() && !savedT.IsZero() {
		res.PanicToSaved = savedT.Sub(panicT)
	}
}

// mkfs makes an empty ext4 image of sizeMiB (a sparse file).
func mkfs(ctx context.Context, img, label string, sizeMiB int) error {
	bin, err := oracle.LookPath("mkfs.ext4")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "-q", "-F", "-L", label, img, strconv.Itoa(sizeMiB)+"M")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4: %w\n%s", err, msg)
	}
	return nil
}

// collectLocal copies /var/crash out of the ext4 image with debugfs.
func (h *Harness) collectLocal(ctx context.Context, disk string, res *Result) error {
	bin, err := oracle.LookPath("debugfs")
	if err != nil {
		return err
	}
	out := filepath.Join(res.Dir, "collected")
	os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "-R", "rdump /var/crash "+out, disk)
	// debugfs exits 0 even when rdump fails; findDump notices.
	msg, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("debugfs rdump: %w\n%s", err, msg)
	}
	return h.findDump(filepath.Join(out, "crash", res.Case.Name()), res)
}

func sparseFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// collectRaw turns the flattened stream on the raw disk image back into a
// kdump-compressed vmcore, as kdumpctl start does on the next boot.
func (h *Harness) collectRaw(img string, res *Result) error {
	src, err := os.Open(img)
	if err != nil {
		return err
	}
	defer src.Close()
	if ok, err := targets.RawHasDump(src); err != nil || !ok {
		return fmt.Errorf("e2e: raw disk %s holds no dump (%v)", img, err)
	}
	out := filepath.Join(res.Dir, "collected")
	os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	res.Vmcore = filepath.Join(out, "vmcore")
	dst, err := os.Create(res.Vmcore)
	if err != nil {
		return err
	}
	if err := targets.RecoverRaw(src, dst); err != nil {
		dst.Close()
		return fmt.Errorf("e2e: recover %s: %w", img, err)
	}
	if err := dst.Close(); err != nil {
		return err
	}
	st, err := os.Stat(res.Vmcore)
	if err != nil {
		return err
	}
	res.Saved, res.DumpBytes, res.Files = true, st.Size(), []string{"vmcore (recovered from /dev/vdb)"}
	if !h.KeepAll {
		defer os.Remove(img)
	}
	return nil
}

// findDump looks for the one dump directory under root.
func (h *Harness) findDump(root string, res *Result) error {
	all, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("e2e: collected files: %w", err)
	}
	// The result of a `kdumpctl test` sits beside the dump directory.
	var ents []os.DirEntry
	for _, e := range all {
		if !strings.HasPrefix(e.Name(), kexec.TestDirPrefix) {
			ents = append(ents, e)
		}
	}
	if len(ents) != 1 {
		return fmt.Errorf("e2e: want one dump directory in %s, found %d", root, len(ents))
	}
	d := filepath.Join(root, ents[0].Name())
	files, err := os.ReadDir(d)
	if err != nil {
		return err
	}
	for _, f := range files {
		res.Files = append(res.Files, f.Name())
		switch f.Name() {
		case "vmcore-incomplete":
			res.Vmcore = filepath.Join(d, f.Name())
		case "vmcore":
			res.Saved = true
			res.Vmcore = filepath.Join(d, f.Name())
			if st, err := os.Stat(res.Vmcore); err == nil {
				res.DumpBytes = st.Size()
			}
		}
	}
	h.logf("%s: collected %s: %v", res.Case.Name(), d, res.Files)
	return nil
}

// check runs the independent readers on the collected dump.
func (h *Harness) check(ctx context.Context, res *Result) {
	set := func(name string, err error) {
		if err != nil {
			res.Checks[name] = err.Error()
		} else {
			res.Checks[name] = "ok"
		}
	}
	set("vmcore verify", h.checkVerify(ctx, res))
	vmlinux, err := h.Vmlinux(ctx, res.Case.Kernel)
	if err != nil {
		set("crash", err)
		set("drgn", err)
	} else {
		set("crash", h.checkCrash(ctx, res, vmlinux))
		set("drgn", h.checkDrgn(ctx, res, vmlinux))
	}
	set("makedumpfile --dump-dmesg", h.checkDmesg(ctx, res))
	if res.Case.Target == TargetNFSDown {
		set("fallback", checkFallback(res))
	}
	if res.Case.Watchdog {
		b, err := os.ReadFile(res.Console)
		if err == nil && !bytes.Contains(b, []byte("] petting /dev/watchdog every")) {
			err = errors.New("capture-init did not pet /dev/watchdog")
		}
		set("watchdog", err)
	}
}

// checkIncomplete checks the full-disk case: no vmcore, a
// vmcore-incomplete that our reader opens and calls incomplete, and the
// failed dump step followed by the failure action on the console.
func (h *Harness) checkIncomplete(ctx context.Context, res *Result) error {
	if res.Saved {
		return errors.New("e2e: a vmcore was saved on a disk too small for it")
	}
	if res.Vmcore == "" {
		return fmt.Errorf("e2e: no vmcore-incomplete left on the full disk (files %v)", res.Files)
	}
	if st, err := os.Stat(res.Vmcore); err == nil {
		res.DumpBytes = st.Size()
	}
	bin, err := h.Binary(ctx, "./cmd/vmcore")
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bin, "verify", res.Vmcore).CombinedOutput()
	os.WriteFile(filepath.Join(res.Dir, "verify.txt"), out, 0o644)
	if err != nil || !bytes.Contains(out, []byte("incomplete")) {
		res.Checks["vmcore verify"] = fmt.Sprintf("want a readable dump reported incomplete, got %v: %s", err, tail(string(out), 300))
	} else {
		res.Checks["vmcore verify"] = "ok"
	}
	// The full disk has no room for the whole log either (it stays as
	// kexec-dmesg-incomplete.log): read the story from the console.
	b, err := os.ReadFile(res.Console)
	switch {
	case err != nil:
		res.Checks["log"] = err.Error()
	case !bytes.Contains(b, []byte("FAILED in step dump")) || !bytes.Contains(b, []byte("] poweroff")):
		res.Checks["log"] = "the console does not show the failed dump step and failure_action poweroff"
	default:
		res.Checks["log"] = "ok"
	}
	for name, v := range res.Checks {
		if v != "ok" {
			return fmt.Errorf("e2e: %s: %s", name, v)
		}
	}
	return nil
}

// checkFallback checks that the dump on the root file system came from
// failure_action dump_to_rootfs after the NFS target failed, as the log
// capture-init saved beside it says.
func checkFallback(res *Result) error {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(res.Vmcore), "kexec-dmesg.log"))
	if err != nil {
		return err
	}
	for _, want := range []string{"FAILED in step target", "failure_action dump_to_rootfs", "on the root file system"} {
		if !bytes.Contains(b, []byte(want)) {
			return fmt.Errorf("kexec-dmesg.log lacks %q", want)
		}
	}
	return nil
}

func (h *Harness) checkVerify(ctx context.Context, res *Result) error {
	bin, err := h.Binary(ctx, "./cmd/vmcore")
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bin, "verify", res.Vmcore).CombinedOutput()
	os.WriteFile(filepath.Join(res.Dir, "verify.txt"), out, 0o644)
	if err != nil {
		return fmt.Errorf("vmcore verify: %w: %s", err, tail(string(out), 500))
	}
	return nil
}

// reader is how to run a dump reader for a kernel series: on the host
// for 6.1 (Debian 12's crash 8.0.2 and drgn 0.0.22), in the sid chroot
// the oracle package keeps for newer kernels, which those versions cannot
// read (sid's crash 9 and drgn 0.3).
type reader struct {
	root    string // chroot, "" for the host
	work    string // host directory visible in the chroot, "" for the host
	inside  string // work as the chroot sees it
	cleanup func()
}

// sidPackages are installed into the sid chroot for the newer kernels.
var sidPackages = map[string]string{"crash": "usr/bin/crash", "python3-drgn": "usr/lib/python3/dist-packages/drgn"}

func (h *Harness) reader(ctx context.Context, k Kernel, files ...string) (*reader, error) {
	if k == Kernel61 {
		return &reader{cleanup: func() {}}, nil
	}
	if _, err := oracle.SidMakedumpfile(ctx, h.CacheDir, h.Log); err != nil {
		return nil, fmt.Errorf("sid chroot: %w", err)
	}
	root := filepath.Join(h.CacheDir, oracle.SidRootName)
	if err := h.sidInstall(ctx, root); err != nil {
		return nil, err
	}
	work := filepath.Join(root, "kdumpkit-work", "e2e-"+strconv.Itoa(os.Getpid()))
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	for _, f := range files {
		dst := filepath.Join(work, filepath.Base(f))
		if err := os.Link(f, dst); err != nil {
			if err := copyFile(f, dst); err != nil {
				os.RemoveAll(work)
				return nil, err
			}
		}
	}
	return &reader{root: root, work: work, inside: "/kdumpkit-work/" + filepath.Base(work), cleanup: func() { os.RemoveAll(work) }}, nil
}

// sidInstall installs sidPackages into the chroot once (under a lock).
func (h *Harness) sidInstall(ctx context.Context, root string) error {
	var missing []string
	for pkg, file := range sidPackages {
		if _, err := os.Stat(filepath.Join(root, file)); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	unlock, err := flock.Lock(ctx, filepath.Join(h.CacheDir, "sid-root.e2e.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	slices.Sort(missing)
	h.logf("installing %v into %s", missing, root)
	cmd := exec.CommandContext(ctx, "chroot", append([]string{root, "apt-get", "install", "-y", "-q"}, missing...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chroot %s apt-get install %v: %w\n%s", root, missing, err, tail(string(out), 1000))
	}
	return nil
}

// command returns the command running prog with args; file arguments
// are given as host paths and mapped into the chroot.
func (r *reader) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	if r.root == "" {
		return exec.CommandContext(ctx, prog, args...)
	}
	mapped := make([]string, len(args))
	for i, a := range args {
		mapped[i] = a
		if filepath.IsAbs(a) {
			if _, err := os.Stat(filepath.Join(r.work, filepath.Base(a))); err == nil {
				mapped[i] = r.inside + "/" + filepath.Base(a)
			}
		}
	}
	if prog == oracle.Python {
		prog = "/usr/bin/python3"
	}
	return exec.CommandContext(ctx, "chroot", append([]string{r.root, prog}, mapped...)...)
}

// checkCrash runs crash in batch mode: log must show the sysrq panic and
// bt the crashing task's stack through sysrq_handle_crash.
func (h *Harness) checkCrash(ctx context.Context, res *Result, vmlinux string) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	r, err := h.reader(cctx, res.Case.Kernel, vmlinux, res.Vmcore)
	if err != nil {
		return err
	}
	defer r.cleanup()
	bin := "/usr/bin/crash"
	if r.root == "" {
		if bin, err = oracle.LookPath("crash"); err != nil {
			return err
		}
	}
	cmd := r.command(cctx, bin, "-s", vmlinux, res.Vmcore)
	cmd.Stdin = strings.NewReader("log\nbt\nquit\n")
	out, err := cmd.CombinedOutput()
	os.WriteFile(filepath.Join(res.Dir, "crash.txt"), out, 0o644)
	if err != nil {
		return fmt.Errorf("crash: %w: %s", err, tail(string(out), 1000))
	}
	text := string(out)
	for _, l := range strings.Split(text, "\n") {
		if res.PanicLine == "" && strings.Contains(l, "Kernel panic") {
			res.PanicLine = strings.TrimSpace(l)
		}
	}
	if !strings.Contains(text, "sysrq: Trigger a crash") {
		return fmt.Errorf("crash log lacks %q (see crash.txt)", "sysrq: Trigger a crash")
	}
	i := strings.Index(text, "PID: ")
	if i < 0 {
		return errors.New("crash bt printed no task (see crash.txt)")
	}
	bt := text[i:]
	res.Backtrace = append(res.Backtrace, strings.TrimSpace(strings.SplitN(bt, "\n", 2)[0]))
	for _, l := range strings.Split(bt, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			res.Backtrace = append(res.Backtrace, strings.TrimSpace(l))
		}
	}
	if !strings.Contains(bt, "sysrq_handle_crash") {
		return errors.New("crash bt lacks sysrq_handle_crash (see crash.txt)")
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

const drgnScript = `
import sys, drgn
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
t = prog.crashed_thread()
print("crashed thread", t.tid)
trace = str(t.stack_trace())
print(trace)
sys.exit(0 if "sysrq_handle_crash" in trace else 3)
`

// checkDrgn opens the dump with drgn and finds the crashing thread.
func (h *Harness) checkDrgn(ctx context.Context, res *Result, vmlinux string) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	r, err := h.reader(cctx, res.Case.Kernel, vmlinux, res.Vmcore)
	if err != nil {
		return err
	}
	defer r.cleanup()
	cmd := r.command(cctx, oracle.Python, "-c", drgnScript, res.Vmcore, vmlinux)
	out, err := cmd.CombinedOutput()
	os.WriteFile(filepath.Join(res.Dir, "drgn.txt"), out, 0o644)
	if err != nil {
		return fmt.Errorf("drgn: %w: %s", err, tail(string(out), 600))
	}
	return nil
}

func (h *Harness) checkDmesg(ctx context.Context, res *Result) error {
	m, err := oracle.MakedumpfileFor(ctx, h.CacheDir, res.Release, h.Log)
	if err != nil {
		return err
	}
	work := filepath.Join(res.Dir, "dmesg-work")
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Link(res.Vmcore, filepath.Join(work, "vmcore")); err != nil {
		if err := copyFile(res.Vmcore, filepath.Join(work, "vmcore")); err != nil {
			return err
		}
	}
	cmd, err := m.Command(ctx, work, "--dump-dmesg", "vmcore", "dmesg.txt")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s --dump-dmesg: %w: %s", m, err, tail(buf.String(), 500))
	}
	b, err := os.ReadFile(filepath.Join(work, "dmesg.txt"))
	if err != nil {
		return err
	}
	os.WriteFile(filepath.Join(res.Dir, "makedumpfile-dmesg.txt"), b, 0o644)
	if !bytes.Contains(b, []byte("sysrq: Trigger a crash")) {
		return fmt.Errorf("%s --dump-dmesg output lacks the sysrq line", m)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// checkLifecycle reads the guest agent's kdumpctl sequence from the
// console: start builds and loads, status exits 0, stop unloads, status
// then exits 3 with kexec_crash_loaded 0, and the second start reuses the
// image (its hash is unchanged) and loads it again.
func checkLifecycle(lines []qemu.Line) error {
	want := []struct{ prefix, what string }{
		{"kdump: initramfs ", "the first kdumpctl start reports the image"},
		{"guestagent: kdumpctl start: exit 0", "kdumpctl start exits 0"},
		{"guestagent: kdumpctl status: exit 0", "kdumpctl status exits 0 once loaded"},
		{"guestagent: kdumpctl estimate: exit 0", "kdumpctl estimate exits 0"},
		{"kdump: capture kernel unloaded", "kdumpctl stop unloads"},
		{"guestagent: kdumpctl status: exit 3", "kdumpctl status exits 3 once stopped"},
		{"KDUMPKIT-AGENT-STOPPED status=3 kexec_crash_loaded=0", "kexec_crash_loaded is 0 after stop"},
		{"kdump: initramfs ", "the second kdumpctl start reports the image"},
		{"kdump: capture kernel ", "the second kdumpctl start loads"},
		{"guestagent: kdumpctl start: exit 0", "the second kdumpctl start exits 0"},
		{"KDUMPKIT-AGENT-LOADED", "the agent sees the capture kernel loaded"},
	}
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.HasPrefix(l.Text, want[i].prefix) {
			if i == 7 && !strings.Contains(l.Text, " up to date ") {
				return fmt.Errorf("e2e: the second kdumpctl start rebuilt the image: %q", l.Text)
			}
			i++
		}
	}
	if i < len(want) {
		return fmt.Errorf("e2e: kdumpctl sequence in the guest: no line for %q (%q)", want[i].what, want[i].prefix)
	}
	return nil
}

var (
	testTriggerRE = regexp.MustCompile(`^kdump: test ([0-9A-Za-z_-]+): triggering`)
	testRecordRE  = regexp.MustCompile(`^capture-init: \[ *[0-9.]+s\] kdump test ([0-9A-Za-z_-]+): recorded "(\w+)"`)
	testStatusRE  = regexp.MustCompile(`^Last kdump test ([0-9A-Za-z_-]+): (\w+)`)
)

// checkKdumpctlTest reads the two boots of the kdumpctl test case: the
// first triggers test <id> and capture-init records "success" for that
// id; the second boot's `kdumpctl status` reports test <id> as success.
func checkKdumpctlTest(first, second []qemu.Line) error {
	var id, recorded string
	for _, l := range first {
		if m := testTriggerRE.FindStringSubmatch(l.Text); m != nil {
			id = m[1]
		}
		if m := testRecordRE.FindStringSubmatch(l.Text); m != nil && m[1] == id {
			recorded = m[2]
		}
	}
	if id == "" {
		return errors.New("e2e: kdumpctl test did not say it triggers a test")
	}
	if recorded != "success" {
		return fmt.Errorf("e2e: capture-init recorded %q for test %s, want success", recorded, id)
	}
	secondBoot := false
	for _, l := range second {
		if strings.HasPrefix(l.Text, "KDUMPKIT-AGENT-SECOND-BOOT") {
			secondBoot = true
		}
		if strings.HasPrefix(l.Text, "KDUMPKIT-AGENT-FAILED") {
			return fmt.Errorf("e2e: the agent failed on the second boot: %s", l.Text)
		}
		if m := testStatusRE.FindStringSubmatch(l.Text); m != nil && secondBoot {
			if m[1] != id || m[2] != "success" {
				return fmt.Errorf("e2e: kdumpctl status after the reboot: %q, want test %s success", l.Text, id)
			}
			return nil
		}
	}
	return fmt.Errorf("e2e: no \"Last kdump test %s\" line from kdumpctl status on the second boot (second boot seen: %v)", id, secondBoot)
}
