package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zlib"
)

// Method is a kdump-compressed page compression method, with the value of
// its bit in page_desc.flags and in the header status field.
type Method uint32

// The page flags of the kdump-compressed format (DUMP_DH_COMPRESSED_*).
// Raw means "stored uncompressed" (flags 0).
const (
	Raw    Method = 0
	Zlib   Method = 0x1
	LZO    Method = 0x2
	Snappy Method = 0x4
	Zstd   Method = 0x20
)

// KnownFlags has the bits of all methods.
const KnownFlags = uint32(Zlib | LZO | Snappy | Zstd)

// String returns the name makedumpfile uses for the method.
func (m Method) String() string {
	switch m {
	case Raw:
		return "raw"
	case Zlib:
		return "zlib"
	case LZO:
		return "lzo"
	case Snappy:
		return "snappy"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("method(%#x)", uint32(m))
}

// MethodForFlags picks the method a page_desc.flags value selects. Readers
// (crash, libkdumpfile, makedumpfile) test the bits in the order zlib, LZO,
// snappy, zstd and take the first one set, so flags 0x21 means zlib; we do
// the same. Flags 0 mean a raw page. ok is false if flags are nonzero but
// hold none of the known bits: crash would then copy the stored bytes as if
// raw, which yields garbage, so callers should report an error instead.
func MethodForFlags(flags uint32) (m Method, ok bool) {
	switch {
	case flags == 0:
		return Raw, true
	case flags&uint32(Zlib) != 0:
		return Zlib, true
	case flags&uint32(LZO) != 0:
		return LZO, true
	case flags&uint32(Snappy) != 0:
		return Snappy, true
	case flags&uint32(Zstd) != 0:
		return Zstd, true
	}
	return 0, false
}

var (
	// ErrCorrupt is wrapped by every error about malformed compressed
	// data, including data that decodes to the wrong length.
	ErrCorrupt = errors.New("corrupt compressed data")
	// ErrUnknownMethod is returned for a Method this package cannot decode.
	ErrUnknownMethod = errors.New("unknown compression method")
)

// MaxPageSize is the largest page (block) size Decode accepts; it is also
// the largest block_size kdump readers accept (libkdumpfile: 256 KiB). It
// bounds the memory the zstd decoder may use on hostile input.
const MaxPageSize = 256 << 10

// Decoder decodes compressed pages. The zero value is ready to use. A
// Decoder is not safe for concurrent use; keep one per goroutine. After the
// first page of each method, Decode does not allocate.
type Decoder struct {
	zr   io.ReadCloser // zlib reader, reused through zlib.Resetter
	zsrc bytes.Reader  // zlib input
	zd   *zstdDecoder
	one  [1]byte // zlib end-of-stream probe
}

// Decode decompresses src, compressed with method m, into dst. The
// decompressed data must be exactly len(dst) bytes long: kdump pages always
// decode to block_size bytes, and every reader treats any other length as
// corruption. On error dst holds unspecified bytes. Raw copies src, which
// must then be len(dst) bytes. Errors about the data wrap ErrCorrupt.
func (d *Decoder) Decode(m Method, dst, src []byte) error {
	if len(dst) > MaxPageSize {
		return fmt.Errorf("%v: page size %d is larger than %d", m, len(dst), MaxPageSize)
	}
	switch m {
	case Raw:
		if len(src) != len(dst) {
			return fmt.Errorf("raw: stored %d bytes, want %d: %w", len(src), len(dst), ErrCorrupt)
		}
		copy(dst, src)
		return nil
	case LZO:
		n, err := DecodeLZO1X(dst, src)
		if err != nil {
			return fmt.Errorf("lzo: %w", err)
		}
		if n != len(dst) {
			return fmt.Errorf("lzo: decoded %d bytes, want %d: %w", n, len(dst), ErrCorrupt)
		}
		return nil
	case Snappy:
		return decodeSnappy(dst, src)
	case Zlib:
		return d.decodeZlib(dst, src)
	case Zstd:
		return d.decodeZstd(dst, src)
	}
	return fmt.Errorf("%v: %w", m, ErrUnknownMethod)
}

func (d *Decoder) decodeZlib(dst, src []byte) error {
	d.zsrc.Reset(src)
	if d.zr == nil {
		zr, err := zlib.NewReader(&d.zsrc)
		if err != nil {
			return fmt.Errorf("zlib: %v: %w", err, ErrCorrupt)
		}
		d.zr = zr
	} else if err := d.zr.(zlib.Resetter).Reset(&d.zsrc, nil); err != nil {
		return fmt.Errorf("zlib: %v: %w", err, ErrCorrupt)
	}
	n, err := io.ReadFull(d.zr, dst)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("zlib: decoded %d bytes, want %d: %w", n, len(dst), ErrCorrupt)
		}
		return fmt.Errorf("zlib: %v: %w", err, ErrCorrupt)
	}
	// The stream must end here; reading on to io.EOF also makes the
	// reader verify the Adler-32 checksum.
	n, err = d.zr.Read(d.one[:])
	if n != 0 {
		return fmt.Errorf("zlib: stream decodes to more than %d bytes: %w", len(dst), ErrCorrupt)
	}
	if err != io.EOF {
		if err == nil || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("zlib: stream does not end after %d bytes: %w", len(dst), ErrCorrupt)
		}
		return fmt.Errorf("zlib: %v: %w", err, ErrCorrupt)
	}
	return nil
}

func (d *Decoder) decodeZstd(dst, src []byte) error {
	if d.zd == nil {
		d.zd = new(zstdDecoder)
	}
	return d.zd.decode(dst, src)
}

// Close releases the zstd decoder's buffers. The Decoder can be used
// again afterwards.
func (d *Decoder) Close() { d.zd = nil }
