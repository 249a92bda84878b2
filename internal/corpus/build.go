package corpus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
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

	"github.com/kdumpkit/kdumpkit/internal/flock"

	"github.com/kdumpkit/kdumpkit/internal/corpus/pagegen"
	"github.com/kdumpkit/kdumpkit/internal/cpio"
	"github.com/kdumpkit/kdumpkit/internal/debkernel"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/internal/qemu"
)

// Names of the files every corpus has.
const (
	QEMUELFName    = "qemu.elf"         // QEMU's dump-guest-memory ELF, as QEMU wrote it
	SourceName     = "vmcore.elf"       // QEMUELFName with the classic header layout: the makedumpfile input
	VMCOREINFOName = "vmcoreinfo.txt"   // VMCOREINFO note of QEMUELFName
	ConsoleName    = "console.log"      // guest serial console
	ToolLogName    = "makedumpfile.log" // output of every makedumpfile run
)

// Default build parameters.
const (
	DefaultMemoryMiB     = 1024
	DefaultPackagePrefix = "linux-image-6.1.0-"
	DefaultPackageSuffix = "-cloud-amd64-unsigned"
	DefaultSeed          = 1
)

// Kernel names a kernel series the corpus can be built from.
type Kernel string

const (
	// Kernel61 is Debian 12's 6.1 cloud kernel (the newest
	// linux-image-6.1.0-N-cloud-amd64-unsigned), filtered by the host's
	// makedumpfile 1.7.2. It is the default.
	Kernel61 Kernel = "6.1"
	// Kernel612 is the 6.12 cloud kernel of bookworm-backports (the newest
	// linux-image-6.12.N+deb12-cloud-amd64-unsigned), filtered by Debian
	// sid's makedumpfile (1.7.8) run from a chroot.
	Kernel612 Kernel = "6.12"
)

// kernelSpec is how to find and boot a kernel series.
type kernelSpec struct {
	prefix, suffix string // the image package is prefix+N+suffix, newest N
	// cpu is the default -cpu: kernels newer than 6.1 crash at random under
	// QEMU 7.2's TCG right after cmpxchg16b (fixed in QEMU 8.1).
	cpu string
	// allFormats adds the ELF, flattened, split and incomplete outputs to
	// the per-level set.
	allFormats bool
}

var kernelSpecs = map[Kernel]kernelSpec{
	Kernel61:  {prefix: DefaultPackagePrefix, suffix: DefaultPackageSuffix, allFormats: true},
	Kernel612: {prefix: "linux-image-6.12.", suffix: "+deb12-cloud-amd64-unsigned", cpu: "qemu64,-cx16"},
}

// kernel returns the series of o: Kernel, else the series whose package
// names Package matches, else "" for another package.
func (o Options) kernel() Kernel {
	if o.Kernel != "" {
		return o.Kernel
	}
	if o.Package == "" {
		return Kernel61
	}
	for k, s := range kernelSpecs {
		if mid, ok := strings.CutPrefix(o.Package, s.prefix); ok {
			if n, ok := strings.CutSuffix(mid, s.suffix); ok {
				if _, err := strconv.Atoi(n); err == nil {
					return k
				}
			}
		}
	}
	return ""
}

// spec returns the build recipe of o's kernel; other packages are treated
// like the newer kernels.
func (o Options) spec() (kernelSpec, error) {
	k := o.kernel()
	if k == "" {
		return kernelSpec{cpu: kernelSpecs[Kernel612].cpu}, nil
	}
	s, ok := kernelSpecs[k]
	if !ok {
		return kernelSpec{}, fmt.Errorf("corpus: unknown kernel %q (want %q or %q)", k, Kernel61, Kernel612)
	}
	return s, nil
}

// guestModules are loaded by the guest's /init, with their dependencies,
// unless built into the kernel (virtio_pci is on 6.12).
var guestModules = []string{"qemu_fw_cfg", "virtio_pci", "virtio_blk"}

// Options says which corpus to build or find. The zero value is the
// default corpus.
type Options struct {
	CacheDir string // debkernel.CacheDir() if empty
	// Kernel is the kernel series, Kernel61 if empty (or the series
	// Package belongs to). It chooses the package, the QEMU CPU and the
	// makedumpfile oracle.
	Kernel Kernel
	// Package is the kernel image package; the newest of Kernel's series
	// if empty.
	Package   string
	MemoryMiB int    // guest RAM; DefaultMemoryMiB if zero
	CPU       string // QEMU -cpu model; the series' default if empty (QEMU's for 6.1, qemu64,-cx16 for newer)
	Seed      uint64 // workload data seed; DefaultSeed if zero
	// Log receives progress messages; discarded if nil.
	Log io.Writer
}

