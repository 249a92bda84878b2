package kdumpfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/mem"
)

// PageDesc is page_desc_t: where a page's data lives and how it is stored.
type PageDesc struct {
	Offset    int64  // file offset of the data; 0 = lost (incomplete dump)
	Size      uint32 // bytes stored
	Flags     uint32 // 0 = raw, else a codec.Method bit
	PageFlags uint64 // unused by makedumpfile (always 0)
}

func decodePageDesc(b []byte) PageDesc {
	return PageDesc{
		Offset:    int64(binary.LittleEndian.Uint64(b[0:])),
		Size:      binary.LittleEndian.Uint32(b[8:]),
		Flags:     binary.LittleEndian.Uint32(b[12:]),
		PageFlags: binary.LittleEndian.Uint64(b[16:]),
	}
}

// Limits on the raw byte regions handed out, far above anything real
// (VMCOREINFO is a few KiB, notes ~400 bytes per CPU) so that a hostile
// size cannot make us allocate much.
const (
	maxNoteBytes = 64 << 20
)

// File is an open kdump-compressed dump: one file, or a --split set
// combined by OpenSet. It is safe for concurrent use.
type File struct {
	hdr     DiskDumpHeader
	sub     KdumpSubHeader
	hasSub  bool
	r       io.ReaderAt // nil for a set
	size    int64
	block   int
	maxMap  mem.PFN
	ram     *mem.Bitmap
	stored  *mem.Bitmap
	parts   []*part // sorted by start; one for a single file
	members []*File // the files of a set; nil for a single file

	freeMu sync.Mutex
	free   []*scratch
}

// part is one file's share of the pages: its pfn range and descriptor
// table.
type part struct {
	r          io.ReaderAt
	size       int64
	start, end mem.PFN
	rankBase   uint64 // stored.Rank(start): descriptor index 0
	pdOff      int64  // first descriptor
	pdEnd      int64  // end of this part's descriptors (may be past size if incomplete)
	dataOff    int64  // no page data may lie before this
	block      int
	incomplete bool
	cache      pdCache
}

// pdsPerBlock descriptors are read and cached together; sequential page
// reads then cost one descriptor read per 256 pages.
const (
	pdsPerBlock  = 256
	pdBlockBytes = pdsPerBlock * PageDescSize
	pdCacheSlots = 8
)

type pdCache struct {
	mu    sync.Mutex
	slots [pdCacheSlots]pdSlot
}

type pdSlot struct {
	blk  int64 // descriptor block number + 1; 0 = empty
	n    int   // valid bytes in data
	data [pdBlockBytes]byte
}

// scratch is the per-read state: a buffer for stored page data, one for
// descriptor blocks, and a decoder. Reads take one from File.free so that
// concurrent readers do not share it and warm readers do not allocate.
type scratch struct {
	dec  codec.Decoder
	buf  []byte
	pdb  [pdBlockBytes]byte
	desc [PageDescSize]byte
}

