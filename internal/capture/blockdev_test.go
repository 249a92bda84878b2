package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestProbeFSSynthetic(t *testing.T) {
	uuid := []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	ext := make([]byte, 4096)
	binary.LittleEndian.PutUint16(ext[1024+0x38:], 0xEF53)
	copy(ext[1024+0x68:], uuid)
	copy(ext[1024+0x78:], "kdump")
	xfs := make([]byte, 4096)
	copy(xfs, "XFSB")
	copy(xfs[32:], uuid)
	copy(xfs[108:], "crashfs")
	btrfs := make([]byte, 0x11000)
	copy(btrfs[0x10040:], "_BHRfS_M")
	copy(btrfs[0x10020:], uuid)
	copy(btrfs[0x1012b:], "bt")
	const u = "12345678-9abc-def0-0102-030405060708"
	tests := []struct {
		name string
		img  []byte
		want FS
	}{
		{"ext4", ext, FS{"ext4", u, "kdump"}},
		{"xfs", xfs, FS{"xfs", u, "crashfs"}},
		{"btrfs", btrfs, FS{"btrfs", u, "bt"}},
	}
	for _, tt := range tests {
		got, ok := ProbeFS(bytes.NewReader(tt.img))
		if !ok || got != tt.want {
			t.Errorf("%s: ProbeFS = %+v, %v; want %+v", tt.name, got, ok, tt.want)
		}
		if !got.Matches("UUID="+u) || !got.Matches("LABEL="+tt.want.Label) || got.Matches("LABEL=other") {
			t.Errorf("%s: Matches is wrong", tt.name)
		}
	}
	if _, ok := ProbeFS(bytes.NewReader(make([]byte, 8192))); ok {
		t.Error("zeros probed as a file system")
	}
	if _, ok := ProbeFS(bytes.NewReader(nil)); ok {
		t.Error("empty input probed as a file system")
	}
}

// TestProbeFSMkfs checks the ext4 offsets against a real mkfs.ext4 image.
func TestProbeFSMkfs(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		if mkfs, err = exec.LookPath("/usr/sbin/mkfs.ext4"); err != nil {
			t.Skip("mkfs.ext4 not installed (e2fsprogs)")
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	const u = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	if out, err := exec.Command(mkfs, "-q", "-F", "-L", "kdumpkit-t", "-U", u, img, "4M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	sys := filepath.Join(dir, "sys")
	dev := filepath.Join(dir, "dev")
	os.MkdirAll(filepath.Join(sys, "vdb"), 0o755)
	os.MkdirAll(filepath.Join(sys, "vda"), 0o755)
	os.MkdirAll(dev, 0o755)
	os.WriteFile(filepath.Join(dev, "vda"), make([]byte, 8192), 0o644)
	os.Rename(img, filepath.Join(dev, "vdb"))
	for _, spec := range []string{"LABEL=kdumpkit-t", "UUID=" + u} {
		got, err := FindDevice(sys, dev, spec)
		if err != nil || got != filepath.Join(dev, "vdb") {
			t.Errorf("FindDevice(%s) = %q, %v", spec, got, err)
		}
	}
	if _, err := FindDevice(sys, dev, "LABEL=nope"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing label: %v, want ErrNotExist", err)
	}
	if got, err := FindDevice(sys, dev, "/dev/vda"); err != nil || got != filepath.Join(dev, "vda") {
		t.Errorf("FindDevice(/dev/vda) = %q, %v", got, err)
	}
	if _, err := FindDevice(sys, dev, "vda"); err == nil {
		t.Error("relative device accepted")
	}
}