func (o Options) withDefaults() Options {
	if o.CacheDir == "" {
		o.CacheDir = debkernel.CacheDir()
	}
	if o.MemoryMiB == 0 {
		o.MemoryMiB = DefaultMemoryMiB
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Root returns the directory that holds all corpora.
func (o Options) Root() string {
	return filepath.Join(o.withDefaults().CacheDir, "corpus")
}

// defaultLink is the symlink in Root naming the default corpus of a kernel
// series for a RAM size, so tests find it without asking apt which kernel
// is newest: default-1024M for 6.1, default-6.12-1024M for 6.12.
func (o Options) defaultLink() string {
	series := ""
	if k := o.kernel(); k != Kernel61 {
		series = string(k) + "-"
	}
	return filepath.Join(o.Root(), fmt.Sprintf("default-%s%dM", series, o.withDefaults().MemoryMiB))
}

// dirName is the corpus directory name for a kernel release.
func dirName(release string, memMiB int) string {
	return fmt.Sprintf("%s-%dM", release, memMiB)
}

// Find returns an existing complete corpus for opt without building
// anything.
func Find(opt Options) (*Corpus, error) {
	opt = opt.withDefaults()
	if opt.Package == "" {
		// Resolve the link so that Dir stays valid if it is repointed.
		dir, err := filepath.EvalSymlinks(opt.defaultLink())
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		return Open(dir)
	}
	return Open(filepath.Join(opt.Root(), dirName(releaseOf(opt.Package), opt.MemoryMiB)))
}

// releaseOf guesses the kernel release from an image package name; the
// build checks it against the package contents.
func releaseOf(pkg string) string {
	r := strings.TrimPrefix(pkg, "linux-image-")
	return strings.TrimSuffix(r, "-unsigned")
}

// RequiredTools lists the programs a build of the default (6.1) corpus
// runs.
var RequiredTools = []string{
	"apt-get", "apt-cache", "dpkg-deb", "depmod", "mkfs.ext4", "busybox",
	"qemu-system-x86_64", "makedumpfile",
}

// newKernelTools are also needed for kernels newer than 6.1: xz and zstd
// for compressed modules, and what runs makedumpfile from a sid chroot.
var newKernelTools = []string{"xz", "zstd", "debootstrap", "chroot", "unshare", "mount"}

// MissingTools returns the programs a build of the default corpus needs
// that are not found in PATH (or in /usr/sbin and /sbin), and "go" if no
// Go toolchain is found.
func MissingTools() []string { return MissingToolsFor(Options{}) }

// MissingToolsFor is MissingTools for the corpus opt.
func MissingToolsFor(opt Options) []string {
	tools := RequiredTools
	if opt.kernel() != Kernel61 {
		tools = append(slices.Clone(tools), newKernelTools...)
	}
	var missing []string
	for _, t := range tools {
		if _, err := oracle.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if _, err := goTool(); err != nil {
		missing = append(missing, "go")
	}
	return missing
}

func goTool() (string, error) {
	// go test and go run put $GOROOT/bin first in their children's PATH.
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go toolchain not found: %w", err)
	}
	return p, nil
}

// Build returns the corpus for opt, building it if it does not exist yet.
// Concurrent builders (also in other processes) wait for one another. If
// force is set, an existing corpus is rebuilt.
func Build(ctx context.Context, opt Options, force bool) (*Corpus, error) {
	opt = opt.withDefaults()
	if err := os.MkdirAll(opt.Root(), 0o755); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	if !force {
		if c, err := Find(opt); err == nil {
			return c, nil
		}
	}
	// One lock per RAM size: builds of different sizes may run together.
	unlock, err := flock.Lock(ctx, filepath.Join(opt.Root(), fmt.Sprintf(".lock-%dM", opt.MemoryMiB)))
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	defer unlock()
	if !force {
		if c, err := Find(opt); err == nil {
			return c, nil
		}
	}
	spec, err := opt.spec()
	if err != nil {
		return nil, err
	}
	pkg := opt.Package
	if pkg == "" {
		pkg, err = debkernel.NewestPackage(ctx, spec.prefix, spec.suffix)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
	}
	final := filepath.Join(opt.Root(), dirName(releaseOf(pkg), opt.MemoryMiB))
	if !force {
		if c, err := Open(final); err == nil {
			return c, linkDefault(opt, final)
		}
	}
	c, err := build(ctx, opt, spec, pkg, final)
	if err != nil {
		return nil, err
	}
	return c, linkDefault(opt, c.Dir)
}

// linkDefault points the default link at dir when opt is the default
// kernel choice.
func linkDefault(opt Options, dir string) error {
	if opt.Package != "" {
		return nil
	}
	tmp := opt.defaultLink() + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(dir), tmp); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if err := os.Rename(tmp, opt.defaultLink()); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	return nil
}

// builder holds the state of one build.
type builder struct {
	opt    Options
	spec   kernelSpec
	kernel *debkernel.Kernel
	mdf    *oracle.Makedumpfile // the filtering oracle for this kernel
	work   string               // scratch files, deleted at the end
	out    string               // the corpus being written, renamed into place at the end
	m      Manifest

	logMu   sync.Mutex
	toolLog bytes.Buffer
}

func (b *builder) logf(format string, args ...any) {
	fmt.Fprintf(b.opt.Log, "mkcorpus: "+format+"\n", args...)
}

func build(ctx context.Context, opt Options, spec kernelSpec, pkg, final string) (*Corpus, error) {
	start := time.Now()
	// Builds of this RAM size hold the lock, so any scratch directory of
	// this size is left over from a build that was killed.
	prefix := fmt.Sprintf(".build-%dM-", opt.MemoryMiB)
	stale, _ := filepath.Glob(filepath.Join(opt.Root(), prefix+"*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
	tmp, err := os.MkdirTemp(opt.Root(), prefix)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	keep := os.Getenv("KDUMPKIT_CORPUS_KEEP_FAILED") != ""
	ok := false
	defer func() {
		if ok || !keep {
			os.RemoveAll(tmp)
		} else {
			fmt.Fprintf(opt.Log, "mkcorpus: keeping the failed build in %s\n", tmp)
		}
	}()
	b := &builder{opt: opt, spec: spec, work: filepath.Join(tmp, "work"), out: filepath.Join(tmp, "corpus")}
	for _, d := range []string{b.work, b.out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"fetch kernel " + pkg, func(ctx context.Context) error { return b.fetchKernel(ctx, pkg) }},
		{"find makedumpfile and record tool versions", b.toolVersions},
		{"run guest and dump with qemu", b.runGuest},
		{"check VMCOREINFO", b.checkVMCOREINFO},
		{"run makedumpfile", b.runMakedumpfile},
		{"write manifest", b.writeManifest},
	}
	for _, s := range steps {
		b.logf("%s", s.name)
		t := time.Now()
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", s.name, err)
		}
		b.logf("%s: done in %.1fs", s.name, time.Since(t).Seconds())
	}
	// Rewrite the manifest with the total build time.
	b.m.BuildSeconds = time.Since(start).Seconds()
	if err := b.saveManifest(); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	if err := os.RemoveAll(final); err != nil {
		return nil, fmt.Errorf("corpus: remove stale %s: %w", final, err)
	}
	if err := os.Rename(b.out, final); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	ok = true
	b.logf("corpus ready in %s (%.0fs)", final, time.Since(start).Seconds())
	return Open(final)
}

func (b *builder) fetchKernel(ctx context.Context, pkg string) error {
	k, err := debkernel.Fetch(ctx, b.opt.CacheDir, pkg)
	if err != nil {
		return err
	}
	b.kernel = k
	b.m = Manifest{
		Version:          ManifestVersion,
		Kernel:           b.opt.kernel(),
		KernelPackage:    k.Package,
		KernelPackageVer: k.Version,
		GuestRAMMiB:      b.opt.MemoryMiB,
		Created:          time.Now().UTC().Truncate(time.Second),
	}
	return nil
}

func (b *builder) toolVersions(ctx context.Context) error {
	q, err := oracle.LookPath("qemu-system-x86_64")
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, q, "--version").Output()
	if err != nil {
		return fmt.Errorf("qemu-system-x86_64 --version: %w", err)
	}
	b.m.QEMUVersion = firstLine(string(out))
	// 1.7.2 mis-filters kernels newer than 6.1: those get sid's.
	b.mdf, err = oracle.MakedumpfileFor(ctx, b.opt.CacheDir, b.kernel.Release, b.opt.Log)
	if err != nil {
		return err
	}
	b.m.MakedumpfileVersion = b.mdf.Version
	b.m.MakedumpfileChroot = b.mdf.Root
	b.logf("makedumpfile: %s (%s)", b.mdf, b.mdf.Version)
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(line)
}