// Open reads and checks the headers and bitmaps of the kdump-compressed
// file r of the given size. Page descriptors and page data are read
// lazily by ReadPage.
func Open(r io.ReaderAt, size int64) (*File, error) {
	if size < DiskDumpHeaderSize {
		return nil, &FormatError{Where: "kdump header", Off: 0, Msg: fmt.Sprintf("file of %d bytes is shorter than the %d-byte header", size, DiskDumpHeaderSize), Err: ErrNotKdump}
	}
	var raw [DiskDumpHeaderSize]byte
	if err := readFull(r, raw[:], 0); err != nil {
		return nil, fmt.Errorf("read kdump header: %w", err)
	}
	f := &File{r: r, size: size}
	f.hdr = decodeDiskDumpHeader(raw[:])
	if err := checkHeader(&f.hdr, raw[:]); err != nil {
		return nil, err
	}
	h := &f.hdr
	B := int64(h.BlockSize)
	f.block = int(B)

	// Regions, in 64-bit arithmetic: every factor is < 2^32 and B ≤ 2^18,
	// so nothing here overflows.
	bitmapOff := (1 + int64(h.SubHdrSize)) * B
	bitmapLen := int64(h.BitmapBlocks) * B
	if bitmapOff+bitmapLen > size {
		return nil, formatErr("kdump header", 436, "bitmaps [%#x, %#x) (sub_hdr_size %d, bitmap_blocks %d) end past the end of the %d-byte file",
			bitmapOff, bitmapOff+bitmapLen, h.SubHdrSize, h.BitmapBlocks, size)
	}

	if string(h.Signature[:]) == SignatureKdump && h.HeaderVersion >= 1 {
		if B+KdumpSubHeaderSize > size {
			return nil, formatErr("sub header", B, "file of %d bytes ends before the %d-byte sub header", size, KdumpSubHeaderSize)
		}
		var sb [KdumpSubHeaderSize]byte
		if err := readFull(r, sb[:], B); err != nil {
			return nil, fmt.Errorf("read sub header: %w", err)
		}
		f.sub = decodeKdumpSubHeader(sb[:], h.HeaderVersion)
		f.hasSub = true
		if err := f.checkSubHeader(B, bitmapOff); err != nil {
			return nil, err
		}
	}

	// max_mapnr: v6 moved it to the sub header; the header keeps it
	// clamped to 32 bits.
	maxMapnr := uint64(h.MaxMapnr)
	if f.hasSub && h.HeaderVersion >= 6 {
		maxMapnr = f.sub.MaxMapnr64
		if want := min(maxMapnr, math.MaxUint32); uint64(h.MaxMapnr) != want {
			return nil, formatErr("kdump header", 440, "max_mapnr %#x disagrees with the sub header's max_mapnr_64 %#x", h.MaxMapnr, maxMapnr)
		}
	}
	if maxMapnr > maxMapnrLimit {
		return nil, formatErr("kdump header", 440, "max_mapnr %#x is beyond any possible pfn", maxMapnr)
	}
	f.maxMap = mem.PFN(maxMapnr)

	// Bitmaps. Like crash's dump_is_partial: if the bitmap area can hold
	// two bitmaps of max_mapnr bits (each block aligned), the second half
	// is the dumped-pages bitmap; otherwise it is a legacy single-bitmap
	// diskdump whose one bitmap serves as both.
	need := int64((maxMapnr + 7) / 8)
	aligned := (need + B - 1) / B * B
	var ramOff, storedOff int64
	switch {
	case bitmapLen >= 2*aligned:
		ramOff, storedOff = bitmapOff, bitmapOff+bitmapLen/2
	case bitmapLen >= need:
		ramOff, storedOff = bitmapOff, bitmapOff
	default:
		return nil, formatErr("kdump header", 436, "bitmap_blocks %d (%d bytes) cannot cover max_mapnr %#x (%d bytes per bitmap)", h.BitmapBlocks, bitmapLen, maxMapnr, need)
	}
	var err error
	if f.ram, err = loadBitmap(r, ramOff, need, f.maxMap); err != nil {
		return nil, err
	}
	if storedOff == ramOff {
		f.stored = f.ram
	} else if f.stored, err = loadBitmap(r, storedOff, need, f.maxMap); err != nil {
		return nil, err
	}

	// This file's pfn range: all of it, or its share of a --split set.
	start, end := mem.PFN(0), f.maxMap
	if f.hasSub && f.sub.Split != 0 {
		s, e := f.sub.StartPFN, f.sub.EndPFN
		off := int64(16)
		if h.HeaderVersion >= 6 {
			s, e = f.sub.StartPFN64, f.sub.EndPFN64
			off = 80
		}
		// An empty range is valid: makedumpfile --split gives the last
		// members none when the pages run out before them.
		if s > e || e > maxMapnr {
			return nil, formatErr("sub header", B+off, "split range [%#x, %#x) is reversed or exceeds max_mapnr %#x", s, e, maxMapnr)
		}
		start, end = mem.PFN(s), mem.PFN(e)
	}
	p := &part{r: r, size: size, start: start, end: end, block: f.block,
		incomplete: h.Status&StatusIncomplete != 0}
	p.rankBase = f.stored.Rank(start)
	n := f.stored.Rank(end) - p.rankBase
	p.pdOff = bitmapOff + bitmapLen
	// n < 2^52, so 24·n < 2^57 and the sum stays below 2^63.
	p.pdEnd = p.pdOff + int64(n)*PageDescSize
	p.dataOff = p.pdEnd
	if f.hasSub && f.sub.Split != 0 {
		// Every member of a --split set sizes its descriptor area for
		// the whole set's pages (the tail is a hole), so its page data
		// starts after that.
		p.dataOff = p.pdOff + int64(f.stored.Count())*PageDescSize
	}
	if p.pdEnd > size && !p.incomplete {
		return nil, formatErr("page descriptors", p.pdOff, "%d descriptors end at %#x, past the end of the %d-byte file", n, p.pdEnd, size)
	}
	f.parts = []*part{p}
	return f, nil
}

