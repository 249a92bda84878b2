package dump

import (
	"context"
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
	// PlainAboveMaxPFN keeps pages at or above p.MaxPFN when the input
	// holds them and, with ExcludeZero, they are not zero: what
	// makedumpfile means to do, and does in its cyclic mode. Without
	// it, those pages are chosen as makedumpfile does when its bitmap
	// fits in memory (see ELFLayout).
	PlainAboveMaxPFN bool
}

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

// WriteELFWith is WriteELF with options.
func WriteELFWith(ctx context.Context, src vmcore.Dump, p *filter.Plan, out io.WriterAt, opt ELFOptions) error {
	l, err := ELFLayout(ctx, src, p, opt)
	if err != nil {
		return err
	}
	return l.WriteAt(ctx, out, src.(elfInput).ELF())
}
