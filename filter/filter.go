package filter

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// Plan is the outcome of filtering: which pages to write.
type Plan struct {
	Level Level
	// MaxPFN is one past the last pfn the output describes: the dump's,
	// clamped like makedumpfile's max_mapnr to the last memory section
	// that has a mem_map.
	MaxPFN mem.PFN
	// Keep has a bit for every page to write (the kdump "2nd bitmap"),
	// before zero pages are dropped.
	Keep   *mem.Bitmap
	Counts Counts
	// Original is the number of RAM pages below MaxPFN (makedumpfile's
	// "Original pages"; the rest of [0, MaxPFN) is memory hole).
	Original uint64
	// Scanned says whether mem_map was walked (it is for levels with
	// bit 2, 4, 8 or 16, or when the kernel can mark pages hwpoisoned).
	Scanned bool
	// Layout is the struct page layout used, nil when not scanned.
	Layout *kernel.PageLayout
}

// Options tune Exclude.
type Options struct {
	// Workers is how many sections are classified at once; 0 means
	// GOMAXPROCS.
	Workers int
}

// ErrNeedVMCOREINFO is wrapped when a level above 1 is asked of a dump
// that cannot say how its kernel lays out memory.
var ErrNeedVMCOREINFO = errors.New("dump levels above 1 need the kernel's VMCOREINFO")

// pgmmCached is how many struct pages makedumpfile reads at a time; it
// does not look for a compound order on the last page of each such
// window, and we follow it so our page sets equal its.
const pgmmCached = 512

// Exclude plans a dump of d at level.
func Exclude(ctx context.Context, d vmcore.Dump, level Level, opt Options) (*Plan, error) {
	if level > MaxLevel {
		return nil, fmt.Errorf("dump level %d: want 0 to 31", level)
	}
	p := &Plan{Level: level, MaxPFN: d.MaxPFN()}
	k, kerr := newKernelView(d)
	if kerr != nil && level > ExcludeZero {
		return nil, fmt.Errorf("dump level %d: %w", level, kerr)
	}
	if k != nil {
		p.MaxPFN = min(p.MaxPFN, mem.PFN(k.memmap.MaxPFN()))
	}
	p.Original = d.RAM().Rank(p.MaxPFN)
	p.Keep = d.Stored().Clone(p.MaxPFN)
	if k == nil {
		p.Keep.Freeze()
		return p, nil
	}
	buddy := level&ExcludeFree != 0 && k.layout.CanFindBuddy()
	if level&ExcludeFree != 0 && !buddy {
		return nil, fmt.Errorf("dump level %d: %w", level, &kernel.MissingError{
			What: "free pages (bit 16) from mem_map",
			Keys: k.vi.Missing("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", "OFFSET(page._mapcount)", "OFFSET(page.private)")})
	}
	if level&(ExcludeCache|ExcludeCachePrivate|ExcludeUser) == 0 && !k.layout.PGHwpoison.OK && !buddy {
		p.Keep.Freeze()
		return p, nil
	}
	p.Scanned, p.Layout = true, k.layout
	if err := scanAll(ctx, k, d.RAM(), level, p, opt.Workers); err != nil {
		return nil, err
	}
	p.Keep.Freeze()
	return p, nil
}

// kernelView is what classification needs to know about the kernel.
type kernelView struct {
	vi     *kernel.VMCOREINFO
	x      *kernel.X86_64
	memmap *kernel.MemMap
	layout *kernel.PageLayout
	// pages reads runs of physical pages with one read, when the dump
	// can (nil otherwise); ps is the page size.
	pages pagesReader
	ps    uint64
}

// pagesReader is the optional vmcore.Dump method that reads a run of
// pages at once.
type pagesReader interface {
	ReadPages(pfn mem.PFN, dst []byte) error
}

func newKernelView(d vmcore.Dump) (*kernelView, error) {
	raw := d.VMCOREINFO()
	if raw == nil {
		return nil, ErrNeedVMCOREINFO
	}
	vi, err := kernel.ParseVMCOREINFO(raw)
	if err != nil {
		return nil, err
	}
	x, err := kernel.NewX86_64(vi, d)
	if err != nil {
		return nil, err
	}
	layout, err := kernel.NewPageLayout(vi)
	if err != nil {
		return nil, err
	}
	mm, err := kernel.LocateMemMap(vi, x, uint64(d.MaxPFN()))
	if err != nil {
		return nil, err
	}
	k := &kernelView{vi: vi, x: x, memmap: mm, layout: layout, ps: uint64(d.PageSize())}
	k.pages, _ = d.(pagesReader)
	return k, nil
}

