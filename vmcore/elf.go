package vmcore

import (
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
)

// defaultPageSize is used when the dump has no VMCOREINFO PAGESIZE; every
// x86_64 kernel uses 4 KiB pages.
const defaultPageSize = 4096

// maxPages caps the pfn range of an ELF dump before its two in-memory
// bitmaps are allocated (512 MiB each at the cap): 2^32 pages of 4 KiB is
// 16 TiB of physical address space. A corrupt p_paddr/p_memsz beyond it is
// refused rather than turned into a huge allocation; dumps of larger
// machines need bitmaps that do not live in memory, which we do not have.
const maxPages = 1 << 32

// elfDump is a Dump over an ELF core.
type elfDump struct {
	f        *elfcore.File
	format   Format
	pageSize int
	maxPFN   mem.PFN
	ram      *mem.Bitmap
	stored   *mem.Bitmap
	closer   io.Closer
}

func openELF(r io.ReaderAt, size int64, format Format, closer io.Closer) (*elfDump, error) {
	f, err := elfcore.Open(r, size)
	if err != nil {
		return nil, err
	}
	d := &elfDump{f: f, format: format, pageSize: defaultPageSize, closer: closer}
	if vi := elfcore.VMCOREINFO(f.Notes); vi != nil {
		if info, err := kernel.ParseVMCOREINFO(vi); err == nil {
			if ps, ok := info.PageSize(); ok {
				if ps < 512 || ps&(ps-1) != 0 {
					return nil, fmt.Errorf("vmcoreinfo PAGESIZE %d is not a power of two of at least 512", ps)
				}
				d.pageSize = ps
			}
		}
	}
	ps := uint64(d.pageSize)
	maxPFN := (f.MaxPAddr() + ps - 1) / ps
	if maxPFN > maxPages {
		return nil, fmt.Errorf("elf core: PT_LOADs reach physical address %#x, beyond the %d pages supported", f.MaxPAddr(), uint64(maxPages))
	}
	d.maxPFN = mem.PFN(maxPFN)
	d.ram = mem.NewBitmap(d.maxPFN)
	// The RAM bitmap follows makedumpfile: a segment covers the pfns from
	// its floored start to its floored end, so a partial last page does
	// not count as RAM.
	for _, p := range f.Loads {
		d.ram.SetRange(mem.PFN(p.PAddr/ps), mem.PFN((p.PAddr+p.MemSz)/ps))
	}
	d.stored = d.ram
	partial := false
	for _, p := range f.Loads {
		partial = partial || p.FileSz != p.MemSz
	}
	if !partial {
		// A /proc/vmcore holds all the RAM it describes: share the
		// bitmap (both are read-only once frozen) rather than spend
		// another bit per page of the machine.
		d.ram.Freeze()
		return d, nil
	}
	d.stored = d.ram.Clone(d.maxPFN)
	// Pages past p_filesz are not in the file (makedumpfile -E output of
	// excluded runs, or a truncated capture).
	for _, p := range f.Loads {
		if p.FileSz == p.MemSz {
			continue
		}
		start := (p.PAddr + p.FileSz + ps - 1) / ps
		end := (p.PAddr + p.MemSz + ps - 1) / ps
		d.stored.ClearRange(mem.PFN(start), mem.PFN(end))
	}
	d.ram.Freeze()
	d.stored.Freeze()
	return d, nil
}

func (d *elfDump) Format() Format        { return d.format }
func (d *elfDump) PageSize() int         { return d.pageSize }
func (d *elfDump) MaxPFN() mem.PFN       { return d.maxPFN }
func (d *elfDump) RAM() *mem.Bitmap      { return d.ram }
func (d *elfDump) Stored() *mem.Bitmap   { return d.stored }
func (d *elfDump) Notes() []elfcore.Note { return d.f.Notes }
func (d *elfDump) VMCOREINFO() []byte    { return elfcore.VMCOREINFO(d.f.Notes) }
func (d *elfDump) ELF() *elfcore.File    { return d.f }
func (d *elfDump) Incomplete() bool      { return d.f.Incomplete() }
func (d *elfDump) Close() error          { return closeIf(d.closer) }

