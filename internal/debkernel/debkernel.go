package debkernel

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/flock"
)

// DefaultCacheDir is the cache root used when $KDUMPKIT_CACHE is not set.
const DefaultCacheDir = "/var/cache/kdumpkit"

// CacheDir returns the cache root: $KDUMPKIT_CACHE, else DefaultCacheDir if
// it exists or can be created, else a kdumpkit directory under the user's
// cache directory.
func CacheDir() string {
	if d := os.Getenv("KDUMPKIT_CACHE"); d != "" {
		return d
	}
	if err := os.MkdirAll(DefaultCacheDir, 0o755); err == nil {
		if f, err := os.CreateTemp(DefaultCacheDir, ".probe-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return DefaultCacheDir
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "kdumpkit")
	}
	return filepath.Join(os.TempDir(), "kdumpkit-cache")
}

// Kernel is an extracted kernel image package.
type Kernel struct {
	Package    string // Debian package name, e.g. linux-image-6.1.0-56-cloud-amd64-unsigned
	Version    string // Debian package version, e.g. 6.1.192-2
	Release    string // kernel release as uname -r prints it, e.g. 6.1.0-56-cloud-amd64
	Root       string // directory the package was extracted into
	Vmlinuz    string // Root/boot/vmlinuz-Release
	Config     string // Root/boot/config-Release
	SystemMap  string // Root/boot/System.map-Release
	ModulesDir string // Root/lib/modules/Release, with modules.dep
}

// NewestPackage returns the name of the available package prefix+N+suffix
// with the highest number N, e.g. NewestPackage(ctx, "linux-image-6.1.0-",
// "-cloud-amd64-unsigned").
func NewestPackage(ctx context.Context, prefix, suffix string) (string, error) {
	out, err := run(ctx, "", "apt-cache", "pkgnames", prefix)
	if err != nil {
		return "", err
	}
	best, bestN := "", -1
	for _, name := range strings.Fields(string(out)) {
		mid, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		mid, ok = strings.CutSuffix(mid, suffix)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(mid)
		if err != nil || n < 0 {
			continue
		}
		if n > bestN {
			best, bestN = name, n
		}
	}
	if best == "" {
		return "", fmt.Errorf("apt-cache: no package %sN%s (is the apt index up to date?)", prefix, suffix)
	}
	return best, nil
}

