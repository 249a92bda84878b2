package filter

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

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
	// Cyclic is set, and Keep nil, when the keep map would not fit
	// Options.Budget: the plan is then walked a window at a time.
	Cyclic *Cycles
}

// Kept returns the number of pages the plan keeps (before zero pages
// are dropped): the size of a kdump file's descriptor table.
func (p *Plan) Kept() uint64 {
	if p.Cyclic != nil {
		return p.Cyclic.Total()
	}
	return p.Keep.Count()
}

// Options tune Exclude.
type Options struct {
	// Workers is how many sections are classified at once; 0 means
	// GOMAXPROCS.
	Workers int
	// Budget bounds the memory of the keep map, in bytes: makedumpfile's
	// --cyclic-buffer (which it gives in KiB). 0 means no bound: one
	// pass, one keep map for the whole machine. When the bits of the
	// whole machine (MaxPFN/8 bytes) fit, the plan is one pass.
	// Otherwise the one pass is tried, and if its keep map comes to hold
	// more than Budget bytes of mixed chunks (the chunks where kept and
	// excluded pages meet, the only ones that cost memory), it is
	// dropped and the plan is cyclic: windows of Budget*8 pfns (rounded
	// down to whole chunks of mem.ChunkPFNs, at least one chunk, so a
	// budget under 4 KiB acts as 4 KiB), walked once here to count and
	// again by the writer. AutoBudget gives makedumpfile's default.
	Budget int64
	// ForceCyclic plans cyclically whatever Budget says (windows as
	// Budget sets them): for tests and benchmarks of the cyclic mode.
	ForceCyclic bool
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
	r := &rangeScan{k: k, ram: d.RAM(), level: level, maxPFN: p.MaxPFN, workers: opt.Workers,
		keep: p.Keep, lo: 0, hi: p.MaxPFN}
	if opt.Budget > 0 && (uint64(p.MaxPFN)+7)/8 > uint64(opt.Budget) {
		r.budget = int(max(opt.Budget/(mem.ChunkPFNs/8), 1))
	}
	if opt.ForceCyclic {
		return excludeCyclic(ctx, d, k, p, opt)
	}
	err := r.run(ctx)
	if err == errOverBudget {
		return excludeCyclic(ctx, d, k, p, opt)
	}
	if err != nil {
		return nil, err
	}
	p.Counts.merge(&r.counts)
	p.Keep.Freeze()
	return p, nil
}