// checkSubHeader validates the sub header's regions against the file.
func (f *File) checkSubHeader(subOff, bitmapOff int64) error {
	s := &f.sub
	if s.DumpLevel < 0 || s.DumpLevel > 31 {
		return formatErr("sub header", subOff+8, "dump_level %d is not in 0..31", s.DumpLevel)
	}
	check := func(name string, fieldOff, off int64, n uint64) error {
		if off == 0 && n == 0 {
			return nil
		}
		if off < 0 || n > maxNoteBytes || uint64(off) > uint64(f.size) || n > uint64(f.size-off) {
			return formatErr("sub header", subOff+fieldOff, "%s [offset %#x, size %#x] does not lie within the %d-byte file", name, off, n, f.size)
		}
		return nil
	}
	if err := check("vmcoreinfo", 32, s.OffsetVmcoreinfo, s.SizeVmcoreinfo); err != nil {
		return err
	}
	if err := check("notes", 48, s.OffsetNote, s.SizeNote); err != nil {
		return err
	}
	return check("eraseinfo", 64, s.OffsetEraseinfo, s.SizeEraseinfo)
}

// loadBitmap reads n bytes of bitmap at off (already checked to lie in
// the file) for pfns [0, pfns).
func loadBitmap(r io.ReaderAt, off, n int64, pfns mem.PFN) (*mem.Bitmap, error) {
	if need := (int64(pfns) + 7) / 8; n < need {
		return nil, fmt.Errorf("bitmap of %d bytes is too short for %d pages", n, uint64(pfns))
	}
	// Read a chunk at a time: only the mixed chunks are kept.
	m, err := mem.ReadBitmap(r, off, pfns)
	if err != nil {
		return nil, fmt.Errorf("read bitmap at %#x: %w", off, err)
	}
	m.Freeze()
	return m, nil
}

// readFull reads len(b) bytes at off; a short read is an error even if
// the reader reports io.EOF with it.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Header returns the disk_dump_header (of the first member for a set).
func (f *File) Header() DiskDumpHeader { return f.hdr }

// SubHeader returns the kdump_sub_header and whether the file has one
// (KDUMP signature with header_version ≥ 1).
func (f *File) SubHeader() (KdumpSubHeader, bool) { return f.sub, f.hasSub }

// Members returns the files of a set made by OpenSet, in pfn order, or
// nil for a single file.
func (f *File) Members() []*File { return f.members }

// PageSize returns block_size, the page size of the dumped machine.
func (f *File) PageSize() int { return f.block }

// MaxPFN returns max_mapnr: one past the highest pfn the dump describes.
func (f *File) MaxPFN() mem.PFN { return f.maxMap }

// RAM returns the 1st bitmap: pages that exist.
func (f *File) RAM() *mem.Bitmap { return f.ram }

// Stored returns the 2nd bitmap: pages the file holds.
func (f *File) Stored() *mem.Bitmap { return f.stored }