// CandidateVersion returns the version apt-get would download for pkg.
func CandidateVersion(ctx context.Context, pkg string) (string, error) {
	out, err := run(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("apt-cache show %s: no Version field", pkg)
}

// Fetch returns the extracted kernel image package pkg, downloading and
// extracting it under cacheDir on the first call. Concurrent callers, also
// in other processes, wait for one another.
func Fetch(ctx context.Context, cacheDir, pkg string) (*Kernel, error) {
	version, err := CandidateVersion(ctx, pkg)
	if err != nil {
		return nil, err
	}
	base := filepath.Join(cacheDir, "debkernel")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("debkernel: %w", err)
	}
	unlock, err := flock.Lock(ctx, filepath.Join(base, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeStale(base)

	root := filepath.Join(base, pkg+"_"+version)
	if _, err := os.Stat(filepath.Join(root, ".complete")); err == nil {
		return describe(pkg, version, root)
	}
	tmp, err := os.MkdirTemp(base, ".fetch-")
	if err != nil {
		return nil, fmt.Errorf("debkernel: %w", err)
	}
	defer os.RemoveAll(tmp)
	deb, err := download(ctx, tmp, pkg, version)
	if err != nil {
		return nil, err
	}
	tree := filepath.Join(tmp, "root")
	if _, err := run(ctx, "", "dpkg-deb", "-x", deb, tree); err != nil {
		return nil, err
	}
	k, err := describe(pkg, version, tree)
	if err != nil {
		return nil, err
	}
	if _, err := run(ctx, "", "depmod", "-b", tree, k.Release); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tree, ".complete"), []byte(pkg+" "+version+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("debkernel: %w", err)
	}
	os.RemoveAll(root) // a leftover without .complete
	if err := os.Rename(tree, root); err != nil {
		return nil, fmt.Errorf("debkernel: %w", err)
	}
	return describe(pkg, version, root)
}

// removeStale deletes the scratch directories of fetches that died (a
// killed test binary does not run its deferred cleanup). Call it with the
// lock held: then no live fetch owns one.
func removeStale(base string) {
	stale, _ := filepath.Glob(filepath.Join(base, ".fetch-*"))
	for _, d := range stale {
		os.RemoveAll(d)
	}
}

// describe fills a Kernel from an extracted tree.
func describe(pkg, version, root string) (*Kernel, error) {
	mods, err := os.ReadDir(filepath.Join(root, "lib", "modules"))
	if err != nil {
		return nil, fmt.Errorf("debkernel: %s: %w", pkg, err)
	}
	if len(mods) != 1 {
		return nil, fmt.Errorf("debkernel: %s: want one directory in lib/modules, found %d", pkg, len(mods))
	}
	rel := mods[0].Name()
	k := &Kernel{
		Package:    pkg,
		Version:    version,
		Release:    rel,
		Root:       root,
		Vmlinuz:    filepath.Join(root, "boot", "vmlinuz-"+rel),
		Config:     filepath.Join(root, "boot", "config-"+rel),
		SystemMap:  filepath.Join(root, "boot", "System.map-"+rel),
		ModulesDir: filepath.Join(root, "lib", "modules", rel),
	}
	if _, err := os.Stat(k.Vmlinuz); err != nil {
		return nil, fmt.Errorf("debkernel: %s: %w", pkg, err)
	}
	return k, nil
}

// download runs apt-get download for pkg=version in dir and returns the
// path of the .deb.
func download(ctx context.Context, dir, pkg, version string) (string, error) {
	if _, err := run(ctx, dir, "apt-get", "download", "-q", pkg+"="+version); err != nil {
		return "", err
	}
	debs, err := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if err != nil {
		return "", fmt.Errorf("debkernel: %w", err)
	}
	if len(debs) != 1 {
		return "", fmt.Errorf("debkernel: apt-get download %s left %d .deb files", pkg, len(debs))
	}
	return debs[0], nil
}

// DebugVmlinux returns the path of the uncompressed vmlinux with debug
// information for k, from the matching linux-image-RELEASE-dbg package. Only
// that member is extracted; the package is a large download (about 283 MB
// for 6.1) and the file about 590 MB.
func DebugVmlinux(ctx context.Context, cacheDir string, k *Kernel) (string, error) {
	pkg := "linux-image-" + k.Release + "-dbg"
	base := filepath.Join(cacheDir, "debkernel")
	dir := filepath.Join(base, pkg+"_"+k.Version)
	path := filepath.Join(dir, "vmlinux-"+k.Release)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("debkernel: %w", err)
	}
	unlock, err := flock.Lock(ctx, filepath.Join(base, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	removeStale(base)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.MkdirTemp(base, ".fetch-")
	if err != nil {
		return "", fmt.Errorf("debkernel: %w", err)
	}
	defer os.RemoveAll(tmp)
	deb, err := download(ctx, tmp, pkg, k.Version)
	if err != nil {
		return "", err
	}
	member := "./usr/lib/debug/boot/vmlinux-" + k.Release
	out := filepath.Join(tmp, "vmlinux")
	if err := extractMember(ctx, deb, member, out); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("debkernel: %w", err)
	}
	if err := os.Rename(out, path); err != nil {
		return "", fmt.Errorf("debkernel: %w", err)
	}
	return path, nil
}

// extractMember copies one regular file out of a .deb's data archive,
// streaming the tar from dpkg-deb --fsys-tarfile.
func extractMember(ctx context.Context, deb, member, dst string) error {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// dpkg-deb runs its decompressor as a child that inherits the pipes;
	// do not wait for them forever if something goes wrong.
	cmd.WaitDelay = time.Minute
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile: %w", err)
	}
	found, copyErr := copyTarMember(pipe, member, dst)
	// Drain the rest so that dpkg-deb and its decompressor exit normally
	// (killing only dpkg-deb would leave the decompressor blocked on the
	// pipe).
	io.Copy(io.Discard, pipe)
	waitErr := cmd.Wait()
	if copyErr != nil {
		return copyErr
	}
	if waitErr != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", deb, waitErr, strings.TrimSpace(stderr.String()))
	}
	if !found {
		return fmt.Errorf("debkernel: %s has no member %s", deb, member)
	}
	return nil
}