// workload sizes the guest's memory use for a RAM size: about a quarter
// page cache, an eighth tmpfs, three sixteenths anonymous data, a sixteenth
// zero-written anonymous pages, 3/64 in 2 MiB hugetlb pages of which a
// sixth stay reserved but unused, leaving about a quarter for the kernel
// and free memory.
func workload(memMiB int, seed uint64) Workload {
	huge := max(memMiB*3/64/2, 6)
	return Workload{
		PageCacheMiB:     memMiB / 4,
		TmpfsMiB:         memMiB / 8,
		AnonMiB:          memMiB * 3 / 16,
		ZeroMiB:          memMiB / 16,
		HugetlbPages:     huge,
		HugetlbUsedPages: huge - huge/6,
		HugePageKiB:      2048,
		Seed:             seed,
	}
}

// parseHugePages fills HugePagesTotal and HugePagesFree from the guest's
// meminfo lines and checks them against the workload.
func (w *Workload) parseHugePages() error {
	found := 0
	for _, l := range w.Meminfo {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		switch f[0] {
		case "HugePages_Total:":
			w.HugePagesTotal = n
			found++
		case "HugePages_Free:":
			w.HugePagesFree = n
			found++
		}
	}
	if found != 2 {
		return fmt.Errorf("guest meminfo lacks HugePages_Total or HugePages_Free: %q", w.Meminfo)
	}
	if w.HugePagesTotal != w.HugetlbPages || w.HugePagesFree != w.HugetlbPages-w.HugetlbUsedPages {
		return fmt.Errorf("guest has %d hugetlb pages, %d free; the workload wants %d, %d free",
			w.HugePagesTotal, w.HugePagesFree, w.HugetlbPages, w.HugetlbPages-w.HugetlbUsedPages)
	}
	return nil
}