// Incomplete reports whether the writer marked the dump incomplete
// (status bit 0x8: it ran out of space or hit -L). Pages it did not write
// read as mem.ErrLost. For a set, any incomplete member counts.
func (f *File) Incomplete() bool {
	for _, p := range f.parts {
		if p.incomplete {
			return true
		}
	}
	return false
}

// Compression returns the methods the header status says the writer
// used (normally one; none for an uncompressed dump). Each page's
// descriptor records its own method, and pages that did not shrink are
// stored raw; see DescStats for what the file really contains.
func (f *File) Compression() []codec.Method {
	var ms []codec.Method
	for _, m := range []codec.Method{codec.Zlib, codec.LZO, codec.Snappy, codec.Zstd} {
		if f.hdr.Status&uint32(m) != 0 {
			ms = append(ms, m)
		}
	}
	return ms
}

// DumpLevel returns the sub header's dump_level (0 without a sub header).
func (f *File) DumpLevel() int { return int(f.sub.DumpLevel) }

// PhysBase returns the sub header's phys_base.
func (f *File) PhysBase() uint64 { return f.sub.PhysBase }

// NrCPUs returns the header's nr_cpus.
func (f *File) NrCPUs() int { return int(f.hdr.NrCPUs) }

// VMCOREINFO returns the raw VMCOREINFO text (header_version ≥ 3), or nil
// if the file has none.
func (f *File) VMCOREINFO() ([]byte, error) {
	if f.hdr.HeaderVersion < 3 {
		return nil, nil
	}
	return f.region("vmcoreinfo", f.sub.OffsetVmcoreinfo, f.sub.SizeVmcoreinfo)
}

// Notes returns the raw ELF note segment copied from /proc/vmcore's
// PT_NOTE (header_version ≥ 4), or nil.
func (f *File) Notes() ([]byte, error) {
	if f.hdr.HeaderVersion < 4 {
		return nil, nil
	}
	return f.region("notes", f.sub.OffsetNote, f.sub.SizeNote)
}

// Eraseinfo returns the raw eraseinfo text (header_version ≥ 5), or nil.
func (f *File) Eraseinfo() ([]byte, error) {
	if f.hdr.HeaderVersion < 5 {
		return nil, nil
	}
	return f.region("eraseinfo", f.sub.OffsetEraseinfo, f.sub.SizeEraseinfo)
}

// region reads a range checkSubHeader already validated.
func (f *File) region(name string, off int64, n uint64) ([]byte, error) {
	if n == 0 || off == 0 {
		return nil, nil
	}
	r := f.r
	if r == nil { // a set: the first member has the notes
		r = f.members[0].r
	}
	b := make([]byte, n)
	if err := readFull(r, b, off); err != nil {
		return nil, fmt.Errorf("read %s at %#x: %w", name, off, err)
	}
	return b, nil
}

func (f *File) getScratch() *scratch {
	f.freeMu.Lock()
	if n := len(f.free); n > 0 {
		s := f.free[n-1]
		f.free = f.free[:n-1]
		f.freeMu.Unlock()
		return s
	}
	f.freeMu.Unlock()
	return &scratch{buf: make([]byte, f.block)}
}

func (f *File) putScratch(s *scratch) {
	f.freeMu.Lock()
	f.free = append(f.free, s)
	f.freeMu.Unlock()
}

