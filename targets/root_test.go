package targets

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/dump"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
)

// needRoot skips tests that mount or attach loop devices.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("Root test: needs root to attach loop devices and mount")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skipf("Root test: losetup not installed: %v", err)
	}
}

// loopDevice attaches img to a free loop device for the test's life.
func loopDevice(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("Root test: loop devices do not work here: losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func mountFor(t *testing.T, spec, fstype string) (*Mounted, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "kdumproot")
	m, err := MountDevice(ctx, SystemDevices, spec, fstype, dir, "defaults,noatime")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return m, dir
}

// TestRootLoopFilesystems: an image-backed ext4, xfs and btrfs found by
// UUID= or LABEL= through a scan of the system's block devices, mounted
// with mount(2), and a full capture written through the engine; after
// unmounting and mounting again the vmcore is what an uninterrupted local
// write gives.
func TestRootLoopFilesystems(t *testing.T) {
	needRoot(t)
	tests := []struct {
		fstype, uuid, label, spec string
		size                      int64
	}{
		{"ext4", "5d7c2b1a-0f9e-4d8c-b7a6-958473625140", "kdumpext", "UUID=5d7c2b1a-0f9e-4d8c-b7a6-958473625140", 64 << 20},
		{"xfs", "6e8d3c2b-1a0f-4e9d-8c7b-a69584736251", "kdumpxfs", "LABEL=kdumpxfs", 300 << 20},
		{"btrfs", "7f9e4d3c-2b1a-4f0e-9d8c-b7a695847362", "kdumpbtr", "UUID=7f9e4d3c-2b1a-4f0e-9d8c-b7a695847362", 128 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.fstype, func(t *testing.T) {
			img := mkfsImage(t, tt.fstype, tt.uuid, tt.label, tt.size)
			if !fsInKernel(tt.fstype) {
				t.Skipf("Root test: the kernel has no %s", tt.fstype)
			}
			dev := loopDevice(t, img)
			m, dir := mountFor(t, tt.spec, "")
			if m.Source != dev || m.FSType != tt.fstype {
				t.Fatalf("mounted %+v, want %s as %s", m, dev, tt.fstype)
			}
			l, err := NewLocal(filepath.Join(dir, "var", "crash"))
			if err != nil {
				t.Fatal(err)
			}
			src, p := engineSource(t, 1024)
			want := localKdump(t, src, p, codec.Zstd)
			d, err := Begin(l, Options{Host: "127.0.0.1", Time: crashTime, MinFree: 1 << 20, Estimate: uint64(len(want))})
			if err != nil {
				t.Fatal(err)
			}
			if err := captureTo(t, d, src, p, codec.Zstd, nil); err != nil {
				t.Fatal(err)
			}
			if err := m.Unmount(); err != nil {
				t.Fatal(err)
			}
			_, dir = mountFor(t, tt.spec, tt.fstype)
			checkDumpDir(t, filepath.Join(dir, "var", "crash", d.Dir()), false, want)
		})
	}
}

func fsInKernel(fstype string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == fstype {
			return true
		}
	}
	return false
}

// TestRootFullDisk: the target filesystem fills up in the middle of the
// vmcore. The writer's error matches ErrNoSpace, vmcore-incomplete stays
// (never renamed, never deleted) with the incomplete flag set and every
// page that landed readable, and vmcore-dmesg.txt is intact.
func TestRootFullDisk(t *testing.T) {
	needRoot(t)
	img := mkfsImage(t, "ext4", "8a0f5e4d-3c2b-4a1f-8e0d-c9b8a7968574", "small", 8<<20)
	loopDevice(t, img)
	_, dir := mountFor(t, "LABEL=small", "ext4")
	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	src, p := engineSource(t, 4096) // ~11 MiB of incompressible pages for ~6 MiB free
	d, err := Begin(l, Options{Host: "127.0.0.1", Time: crashTime})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(DmesgName, strings.NewReader("Kernel panic\n")); err != nil {
		t.Fatal(err)
	}
	f, err := d.CreateVmcore()
	if err != nil {
		t.Fatal(err)
	}
	werr := dump.WriteKdump(context.Background(), src, p, codec.Raw, f)
	if !errors.Is(werr, ErrNoSpace) {
		t.Fatalf("dump on a full disk: %v, want an error matching ErrNoSpace", werr)
	}
	t.Logf("writer: %v", werr)
	if err := f.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	vm := filepath.Join(dir, d.Dir(), VmcoreIncompleteName)
	intact, lost := dumptest.CheckIncomplete(t, src, vm)
	if intact == 0 || lost == 0 {
		t.Fatalf("incomplete vmcore: %d pages intact, %d lost", intact, lost)
	}
	t.Logf("vmcore-incomplete: %d pages intact, %d lost", intact, lost)
	if _, err := os.Stat(filepath.Join(dir, d.Dir(), VmcoreName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a vmcore without -incomplete exists: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, d.Dir(), DmesgName)); err != nil || string(b) != "Kernel panic\n" {
		t.Fatalf("dmesg after the full disk: %q, %v", b, err)
	}
	// Retention never takes the incomplete dump.
	if removed, err := Prune(l, "127.0.0.1", 1, ""); err != nil || len(removed) != 0 {
		t.Fatalf("Prune = %q, %v", removed, err)
	}
	// A later dump is refused up front when the space is not there.
	if _, err := Begin(l, Options{Host: "127.0.0.1", Time: crashTime.Add(time.Hour), Estimate: 16 << 20}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Begin on the full disk: %v, want ErrNoSpace", err)
	}
}