var guestLineRE = regexp.MustCompile(`KDUMPKIT-(GUESTLOAD-READY|GUESTLOAD-FAILED|INIT-FAILED)`)

func (b *builder) runGuest(ctx context.Context) error {
	b.m.Workload = workload(b.opt.MemoryMiB, b.opt.Seed)
	guest, err := b.buildGuestload(ctx)
	if err != nil {
		return err
	}
	disk, err := b.buildDisk(ctx)
	if err != nil {
		return err
	}
	initrd, err := b.buildInitramfs(ctx, guest)
	if err != nil {
		return err
	}
	cpu := b.opt.CPU
	if cpu == "" {
		cpu = b.spec.cpu
	}
	cfg := qemu.Config{
		CPU: cpu,
		// One vCPU: newer kernels also crash at random under QEMU 7.2's TCG
		// with two while patching their own code.
		SMP:        1,
		MemoryMiB:  b.opt.MemoryMiB,
		Kernel:     b.kernel.Vmlinuz,
		Initrd:     initrd,
		Append:     "console=ttyS0 panic=-1 oops=panic loglevel=6 rdinit=/init",
		Drives:     []qemu.Drive{{Path: disk, ReadOnly: true}},
		VMCoreInfo: true,
		ConsoleLog: filepath.Join(b.out, ConsoleName),
		Dir:        b.work,
	}
	// TCG boots 6.1 in seconds; the workload writes about 100 MiB/s.
	bootCtx, cancel := context.WithTimeout(ctx, 5*time.Minute+time.Duration(b.opt.MemoryMiB)*200*time.Millisecond)
	defer cancel()
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer vm.Close()
	b.m.QEMUCommand = vm.CommandLine()
	b.logf("qemu pid %d: %s", vm.PID(), strings.Join(b.m.QEMUCommand, " "))
	line, err := vm.WaitConsole(bootCtx, guestLineRE)
	if err != nil {
		return err
	}
	if !strings.Contains(line, "GUESTLOAD-READY") {
		return fmt.Errorf("guest failed: %s\n--- console tail ---\n%s", line, tailString(vm.Console(), 3000))
	}
	for _, l := range strings.Split(vm.Console(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "guestload: meminfo "); ok {
			b.m.Workload.Meminfo = append(b.m.Workload.Meminfo, rest)
		}
	}
	b.logf("guest ready: %s", strings.Join(b.m.Workload.Meminfo, ", "))
	if err := b.m.Workload.parseHugePages(); err != nil {
		return err
	}

	q, err := vm.QMP(ctx)
	if err != nil {
		return err
	}
	formats, err := q.DumpFormats(ctx)
	if err != nil {
		return err
	}
	// Stop the guest so that every QEMU dump holds the same memory.
	if err := q.Execute(ctx, "stop", nil, nil); err != nil {
		return err
	}
	b.logf("qemu dump formats: %v", formats)
	dumps := []struct {
		name, format, kind, comp string
		optional                 bool
	}{
		{QEMUELFName, "elf", "elf", CompressionNone, false},
		// QEMU writes its kdump formats as makedumpfile flattened streams.
		{"qemu-kdump-zlib.flat", "kdump-zlib", "flattened", CompressionZlib, false},
		// Debian builds QEMU without liblzo2 and libsnappy (7.2 and 10.0
		// alike), so these two exist only with another QEMU build.
		{"qemu-kdump-lzo.flat", "kdump-lzo", "flattened", CompressionLZO, true},
		{"qemu-kdump-snappy.flat", "kdump-snappy", "flattened", CompressionSnappy, true},
	}
	for _, d := range dumps {
		if !slices.Contains(formats, d.format) {
			if d.optional {
				b.m.QEMUFormatsMissing = append(b.m.QEMUFormatsMissing, d.format)
				b.logf("skipping %s: this QEMU cannot dump format %s (it offers %v)", d.name, d.format, formats)
				continue
			}
			return fmt.Errorf("this QEMU cannot dump format %s (it offers %v)", d.format, formats)
		}
		t := time.Now()
		dctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		err := q.DumpGuestMemory(dctx, filepath.Join(b.out, d.name), d.format)
		cancel()
		if err != nil {
			return err
		}
		cmd, _ := json.Marshal(map[string]any{"execute": "dump-guest-memory",
			"arguments": map[string]any{"paging": false, "protocol": "file:" + d.name, "format": d.format}})
		format := "elf"
		if d.kind == "flattened" {
			format = "kdump"
		}
		b.m.Files = append(b.m.Files, File{
			Name: d.name, Kind: Kind(d.kind), Format: format, Producer: ProducerQEMU,
			Command: []string{string(cmd)}, DumpLevel: 0, Compression: d.comp,
		})
		b.logf("dump-guest-memory %s: %.1fs", d.format, time.Since(t).Seconds())
	}
	qctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := vm.Quit(qctx); err != nil {
		b.logf("qemu quit: %v (killed)", err)
	}
	b.m.Files = append(b.m.Files, File{Name: ConsoleName, Kind: KindLog, Producer: ProducerQEMU, DumpLevel: -1})
	if err := fixELFLayout(filepath.Join(b.out, QEMUELFName), filepath.Join(b.out, SourceName)); err != nil {
		return err
	}
	b.m.Files = append(b.m.Files, File{Name: SourceName, Kind: KindELF, Format: "elf", Producer: ProducerMkcorpus,
		DumpLevel: 0, Compression: CompressionNone, Source: QEMUELFName})
	return nil
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// buildGuestload compiles the static guest workload binary.
func (b *builder) buildGuestload(ctx context.Context) (string, error) {
	gobin, err := goTool()
	if err != nil {
		return "", err
	}
	out := filepath.Join(b.work, "guestload")
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-o", out,
		"github.com/kdumpkit/kdumpkit/internal/cmd/guestload")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if dir, err := moduleDir(); err == nil {
		cmd.Dir = dir
	}
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build guestload: %w\n%s", err, msg)
	}
	return out, nil
}

