package targets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FSInfo is what a filesystem superblock says about itself.
type FSInfo struct {
	Type  string // "ext2", "ext3", "ext4", "xfs" or "btrfs"
	UUID  string // lower-case 8-4-4-4-12 hex, as blkid prints it
	Label string // empty if none
}

// ErrUnknownFS: no ext2/3/4, xfs or btrfs superblock where it should be.
var ErrUnknownFS = errors.New("no ext4, xfs or btrfs superblock")

// Superblock locations and magics (ext4: fs/ext4/ext4.h struct
// ext4_super_block at byte 1024; xfs: struct xfs_dsb at byte 0, big
// endian; btrfs: struct btrfs_super_block at 64 KiB).
const (
	extSBOffset   = 1024
	extMagicOff   = 0x38 // __le16 s_magic
	extCompatOff  = 0x5c // s_feature_compat
	extIncompOff  = 0x60 // s_feature_incompat
	extROCompOff  = 0x64 // s_feature_ro_compat
	extUUIDOff    = 0x68 // s_uuid[16]
	extLabelOff   = 0x78 // s_volume_name[16]
	extMagic      = 0xef53
	extSBLen      = 0x88
	xfsUUIDOff    = 32  // sb_uuid
	xfsLabelOff   = 108 // sb_fname[12]
	xfsSBLen      = 120
	btrfsSBOffset = 0x10000
	btrfsUUIDOff  = 32    // fsid[16]
	btrfsMagicOff = 64    // "_BHRfS_M"
	btrfsLabelOff = 0x12b // label[256]
	btrfsSBLen    = btrfsLabelOff + 256

	extCompatJournal = 0x4
	// Features ext3 knows; anything beyond makes it ext4 (blkid's rule).
	ext3Incompat = 0x2 | 0x4 | 0x10 // filetype, recover, meta_bg
	ext3ROCompat = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
)

// ProbeFS reads the superblock of the filesystem on r (a block device or
// an image). It is the part of blkid the capture environment needs to
// find a device by UUID= or LABEL= without udev. The bytes are untrusted:
// a damaged or foreign device gives an error, never a panic.
func ProbeFS(r io.ReaderAt) (FSInfo, error) {
	var errs []error
	if info, err := probeExt(r); err == nil {
		return info, nil
	} else if !errors.Is(err, ErrUnknownFS) {
		errs = append(errs, err)
	}
	if info, err := probeXFS(r); err == nil {
		return info, nil
	} else if !errors.Is(err, ErrUnknownFS) {
		errs = append(errs, err)
	}
	if info, err := probeBtrfs(r); err == nil {
		return info, nil
	} else if !errors.Is(err, ErrUnknownFS) {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return FSInfo{}, errors.Join(errs...)
	}
	return FSInfo{}, ErrUnknownFS
}

// readFull reads n bytes at off; a short device is "not this filesystem".
func readFull(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if got == n {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, ErrUnknownFS
	}
	return nil, fmt.Errorf("read superblock at %#x: %w", off, err)
}

func probeExt(r io.ReaderAt) (FSInfo, error) {
	sb, err := readFull(r, extSBOffset, extSBLen)
	if err != nil {
		return FSInfo{}, err
	}
	if binary.LittleEndian.Uint16(sb[extMagicOff:]) != extMagic {
		return FSInfo{}, ErrUnknownFS
	}
	// s_log_block_size (offset 0x18): block sizes above 64 KiB do not
	// exist; a larger value means the magic is a coincidence.
	if binary.LittleEndian.Uint32(sb[0x18:]) > 6 {
		return FSInfo{}, fmt.Errorf("ext superblock at %#x: s_log_block_size %d is above 6", extSBOffset, binary.LittleEndian.Uint32(sb[0x18:]))
	}
	compat := binary.LittleEndian.Uint32(sb[extCompatOff:])
	incompat := binary.LittleEndian.Uint32(sb[extIncompOff:])
	rocompat := binary.LittleEndian.Uint32(sb[extROCompOff:])
	typ := "ext2"
	switch {
	case incompat&^ext3Incompat != 0 || rocompat&^ext3ROCompat != 0:
		typ = "ext4"
	case compat&extCompatJournal != 0:
		typ = "ext3"
	}
	return FSInfo{Type: typ, UUID: formatUUID(sb[extUUIDOff : extUUIDOff+16]), Label: cString(sb[extLabelOff : extLabelOff+16])}, nil
}

func probeXFS(r io.ReaderAt) (FSInfo, error) {
	sb, err := readFull(r, 0, xfsSBLen)
	if err != nil {
		return FSInfo{}, err
	}
	if string(sb[:4]) != "XFSB" {
		return FSInfo{}, ErrUnknownFS
	}
	// sb_blocksize: a power of two from 512 to 64 KiB.
	bs := binary.BigEndian.Uint32(sb[4:])
	if bs < 512 || bs > 65536 || bs&(bs-1) != 0 {
		return FSInfo{}, fmt.Errorf("xfs superblock at 0: sb_blocksize %d is not a power of two in [512, 65536]", bs)
	}
	return FSInfo{Type: "xfs", UUID: formatUUID(sb[xfsUUIDOff : xfsUUIDOff+16]), Label: cString(sb[xfsLabelOff : xfsLabelOff+12])}, nil
}

func probeBtrfs(r io.ReaderAt) (FSInfo, error) {
	sb, err := readFull(r, btrfsSBOffset, btrfsSBLen)
	if err != nil {
		return FSInfo{}, err
	}
	if string(sb[btrfsMagicOff:btrfsMagicOff+8]) != "_BHRfS_M" {
		return FSInfo{}, ErrUnknownFS
	}
	// bytenr: the superblock records where it lives.
	if at := binary.LittleEndian.Uint64(sb[48:]); at != btrfsSBOffset {
		return FSInfo{}, fmt.Errorf("btrfs superblock at %#x: bytenr %#x, want %#x", btrfsSBOffset, at, btrfsSBOffset)
	}
	return FSInfo{Type: "btrfs", UUID: formatUUID(sb[btrfsUUIDOff : btrfsUUIDOff+16]), Label: cString(sb[btrfsLabelOff : btrfsLabelOff+256])}, nil
}

func formatUUID(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// cString is b up to its first NUL, with trailing blanks dropped.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimRight(string(b), " ")
}