// excludeCyclic turns p into a cyclic plan and counts it.
func excludeCyclic(ctx context.Context, d vmcore.Dump, k *kernelView, p *Plan, opt Options) (*Plan, error) {
	win := max(mem.PFN(opt.Budget)*8/mem.ChunkPFNs*mem.ChunkPFNs, mem.ChunkPFNs)
	p.Keep = nil
	p.Cyclic = &Cycles{k: k, ram: d.RAM(), stored: d.Stored(), level: p.Level, maxPFN: p.MaxPFN,
		Window: win, workers: opt.Workers}
	if err := p.Cyclic.countPass(ctx, p); err != nil {
		return nil, err
	}
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

// rangeScan is one classification of the pfns [lo, hi): the whole
// machine in one pass (lo 0, hi MaxPFN), or one window of a cyclic plan.
// It classifies the sections in parallel and clears the excluded pages
// from keep as it goes, counting them. Work goes out in units of whole
// bitmap chunks (one section, or the sections of one chunk when sections
// are smaller), clipped to [lo, hi), so each worker changes chunks no
// other worker touches, and it compacts them when its unit is done: a
// chunk whose pages were all excluded (free memory, mostly) holds no
// memory afterwards. The rare run that reaches past its unit (a corrupt
// free-page order) is kept aside and cleared at the end, or handed back
// in overflow when it reaches past hi. Nothing proportional to the
// number of excluded runs is held.
type rangeScan struct {
	k       *kernelView
	ram     *mem.Bitmap
	level   Level
	maxPFN  mem.PFN
	workers int
	// keep's bit i is pfn base+i; base is a multiple of mem.ChunkPFNs
	// and keep covers at least [lo, hi).
	keep   *mem.Bitmap
	base   mem.PFN
	lo, hi mem.PFN
	// resume is where the scan of the section holding lo goes on when
	// lo is inside a section (a run of the previous window skipped
	// pages past lo); 0 means at lo. After run it is the same for hi.
	resume mem.PFN
	// budget, when positive, is the most chunks keep may hold memory
	// for: past it the scan stops and run returns errOverBudget.
	budget int
	// pool, if set, holds scanners to reuse (and keeps the ones run
	// makes): the windows of a cyclic pass use the same translators
	// and struct-page buffers rather than making new ones each.
	pool *[]*scanner

	counts   Counts
	overflow []excl // excluded pfns at or past hi, clipped to maxPFN
}

// scanner returns worker w's scanner, from the pool when there is one.
func (r *rangeScan) scanner(w, workers int) *scanner {
	if r.pool != nil && w < len(*r.pool) {
		s := (*r.pool)[w]
		s.counts = Counts{}
		return s
	}
	x := r.k.x
	if workers > 1 {
		x = x.Clone() // its caches are not safe for concurrent use
	}
	s := &scanner{k: r.k, x: x, ram: r.ram, level: r.level}
	if r.pool != nil {
		*r.pool = append(*r.pool, s)
	}
	return s
}

// errOverBudget stops a one-pass scan whose keep map outgrew its
// budget; Exclude then plans cyclically.
var errOverBudget = errors.New("keep map over budget")

func (r *rangeScan) run(ctx context.Context) error {
	k := r.k
	workers := r.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	pps := k.memmap.PagesPerSection
	perUnit := uint64(1) // sections per unit of work
	switch {
	case pps%mem.ChunkPFNs == 0:
	case mem.ChunkPFNs%pps == 0:
		perUnit = mem.ChunkPFNs / pps
	default:
		// Sections would share chunks; classify one at a time.
		workers = 1
	}
	nsec := (uint64(r.maxPFN) + pps - 1) / pps
	unitPFNs := perUnit * pps
	firstUnit := uint64(r.lo) / unitPFNs
	endUnit := (uint64(r.hi) + unitPFNs - 1) / unitPFNs
	if r.lo >= r.hi {
		return nil
	}
	errs := make([]error, endUnit-firstUnit)
	var (
		mu       sync.Mutex
		overflow []excl
		counts   Counts
		private  atomic.Int64
		over     atomic.Bool
		resumeHi mem.PFN
	)
	keep, base := r.keep, r.base
	next := make(chan uint64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		s := r.scanner(w, workers)
		go func() {
			defer wg.Done()
			var hi mem.PFN
			s.emit = func(e excl) {
				end := min(e.end, r.maxPFN)
				if e.start >= end {
					return
				}
				s.counts.add(e.class, uint64(end-e.start))
				keep.ClearRange(e.start-base, min(end, hi)-base)
				if end > hi {
					mu.Lock()
					overflow = append(overflow, excl{hi, end, e.class})
					mu.Unlock()
				}
			}
			for u := range next {
				first := u * perUnit
				last := min(first+perUnit, nsec)
				lo := max(mem.PFN(first*pps), r.lo)
				hi = min(mem.PFN(last*pps), r.hi)
				for sec := first; sec < last && errs[u-firstUnit] == nil; sec++ {
					if k.memmap.Sections[sec] == 0 {
						continue
					}
					from := max(sec*pps, uint64(lo))
					to := min((sec+1)*pps, uint64(hi))
					if from >= to {
						continue
					}
					if from == uint64(r.lo) && r.resume > r.lo {
						from = uint64(r.resume)
					}
					nx, err := s.section(sec, from, to)
					errs[u-firstUnit] = err
					if to == uint64(r.hi) && to < min((sec+1)*pps, uint64(r.maxPFN)) {
						resumeHi = mem.PFN(nx) // one section holds hi: one writer
					}
				}
				keep.Compact(lo-base, hi-base)
				if r.budget > 0 && private.Add(int64(keep.PrivateIn(lo-base, hi-base))) > int64(r.budget) {
					over.Store(true)
				}
			}
			mu.Lock()
			counts.merge(&s.counts)
			mu.Unlock()
		}()
	}
	for u := firstUnit; u < endUnit; u++ {
		if ctx.Err() != nil || over.Load() {
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
	if over.Load() {
		return errOverBudget
	}
	for _, e := range overflow {
		keep.ClearRange(e.start-base, min(e.end, r.hi)-base)
		if e.end > r.hi {
			r.overflow = append(r.overflow, excl{max(e.start, r.hi), e.end, e.class})
		}
	}
	r.counts.merge(&counts)
	r.resume = resumeHi
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

// section classifies the pages [from, to) of one memory section and
// hands the excluded runs to s.emit. It returns the pfn the scan would go
// on at (past to when a run reaches beyond it), so a window that ends
// inside the section can be continued exactly where the one pass would
// go on. to is the section's end (clamped to max_mapnr) or a multiple of
// pgmmCached: stopping there reads struct pages as the one pass does.
func (s *scanner) section(sec, from, to uint64) (uint64, error) {
	l := s.k.layout
	sz := l.Size
	pps := s.k.memmap.PagesPerSection
	start := sec * pps
	end := to
	base := s.k.memmap.Sections[sec]
	if need := int(sz * pgmmCached); len(s.buf) < need {
		s.buf = make([]byte, need)
	}
	winStart, winEnd := ^uint64(0), uint64(0) // pfns cached in buf: [winStart, winEnd)
	pfn := from
	for ; pfn < end; pfn++ {
		if !s.ram.Test(mem.PFN(pfn)) {
			continue
		}
		idx := pfn % pgmmCached
		if pfn < winStart || pfn >= winEnd {
			// Read from pfn to the end of its 512-page window.
			n := min(pgmmCached-idx, end-pfn)
			b := s.buf[idx*sz : (idx+n)*sz]
			if err := s.readVirt(b, base+(pfn-start)*sz); err != nil {
				return pfn, fmt.Errorf("filter: read struct pages of pfn %#x..%#x at %#x: %w", pfn, pfn+n, base+(pfn-start)*sz, err)
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
	return pfn, nil
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
