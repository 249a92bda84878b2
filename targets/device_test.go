package targets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeDevices builds a /dev and /sys under a temp dir whose "block
// devices" are image files: the capture environment's view without root.
func fakeDevices(t *testing.T) (Devices, map[string]string) {
	t.Helper()
	root := t.TempDir()
	d := Devices{Dev: filepath.Join(root, "dev"), Sys: filepath.Join(root, "sys"), Poll: 5 * time.Millisecond}
	imgs := map[string]string{
		"vdb1": mkfsImage(t, "ext4", "0b6e4b3c-5a7e-4c1d-9e2f-3a4b5c6d7e8f", "kdump", 16<<20),
		"vdc":  mkfsImage(t, "xfs", "2f1e0d9c-8b7a-4655-8443-322110ffeedd", "crash x", 300<<20),
	}
	for _, name := range []string{"loop0", "vda", "vdb", "vdb1", "vdc"} {
		dir := filepath.Join(d.Sys, "class", "block", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		size := "32768"
		if name == "loop0" {
			size = "0"
		}
		os.WriteFile(filepath.Join(dir, "size"), []byte(size+"\n"), 0o644)
	}
	os.MkdirAll(d.Dev, 0o755)
	for name, img := range imgs {
		if err := os.Link(img, filepath.Join(d.Dev, name)); err != nil {
			t.Fatal(err)
		}
	}
	// vda: a disk with a partition table and no filesystem; vdb: the
	// whole disk under vdb1, here an empty file.
	os.WriteFile(filepath.Join(d.Dev, "vda"), make([]byte, 1<<17), 0o600)
	os.WriteFile(filepath.Join(d.Dev, "vdb"), nil, 0o600)
	return d, imgs
}

func TestDevicesFind(t *testing.T) {
	d, _ := fakeDevices(t)
	tests := []struct {
		spec, path, fstype string
	}{
		{"UUID=0b6e4b3c-5a7e-4c1d-9e2f-3a4b5c6d7e8f", "vdb1", "ext4"},
		{"UUID=0B6E4B3C-5A7E-4C1D-9E2F-3A4B5C6D7E8F", "vdb1", "ext4"},
		{`UUID="2f1e0d9c-8b7a-4655-8443-322110ffeedd"`, "vdc", "xfs"},
		{"LABEL=kdump", "vdb1", "ext4"},
		{"LABEL=crash x", "vdc", "xfs"},
		{"/dev/vdc", "vdc", "xfs"},
		{"/dev/vda", "vda", ""},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			f, err := d.Find(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if f.Path != filepath.Join(d.Dev, tt.path) || f.FS.Type != tt.fstype {
				t.Fatalf("Find = %+v, want %s (%s)", f, tt.path, tt.fstype)
			}
		})
	}
	for _, spec := range []string{"UUID=00000000-0000-0000-0000-000000000000", "LABEL=nope", "/dev/vdz"} {
		if _, err := d.Find(spec); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find(%q): %v, want ErrNotFound", spec, err)
		}
	}
	for _, spec := range []string{"", "vdb1", "UUID=", "PARTUUID=1234"} {
		if _, err := d.Find(spec); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Find(%q): %v, want a spec error", spec, err)
		}
	}
}

// TestDevicesByUUIDLink: where udev made /dev/disk/by-uuid, its link is used.
func TestDevicesByUUIDLink(t *testing.T) {
	d, _ := fakeDevices(t)
	// Hide the device from the scan: only the link leads to it.
	os.RemoveAll(filepath.Join(d.Sys, "class", "block", "vdc"))
	link := filepath.Join(d.Dev, "disk", "by-label", `crash\x20x`)
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink("../../vdc", link); err != nil {
		t.Fatal(err)
	}
	f, err := d.Find("LABEL=crash x")
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != filepath.Join(d.Dev, "vdc") {
		t.Fatalf("Find = %+v", f)
	}
}

func TestDevicesWait(t *testing.T) {
	d, imgs := fakeDevices(t)
	// The disk shows up after a few scans, as a driver probing late.
	os.Remove(filepath.Join(d.Dev, "vdb1"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		os.Link(imgs["vdb1"], filepath.Join(d.Dev, "vdb1"))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := d.Wait(ctx, "LABEL=kdump")
	<-done
	if err != nil || f.FS.Type != "ext4" {
		t.Fatalf("Wait = %+v, %v", f, err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = d.Wait(ctx, "UUID=00000000-0000-0000-0000-000000000000")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait for a missing device: %v, want ErrNotFound and a deadline", err)
	}
	if !strings.Contains(err.Error(), "UUID=00000000-0000-0000-0000-000000000000") {
		t.Errorf("error %q does not name the device", err)
	}
}

func TestSplitMountOptions(t *testing.T) {
	tests := []struct {
		in    string
		flags uintptr
		data  string
		bad   bool
	}{
		{"", 0, "", false},
		{"defaults", 0, "", false},
		{"defaults,noatime,nofail,x-systemd.device-timeout=10", 0x400, "", false},
		{"rw,nodev,nosuid,data=ordered,commit=5", 0x6, "data=ordered,commit=5", false},
		{"ro", 0, "", true},
		{"noauto,_netdev,discard", 0, "discard", false},
	}
	for _, tt := range tests {
		flags, data, err := splitMountOptions(tt.in)
		if (err != nil) != tt.bad || flags != tt.flags || data != tt.data {
			t.Errorf("splitMountOptions(%q) = %#x %q %v, want %#x %q bad=%v", tt.in, flags, data, err, tt.flags, tt.data, tt.bad)
		}
	}
}
