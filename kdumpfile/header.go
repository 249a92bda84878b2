package kdumpfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// Sizes of the on-disk structures (64-bit layout).
const (
	DiskDumpHeaderSize = 464
	KdumpSubHeaderSize = 104
	PageDescSize       = 24
)

// Signatures of the disk_dump_header.
const (
	SignatureKdump    = "KDUMP   "
	SignatureDiskdump = "DISKDUMP"
)

// Header status bits (DUMP_DH_*). The compression bits say which method the
// writer asked for; each page's descriptor says which one it used.
const (
	StatusCompressedZlib   = 0x1
	StatusCompressedLZO    = 0x2
	StatusCompressedSnappy = 0x4
	StatusIncomplete       = 0x8
	StatusExcludedVmemmap  = 0x10
	StatusCompressedZstd   = 0x20
)

// MaxHeaderVersion is the newest header_version we understand.
const MaxHeaderVersion = 6

// Block sizes readers accept (libkdumpfile: a power of two in [4K, 256K]).
const (
	MinBlockSize = 4096
	MaxBlockSize = 256 << 10
)

// maxMapnrLimit: pfns above 2^52 cannot exist with 4 KiB pages and 64-bit
// physical addresses.
const maxMapnrLimit = 1 << 52

var (
	// ErrNotKdump: the file does not start with a kdump or diskdump
	// signature.
	ErrNotKdump = errors.New("not a kdump-compressed file")
	// ErrNotSupported: the file is a kdump file in a variant we do not
	// read (32-bit layout, newer header version).
	ErrNotSupported = errors.New("unsupported kdump variant")
)

