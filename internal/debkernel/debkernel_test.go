package debkernel

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const testModulesDep = `kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/firmware/qemu_fw_cfg.ko:
kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`

func TestModuleClosure(t *testing.T) {
	tests := []struct {
		names   []string
		want    []string
		wantErr bool
	}{
		{names: []string{"qemu_fw_cfg"}, want: []string{"kernel/drivers/firmware/qemu_fw_cfg.ko"}},
		{
			names: []string{"virtio_pci", "virtio_blk"},
			want: []string{
				"kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
				"kernel/drivers/virtio/virtio_pci_modern_dev.ko",
				"kernel/drivers/virtio/virtio_ring.ko",
				"kernel/drivers/virtio/virtio.ko",
				"kernel/drivers/virtio/virtio_pci.ko",
				"kernel/drivers/block/virtio_blk.ko",
			},
		},
		{
			names: []string{"virtio_rng"},
			want: []string{
				"kernel/drivers/virtio/virtio_ring.ko",
				"kernel/drivers/virtio/virtio.ko",
				"kernel/drivers/char/hw_random/virtio-rng.ko.xz",
			},
		},
		{names: []string{"nosuch"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, "+"), func(t *testing.T) {
			got, err := ModuleClosure(strings.NewReader(testModulesDep), tt.names...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestModuleClosureCycle(t *testing.T) {
	if _, err := ModuleClosure(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\n"), "a"); err == nil {
		t.Fatal("no error for a dependency cycle")
	}
}

func TestCopyTarMember(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"./usr/share/doc/x", "doc"},
		{"./usr/lib/debug/boot/vmlinux-6.1.0-1-cloud-amd64", "ELF..."},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		member    string
		wantFound bool
		want      string
	}{
		{"./usr/lib/debug/boot/vmlinux-6.1.0-1-cloud-amd64", true, "ELF..."},
		{"usr/share/doc/x", true, "doc"},
		{"./missing", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.member, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out")
			found, err := copyTarMember(bytes.NewReader(buf.Bytes()), tt.member, dst)
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.wantFound {
				t.Fatalf("found = %v, want %v", found, tt.wantFound)
			}
			if !found {
				return
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBuiltinModules(t *testing.T) {
	got, err := BuiltinModules(strings.NewReader("kernel/drivers/virtio/virtio_pci.ko\nkernel/fs/ext4/ext4.ko\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[string]bool{"virtio_pci": true, "ext4": true}) {
		t.Errorf("got %v", got)
	}
}

func TestPlainModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/block/virtio_blk.ko.xz":  "kernel/drivers/block/virtio_blk.ko",
		"kernel/drivers/block/virtio_blk.ko.zst": "kernel/drivers/block/virtio_blk.ko",
		"kernel/drivers/block/virtio_blk.ko":     "kernel/drivers/block/virtio_blk.ko",
	} {
		if got := PlainModuleName(in); got != want {
			t.Errorf("PlainModuleName(%q) = %q, want %q", in, got, want)
		}
		if IsCompressedModule(in) != (in != want) {
			t.Errorf("IsCompressedModule(%q) wrong", in)
		}
	}
}

func TestDecompressModule(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz")
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "m.ko")
	if err := os.WriteFile(plain, []byte("\x7fELF fake module"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("xz", "-k", plain).CombinedOutput(); err != nil {
		t.Fatalf("xz: %v %s", err, out)
	}
	dst := filepath.Join(dir, "out", "m.ko")
	if err := DecompressModule(t.Context(), plain+".xz", dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "\x7fELF fake module" {
		t.Errorf("decompressed %q", b)
	}
	if err := DecompressModule(t.Context(), plain, dst); err == nil {
		t.Error("accepted an uncompressed module")
	}
}