// ReadPage reads a page the way makedumpfile's readpage_elf does: bytes a
// segment holds in the file are copied, bytes it covers only in memory (or
// gaps between segments inside the page) read as zero.
func (d *elfDump) ReadPage(pfn mem.PFN, dst []byte) error {
	if !d.ram.Test(pfn) {
		return fmt.Errorf("pfn %#x: %w", uint64(pfn), mem.ErrNotRAM)
	}
	if !d.stored.Test(pfn) {
		return fmt.Errorf("pfn %#x: %w", uint64(pfn), mem.ErrExcluded)
	}
	ps := uint64(d.pageSize)
	dst = dst[:ps]
	paddr := uint64(pfn) * ps
	// Fast path: one segment holds the whole page in the file.
	if p, _, ok := d.f.LoadAt(paddr); ok && paddr+ps <= p.PAddr+p.FileSz {
		off := p.Off + (paddr - p.PAddr)
		if _, err := d.f.ReadAt(dst, int64(off)); err != nil {
			return fmt.Errorf("pfn %#x: read file offset %#x: %w", uint64(pfn), off, err)
		}
		return nil
	}
	return d.readPageSlow(pfn, paddr, dst)
}

// ReadPages reads the len(dst)/PageSize pages from pfn on into dst,
// with one read when one segment holds them all in the file (the engine
// reads runs of kept pages this way: one system call instead of one per
// page). Otherwise, and for a partial last page, it reads page by page.
// Errors are ReadPage's; after an error dst is partly filled.
func (d *elfDump) ReadPages(pfn mem.PFN, dst []byte) error {
	ps := uint64(d.pageSize)
	n := uint64(len(dst)) / ps
	paddr := uint64(pfn) * ps
	if n > 1 {
		if p, _, ok := d.f.LoadAt(paddr); ok && paddr+n*ps <= p.PAddr+p.FileSz && d.allStored(pfn, n) {
			off := p.Off + (paddr - p.PAddr)
			if _, err := d.f.ReadAt(dst[:n*ps], int64(off)); err != nil {
				return fmt.Errorf("pfns %#x-%#x: read file offset %#x: %w", uint64(pfn), uint64(pfn)+n-1, off, err)
			}
			return nil
		}
	}
	for i := uint64(0); i < n; i++ {
		if err := d.ReadPage(pfn+mem.PFN(i), dst[i*ps:(i+1)*ps]); err != nil {
			return err
		}
	}
	return nil
}

// allStored reports whether the n pages from pfn are all RAM held in
// the file.
func (d *elfDump) allStored(pfn mem.PFN, n uint64) bool {
	for i := mem.PFN(0); i < mem.PFN(n); i++ {
		if !d.ram.Test(pfn+i) || !d.stored.Test(pfn+i) {
			return false
		}
	}
	return true
}

func (d *elfDump) readPageSlow(pfn mem.PFN, paddr uint64, dst []byte) error {
	end := paddr + uint64(len(dst))
	for a := paddr; a < end; {
		i := a - paddr
		p, pieceEnd, ok := d.f.LoadAt(a)
		if !ok {
			dst[i] = 0
			a++
			continue
		}
		stop := min(end, pieceEnd)
		if fileEnd := p.PAddr + p.FileSz; a < fileEnd {
			n := min(stop, fileEnd) - a
			off := p.Off + (a - p.PAddr)
			if _, err := d.f.ReadAt(dst[i:i+n], int64(off)); err != nil {
				return fmt.Errorf("pfn %#x: read file offset %#x: %w", uint64(pfn), off, err)
			}
			a += n
			continue
		}
		clear(dst[i : i+(stop-a)])
		a = stop
	}
	return nil
}

func closeIf(c io.Closer) error {
	if c == nil {
		return nil
	}
	return c.Close()
}

func (d *elfDump) NoteData() ([]byte, int64) { return d.f.NoteData, d.f.NoteOff }
