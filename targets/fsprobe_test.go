package targets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mkfsImage makes a filesystem image with mkfs; it skips when the tool is
// missing (CI installs e2fsprogs, xfsprogs and btrfs-progs).
func mkfsImage(t *testing.T, fstype, uuid, label string, size int64) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), fstype+".img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var args []string
	switch fstype {
	case "ext2", "ext3", "ext4":
		args = []string{"mkfs." + fstype, "-q", "-F", "-U", uuid, "-L", label, img}
	case "xfs":
		args = []string{"mkfs.xfs", "-q", "-f", "-m", "uuid=" + uuid, "-L", label, img}
	case "btrfs":
		args = []string{"mkfs.btrfs", "-q", "-f", "-U", uuid, "-L", label, img}
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		t.Skipf("%s not installed: %v", args[0], err)
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return img
}

// blkid reads TYPE, UUID and LABEL with util-linux's blkid: the oracle.
func blkid(t *testing.T, img string) FSInfo {
	t.Helper()
	if _, err := exec.LookPath("blkid"); err != nil {
		t.Skipf("blkid not installed: %v", err)
	}
	out, err := exec.Command("blkid", "-p", "-o", "export", img).Output()
	if err != nil {
		t.Fatalf("blkid -p %s: %v", img, err)
	}
	var info FSInfo
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "TYPE":
			info.Type = v
		case "UUID":
			info.UUID = v
		case "LABEL":
			info.Label = strings.ReplaceAll(v, `\ `, " ")
		}
	}
	return info
}

func TestProbeFSMkfs(t *testing.T) {
	tests := []struct {
		fstype, uuid, label string
		size                int64
	}{
		{"ext4", "0b6e4b3c-5a7e-4c1d-9e2f-3a4b5c6d7e8f", "kdump", 64 << 20},
		{"ext3", "11111111-2222-4333-8444-555555555555", "crash dumps", 64 << 20},
		{"ext2", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "", 16 << 20},
		{"xfs", "2f1e0d9c-8b7a-4655-8443-322110ffeedd", "xfsdump", 300 << 20},
		{"btrfs", "c0ffee00-1234-4567-89ab-cdef01234567", "btrdump", 128 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.fstype, func(t *testing.T) {
			img := mkfsImage(t, tt.fstype, tt.uuid, tt.label, tt.size)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ProbeFS(f)
			if err != nil {
				t.Fatal(err)
			}
			want := FSInfo{Type: tt.fstype, UUID: tt.uuid, Label: tt.label}
			if got != want {
				t.Errorf("ProbeFS = %+v, want %+v", got, want)
			}
			if b := blkid(t, img); b != got {
				t.Errorf("ProbeFS = %+v, blkid says %+v", got, b)
			}
		})
	}
}

func TestProbeFSRejects(t *testing.T) {
	ext := make([]byte, 4096)
	binary.LittleEndian.PutUint16(ext[extSBOffset+extMagicOff:], extMagic)
	binary.LittleEndian.PutUint32(ext[extSBOffset+0x18:], 99)
	xfs := make([]byte, 4096)
	copy(xfs, "XFSB")
	binary.BigEndian.PutUint32(xfs[4:], 3000)
	btr := make([]byte, btrfsSBOffset+4096)
	copy(btr[btrfsSBOffset+btrfsMagicOff:], "_BHRfS_M")
	tests := []struct {
		name    string
		b       []byte
		unknown bool
		msg     string
	}{
		{"empty", nil, true, ""},
		{"zeros", make([]byte, 1<<17), true, ""},
		{"ext bad block size", ext, false, "s_log_block_size 99"},
		{"xfs bad block size", xfs, false, "sb_blocksize 3000"},
		{"btrfs bad bytenr", btr, false, "bytenr 0x0"},
		{"short ext", ext[:1100], true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ProbeFS(bytes.NewReader(tt.b))
			if err == nil {
				t.Fatal("ProbeFS accepted it")
			}
			if errors.Is(err, ErrUnknownFS) != tt.unknown {
				t.Fatalf("ProbeFS: %v, unknown %v", err, tt.unknown)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("ProbeFS: %v, want it to say %q", err, tt.msg)
			}
		})
	}
}

// FuzzProbeFS: any bytes give an FSInfo with a well-formed UUID or an
// error, never a panic.
func FuzzProbeFS(f *testing.F) {
	ext := make([]byte, 2048)
	binary.LittleEndian.PutUint16(ext[extSBOffset+extMagicOff:], extMagic)
	binary.LittleEndian.PutUint32(ext[extSBOffset+extIncompOff:], 0x40)
	copy(ext[extSBOffset+extLabelOff:], "label")
	f.Add(ext)
	xfs := make([]byte, 512)
	copy(xfs, "XFSB")
	binary.BigEndian.PutUint32(xfs[4:], 4096)
	f.Add(xfs)
	btr := make([]byte, btrfsSBOffset+btrfsSBLen)
	copy(btr[btrfsSBOffset+btrfsMagicOff:], "_BHRfS_M")
	binary.LittleEndian.PutUint64(btr[btrfsSBOffset+48:], btrfsSBOffset)
	f.Add(btr)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ProbeFS(bytes.NewReader(b))
		if err != nil {
			return
		}
		switch info.Type {
		case "ext2", "ext3", "ext4", "xfs", "btrfs":
		default:
			t.Fatalf("type %q", info.Type)
		}
		if len(info.UUID) != 36 || strings.Count(info.UUID, "-") != 4 {
			t.Fatalf("uuid %q", info.UUID)
		}
		if len(info.Label) > 256 {
			t.Fatalf("label of %d bytes", len(info.Label))
		}
	})
}
