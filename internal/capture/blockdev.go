package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// FS is what a file system superblock says about itself.
type FS struct {
	Type  string // ext4 (also ext2/ext3), xfs, btrfs
	UUID  string // lowercase, with dashes
	Label string
}

// ProbeFS reads the superblock of an ext2/3/4, XFS or btrfs file system
// from r. ok is false if none of them is found.
func ProbeFS(r io.ReaderAt) (fs FS, ok bool) {
	// ext2/3/4: superblock at 1024, magic 0xEF53 at 0x38, UUID at 0x68,
	// volume name (16 bytes) at 0x78.
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, 1024); err == nil && binary.LittleEndian.Uint16(sb[0x38:]) == 0xEF53 {
		return FS{Type: "ext4", UUID: formatUUID(sb[0x68:0x78]), Label: cString(sb[0x78:0x88])}, true
	}
	// XFS: "XFSB" at 0, UUID at 32, fname (12 bytes) at 108.
	if _, err := r.ReadAt(sb[:512], 0); err == nil && string(sb[:4]) == "XFSB" {
		return FS{Type: "xfs", UUID: formatUUID(sb[32:48]), Label: cString(sb[108:120])}, true
	}
	// btrfs: superblock at 64 KiB, fsid at +0x20, magic at +0x40, label
	// (256 bytes) at +0x12b.
	bt := make([]byte, 0x22b)
	if _, err := r.ReadAt(bt, 0x10000); err == nil && string(bt[0x40:0x48]) == "_BHRfS_M" {
		return FS{Type: "btrfs", UUID: formatUUID(bt[0x20:0x30]), Label: cString(bt[0x12b:0x22b])}, true
	}
	return FS{}, false
}

func formatUUID(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Matches reports whether fs is the file system a kdump.conf device spec
// names: UUID=..., LABEL=... (a plain path is matched by the caller).
func (fs FS) Matches(spec string) bool {
	if u, ok := strings.CutPrefix(spec, "UUID="); ok {
		return strings.EqualFold(strings.Trim(u, `"`), fs.UUID)
	}
	if l, ok := strings.CutPrefix(spec, "LABEL="); ok {
		return strings.Trim(l, `"`) == fs.Label
	}
	return false
}

// FindDevice returns the block device that spec names: a path under devDir
// (returned as it is once it exists), or UUID=/LABEL= matched by probing
// every device listed in sysBlockDir (normally /sys/class/block) through
// devDir. It returns os.ErrNotExist (wrapped) when nothing matches yet.
func FindDevice(sysBlockDir, devDir, spec string) (string, error) {
	if !strings.HasPrefix(spec, "UUID=") && !strings.HasPrefix(spec, "LABEL=") {
		p := spec
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("device %q: want a path, UUID= or LABEL=", spec)
		}
		if rest, ok := strings.CutPrefix(p, "/dev/"); ok {
			p = filepath.Join(devDir, rest)
		}
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("device %s: %w", spec, err)
		}
		return p, nil
	}
	ents, err := os.ReadDir(sysBlockDir)
	if err != nil {
		return "", fmt.Errorf("list block devices: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(devDir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		fs, ok := ProbeFS(f)
		f.Close()
		if ok && fs.Matches(spec) {
			return p, nil
		}
	}
	return "", fmt.Errorf("device %s: no block device has it: %w", spec, os.ErrNotExist)
}
