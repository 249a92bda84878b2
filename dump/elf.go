package dump

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// ErrNeedELFInput is returned when ELF output (-E) is asked of a dump
// that is not an ELF core: makedumpfile copies the input's ELF header,
// PT_NOTE and PT_LOAD layout, so a kdump-compressed input has nothing to
// copy them from (makedumpfile refuses the same).
var ErrNeedELFInput = errors.New("ELF output needs an ELF core as input")

// elfInput is implemented by the ELF dumps package vmcore opens.
type elfInput interface{ ELF() *elfcore.File }

// ELFOptions tune ELF output.
type ELFOptions struct {
	// Options.ReadError is called once per run of unreadable pages;
	// the other engine options do not apply to ELF output, which is
	// a plain copy.
	Options

	// PlainAboveMaxPFN keeps pages at or above p.MaxPFN when the input
	// holds them and, with ExcludeZero, they are not zero: what
	// makedumpfile means to do, and does in its cyclic mode. Without
	// it, those pages are chosen as makedumpfile does when its bitmap
	// fits in memory (see ELFLayout).
	PlainAboveMaxPFN bool
}

// ErrCyclicELF is returned for ELF output of a cyclic plan: ELF output
// needs the whole keep map (plan it with filter.Options.Budget 0).
var ErrCyclicELF = errors.New("ELF output needs a one-pass plan, not a cyclic one")

// ELFLayout plans src filtered by p as makedumpfile -E lays it out.
//
// When p.Level has filter.ExcludeZero it first reads every kept page and
// drops the zero ones from p.Keep (filter.DropZeroPages, counted in
// p.Counts.Zero), as makedumpfile does for ELF output: the program
// headers depend on them, so they must be known before anything is
// written. Callers therefore pass a plan straight from filter.Exclude.
//
// Pages at or above p.MaxPFN exist when a PT_LOAD lies above the last
// memory section with a mem_map, as QEMU's BIOS ROM at 0xfffc0000 does
// (never in a /proc/vmcore, which only holds System RAM). makedumpfile
// 1.6.7 to 1.7.8, when its bitmaps fit in 4 MiB (machines up to 64 GiB),
// keeps the 2nd bitmap in a temporary file read in 4 KiB blocks and looks
// such pages up past the file's end: the read fails ("is_dumpable_file:
// Can't read the bitmap") and the bits of the block read last are used
// instead. ELFLayout does the same by default, so the output is the C
// tool's byte for byte; opt.PlainAboveMaxPFN picks the sane rule.
func ELFLayout(ctx context.Context, src vmcore.Dump, p *filter.Plan, opt ELFOptions) (*elfcore.Layout, error) {
	if p.Cyclic != nil {
		return nil, ErrCyclicELF
	}
	in, ok := src.(elfInput)
	if !ok {
		return nil, fmt.Errorf("%s input: %w", src.Format(), ErrNeedELFInput)
	}
	f := in.ELF()
	var ehdr [elfcore.EhdrSize]byte
	if _, err := f.ReadAt(ehdr[:], 0); err != nil {
		return nil, fmt.Errorf("read elf header: %w", err)
	}
	note, ok := firstNote(f)
	if !ok {
		return nil, fmt.Errorf("elf input has no PT_NOTE to copy")
	}
	noteData := make([]byte, note.FileSz)
	if _, err := f.ReadAt(noteData, int64(note.Off)); err != nil {
		return nil, fmt.Errorf("read PT_NOTE at %#x: %w", note.Off, err)
	}
	zero := p.Level&filter.ExcludeZero != 0
	if zero {
		if err := filter.DropZeroPages(ctx, src, p, 0); err != nil {
			return nil, err
		}
	}
	ps := uint64(src.PageSize())
	var keep func(mem.PFN) bool
	if bf := newBitmapFile(p.Keep, p.MaxPFN, ps); !opt.PlainAboveMaxPFN && bf != nil {
		if bf.reaches(f.Loads, ps) {
			// makedumpfile walks the pfns twice (get_loads_dumpfile_cyclic,
			// then write_elf_pages_cyclic); the stale block carries over.
			walkPFNs(f.Loads, ps, bf.test)
		}
		keep = bf.test
	} else {
		above, err := keptAbove(ctx, src, p.MaxPFN, zero)
		if err != nil {
			return nil, err
		}
		keep = func(pfn mem.PFN) bool {
			if pfn < p.MaxPFN {
				return p.Keep.Test(pfn)
			}
			return above != nil && above.Test(pfn)
		}
	}
	return elfcore.NewLayout(ehdr, note, noteData, f.Loads, ps, keep)
}

