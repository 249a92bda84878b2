package kdumpctl

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/cpio"
	"github.com/kdumpkit/kdumpkit/internal/flock"
	"github.com/kdumpkit/kdumpkit/internal/qemu"
)

// guestScript is /init of the first kernel: busybox loads the virtio
// drivers, mounts an ext4 disk on /var/crash and runs kdumpctl.
const guestScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
M=/lib/modules/$(uname -r)/kernel/drivers
for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev virtio/virtio_pci_modern_dev virtio/virtio_pci block/virtio_blk; do
	insmod $M/$m.ko 2>/dev/null
done
i=0; while [ ! -e /sys/class/block/vda ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
mkdir -p /var/crash /run/lock
mount -t ext4 /dev/vda /var/crash || echo KDUMPCTL-TEST mount failed
if grep -q kdumpctl.capture /proc/cmdline; then
	/usr/sbin/kdumpctl start
	echo "KDUMPCTL-TEST start rc=$?"
	/usr/sbin/kdumpctl test --force
	echo "KDUMPCTL-TEST test returned rc=$?"
	poweroff -f
fi
for c in check start status estimate showmem stop status; do
	/usr/sbin/kdumpctl $c
	echo "KDUMPCTL-TEST $c rc=$? loaded=$(cat /sys/kernel/kexec_crash_loaded)"
done
echo KDUMPCTL-TEST done
poweroff -f
`

// TestQEMUKdumpctlStartStop boots Debian's 6.1 cloud kernel with
// crashkernel=256M and runs kdumpctl start, status, stop and status in
// it: the real kexec_file_load path, the image built from the guest's
// own /sys and module tree.
// guest is a prepared first-kernel boot: kernel, initramfs and disk.
type guest struct {
	kernel, initrd, disk, dir string
	ctx                       context.Context
}

// prepareGuest builds kdumpctl and capture-init and the first kernel's
// initramfs around them; it skips when QEMU or the kernel is missing. The
// returned cleanup releases the QEMU lock.
func prepareGuest(t *testing.T) (*guest, func()) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a QEMU guest")
	}
	for _, p := range []string{"qemu-system-x86_64", "busybox", "mkfs.ext4"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("needs %s", p)
		}
	}
	cache := os.Getenv("KDUMPKIT_CACHE")
	if cache == "" {
		cache = "/var/cache/kdumpkit"
	}
	roots, _ := filepath.Glob(filepath.Join(cache, "debkernel", "linux-image-6.1.0-*-cloud-amd64-unsigned_*"))
	if len(roots) == 0 {
		t.Skip("needs Debian's 6.1 cloud kernel in the kdumpkit cache (make corpus fetches it)")
	}
	kroot := roots[len(roots)-1]
	mods, _ := filepath.Glob(filepath.Join(kroot, "lib/modules/*"))
	if len(mods) != 1 {
		t.Fatalf("modules under %s: %v", kroot, mods)
	}
	release := filepath.Base(mods[0])
	dir := t.TempDir()
	build := func(pkg, out string) {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	build("github.com/kdumpkit/kdumpkit/cmd/kdumpctl", filepath.Join(dir, "kdumpctl"))
	build("github.com/kdumpkit/kdumpkit/cmd/capture-init", filepath.Join(dir, "capture-init"))

	img := filepath.Join(dir, "first.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	w := cpio.NewWriter(f)
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "run", "var", "boot", "usr", "usr/sbin", "usr/lib", "usr/lib/kdumpkit", "lib", "lib/modules"} {
		must(t, w.WriteDir(d, 0o755))
	}
	bb, _ := exec.LookPath("busybox")
	must(t, w.CopyFile("bin/busybox", bb))
	must(t, w.WriteFile("init", 0o755, []byte(guestScript)))
	must(t, w.WriteFile("etc/kdump.conf", 0o644, []byte("path /var/crash\nfailure_action poweroff\nfinal_action poweroff\n")))
	must(t, w.CopyFile("usr/sbin/kdumpctl", filepath.Join(dir, "kdumpctl")))
	must(t, w.CopyFile("usr/lib/kdumpkit/capture-init", filepath.Join(dir, "capture-init")))
	must(t, w.CopyFile("boot/vmlinuz-"+release, filepath.Join(kroot, "boot/vmlinuz-"+release)))
	must(t, w.CopyFile("boot/config-"+release, filepath.Join(kroot, "boot/config-"+release)))
	// The module indexes and the virtio drivers; the whole tree is 90 MB.
	seen := map[string]bool{}
	err = filepath.Walk(mods[0], func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Dir(filepath.Dir(mods[0])), p)
		keep := fi.IsDir() || strings.HasPrefix(fi.Name(), "modules.") ||
			strings.Contains(rel, "/drivers/virtio/") || strings.Contains(rel, "/drivers/block/virtio_blk")
		if !keep {
			return nil
		}
		name := "lib/" + rel
		if fi.IsDir() {
			if fi.Name() != "modules" || !seen[name] {
				seen[name] = true
				return w.WriteDir(name, 0o755)
			}
			return nil
		}
		return w.CopyFile(name, p)
	})
	must(t, err)
	must(t, w.Close())
	must(t, f.Close())

	disk := filepath.Join(dir, "disk.img")
	if b, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "kdumpctl-test", disk, "64M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, b)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	unlock, err := flock.Lock(ctx, "/tmp/kdumpkit-qemu.lock")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return &guest{kernel: filepath.Join(kroot, "boot/vmlinuz-"+release), initrd: img, disk: disk, dir: dir, ctx: ctx}, func() { unlock(); cancel() }
}

func TestQEMUKdumpctlStartStop(t *testing.T) {
	g, done := prepareGuest(t)
	defer done()
	ctx := g.ctx
	vm, err := qemu.Start(ctx, qemu.Config{
		MemoryMiB:  1024,
		Kernel:     g.kernel,
		Initrd:     g.initrd,
		Append:     "console=ttyS0 crashkernel=256M panic=-1 loglevel=4",
		Drives:     []qemu.Drive{{Path: g.disk}},
		ConsoleLog: filepath.Join(g.dir, "console.log"),
		Dir:        g.dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if _, err := vm.WaitConsoleString(ctx, "KDUMPCTL-TEST done"); err != nil {
		t.Fatal(err)
	}
	console := vm.Console()
	t.Logf("guest console (kdumpctl part):\n%s", tail(console, "/usr/sbin/kdumpctl", 40))
	for _, want := range []string{
		"KDUMPCTL-TEST check rc=0 loaded=0",
		"KDUMPCTL-TEST start rc=0 loaded=1",
		"KDUMPCTL-TEST status rc=0 loaded=1",
		"KDUMPCTL-TEST stop rc=0 loaded=0",
		"KDUMPCTL-TEST status rc=3 loaded=0",
	} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if i := strings.Index(console, "Reserved crashkernel:"); i >= 0 {
		t.Logf("kdumpctl estimate in the guest:\n%s", console[i:i+strings.Index(console[i:], "KDUMPCTL-TEST")])
	} else {
		t.Errorf("no estimate output")
	}
	m := regexp.MustCompile(`initramfs \S+ built \((\d+) bytes`).FindStringSubmatch(console)
	if m == nil {
		t.Errorf("no initramfs size on the console")
	} else {
		t.Logf("capture initramfs built in the guest: %s bytes", m[1])
	}
	if !strings.Contains(console, "loaded with kexec_file_load") {
		t.Errorf("capture kernel not loaded with kexec_file_load")
	}
}

// TestQEMUKdumpctlTestCapture runs kdumpctl start and kdumpctl test
// --force in the guest: the real panic boots the capture kernel on the
// image kdumpctl built (zstd, modules, baked config), and capture-init
// saves the dump on the guest's disk.
func TestQEMUKdumpctlTestCapture(t *testing.T) {
	g, done := prepareGuest(t)
	defer done()
	vm, err := qemu.Start(g.ctx, qemu.Config{
		MemoryMiB:  1024,
		Kernel:     g.kernel,
		Initrd:     g.initrd,
		Append:     "console=ttyS0 crashkernel=256M panic=-1 loglevel=4 kdumpctl.capture",
		Drives:     []qemu.Drive{{Path: g.disk}},
		ConsoleLog: filepath.Join(g.dir, "console.log"),
		Dir:        g.dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if err := vm.Wait(g.ctx); err != nil {
		t.Logf("qemu: %v", err)
	}
	console := vm.Console()
	t.Logf("console from kdumpctl on:\n%s", tail(console, "", 80))
	for _, want := range []string{"KDUMPCTL-TEST start rc=0", "sysrq: Trigger a crash", "capture-init: "} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if !regexp.MustCompile(`capture-init: \[ *[0-9.]+s\] saved `).MatchString(console) {
		t.Errorf("capture-init saved no dump")
	}
	if strings.Contains(console, "KDUMPCTL-TEST test returned") {
		t.Errorf("kdumpctl test returned instead of panicking")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tail returns the console from the first line containing from, at most
// n lines.
func tail(s, from string, n int) string {
	i := strings.Index(s, "KDUMPCTL-TEST")
	if j := strings.Index(s, "kdump:"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		i = 0
	}
	lines := strings.Split(s[i:], "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return fmt.Sprint(strings.Join(lines, "\n"))
}