// moduleDir finds the module root from this source file's location, so the
// guest program builds whatever the current directory is.
func moduleDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("source location unknown")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", err
	}
	return dir, nil
}

// buildDisk writes PageCacheMiB of generated data in 16 MiB files and
// makes an ext4 image of them.
func (b *builder) buildDisk(ctx context.Context) (string, error) {
	data := filepath.Join(b.work, "disk-data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return "", err
	}
	const fileMiB = 16
	buf := make([]byte, 1<<20)
	left := b.m.Workload.PageCacheMiB
	for i := 0; left > 0; i++ {
		n := min(left, fileMiB)
		f, err := os.Create(filepath.Join(data, fmt.Sprintf("file-%03d", i)))
		if err != nil {
			return "", err
		}
		for j := range n {
			pagegen.Fill(buf, b.opt.Seed+1000+uint64(i), uint64(j)<<20)
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return "", err
			}
		}
		if err := f.Close(); err != nil {
			return "", err
		}
		left -= n
	}
	img := filepath.Join(b.work, "disk.img")
	sizeMiB := b.m.Workload.PageCacheMiB*9/8 + 32
	mkfs, err := oracle.LookPath("mkfs.ext4")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, mkfs, "-q", "-F", "-L", "kdumpkit", "-d", data, img, strconv.Itoa(sizeMiB)+"M")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mkfs.ext4: %w\n%s", err, msg)
	}
	if err := os.RemoveAll(data); err != nil {
		return "", err
	}
	return img, nil
}

// initScript is the guest's /init. %s are: the guestload arguments.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "KDUMPKIT-INIT-FAILED: $*"; sleep 1; poweroff -f; }
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
for m in $(cat /etc/modules.list); do
	insmod "/lib/modules/$m" || fail "insmod $m"
done
# Without qemu_fw_cfg QEMU's dumps have no VMCOREINFO note.
[ -d /sys/firmware/qemu_fw_cfg ] || fail "qemu_fw_cfg did not load: no /sys/firmware/qemu_fw_cfg"
i=0
while [ ! -b /dev/vda ]; do
	i=$((i+1)); [ $i -gt 100 ] && fail "no /dev/vda"
	sleep 0.1