// makedumpfile's bitmap file geometry (BUFSIZE_BITMAP, PFN_BUFBITMAP) and
// the bitmap size up to which it runs in one cycle with file bitmaps.
const (
	bitmapBlock      = 4096
	pfnsPerBlock     = 8 * bitmapBlock
	maxOneCycleBytes = 4 << 20
)

// bitmapFile mimics makedumpfile's is_dumpable_file on the 2nd bitmap:
// one block is buffered; a block past the end of the file fails to read
// and leaves the previous block's bits in the buffer.
type bitmapFile struct {
	keep    *mem.Bitmap
	maxPFN  mem.PFN
	nblocks uint64
	noBlock uint64 // block the buffer is labelled with
	stale   uint64 // block whose bits the buffer holds
	filled  bool   // a block was read at all
}

// newBitmapFile returns nil when makedumpfile would run cyclic, with
// in-memory bitmaps rebuilt per cycle (bitmaps over 4 MiB).
func newBitmapFile(keep *mem.Bitmap, maxPFN mem.PFN, ps uint64) *bitmapFile {
	if uint64(maxPFN)*2/8 > maxOneCycleBytes {
		return nil
	}
	bytes := (uint64(maxPFN) + 7) / 8
	bytes = (bytes + ps - 1) / ps * ps
	return &bitmapFile{keep: keep, maxPFN: maxPFN, nblocks: bytes / bitmapBlock, noBlock: ^uint64(0)}
}

// reaches reports whether any load has pages past the bitmap file.
func (b *bitmapFile) reaches(loads []elfcore.Prog, ps uint64) bool {
	for _, p := range loads {
		if p.MemSz == 0 {
			continue
		}
		last := (p.PAddr + p.MemSz - 1) / ps
		if last/pfnsPerBlock >= b.nblocks {
			return true
		}
	}
	return false
}

func (b *bitmapFile) test(pfn mem.PFN) bool {
	blk := uint64(pfn) / pfnsPerBlock
	if pfn == 0 || blk != b.noBlock {
		if blk < b.nblocks {
			b.stale, b.filled = blk, true
		}
		b.noBlock = blk
	}
	if !b.filled {
		return false
	}
	q := mem.PFN(b.stale*pfnsPerBlock + uint64(pfn)%pfnsPerBlock)
	return q < b.maxPFN && b.keep.Test(q)
}

// walkPFNs calls test for each pfn write_elf_pages_cyclic looks at, in
// its order.
func walkPFNs(loads []elfcore.Prog, ps uint64, test func(mem.PFN) bool) {
	for _, p := range loads {
		end := p.PAddr + p.MemSz
		start, stop := p.PAddr/ps, end/ps
		if p.PAddr%ps != 0 {
			start++
		}
		if end%ps != 0 {
			stop++
		}
		for pfn := start; pfn < stop; pfn++ {
			test(mem.PFN(pfn))
		}
	}
}

// keptAbove returns the pages at or above maxPFN the ELF output keeps,
// or nil if there are none.
func keptAbove(ctx context.Context, src vmcore.Dump, maxPFN mem.PFN, zero bool) (*mem.Bitmap, error) {
	stored := src.Stored()
	if _, ok := stored.Next(maxPFN); !ok {
		return nil, nil
	}
	b := mem.NewBitmap(stored.Len())
	for pfn, ok := stored.Next(maxPFN); ok; pfn, ok = stored.Next(pfn + 1) {
		b.Set(pfn)
	}
	if !zero {
		return b, nil
	}
	tmp := &filter.Plan{MaxPFN: b.Len(), Keep: b}
	if err := filter.DropZeroPages(ctx, src, tmp, 0); err != nil {
		return nil, err
	}
	return tmp.Keep, nil
}

func firstNote(f *elfcore.File) (elfcore.Prog, bool) {
	for _, p := range f.Progs {
		if p.Type == elfcore.PTNote {
			return p, true
		}
	}
	return elfcore.Prog{}, false
}