// FormatError describes a structural problem in a dump file.
type FormatError struct {
	Where string // the structure, e.g. "kdump header", "sub header"
	Off   int64  // file offset of the offending field or structure
	Msg   string
	Err   error // optional sentinel (ErrNotKdump, ErrNotSupported)
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s at %#x: %s", e.Where, e.Off, e.Msg)
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(where string, off int64, format string, args ...any) *FormatError {
	return &FormatError{Where: where, Off: off, Msg: fmt.Sprintf(format, args...)}
}

// NewUtsname is the kernel's struct new_utsname: six NUL-padded 65-byte
// fields.
type NewUtsname struct {
	Sysname, Nodename, Release, Version, Machine, Domainname [65]byte
}

// Timeval is struct timeval on LP64.
type Timeval struct {
	Sec, Usec int64
}

// DiskDumpHeader is struct disk_dump_header (464 bytes at offset 0).
type DiskDumpHeader struct {
	Signature      [8]byte
	HeaderVersion  int32
	Utsname        NewUtsname
	Timestamp      Timeval
	Status         uint32
	BlockSize      int32
	SubHdrSize     int32  // in blocks
	BitmapBlocks   uint32 // both bitmaps together, in blocks
	MaxMapnr       uint32 // obsolete for v6: see KdumpSubHeader.MaxMapnr64
	TotalRAMBlocks uint32
	DeviceBlocks   uint32
	WrittenBlocks  uint32
	CurrentCPU     uint32
	NrCPUs         int32
}

// KdumpSubHeader is struct kdump_sub_header (104 bytes at offset
// block_size). Fields newer than the file's header_version are zero.
type KdumpSubHeader struct {
	PhysBase         uint64 // v1
	DumpLevel        int32  // v1
	Split            int32  // v2
	StartPFN         uint64 // v2, 32-bit value
	EndPFN           uint64 // v2, 32-bit value
	OffsetVmcoreinfo int64  // v3
	SizeVmcoreinfo   uint64 // v3
	OffsetNote       int64  // v4
	SizeNote         uint64 // v4
	OffsetEraseinfo  int64  // v5
	SizeEraseinfo    uint64 // v5
	StartPFN64       uint64 // v6
	EndPFN64         uint64 // v6
	MaxMapnr64       uint64 // v6
}

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// decodeDiskDumpHeader decodes the 464-byte header without checking it.
func decodeDiskDumpHeader(b []byte) DiskDumpHeader {
	le := binary.LittleEndian
	var h DiskDumpHeader
	copy(h.Signature[:], b[0:8])
	h.HeaderVersion = int32(le.Uint32(b[8:]))
	u := b[12:]
	for i, f := range []*[65]byte{&h.Utsname.Sysname, &h.Utsname.Nodename, &h.Utsname.Release,
		&h.Utsname.Version, &h.Utsname.Machine, &h.Utsname.Domainname} {
		copy(f[:], u[i*65:(i+1)*65])
	}
	h.Timestamp.Sec = int64(le.Uint64(b[408:]))
	h.Timestamp.Usec = int64(le.Uint64(b[416:]))
	h.Status = le.Uint32(b[424:])
	h.BlockSize = int32(le.Uint32(b[428:]))
	h.SubHdrSize = int32(le.Uint32(b[432:]))
	h.BitmapBlocks = le.Uint32(b[436:])
	h.MaxMapnr = le.Uint32(b[440:])
	h.TotalRAMBlocks = le.Uint32(b[444:])
	h.DeviceBlocks = le.Uint32(b[448:])
	h.WrittenBlocks = le.Uint32(b[452:])
	h.CurrentCPU = le.Uint32(b[456:])
	h.NrCPUs = int32(le.Uint32(b[460:]))
	return h
}

// decodeKdumpSubHeader decodes the sub header, keeping only the fields
// header_version says exist.
func decodeKdumpSubHeader(b []byte, version int32) KdumpSubHeader {
	le := binary.LittleEndian
	var s KdumpSubHeader
	if version >= 1 {
		s.PhysBase = le.Uint64(b[0:])
		s.DumpLevel = int32(le.Uint32(b[8:]))
	}
	if version >= 2 {
		s.Split = int32(le.Uint32(b[12:]))
		s.StartPFN = le.Uint64(b[16:])
		s.EndPFN = le.Uint64(b[24:])
	}
	if version >= 3 {
		s.OffsetVmcoreinfo = int64(le.Uint64(b[32:]))
		s.SizeVmcoreinfo = le.Uint64(b[40:])
	}
	if version >= 4 {
		s.OffsetNote = int64(le.Uint64(b[48:]))
		s.SizeNote = le.Uint64(b[56:])
	}
	if version >= 5 {
		s.OffsetEraseinfo = int64(le.Uint64(b[64:]))
		s.SizeEraseinfo = le.Uint64(b[72:])
	}
	if version >= 6 {
		s.StartPFN64 = le.Uint64(b[80:])
		s.EndPFN64 = le.Uint64(b[88:])
		s.MaxMapnr64 = le.Uint64(b[96:])
	}
	return s
}

func validBlockSize(v int64) bool {
	return v >= MinBlockSize && v <= MaxBlockSize && bits.OnesCount64(uint64(v)) == 1
}

// checkHeader validates the fields of the main header that need nothing
// else.
func checkHeader(h *DiskDumpHeader, raw []byte) error {
	const where = "kdump header"
	sig := string(h.Signature[:])
	if sig != SignatureKdump && sig != SignatureDiskdump {
		return &FormatError{Where: where, Off: 0, Msg: fmt.Sprintf("signature %q is neither %q nor %q", sig, SignatureKdump, SignatureDiskdump), Err: ErrNotKdump}
	}
	if h.HeaderVersion < 0 || h.HeaderVersion > MaxHeaderVersion {
		return &FormatError{Where: where, Off: 8, Msg: fmt.Sprintf("header_version %d is not in 0..%d", h.HeaderVersion, MaxHeaderVersion), Err: ErrNotSupported}
	}
	if !validBlockSize(int64(h.BlockSize)) {
		// The 32-bit layout has a 8-byte timeval, moving block_size 8
		// bytes down; say so rather than just rejecting the value.
		if bs := int64(int32(binary.LittleEndian.Uint32(raw[420:]))); validBlockSize(bs) {
			return &FormatError{Where: where, Off: 420, Msg: "32-bit header layout is not supported", Err: ErrNotSupported}
		}
		if h.BlockSize > 0 && bits.OnesCount32(uint32(h.BlockSize)) != 1 {
			return formatErr(where, 428, "block_size %d is not a power of two", h.BlockSize)
		}
		return formatErr(where, 428, "block_size %d is not in [%d, %d]", h.BlockSize, MinBlockSize, MaxBlockSize)
	}
	if h.SubHdrSize < 0 {
		return formatErr(where, 432, "sub_hdr_size %d is negative", h.SubHdrSize)
	}
	if sig == SignatureKdump && h.HeaderVersion >= 1 && h.SubHdrSize < 1 {
		return formatErr(where, 432, "sub_hdr_size is 0 blocks, but a version %d header needs a sub header", h.HeaderVersion)
	}
	if h.BitmapBlocks == 0 {
		return formatErr(where, 436, "bitmap_blocks is 0")
	}
	return nil
}

// Release returns utsname.release, e.g. "6.1.0-13-amd64".
func (h DiskDumpHeader) Release() string { return cstring(h.Utsname.Release[:]) }

// Machine returns utsname.machine, e.g. "x86_64".
func (h DiskDumpHeader) Machine() string { return cstring(h.Utsname.Machine[:]) }

// UtsnameStrings returns the six utsname fields as strings, without NUL padding.
func (h DiskDumpHeader) UtsnameStrings() (sysname, nodename, release, version, machine, domainname string) {
	u := h.Utsname
	return cstring(u.Sysname[:]), cstring(u.Nodename[:]), cstring(u.Release[:]),
		cstring(u.Version[:]), cstring(u.Machine[:]), cstring(u.Domainname[:])
}

// CrashTime returns the timestamp (makedumpfile fills it from
// VMCOREINFO's CRASHTIME), or the zero time if it is 0.
func (h DiskDumpHeader) CrashTime() time.Time {
	if h.Timestamp.Sec == 0 && h.Timestamp.Usec == 0 {
		return time.Time{}
	}
	return time.Unix(h.Timestamp.Sec, h.Timestamp.Usec*1000)
}

// IsKdump reports whether b, the first bytes of a file (at least 8),
// carry a kdump-compressed ("KDUMP   ") or diskdump ("DISKDUMP") signature.
func IsKdump(b []byte) bool {
	return len(b) >= 8 && (string(b[:8]) == SignatureKdump || string(b[:8]) == SignatureDiskdump)
}

// Bytes returns the 390 bytes of struct new_utsname as stored.
func (u NewUtsname) Bytes() [390]byte {
	var b [390]byte
	for i, f := range [][65]byte{u.Sysname, u.Nodename, u.Release, u.Version, u.Machine, u.Domainname} {
		copy(b[i*65:], f[:])
	}
	return b
}