// partFor returns the part holding pfn, which the caller has checked is
// below MaxPFN.
func (f *File) partFor(pfn mem.PFN) *part {
	if len(f.parts) == 1 {
		// A lone --split member covers only its own range: its stored
		// bitmap has the other members' pages too, without descriptors.
		if p := f.parts[0]; pfn >= p.start && pfn < p.end {
			return p
		}
		return nil
	}
	lo, hi := 0, len(f.parts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if f.parts[m].end <= pfn {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(f.parts) && f.parts[lo].start <= pfn {
		return f.parts[lo]
	}
	return nil
}

// errNoDesc is returned by part.desc for a descriptor past the end of an
// incomplete file.
var errNoDesc = errors.New("descriptor was never written")

// PageDesc returns the descriptor of a stored page. Errors wrap
// mem.ErrNotRAM or mem.ErrExcluded for pages without one.
func (f *File) PageDesc(pfn mem.PFN) (PageDesc, error) {
	s := f.getScratch()
	defer f.putScratch(s)
	_, pd, _, err := f.lookup(pfn, s)
	return pd, err
}

// lookup finds the part holding pfn and its descriptor, and returns the
// descriptor's file offset for error messages.
func (f *File) lookup(pfn mem.PFN, s *scratch) (p *part, pd PageDesc, descOff int64, err error) {
	if pfn >= f.maxMap || !f.ram.Test(pfn) {
		return nil, PageDesc{}, 0, fmt.Errorf("pfn %#x: %w", uint64(pfn), mem.ErrNotRAM)
	}
	if !f.stored.Test(pfn) {
		return nil, PageDesc{}, 0, fmt.Errorf("pfn %#x: %w", uint64(pfn), mem.ErrExcluded)
	}
	p = f.partFor(pfn)
	if p == nil {
		return nil, PageDesc{}, 0, fmt.Errorf("pfn %#x: no file of the set covers it", uint64(pfn))
	}
	idx := f.stored.Rank(pfn) - p.rankBase
	descOff = p.pdOff + int64(idx)*PageDescSize
	pd, err = p.desc(idx, s)
	if err == errNoDesc {
		return p, pd, descOff, fmt.Errorf("pfn %#x: descriptor %d at %#x lies past the end of the incomplete file: %w", uint64(pfn), idx, descOff, mem.ErrLost)
	}
	if err != nil {
		return p, pd, descOff, fmt.Errorf("pfn %#x: read descriptor %d at %#x: %w", uint64(pfn), idx, descOff, err)
	}
	return p, pd, descOff, nil
}

// desc returns descriptor idx of the part, through the block cache.
func (p *part) desc(idx uint64, s *scratch) (PageDesc, error) {
	blk := int64(idx / pdsPerBlock)
	within := int(idx%pdsPerBlock) * PageDescSize
	slot := &p.cache.slots[blk%pdCacheSlots]
	p.cache.mu.Lock()
	if slot.blk == blk+1 && within+PageDescSize <= slot.n {
		copy(s.desc[:], slot.data[within:])
		p.cache.mu.Unlock()
		return decodePageDesc(s.desc[:]), nil
	}
	p.cache.mu.Unlock()

	// Miss: read the block without holding the lock, then install it.
	off := p.pdOff + blk*pdBlockBytes
	n := int64(pdBlockBytes)
	n = min(n, p.pdEnd-off)
	if off >= p.size {
		n = 0
	} else {
		n = min(n, p.size-off)
	}
	if int64(within+PageDescSize) > n {
		return PageDesc{}, errNoDesc
	}
	if err := readFull(p.r, s.pdb[:n], off); err != nil {
		return PageDesc{}, err
	}
	p.cache.mu.Lock()
	copy(slot.data[:], s.pdb[:n])
	slot.blk, slot.n = blk+1, int(n)
	p.cache.mu.Unlock()
	return decodePageDesc(s.pdb[within:]), nil
}

// ReadPage decodes page pfn into dst[:PageSize()]. Errors wrap
// mem.ErrNotRAM (not in the RAM bitmap or beyond MaxPFN), mem.ErrExcluded
// (left out of the dump), mem.ErrLost (incomplete dump: descriptor offset
// 0) or codec.ErrCorrupt, and start with the pfn. Unlike crash, a
// descriptor whose flags name no known method is an error, not a raw page.
func (f *File) ReadPage(pfn mem.PFN, dst []byte) error {
	if len(dst) < f.block {
		return fmt.Errorf("pfn %#x: buffer of %d bytes is smaller than the %d-byte page", uint64(pfn), len(dst), f.block)
	}
	s := f.getScratch()
	defer f.putScratch(s)
	p, pd, descOff, err := f.lookup(pfn, s)
	if err != nil {
		return err
	}
	if pd.Offset == 0 {
		return fmt.Errorf("pfn %#x: descriptor at %#x has offset 0: %w", uint64(pfn), descOff, mem.ErrLost)
	}
	if pd.Size == 0 && p.incomplete {
		// A full disk can cut a descriptor write at a block boundary
		// inside the 24-byte descriptor: its offset landed, its size did
		// not.
		return fmt.Errorf("pfn %#x: descriptor at %#x has size 0 (cut off): %w", uint64(pfn), descOff, mem.ErrLost)
	}
	if pd.Offset < p.dataOff {
		return fmt.Errorf("pfn %#x: descriptor at %#x: offset %#x points before the page data area at %#x", uint64(pfn), descOff, pd.Offset, p.dataOff)
	}
	if pd.Size == 0 || pd.Size > uint32(f.block) {
		return fmt.Errorf("pfn %#x: descriptor at %#x: size %d is not in 1..%d", uint64(pfn), descOff, pd.Size, f.block)
	}
	if pd.Offset > p.size-int64(pd.Size) {
		if p.incomplete {
			return fmt.Errorf("pfn %#x: data [%#x, +%d) lies past the end of the incomplete file: %w", uint64(pfn), pd.Offset, pd.Size, mem.ErrLost)
		}
		return fmt.Errorf("pfn %#x: data [%#x, +%d) lies past the end of the %d-byte file", uint64(pfn), pd.Offset, pd.Size, p.size)
	}
	m, ok := codec.MethodForFlags(pd.Flags)
	if !ok {
		return fmt.Errorf("pfn %#x: descriptor at %#x: flags %#x name no known compression", uint64(pfn), descOff, pd.Flags)
	}
	src := s.buf[:pd.Size]
	if err := readFull(p.r, src, pd.Offset); err != nil {
		return fmt.Errorf("pfn %#x: read %d bytes at %#x: %w", uint64(pfn), pd.Size, pd.Offset, err)
	}
	if err := s.dec.Decode(m, dst[:f.block], src); err != nil {
		return fmt.Errorf("pfn %#x: %s data at %#x (%d bytes): %w", uint64(pfn), m, pd.Offset, pd.Size, err)
	}
	return nil
}

// DescStats counts what the descriptors of a dump say.
type DescStats struct {
	Pages    uint64                  // stored pages (set bits of the 2nd bitmap)
	Lost     uint64                  // descriptor offset 0, never written, or cut off (size 0) in an incomplete dump
	ByMethod map[codec.Method]uint64 // pages per method, Raw included
	Unknown  uint64                  // flags naming no known method
	// Shared counts pages whose descriptors point at the start of the
	// page data area when several do: makedumpfile -d 1 writes one zero
	// page there and points every zero page at it.
	Shared uint64
}

// DescStats reads every descriptor. It is O(stored pages) and meant for
// inspection tools, not for reading pages.
func (f *File) DescStats() (DescStats, error) {
	st := DescStats{ByMethod: map[codec.Method]uint64{}}
	s := f.getScratch()
	defer f.putScratch(s)
	for _, p := range f.parts {
		var idx uint64
		// makedumpfile -d 1 writes the shared zero page first, at the
		// start of the page data area; zero pages point there.
		var zeroUses uint64
		for pfn, ok := f.stored.Next(p.start); ok && pfn < p.end; pfn, ok = f.stored.Next(pfn + 1) {
			st.Pages++
			pd, err := p.desc(idx, s)
			idx++
			if err == errNoDesc {
				st.Lost++
				continue
			}
			if err != nil {
				return st, fmt.Errorf("pfn %#x: read descriptor: %w", uint64(pfn), err)
			}
			if pd.Offset == 0 || (pd.Size == 0 && p.incomplete) {
				st.Lost++
				continue
			}
			if pd.Offset == p.dataOff {
				zeroUses++
			}
			m, ok := codec.MethodForFlags(pd.Flags)
			if !ok {
				st.Unknown++
				continue
			}
			st.ByMethod[m]++
		}
		if zeroUses > 1 {
			st.Shared += zeroUses
		}
	}
	return st, nil
}