// WriteELF writes src filtered by p to out as makedumpfile -E does (see
// ELFLayout, which it calls and which drops zero pages from p). A write
// that fails after the headers leaves a file marked incomplete and an
// error wrapping vmcore.ErrLost.
func WriteELF(ctx context.Context, src vmcore.Dump, p *filter.Plan, out io.WriterAt) error {
	return WriteELFWith(ctx, src, p, out, ELFOptions{})
}

// WriteELFWith is WriteELF with options. Pages of the input that cannot
// be read (EIO, a fault on a mapped page) are written as zeros and
// reported through opt.ReadError, the copy goes on, and the file is
// marked incomplete (e_flags FlagIncomplete, as makedumpfile marks an
// ELF dump it could not finish); the error then wraps ErrUnreadable and
// mem.ErrLost.
func WriteELFWith(ctx context.Context, src vmcore.Dump, p *filter.Plan, out io.WriterAt, opt ELFOptions) error {
	l, err := ELFLayout(ctx, src, p, opt)
	if err != nil {
		return err
	}
	f := src.(elfInput).ELF()
	tr := &tolerantReader{f: f, ps: int64(src.PageSize()), report: opt.ReadError}
	if err := l.WriteAt(ctx, out, tr); err != nil {
		return err
	}
	tr.flush()
	if tr.bad == 0 {
		return nil
	}
	var flags [4]byte
	binary.LittleEndian.PutUint32(flags[:], binary.LittleEndian.Uint32(l.Ehdr[elfFlagsOff:])|elfcore.FlagIncomplete)
	if _, err := out.WriteAt(flags[:], elfFlagsOff); err != nil {
		return fmt.Errorf("%d pages in %d regions: %w, written as zeros; marking the dump incomplete failed: %w (%w)", tr.bad, tr.regions, ErrUnreadable, err, mem.ErrLost)
	}
	return fmt.Errorf("%d pages in %d regions: %w; they are written as zeros and the dump is marked incomplete (%w)", tr.bad, tr.regions, ErrUnreadable, mem.ErrLost)
}

// elfFlagsOff is the offset of e_flags in an ELF64 header.
const elfFlagsOff = 48

// tolerantReader reads the input for the ELF copy. A read that fails is
// retried page by page; pages that still fail read as zeros and are
// reported in runs, so one bad page does not end the copy.
type tolerantReader struct {
	f      *elfcore.File
	ps     int64
	report func(mem.PFNRange, error)

	bad, regions   uint64
	runStart, next mem.PFN
	runErr         error
}

func (t *tolerantReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := t.f.ReadAt(b, off)
	if err == nil || n == len(b) {
		return n, nil
	}
	if errors.Is(err, io.EOF) {
		return n, err // the layout reads only what the file holds
	}
	for done := int64(0); done < int64(len(b)); {
		k, pfn, ok := t.pageAt(off+done, int64(len(b))-done)
		piece := b[done : done+k]
		if _, err := t.f.ReadAt(piece, off+done); err != nil && !errors.Is(err, io.EOF) {
			clear(piece)
			if ok {
				t.note(pfn, err)
			}
		}
		done += k
	}
	return len(b), nil
}

// pageAt returns how many of the rest bytes from file offset off lie in
// the same page of physical memory, and that page. Segments need not
// start page aligned in the file. Outside any segment it returns rest.
func (t *tolerantReader) pageAt(off, rest int64) (int64, mem.PFN, bool) {
	for _, l := range t.f.Loads {
		if uint64(off) < l.Off || uint64(off) >= l.Off+l.FileSz {
			continue
		}
		paddr := l.PAddr + uint64(off) - l.Off
		k := min(rest, t.ps-int64(paddr%uint64(t.ps)), int64(l.Off+l.FileSz)-off)
		return k, mem.PFN(paddr / uint64(t.ps)), true
	}
	return rest, 0, false
}

// note records an unreadable page.
func (t *tolerantReader) note(pfn mem.PFN, err error) {
	if t.runErr != nil && pfn+1 == t.next {
		return // another piece of the page just noted
	}
	t.bad++
	if t.runErr != nil && pfn == t.next {
		t.next = pfn + 1
		return
	}
	t.flush()
	t.regions++
	t.runStart, t.next, t.runErr = pfn, pfn+1, err
}

func (t *tolerantReader) flush() {
	if t.runErr == nil {
		return
	}
	if t.report != nil {
		t.report(mem.PFNRange{Start: t.runStart, End: t.next}, t.runErr)
	}
	t.runErr = nil
}
