package kdumpfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

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
	//
	// Keep may be nil for a machine whose keep map is not held whole
	// (a cyclic plan): Kept then says how many bits it has (and
	// KeptInRange how many of them lie in [Start, End) for a split
	// member), and the caller hands the 2nd bitmap to WriteKeep a
	// window at a time, in any order, before or after the pages.
	RAM, Keep         *mem.Bitmap
	Kept, KeptInRange uint64
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
	// Status holds header status bits other than the compression
	// method, e.g. StatusExcludedVmemmap. StatusIncomplete is the
	// writer's to set.
	Status uint32
	// Split makes the file one member of a --split set holding the
	// pages of [Start, End): the sub header records the range, the
	// descriptor table is still sized for every page of Keep (its tail
	// stays a hole) and the member's descriptors start at index 0.
	Split      bool
	Start, End mem.PFN
	// WriteBuffer is how many bytes of page data are gathered into one
	// WriteAt (0: 64 KiB, the C tool's). A target that acknowledges
	// every write over a network (SFTP) wants more per round trip.
	WriteBuffer int
}

// Writer writes a kdump-compressed file through an io.WriterAt. Pages
// must come in ascending pfn order, one call per bit set in Keep (within
// [Start, End) for a split member).
//
// Descriptors and page data are buffered and written in chunks,
// descriptors first: when a data write fails (ENOSPC, a size limit), the
// descriptors of pages whose data did not fully land are overwritten with
// zeros, so the file keeps every page that reached it and readers see the
// rest as lost. This is makedumpfile's write_kdump_page/get_nr_pages
// scheme, except that the count comes from the bytes the failed write
// reports, not from the file size.
type Writer struct {
	w     io.WriterAt
	cfg   WriterConfig
	chunk int // page data bytes per WriteAt

	start, end mem.PFN // pages accepted
	pdOff      int64   // file offset of descriptor 0
	dataOff    int64   // running offset of the next page data
	zeroDesc   PageDesc
	n          uint64 // descriptors handed to the writer
	want       uint64 // descriptors this file holds
	total      uint64 // size of the descriptor table
	lost       uint64 // descriptors recorded as lost by WriteLost
	landed     uint64 // descriptors whose data reached the file
	last       mem.PFN
	started    bool
	closed     bool

	keepOff        int64  // file offset of the 2nd bitmap
	keepBytes      int64  // its size (without the padding)
	keepWritten    int64  // bytes WriteKeep wrote
	keepBuf        []byte // WriteKeep's, allocated on first use
	pdBuf, dataBuf []byte
	pdBufOff       int64
	dataBufOff     int64
	err            error
}

// writeChunk is the size of the data buffer: makedumpfile's (16 pages).
// It was 256 KiB, and 1 MiB before that; at 64 KiB the dump's heap is
// smaller by 192 KiB, and -d 1 -l on the 4 GiB corpus (2.2 GB written)
// takes about the same CPU time: 10% less on one CPU, 3% more on two
// (docs/bench.md). Each flush is one WriteAt; WriterConfig.WriteBuffer
// sets another size: capture-init asks for 256 KiB (a write system call
// costs a capture kernel far more) and 1 MiB on SFTP, where each write
// waits for the server's acknowledgement.
// Descriptors are flushed with the data they describe, or when pdChunk
// bytes of them are buffered (shared zero pages and lost pages add
// descriptors without data; 512 of them are one 12 KiB write). Both
// buffers are allocated once at their full size: grown by append they
// would leave about twice their size behind as garbage.
const (
	writeChunk = 64 << 10
	pdChunk    = 512 * PageDescSize
)

