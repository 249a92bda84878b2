package kdumpfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/mem"
)

// WriterConfig is everything a kdump-compressed header records. The
// writer lays the file out from it exactly as makedumpfile does, so files
// written from the same input at the same level are byte-identical to the
// C tool's where it is deterministic (uncompressed pages).
type WriterConfig struct {
	PageSize int
	// MaxPFN is max_mapnr: both bitmaps cover [0, MaxPFN).
	MaxPFN mem.PFN
	// RAM is the 1st bitmap (pages that exist), Keep the 2nd (pages
	// that will be written, zero pages included). Keep must be frozen:
	// its count sizes the descriptor table.
	RAM, Keep *mem.Bitmap
	// Utsname is init_uts_ns.name, 6×65 bytes.
	Utsname [390]byte
	// CrashTime is VMCOREINFO's CRASHTIME (0 if absent); tv_usec stays 0.
	CrashTime int64
	// Compression is the method the header announces (codec.Raw for
	// none). Each page records its own method.
	Compression codec.Method
	DumpLevel   int
	PhysBase    uint64
	NrCPUs      int
	// Notes is the input's PT_NOTE data, copied after the sub header;
	// VMCOREINFOOff is the offset of the VMCOREINFO descriptor inside
	// Notes and VMCOREINFOLen its size (both 0 without one).
	Notes                        []byte
	VMCOREINFOOff, VMCOREINFOLen int64
	// ZeroPage makes the writer store one zero page first and share its
	// descriptor (makedumpfile does so when the dump level has bit 1).
	ZeroPage bool
}

// Writer writes a kdump-compressed file through an io.WriterAt. Pages
// must come in ascending pfn order, one call per bit set in Keep.
type Writer struct {
	w   io.WriterAt
	cfg WriterConfig

	pdOff    int64 // file offset of descriptor 0
	dataOff  int64 // running offset of the next page data
	zeroDesc PageDesc
	n        uint64 // descriptors written
	total    uint64 // descriptors expected
	last     mem.PFN
	started  bool

	// Descriptors and data are buffered and written in large chunks.
	pdBuf, dataBuf []byte
	pdBufOff       int64
	dataBufOff     int64
	written        int64 // bytes that reached the file, for limits
	err            error
}

// writeChunk is the size of the descriptor and data buffers; large
// writes matter on NFS and SFTP targets.
const writeChunk = 1 << 20

// NewWriter writes the header, sub header, notes and both bitmaps and
// returns a Writer ready for pages.
func NewWriter(w io.WriterAt, cfg WriterConfig) (*Writer, error) {
	B := int64(cfg.PageSize)
	if B < 4096 || B&(B-1) != 0 {
		return nil, fmt.Errorf("kdump writer: page size %d is not a power of two of at least 4096", B)
	}
	if cfg.RAM.Len() < cfg.MaxPFN || cfg.Keep.Len() < cfg.MaxPFN {
		return nil, errors.New("kdump writer: bitmaps shorter than MaxPFN")
	}
	le := binary.LittleEndian
	subHdrBlocks := (KdumpSubHeaderSize + int64(len(cfg.Notes)) + B - 1) / B
	bitmapBytes := (int64(cfg.MaxPFN) + 7) / 8
	bitmapHalf := (bitmapBytes + B - 1) / B * B
	bitmapBlocks := 2 * bitmapHalf / B
	bitmapOff := (1 + subHdrBlocks) * B

	var h [DiskDumpHeaderSize]byte
	copy(h[0:], SignatureKdump)
	le.PutUint32(h[8:], 6)
	copy(h[12:], cfg.Utsname[:])
	le.PutUint64(h[408:], uint64(cfg.CrashTime))
	le.PutUint32(h[424:], uint32(cfg.Compression))
	le.PutUint32(h[428:], uint32(B))
	le.PutUint32(h[432:], uint32(subHdrBlocks))
	le.PutUint32(h[436:], uint32(bitmapBlocks))
	le.PutUint32(h[440:], uint32(min(uint64(cfg.MaxPFN), 0xffffffff)))
	le.PutUint32(h[460:], uint32(cfg.NrCPUs))
	if _, err := w.WriteAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("kdump writer: header: %w", err)
	}

	var s [KdumpSubHeaderSize]byte
	le.PutUint64(s[0:], cfg.PhysBase)
	le.PutUint32(s[8:], uint32(cfg.DumpLevel))
	if len(cfg.Notes) > 0 {
		noteOff := B + KdumpSubHeaderSize
		if cfg.VMCOREINFOLen > 0 {
			le.PutUint64(s[32:], uint64(noteOff+cfg.VMCOREINFOOff))
			le.PutUint64(s[40:], uint64(cfg.VMCOREINFOLen))
		}
		le.PutUint64(s[48:], uint64(noteOff))
		le.PutUint64(s[56:], uint64(len(cfg.Notes)))
		if _, err := w.WriteAt(cfg.Notes, noteOff); err != nil {
			return nil, fmt.Errorf("kdump writer: notes: %w", err)
		}
	}
	le.PutUint64(s[96:], uint64(cfg.MaxPFN))
	if _, err := w.WriteAt(s[:], B); err != nil {
		return nil, fmt.Errorf("kdump writer: sub header: %w", err)
	}

	// Bitmaps: exactly bitmapBytes of each; the padding to the block
	// stays a hole (zero), as in makedumpfile's sparse output.
	if _, err := w.WriteAt(cfg.RAM.Bytes()[:bitmapBytes], bitmapOff); err != nil {
		return nil, fmt.Errorf("kdump writer: 1st bitmap: %w", err)
	}
	keep := cfg.Keep.Bytes()[:bitmapBytes]
	if _, err := w.WriteAt(keep, bitmapOff+bitmapHalf); err != nil {
		return nil, fmt.Errorf("kdump writer: 2nd bitmap: %w", err)
	}
	wr := &Writer{w: w, cfg: cfg, total: cfg.Keep.Rank(cfg.MaxPFN)}
	wr.pdOff = bitmapOff + 2*bitmapHalf
	wr.dataOff = wr.pdOff + int64(wr.total)*PageDescSize
	wr.pdBufOff, wr.dataBufOff = wr.pdOff, wr.dataOff
	if cfg.ZeroPage {
		wr.zeroDesc = PageDesc{Offset: wr.dataOff, Size: uint32(B)}
		wr.dataBuf = append(wr.dataBuf, make([]byte, B)...)
		wr.dataOff += B
	}
	return wr, nil
}