// TestRootRawLoop: a raw target on a real block device too small for the
// dump: the stream ends with ErrNoSpace at the device's end.
func TestRootRawLoop(t *testing.T) {
	needRoot(t)
	img := filepath.Join(t.TempDir(), "raw.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := loopDevice(t, img)
	src, p := engineSource(t, 1024)
	f, err := CreateRaw(dev)
	if err != nil {
		t.Fatal(err)
	}
	werr := dump.WriteKdumpFlat(context.Background(), src, p, codec.Raw, f)
	f.Close()
	if !errors.Is(werr, ErrNoSpace) {
		t.Fatalf("flattened dump onto a 1 MiB device: %v, want ErrNoSpace", werr)
	}
	t.Logf("writer: %v", werr)
	// The device holds the start of the dump, recognisably.
	r, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if has, err := RawHasDump(r); err != nil || !has {
		t.Fatalf("RawHasDump = %v, %v", has, err)
	}
}

// TestRootRawMounted: a raw target that names a mounted filesystem's
// device is refused, not overwritten.
func TestRootRawMounted(t *testing.T) {
	needRoot(t)
	img := mkfsImage(t, "ext4", "9b1f6e5d-4c3b-4a2f-9e1d-dac9b8a79685", "mountedraw", 16<<20)
	dev := loopDevice(t, img)
	mountFor(t, "LABEL=mountedraw", "")
	f, err := CreateRaw(dev)
	if err == nil {
		f.Close()
		t.Fatalf("CreateRaw on the mounted %s succeeded", dev)
	}
	if !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("CreateRaw on a mounted device: %v, want EBUSY", err)
	}
	r, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if info, err := ProbeFS(r); err != nil || info.Label != "mountedraw" {
		t.Fatalf("filesystem after the refusal: %+v, %v", info, err)
	}
}

// smallTmpfs mounts a tmpfs of size bytes for the test's life.
func smallTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size)+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("Root test: mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestRootSSHDFullDisk: the SSH server's filesystem fills up in the middle
// of the vmcore, over SFTP and over exec+dd. The error matches ErrNoSpace,
// nothing is renamed or deleted, and the SFTP vmcore-incomplete keeps
// every page that landed and the incomplete flag.
func TestRootSSHDFullDisk(t *testing.T) {
	needRoot(t)
	for _, mode := range []SSHMode{SSHSFTP, SSHExec} {
		t.Run(mode.String(), func(t *testing.T) {
			s := startSSHD(t, true)
			root := smallTmpfs(t, 4<<20)
			tg, err := DialSSH(testCtx(t), s.clientConfig(mode, root))
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			src, p := engineSource(t, 3072) // 8 MiB of incompressible pages
			d, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.WriteFile(DmesgName, strings.NewReader("Kernel panic\n")); err != nil {
				t.Fatal(err)
			}
			f, err := d.CreateVmcore()
			if err != nil {
				t.Fatal(err)
			}
			if d.Flattened() {
				err = dump.WriteKdumpFlat(context.Background(), src, p, codec.Raw, f)
				if err == nil {
					err = f.Sync()
				}
			} else {
				err = dump.WriteKdump(context.Background(), src, p, codec.Raw, f)
			}
			f.Close()
			if !errors.Is(err, ErrNoSpace) {
				t.Fatalf("dump onto a full server disk: %v, want an error matching ErrNoSpace", err)
			}
			t.Logf("writer: %v", err)
			dir := filepath.Join(root, d.Dir())
			for _, name := range []string{VmcoreName, VmcoreFlatName} {
				if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s exists after the failed dump: %v", name, err)
				}
			}
			if b, err := os.ReadFile(filepath.Join(dir, DmesgName)); err != nil || string(b) != "Kernel panic\n" {
				t.Fatalf("dmesg: %q, %v", b, err)
			}
			vm := filepath.Join(dir, VmcoreIncompleteName)
			if !d.Flattened() {
				intact, lost := dumptest.CheckIncomplete(t, src, vm)
				if intact == 0 || lost == 0 {
					t.Fatalf("vmcore-incomplete: %d pages intact, %d lost", intact, lost)
				}
				t.Logf("vmcore-incomplete: %d pages intact, %d lost", intact, lost)
			} else if st, err := os.Stat(vm); err != nil || st.Size() == 0 {
				t.Fatalf("vmcore-incomplete: %v, %v", st, err)
			}
		})
	}
}