done
mount -t ext4 -o ro /dev/vda /mnt || fail "mount /dev/vda"
mount -t tmpfs tmpfs /tmpfs || fail "mount tmpfs"
echo "kdumpkit-init: $(cat /proc/sys/kernel/osrelease), fw_cfg: $(ls /sys/firmware/qemu_fw_cfg/by_name/etc 2>&1 | tr '\n' ' ')"
/guestload %s || fail "guestload exited with $?"
fail "guestload returned"
`

// guestModuleFiles returns the module files the guest loads, in load
// order, as paths relative to the modules directory: guestModules and
// their dependencies, less those built into the kernel.
func (b *builder) guestModuleFiles() ([]string, error) {
	var want []string
	builtin := map[string]bool{}
	if f, err := os.Open(filepath.Join(b.kernel.ModulesDir, "modules.builtin")); err == nil {
		builtin, err = debkernel.BuiltinModules(f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	for _, m := range guestModules {
		if builtin[m] {
			b.logf("module %s is built into %s", m, b.kernel.Release)
			continue
		}
		want = append(want, m)
	}
	dep, err := os.Open(filepath.Join(b.kernel.ModulesDir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer dep.Close()
	return debkernel.ModuleClosure(dep, want...)
}

// buildInitramfs writes the guest initramfs: static busybox, the modules
// the guest needs (decompressed: busybox insmod loads only plain .ko
// files), the workload binary and /init.
func (b *builder) buildInitramfs(ctx context.Context, guestload string) (string, error) {
	bb, err := oracle.LookPath("busybox")
	if err != nil {
		return "", err
	}
	if err := checkStatic(bb); err != nil {
		return "", fmt.Errorf("busybox (install busybox-static): %w", err)
	}
	mods, err := b.guestModuleFiles()
	if err != nil {
		return "", err
	}
	// Plain .ko copies of compressed modules, by their path in mods.
	plain := map[string]string{}
	modDir := filepath.Join(b.work, "modules")
	for i, m := range mods {
		if !debkernel.IsCompressedModule(m) {
			continue
		}
		dst := filepath.Join(modDir, filepath.Base(debkernel.PlainModuleName(m)))
		if err := debkernel.DecompressModule(ctx, filepath.Join(b.kernel.ModulesDir, m), dst); err != nil {
			return "", err
		}
		plain[debkernel.PlainModuleName(m)] = dst
		mods[i] = debkernel.PlainModuleName(m)
	}
	path := filepath.Join(b.work, "initramfs.cpio")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := cpio.NewWriter(f)
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "mnt", "tmpfs", "tmp", "lib", "lib/modules"} {
		add(w.WriteDir(d, 0o755))
	}
	add(w.WriteCharDev("dev/console", 0o600, 5, 1))
	add(w.WriteCharDev("dev/null", 0o666, 1, 3))
	add(w.CopyFile("bin/busybox", bb))
	add(w.CopyFile("guestload", guestload))
	dirs := map[string]bool{}
	var list []string
	for _, m := range mods {
		for d := filepath.Dir(m); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
		list = append(list, m)
	}
	sorted := make([]string, 0, len(dirs))
	for d := range dirs {
		sorted = append(sorted, d)
	}
	slices.Sort(sorted) // parents sort before children
	for _, d := range sorted {
		add(w.WriteDir("lib/modules/"+d, 0o755))
	}
	for _, m := range mods {
		src := filepath.Join(b.kernel.ModulesDir, m)
		if p, ok := plain[m]; ok {
			src = p
		}
		add(w.CopyFile("lib/modules/"+m, src))
	}
	add(w.WriteFile("etc/modules.list", 0o644, []byte(strings.Join(list, "\n")+"\n")))
	wl := b.m.Workload
	args := fmt.Sprintf("-cache-dir /mnt -tmpfs-dir /tmpfs -tmpfs-mib %d -anon-mib %d -zero-mib %d -hugetlb-pages %d -hugetlb-used %d -seed %d",
		wl.TmpfsMiB, wl.AnonMiB, wl.ZeroMiB, wl.HugetlbPages, wl.HugetlbUsedPages, wl.Seed)
	add(w.WriteFile("init", 0o755, []byte(fmt.Sprintf(initScript, args))))
	add(w.Close())
	add(f.Close())
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	return path, nil
}

// checkStatic fails if the ELF executable at path needs a dynamic loader.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

// checkVMCOREINFO reads the VMCOREINFO note from the ELF dump, fails if it
// is missing, saves it as a file and records the kernel release.
func (b *builder) checkVMCOREINFO(context.Context) error {
	info, err := ReadVMCOREINFO(filepath.Join(b.out, QEMUELFName))
	if err != nil {
		return err
	}
	fields := ParseVMCOREINFO(info)
	rel := fields["OSRELEASE"]
	if rel == "" {
		return fmt.Errorf("%s: VMCOREINFO has no OSRELEASE", QEMUELFName)
	}
	if rel != b.kernel.Release {
		return fmt.Errorf("%s: VMCOREINFO OSRELEASE %q, but the booted package is %s", QEMUELFName, rel, b.kernel.Release)
	}
	b.m.KernelRelease = rel
	ps, err := strconv.Atoi(fields["PAGESIZE"])
	if err != nil {
		return fmt.Errorf("%s: VMCOREINFO PAGESIZE %q: %w", QEMUELFName, fields["PAGESIZE"], err)
	}
	b.m.PageSize = ps
	if err := os.WriteFile(filepath.Join(b.out, VMCOREINFOName), []byte(info), 0o644); err != nil {
		return err
	}
	b.m.Files = append(b.m.Files, File{Name: VMCOREINFOName, Kind: KindVMCOREINFO, Producer: ProducerMkcorpus,
		DumpLevel: -1, Source: QEMUELFName})
	b.logf("VMCOREINFO: OSRELEASE=%s PAGESIZE=%d, %d lines", rel, ps, len(fields))
	return nil
}

// mdfJob is one makedumpfile run.
type mdfJob struct {
	args     []string // arguments after the program name
	outputs  []string // files it writes
	stdout   bool     // the single output is standard output (-F)
	stats    bool     // the run has --show-stats: parse and keep its report
	kind     Kind
	format   string
	level    int
	comp     string
	wantExit int
}

// jobResult is what a run left.
type jobResult struct {
	exit  int
	stats *oracle.Stats
}

// StatsLevels are the dump levels of the per-level outputs, each made
// with `-l --show-stats -d N` and carrying the oracle's Stats.
var StatsLevels = []int{0, 1, 2, 4, 8, 16, 31}

// levelName is the file name of the per-level output for compression and
// level, e.g. makedumpfile-l-d8.kdump.
func levelName(comp string, level int) string {
	flag := map[string]string{CompressionZlib: "-c", CompressionLZO: "-l"}[comp]
	return fmt.Sprintf("makedumpfile%s-d%d.kdump", flag, level)
}

// statsLogName is the file with the --show-stats report of a dump.
func statsLogName(dump string) string {
	return strings.TrimSuffix(dump, ".kdump") + ".stats.txt"
}

func (b *builder) runMakedumpfile(ctx context.Context) error {
	src := SourceName
	kdump := func(comp string, level int, stats bool) mdfJob {
		flag := map[string]string{CompressionZlib: "-c", CompressionLZO: "-l"}[comp]
		name := levelName(comp, level)
		args := []string{flag, "-d", strconv.Itoa(level), src, name}
		if stats {
			args = append([]string{"--show-stats"}, args...)
		}
		return mdfJob{args: args, outputs: []string{name}, stats: stats,
			kind: KindKdump, format: "kdump", level: level, comp: comp}
	}
	var jobs []mdfJob
	// The slow -d 0 runs go first, two at a time (the machines have few
	// CPUs).
	if b.spec.allFormats {
		jobs = append(jobs, kdump(CompressionZlib, 0, false), kdump(CompressionZlib, 1, false))
	}
	for _, l := range StatsLevels {
		jobs = append(jobs, kdump(CompressionLZO, l, true))
	}
	jobs = append(jobs, kdump(CompressionZlib, 31, false))
	if b.spec.allFormats {
		jobs = append(jobs,
			mdfJob{args: []string{"-F", "-c", "-d", "31", src}, outputs: []string{"makedumpfile-F-c-d31.flat"}, stdout: true,
				kind: KindFlattened, format: "kdump", level: 31, comp: CompressionZlib},
			mdfJob{args: []string{"-F", "-l", "-d", "1", src}, outputs: []string{"makedumpfile-F-l-d1.flat"}, stdout: true,
				kind: KindFlattened, format: "kdump", level: 1, comp: CompressionLZO},
			mdfJob{args: []string{"-E", "-d", "31", src, "makedumpfile-E-d31.elf"}, outputs: []string{"makedumpfile-E-d31.elf"},
				kind: KindELF, format: "elf", level: 31, comp: CompressionNone},
			// The default split block is 1 GiB, which would put every page
			// of a 1 GiB guest into the first file.
			mdfJob{args: []string{"-c", "-d", "31", "--splitblock-size", "1024", "--split", src, "makedumpfile-split-c-d31.1", "makedumpfile-split-c-d31.2"},
				outputs: []string{"makedumpfile-split-c-d31.1", "makedumpfile-split-c-d31.2"},
				kind:    KindSplit, format: "kdump", level: 31, comp: CompressionZlib},
		)
	}
	if err := b.runJobs(ctx, jobs, 2); err != nil {
		return err
	}
	if b.spec.allFormats {
		// A dump cut at about a third of the complete -c -d 1 size.
		full, err := os.Stat(filepath.Join(b.out, "makedumpfile-c-d1.kdump"))
		if err != nil {
			return err
		}
		limit := strconv.FormatInt(full.Size()/3, 10)
		name := "makedumpfile-c-d1-L" + limit + ".kdump"
		inc := mdfJob{args: []string{"-c", "-d", "1", "-L", limit, src, name}, outputs: []string{name},
			kind: KindIncomplete, format: "kdump", level: 1, comp: CompressionZlib, wantExit: 1}
		if err := b.runJobs(ctx, []mdfJob{inc}, 1); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(b.out, ToolLogName), b.toolLog.Bytes(), 0o644); err != nil {
		return err
	}
	b.m.Files = append(b.m.Files, File{Name: ToolLogName, Kind: KindLog, Producer: ProducerMakedumpfile, DumpLevel: -1})
	return nil
}

// runJobs runs makedumpfile jobs, n at a time, and records their files in
// job order.
func (b *builder) runJobs(ctx context.Context, jobs []mdfJob, n int) error {
	errs := make([]error, len(jobs))
	res := make([]jobResult, len(jobs))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, j := range jobs {
		sem <- struct{}{} // start jobs in order, n at a time
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res[i], errs[i] = b.runJob(ctx, j)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, j := range jobs {
		cmd := append([]string{b.mdf.Path}, j.args...)
		for k, name := range j.outputs {
			f := File{Name: name, Kind: j.kind, Format: j.format, Producer: ProducerMakedumpfile, Command: cmd,
				Stdout: j.stdout, ExitCode: res[i].exit, DumpLevel: j.level, Compression: j.comp, Source: SourceName}
			if j.kind == KindSplit {
				f.SplitSet, f.SplitIndex = j.outputs, k
			}
			if j.stats {
				f.Stats, f.StatsLog = res[i].stats, statsLogName(name)
			}
			b.m.Files = append(b.m.Files, f)
			if j.stats {
				b.m.Files = append(b.m.Files, File{Name: f.StatsLog, Kind: KindLog, Producer: ProducerMakedumpfile,
					Command: cmd, DumpLevel: -1, Source: SourceName})
			}
		}
	}
	return nil
}

func (b *builder) runJob(ctx context.Context, j mdfJob) (jobResult, error) {
	start := time.Now()
	cmd, err := b.mdf.Command(ctx, b.out, j.args...)
	if err != nil {
		return jobResult{}, err
	}
	// exec copies stdout and stderr on two goroutines; both reach log.
	var stdout bytes.Buffer
	log := &lockedBuffer{}
	cmd.Stderr = log
	if j.stdout {
		f, err := os.Create(filepath.Join(b.out, j.outputs[0]))
		if err != nil {
			return jobResult{}, err
		}
		defer f.Close()
		cmd.Stdout = f
	} else {
		// Messages and the --show-stats report go to standard output.
		cmd.Stdout = io.MultiWriter(&stdout, log)
	}
	err = cmd.Run()
	r := jobResult{}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return r, fmt.Errorf("makedumpfile %s: %w", strings.Join(j.args, " "), err)
		}
		r.exit = ee.ExitCode()
	}
	b.logMu.Lock()
	fmt.Fprintf(&b.toolLog, "$ makedumpfile %s\n%s[exit %d, %.1fs]\n\n", strings.Join(j.args, " "), dropProgress(log.String()), r.exit, time.Since(start).Seconds())
	b.logMu.Unlock()
	b.logf("makedumpfile %s: exit %d in %.1fs", strings.Join(j.args, " "), r.exit, time.Since(start).Seconds())
	if r.exit != j.wantExit {
		return r, fmt.Errorf("makedumpfile %s: exit %d, want %d\n%s", strings.Join(j.args, " "), r.exit, j.wantExit, tailString(log.String(), 2000))
	}
	for _, o := range j.outputs {
		st, err := os.Stat(filepath.Join(b.out, o))
		if err != nil {
			return r, fmt.Errorf("makedumpfile %s: %w", strings.Join(j.args, " "), err)
		}
		if st.Size() == 0 {
			return r, fmt.Errorf("makedumpfile %s: %s is empty", strings.Join(j.args, " "), o)
		}
	}
	if j.stats {
		text := dropProgress(stdout.String())
		r.stats, err = oracle.ParseStats(text)
		if err != nil {
			return r, fmt.Errorf("makedumpfile %s: %w\n%s", strings.Join(j.args, " "), err, tailString(text, 2000))
		}
		if err := os.WriteFile(filepath.Join(b.out, statsLogName(j.outputs[0])), []byte(text), 0o644); err != nil {
			return r, err
		}
	}
	return r, nil
}

// dropProgress keeps only the last state of each progress line (the text
// after the last carriage return).
func dropProgress(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if j := strings.LastIndexByte(l, '\r'); j >= 0 {
			lines[i] = l[j+1:]
		}
	}
	return strings.Join(lines, "\n")
}

// writeManifest checks each dump's signature, fills in sizes and checksums
// and saves manifest.json.
func (b *builder) writeManifest(context.Context) error {
	for i := range b.m.Files {
		f := &b.m.Files[i]
		if err := checkSignature(filepath.Join(b.out, f.Name), *f); err != nil {
			return err
		}
		size, sum, err := hashFile(filepath.Join(b.out, f.Name))
		if err != nil {
			return err
		}
		f.Size, f.SHA256 = size, sum
	}
	return b.saveManifest()
}

func (b *builder) saveManifest() error {
	data, err := json.MarshalIndent(b.m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(b.out, ManifestName+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(b.out, ManifestName))
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("hash %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