// Total is the number of pages the file will hold.
func (w *Writer) Total() uint64 { return w.total }

func (w *Writer) next(pfn mem.PFN) error {
	if w.err != nil {
		return w.err
	}
	if w.started && pfn <= w.last {
		return fmt.Errorf("kdump writer: pfn %#x after %#x: pages must come in ascending order", uint64(pfn), uint64(w.last))
	}
	if pfn >= w.cfg.MaxPFN || !w.cfg.Keep.Test(pfn) {
		return fmt.Errorf("kdump writer: pfn %#x is not in the 2nd bitmap", uint64(pfn))
	}
	w.last, w.started = pfn, true
	return nil
}

// WriteZero records page pfn as the shared zero page.
func (w *Writer) WriteZero(pfn mem.PFN) error {
	if !w.cfg.ZeroPage {
		return errors.New("kdump writer: WriteZero without ZeroPage")
	}
	if err := w.next(pfn); err != nil {
		return err
	}
	return w.putDesc(w.zeroDesc)
}

// WritePage stores page pfn's data as given: m is the method it is
// compressed with (codec.Raw for a raw page of PageSize bytes).
func (w *Writer) WritePage(pfn mem.PFN, data []byte, m codec.Method) error {
	if err := w.next(pfn); err != nil {
		return err
	}
	if (m == codec.Raw) != (len(data) == w.cfg.PageSize) || len(data) == 0 || len(data) > w.cfg.PageSize {
		return fmt.Errorf("kdump writer: pfn %#x: %d bytes of %s data for a %d-byte page", uint64(pfn), len(data), m, w.cfg.PageSize)
	}
	pd := PageDesc{Offset: w.dataOff, Size: uint32(len(data)), Flags: uint32(m)}
	w.dataBuf = append(w.dataBuf, data...)
	w.dataOff += int64(len(data))
	if len(w.dataBuf) >= writeChunk {
		if err := w.flushData(); err != nil {
			return err
		}
	}
	return w.putDesc(pd)
}

func (w *Writer) putDesc(pd PageDesc) error {
	var b [PageDescSize]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(pd.Offset))
	le.PutUint32(b[8:], pd.Size)
	le.PutUint32(b[12:], pd.Flags)
	le.PutUint64(b[16:], pd.PageFlags)
	w.pdBuf = append(w.pdBuf, b[:]...)
	w.n++
	if len(w.pdBuf) >= writeChunk {
		// Data first: a descriptor must never point at data that did
		// not reach the file.
		if err := w.flushData(); err != nil {
			return err
		}
		return w.flushDesc()
	}
	return nil
}

func (w *Writer) flushData() error {
	if len(w.dataBuf) == 0 {
		return nil
	}
	if _, err := w.w.WriteAt(w.dataBuf, w.dataBufOff); err != nil {
		w.err = fmt.Errorf("kdump writer: page data at %#x: %w", w.dataBufOff, err)
		return w.err
	}
	w.dataBufOff += int64(len(w.dataBuf))
	w.written += int64(len(w.dataBuf))
	w.dataBuf = w.dataBuf[:0]
	return nil
}

func (w *Writer) flushDesc() error {
	if len(w.pdBuf) == 0 {
		return nil
	}
	if _, err := w.w.WriteAt(w.pdBuf, w.pdBufOff); err != nil {
		w.err = fmt.Errorf("kdump writer: page descriptors at %#x: %w", w.pdBufOff, err)
		return w.err
	}
	w.pdBufOff += int64(len(w.pdBuf))
	w.pdBuf = w.pdBuf[:0]
	return nil
}

// Close flushes what is buffered. If pages are missing (fewer written
// than Keep holds) or a write failed, the header is marked incomplete
// (status bit 0x8) and the unwritten descriptors stay zero, which readers
// take as lost pages; Close then returns an error wrapping mem.ErrLost.
func (w *Writer) Close() error {
	if w.err == nil {
		if err := w.flushData(); err == nil {
			w.flushDesc()
		}
	}
	if w.err == nil && w.n == w.total {
		return nil
	}
	status := uint32(w.cfg.Compression) | StatusIncomplete
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], status)
	if _, err := w.w.WriteAt(b[:], 424); err != nil {
		return errors.Join(w.err, fmt.Errorf("kdump writer: mark the dump incomplete: %w", err))
	}
	if w.err != nil {
		return fmt.Errorf("%w (dump marked incomplete: %w)", w.err, mem.ErrLost)
	}
	return fmt.Errorf("kdump writer: %d of %d pages written: %w", w.n, w.total, mem.ErrLost)
}