// excl is a run of pages excluded as one class.
type excl struct {
	start, end mem.PFN
	class      Class
}

// scanAll classifies every section in parallel and clears the excluded
// pages from p.Keep as it goes, counting them in p.Counts. Work goes out
// in units of whole bitmap chunks (one section, or the sections of one
// chunk when sections are smaller), so each worker changes chunks no
// other worker touches, and it compacts them when its unit is done: a
// chunk whose pages were all excluded (free memory, mostly) holds no
// memory afterwards. The rare run that reaches past its unit (a corrupt
// free-page order) is kept aside and cleared at the end. Nothing
// proportional to the number of excluded runs is held.
func scanAll(ctx context.Context, k *kernelView, ram *mem.Bitmap, level Level, p *Plan, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	pps := k.memmap.PagesPerSection
	nsec := (uint64(p.MaxPFN) + pps - 1) / pps
	perUnit := uint64(1) // sections per unit of work
	switch {
	case pps%mem.ChunkPFNs == 0:
	case mem.ChunkPFNs%pps == 0:
		perUnit = mem.ChunkPFNs / pps
	default:
		// Sections would share chunks; classify one at a time.
		workers = 1
	}
	nunit := (nsec + perUnit - 1) / perUnit
	errs := make([]error, nunit)
	var (
		mu       sync.Mutex
		overflow []excl
		counts   Counts
	)
	keep := p.Keep
	next := make(chan uint64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := k.x
			if workers > 1 {
				x = x.Clone() // its caches are not safe for concurrent use
			}
			s := &scanner{k: k, x: x, ram: ram, level: level}
			var hi mem.PFN
			s.emit = func(e excl) {
				end := min(e.end, p.MaxPFN)
				if e.start >= end {
					return
				}
				s.counts.add(e.class, uint64(end-e.start))
				keep.ClearRange(e.start, min(end, hi))
				if end > hi {
					mu.Lock()
					overflow = append(overflow, excl{hi, end, e.class})
					mu.Unlock()
				}
			}
			for u := range next {
				first := u * perUnit
				last := min(first+perUnit, nsec)
				lo := mem.PFN(first * pps)
				hi = min(mem.PFN(last*pps), p.MaxPFN)
				for sec := first; sec < last && errs[u] == nil; sec++ {
					if k.memmap.Sections[sec] != 0 {
						errs[u] = s.section(sec, p.MaxPFN)
					}
				}
				keep.Compact(lo, hi)
			}
			mu.Lock()
			counts.merge(&s.counts)
			mu.Unlock()
		}()
	}
	for u := uint64(0); u < nunit; u++ {
		if ctx.Err() != nil {
			break
		}
		if hasSection(k.memmap.Sections[u*perUnit : min((u+1)*perUnit, nsec)]) {
			next <- u
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, e := range overflow {
		keep.ClearRange(e.start, e.end)
	}
	p.Counts.merge(&counts)
	return nil
}

// hasSection reports whether any of the sections has a mem_map.
func hasSection(secs []uint64) bool {
	for _, s := range secs {
		if s != 0 {
			return true
		}
	}
	return false
}

// merge adds o's counts to c.
func (c *Counts) merge(o *Counts) {
	c.Zero += o.Zero
	c.Cache += o.Cache
	c.CachePrivate += o.CachePrivate
	c.User += o.User
	c.Free += o.Free
	c.Hwpoison += o.Hwpoison
	c.Offline += o.Offline
}

// scanner classifies pages; one per goroutine.
type scanner struct {
	k      *kernelView
	x      *kernel.X86_64
	ram    *mem.Bitmap
	level  Level
	buf    []byte
	emit   func(excl) // takes each excluded run, in pfn order
	counts Counts
}

// readVirt reads len(b) bytes of kernel memory at va. A page-aligned
// window whose pages are contiguous in physical memory (vmemmap is mapped
// with 2 MiB pages) is read with one ReadPages, rather than a page at a
// time through the translator's cache: a 4 GiB machine has 64 MiB of
// struct pages. Anything else, and any error, goes the general way, which
// also words the error.
func (s *scanner) readVirt(b []byte, va uint64) error {
	ps := s.k.ps
	if s.k.pages == nil || ps == 0 || va%ps != 0 || uint64(len(b))%ps != 0 || len(b) == 0 {
		return s.x.ReadVirt(b, va)
	}
	pa, err := s.x.VtoP(va)
	if err != nil || pa%ps != 0 {
		return s.x.ReadVirt(b, va)
	}
	for off := ps; off < uint64(len(b)); off += ps {
		if q, err := s.x.VtoP(va + off); err != nil || q != pa+off {
			return s.x.ReadVirt(b, va)
		}
	}
	if s.k.pages.ReadPages(mem.PFN(pa/ps), b) != nil {
		return s.x.ReadVirt(b, va)
	}
	return nil
}

// section classifies the pages of one memory section and hands the
// excluded runs to s.emit.
func (s *scanner) section(sec uint64, maxPFN mem.PFN) error {
	l := s.k.layout
	sz := l.Size
	pps := s.k.memmap.PagesPerSection
	start := sec * pps
	end := min(start+pps, uint64(maxPFN))
	base := s.k.memmap.Sections[sec]
	if need := int(sz * pgmmCached); len(s.buf) < need {
		s.buf = make([]byte, need)
	}
	winStart, winEnd := ^uint64(0), uint64(0) // pfns cached in buf: [winStart, winEnd)
	for pfn := start; pfn < end; pfn++ {
		if !s.ram.Test(mem.PFN(pfn)) {
			continue
		}
		idx := pfn % pgmmCached
		if pfn < winStart || pfn >= winEnd {
			// Read from pfn to the end of its 512-page window.
			n := min(pgmmCached-idx, end-pfn)
			b := s.buf[idx*sz : (idx+n)*sz]
			if err := s.readVirt(b, base+(pfn-start)*sz); err != nil {
				return fmt.Errorf("filter: read struct pages of pfn %#x..%#x at %#x: %w", pfn, pfn+n, base+(pfn-start)*sz, err)
			}
			winStart, winEnd = pfn, pfn+n
		}
		page := s.buf[idx*sz : (idx+1)*sz]
		flags := le64(page[l.Flags:])
		mapping := le64(page[l.Mapping:])
		var mapcount uint32
		if l.Mapcount.OK {
			mapcount = le32(page[l.Mapcount.V:])
		}
		var order uint
		var dtor uint64
		if idx < pgmmCached-1 && l.IsHead(flags) && pfn+1 < winEnd {
			order, dtor = l.CompoundInfo(pfn, page, s.buf[(idx+1)*sz:(idx+2)*sz])
		}
		if l.CompoundHead.OK && le64(page[l.CompoundHead.V:])&1 != 0 {
			continue // a tail page goes with its head
		}
		var private uint64
		if l.Private.OK {
			private = le64(page[l.Private.V:])
		}
		n := uint64(1) << order
		var class Class
		switch {
		case s.level&ExcludeFree != 0 && l.IsBuddy(flags, mapcount):
			// An order of 64 or more would make n zero and the scan
			// loop forever, whatever LENGTH(zone.free_area) says.
			if private >= 64 || l.FreeAreaLen.OK && private >= uint64(l.FreeAreaLen.V) {
				continue // makedumpfile warns "Invalid free page order" and keeps it
			}
			n, class = 1<<private, Free
		case s.level&ExcludeFree != 0 && l.IsUnaccepted(mapcount) && l.FreeAreaLen.OK && l.FreeAreaLen.V >= 1 && l.FreeAreaLen.V <= 64:
			// The block is NR_PAGE_ORDERS-1; without a usable
			// LENGTH(zone.free_area) the page is kept.
			n, class = 1<<(l.FreeAreaLen.V-1), Free
		case s.level&ExcludeCache != 0 && l.IsCache(flags) && !l.IsPrivate(flags) && !l.IsAnon(mapping, flags, mapcount):
			class = Cache
		case s.level&ExcludeCachePrivate != 0 && l.IsCache(flags) && !l.IsAnon(mapping, flags, mapcount):
			class = Cache
			if l.IsPrivate(flags) {
				class = CachePrivate
			}
		case s.level&ExcludeUser != 0 && (l.IsAnon(mapping, flags, mapcount) || l.IsHugetlbDtor(dtor)):
			class = User
		case l.IsHwpoison(flags):
			class = Hwpoison
		case l.IsOffline(flags, mapcount):
			class = Offline
		default:
			continue
		}
		s.emit(excl{mem.PFN(pfn), mem.PFN(pfn + n), class})
		pfn += n - 1
	}
	return nil
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func le32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