// NewWriter writes the header, sub header, notes and both bitmaps and
// returns a Writer ready for pages.
func NewWriter(w io.WriterAt, cfg WriterConfig) (*Writer, error) {
	B := int64(cfg.PageSize)
	if B < MinBlockSize || B > MaxBlockSize || B&(B-1) != 0 {
		return nil, fmt.Errorf("kdump writer: page size %d is not a power of two in [%d, %d]", B, MinBlockSize, MaxBlockSize)
	}
	if cfg.RAM == nil || cfg.RAM.Len() < cfg.MaxPFN || cfg.Keep != nil && cfg.Keep.Len() < cfg.MaxPFN {
		return nil, errors.New("kdump writer: bitmaps shorter than MaxPFN")
	}
	if cfg.Keep == nil && (cfg.Kept > uint64(cfg.MaxPFN) || cfg.KeptInRange > cfg.Kept) {
		return nil, fmt.Errorf("kdump writer: %d pages kept (%d in range) of %d", cfg.Kept, cfg.KeptInRange, uint64(cfg.MaxPFN))
	}
	if cfg.Status&(codecBits|StatusIncomplete) != 0 {
		return nil, fmt.Errorf("kdump writer: status %#x names a compression method or the incomplete bit", cfg.Status)
	}
	start, end := mem.PFN(0), cfg.MaxPFN
	if cfg.Split {
		if cfg.Start > cfg.End || cfg.End > cfg.MaxPFN {
			return nil, fmt.Errorf("kdump writer: split range [%#x, %#x) is not within [0, %#x)", uint64(cfg.Start), uint64(cfg.End), uint64(cfg.MaxPFN))
		}
		start, end = cfg.Start, cfg.End
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
	le.PutUint32(h[424:], uint32(cfg.Compression)|cfg.Status)
	le.PutUint32(h[428:], uint32(B))
	le.PutUint32(h[432:], uint32(subHdrBlocks))
	le.PutUint32(h[436:], uint32(bitmapBlocks))
	le.PutUint32(h[440:], uint32(min(uint64(cfg.MaxPFN), math.MaxUint32)))
	le.PutUint32(h[460:], uint32(cfg.NrCPUs))
	if _, err := w.WriteAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("kdump writer: header: %w", err)
	}

	var s [KdumpSubHeaderSize]byte
	le.PutUint64(s[0:], cfg.PhysBase)
	le.PutUint32(s[8:], uint32(cfg.DumpLevel))
	if cfg.Split {
		le.PutUint32(s[12:], 1)
		le.PutUint64(s[16:], min(uint64(start), math.MaxUint32))
		le.PutUint64(s[24:], min(uint64(end), math.MaxUint32))
		le.PutUint64(s[80:], uint64(start))
		le.PutUint64(s[88:], uint64(end))
	}
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
	// stays a hole (zero), as in makedumpfile's sparse output. They go
	// out through the data buffer, so a machine of many TiB costs no
	// more memory here than a small one.
	chunk := writeChunk
	if cfg.WriteBuffer > 0 {
		chunk = cfg.WriteBuffer
	}
	dataBuf := make([]byte, 0, chunk+int(B))
	if bitmapBytes > 0 {
		buf := dataBuf[:min(bitmapBytes, int64(cap(dataBuf)))]
		if err := writeBitmap(w, cfg.RAM, bitmapBytes, bitmapOff, buf); err != nil {
			return nil, fmt.Errorf("kdump writer: 1st bitmap: %w", err)
		}
		if cfg.Keep != nil {
			if err := writeBitmap(w, cfg.Keep, bitmapBytes, bitmapOff+bitmapHalf, buf); err != nil {
				return nil, fmt.Errorf("kdump writer: 2nd bitmap: %w", err)
			}
		}
	}
	wr := &Writer{w: w, cfg: cfg, start: start, end: end, chunk: chunk, dataBuf: dataBuf, pdBuf: make([]byte, 0, pdChunk),
		keepOff: bitmapOff + bitmapHalf, keepBytes: bitmapBytes}
	if cfg.Keep != nil {
		wr.total = cfg.Keep.Rank(cfg.MaxPFN)
		wr.want = cfg.Keep.Rank(end) - cfg.Keep.Rank(start)
	} else {
		wr.total, wr.want = cfg.Kept, cfg.Kept
		if cfg.Split {
			wr.want = cfg.KeptInRange
		}
	}
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

// writeBitmap writes the first n bytes of m's byte form at off, through
// buf.
func writeBitmap(w io.WriterAt, m *mem.Bitmap, n, off int64, buf []byte) error {
	for done := int64(0); done < n; {
		b := buf[:min(int64(len(buf)), n-done)]
		if k, err := m.ReadAt(b, done); k != len(b) {
			return fmt.Errorf("read bitmap byte %#x: %w", done+int64(k), err)
		}
		if _, err := w.WriteAt(b, off+done); err != nil {
			return fmt.Errorf("at %#x: %w", off+done, err)
		}
		done += int64(len(b))
	}
	return nil
}

// keepWriteChunk is WriteKeep's buffer: a window's bitmap goes out in
// writes of this size.
const keepWriteChunk = 32 << 10

// WriteKeep writes the 2nd bitmap's bits of the pfns [lo, lo+keep.Len())
// (keep's bit i is pfn lo+i) for a writer made without cfg.Keep. lo must
// be a multiple of 8 and the window must end on a multiple of 8 or at
// MaxPFN, so windows fill whole bytes. Every window must be written once:
// Close marks the file incomplete when fewer bytes of the 2nd bitmap than
// it has were written.
func (w *Writer) WriteKeep(lo mem.PFN, keep *mem.Bitmap) error {
	if w.cfg.Keep != nil {
		return errors.New("kdump writer: WriteKeep with a whole 2nd bitmap")
	}
	hi := lo + keep.Len()
	if lo%8 != 0 || hi > w.cfg.MaxPFN || hi%8 != 0 && hi != w.cfg.MaxPFN {
		return fmt.Errorf("kdump writer: 2nd bitmap window [%#x, %#x) does not fill whole bytes of [0, %#x)", uint64(lo), uint64(hi), uint64(w.cfg.MaxPFN))
	}
	if w.keepBuf == nil {
		w.keepBuf = make([]byte, keepWriteChunk)
	}
	n := keep.ByteLen()
	if err := writeBitmap(w.w, keep, n, w.keepOff+int64(lo/8), w.keepBuf[:min(n, keepWriteChunk)]); err != nil {
		return fmt.Errorf("kdump writer: 2nd bitmap of pfns [%#x, %#x): %w", uint64(lo), uint64(hi), err)
	}
	w.keepWritten += n
	return nil
}

// codecBits are the status bits that name a compression method.
const codecBits = StatusCompressedZlib | StatusCompressedLZO | StatusCompressedSnappy | StatusCompressedZstd

// Total is the number of pages the file will hold (for a split member,
// the pages of its range).
func (w *Writer) Total() uint64 { return w.want }

// Written is the number of pages whose descriptor and data reached the
// file so far (lost pages not counted).
func (w *Writer) Written() uint64 { return w.landed }

// Range is the pfn range the writer accepts pages from.
func (w *Writer) Range() mem.PFNRange { return mem.PFNRange{Start: w.start, End: w.end} }

func (w *Writer) next(pfn mem.PFN) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("kdump writer: write after Close")
	}
	if w.started && pfn <= w.last {
		return fmt.Errorf("kdump writer: pfn %#x after %#x: pages must come in ascending order", uint64(pfn), uint64(w.last))
	}
	if pfn < w.start || pfn >= w.end {
		return fmt.Errorf("kdump writer: pfn %#x is outside [%#x, %#x)", uint64(pfn), uint64(w.start), uint64(w.end))
	}
	if w.cfg.Keep != nil && !w.cfg.Keep.Test(pfn) {
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

// WriteLost records page pfn as lost: its descriptor stays zero and the
// file will be marked incomplete. It is for pages the source could not
// provide (a lost page of an incomplete input).
func (w *Writer) WriteLost(pfn mem.PFN) error {
	if err := w.next(pfn); err != nil {
		return err
	}
	w.lost++
	return w.putDesc(PageDesc{})
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
	if len(w.dataBuf) >= w.chunk || len(w.pdBuf) >= pdChunk {
		return w.flush()
	}
	return nil
}

// flush writes the buffered descriptors, then the data they describe.
// Descriptors go first so that their blocks are allocated while there is
// space; if the data then does not fully land, the descriptors of the
// pages it misses are overwritten with zeros (no new space needed).
func (w *Writer) flush() error {
	if w.err != nil {
		return w.err
	}
	npd := uint64(len(w.pdBuf) / PageDescSize)
	if n, err := w.w.WriteAt(w.pdBuf, w.pdBufOff); err != nil {
		// None of these pages' data was written: take back what
		// landed of their descriptors.
		w.zeroDescs(0, n)
		w.err = fmt.Errorf("kdump writer: page descriptors at %#x: %w (dump incomplete: %w)", w.pdBufOff, err, mem.ErrLost)
		return w.err
	}
	if n, err := w.w.WriteAt(w.dataBuf, w.dataBufOff); err != nil {
		end := w.dataBufOff + int64(max(n, 0))
		k := 0 // descriptors whose data lies below end
		for ; k+PageDescSize <= len(w.pdBuf); k += PageDescSize {
			off := int64(binary.LittleEndian.Uint64(w.pdBuf[k:]))
			size := int64(binary.LittleEndian.Uint32(w.pdBuf[k+8:]))
			if off != 0 && off+size > end {
				break
			}
			if off != 0 {
				w.landed++
			}
		}
		w.zeroDescs(k, len(w.pdBuf))
		w.err = fmt.Errorf("kdump writer: page data at %#x: %w (dump incomplete: %w)", w.dataBufOff, err, mem.ErrLost)
		return w.err
	}
	w.landed += npd - w.bufLost()
	w.pdBufOff += int64(len(w.pdBuf))
	w.dataBufOff += int64(len(w.dataBuf))
	w.pdBuf, w.dataBuf = w.pdBuf[:0], w.dataBuf[:0]
	return nil
}

// bufLost counts the zero (lost) descriptors in the buffer.
func (w *Writer) bufLost() uint64 {
	if w.lost == 0 {
		return 0
	}
	var k uint64
	for i := 0; i+PageDescSize <= len(w.pdBuf); i += PageDescSize {
		if binary.LittleEndian.Uint64(w.pdBuf[i:]) == 0 {
			k++
		}
	}
	return k
}

// zeroDescs overwrites the buffered descriptors' bytes [from, to) in the
// file with zeros, best effort: the dump is failing already.
func (w *Writer) zeroDescs(from, to int) {
	if to <= from {
		return
	}
	w.w.WriteAt(make([]byte, to-from), w.pdBufOff+int64(from))
}

// Close flushes what is buffered. If pages are missing (fewer written
// than the file should hold, or lost ones) or a write failed, the header
// is marked incomplete (status bit 0x8) and the unwritten descriptors
// stay zero, which readers take as lost pages; Close then returns an
// error wrapping mem.ErrLost (and the write error, if any).
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err == nil {
		w.flush()
	}
	if w.err == nil && w.cfg.Keep == nil && w.keepWritten < w.keepBytes {
		w.err = fmt.Errorf("kdump writer: %d of %d bytes of the 2nd bitmap written: %w", w.keepWritten, w.keepBytes, mem.ErrLost)
	}
	if w.err == nil && w.n == w.want && w.lost == 0 {
		return nil
	}
	status := uint32(w.cfg.Compression) | w.cfg.Status | StatusIncomplete
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], status)
	if _, err := w.w.WriteAt(b[:], 424); err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("kdump writer: %d of %d pages written: %w", w.landed, w.want, mem.ErrLost)
		}
		w.err = errors.Join(w.err, fmt.Errorf("kdump writer: mark the dump incomplete: %w", err))
		return w.err
	}
	if w.err == nil {
		w.err = fmt.Errorf("kdump writer: %d of %d pages written: %w", w.landed, w.want, mem.ErrLost)
	}
	return w.err
}

// ErrLimit is returned by a LimitWriterAt once a write would pass its
// limit.
var ErrLimit = errors.New("size limit reached")

// LimitWriterAt returns an io.WriterAt that stops at limit bytes: a write
// reaching past it writes what fits below the limit and fails with an
// error wrapping ErrLimit. This is makedumpfile -L: the file never grows
// beyond limit bytes, and a kdump Writer on top ends up with an
// incomplete dump.
func LimitWriterAt(w io.WriterAt, limit int64) io.WriterAt {
	return &limitWriterAt{w: w, limit: limit}
}

type limitWriterAt struct {
	w     io.WriterAt
	limit int64
}

func (l *limitWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("limit writer: negative offset")
	}
	if off <= l.limit && int64(len(p)) <= l.limit-off {
		return l.w.WriteAt(p, off)
	}
	n := 0
	if off < l.limit {
		var err error
		n, err = l.w.WriteAt(p[:l.limit-off], off)
		if err != nil {
			return n, err
		}
	}
	return n, fmt.Errorf("write of %d bytes at %#x: %w (%d bytes)", len(p), off, ErrLimit, l.limit)
}