// copyTarMember writes the regular file named member from the tar stream r
// to dst. found reports whether the member was seen.
func copyTarMember(r io.Reader, member, dst string) (found bool, err error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("debkernel: read data archive: %w", err)
		}
		if h.Name != member && strings.TrimPrefix(h.Name, "./") != strings.TrimPrefix(member, "./") {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return true, fmt.Errorf("debkernel: %s is not a regular file", member)
		}
		f, err := os.Create(dst)
		if err != nil {
			return true, fmt.Errorf("debkernel: %w", err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return true, fmt.Errorf("debkernel: extract %s: %w", member, err)
		}
		if err := f.Close(); err != nil {
			return true, fmt.Errorf("debkernel: %w", err)
		}
		return true, nil
	}
}

// run runs a command and returns its standard output; the error includes
// the command's standard error.
func run(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// ModuleClosure returns the modules needed to load names, dependencies
// first, as paths relative to the modules directory, read from its
// modules.dep. A name is a module name as modprobe takes it ("virtio_blk");
// dashes and underscores are equivalent.
func ModuleClosure(modulesDep io.Reader, names ...string) ([]string, error) {
	b, err := io.ReadAll(modulesDep)
	if err != nil {
		return nil, fmt.Errorf("modules.dep: %w", err)
	}
	deps := map[string][]string{} // path -> dependency paths
	byName := map[string]string{} // module name -> path
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		path, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no colon", i+1)
		}
		deps[path] = strings.Fields(rest)
		byName[moduleName(path)] = path
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(path string) error
	visit = func(path string) error {
		switch state[path] {
		case 1:
			return fmt.Errorf("modules.dep: dependency cycle at %s", path)
		case 2:
			return nil
		}
		state[path] = 1
		for _, d := range deps[path] {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[path] = 2
		order = append(order, path)
		return nil
	}
	for _, n := range names {
		path, ok := byName[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			return nil, fmt.Errorf("modules.dep: no module %s", n)
		}
		if err := visit(path); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// moduleName turns kernel/drivers/block/virtio_blk.ko(.xz) into virtio_blk.
func moduleName(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// BuiltinModules returns the names of the modules built into the kernel,
// read from its modules.builtin (paths like kernel/drivers/virtio/virtio_pci.ko).
func BuiltinModules(modulesBuiltin io.Reader) (map[string]bool, error) {
	b, err := io.ReadAll(modulesBuiltin)
	if err != nil {
		return nil, fmt.Errorf("modules.builtin: %w", err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			m[moduleName(line)] = true
		}
	}
	return m, nil
}

// compressedModuleSuffixes are the module compressions and the programs
// that undo them (Debian's 6.12 and newer kernels ship .ko.xz).
var compressedModuleSuffixes = map[string][]string{
	".ko.xz":  {"xz", "-dc"},
	".ko.zst": {"zstd", "-dcq"},
	".ko.gz":  {"gzip", "-dc"},
}

// IsCompressedModule reports whether path is a compressed module.
func IsCompressedModule(path string) bool { return PlainModuleName(path) != path }

// PlainModuleName turns a compressed module's path (x/virtio_blk.ko.xz)
// into the uncompressed one's (x/virtio_blk.ko); other paths are returned
// as they are.
func PlainModuleName(path string) string {
	for suf := range compressedModuleSuffixes {
		if s, ok := strings.CutSuffix(path, suf); ok {
			return s + ".ko"
		}
	}
	return path
}

// DecompressModule writes the uncompressed contents of the compressed
// module src to dst (busybox insmod loads only plain modules), creating
// dst's directory.
func DecompressModule(ctx context.Context, src, dst string) error {
	var prog []string
	for suf, p := range compressedModuleSuffixes {
		if strings.HasSuffix(src, suf) {
			prog = p
		}
	}
	if prog == nil {
		return fmt.Errorf("debkernel: %s is not a compressed module", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("debkernel: %w", err)
	}
	out, err := run(ctx, "", prog[0], append(prog[1:], src)...)
	if err != nil {
		return fmt.Errorf("debkernel: decompress module: %w", err)
	}
	if len(out) < 4 || string(out[:4]) != "\x7fELF" {
		return fmt.Errorf("debkernel: %s does not decompress to an ELF file", src)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		return fmt.Errorf("debkernel: %w", err)
	}
	return nil
}
