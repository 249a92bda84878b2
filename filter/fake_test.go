package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// fakeVariant is one way to build the fake: paging mode and SME.
type fakeVariant struct {
	name string
	cfg  func(e *fakekernel.Era) fakekernel.Config
}

var fakeVariants = []fakeVariant{
	{"4level", func(e *fakekernel.Era) fakekernel.Config { return fakekernel.Config{Era: e} }},
	{"5level", func(e *fakekernel.Era) fakekernel.Config { return fakekernel.Config{Era: e, FiveLevel: true} }},
	{"sme", func(e *fakekernel.Era) fakekernel.Config { return fakekernel.Config{Era: e, SMEMask: 1 << 47} }},
}

var testLevels = []Level{0, 1, 2, 4, 6, 8, 16, 31}

// expectClass says what makedumpfile's rules (makedumpfile.md §4.6, §4.8,
// §4.9) make of a placed page at level, from what the page is rather than
// from its bits: the class and how many pfns it covers, or Keep.
func expectClass(e *fakekernel.Era, p fakekernel.Placement, level Level) (Class, uint64) {
	n := uint64(1) << p.Order
	switch p.Kind {
	case fakekernel.Free, fakekernel.Unaccepted:
		if level&ExcludeFree != 0 {
			return Free, n
		}
	case fakekernel.Cache, fakekernel.SwapCache:
		if level&(ExcludeCache|ExcludeCachePrivate) != 0 {
			return Cache, 1
		}
	case fakekernel.CacheFolio:
		if level&(ExcludeCache|ExcludeCachePrivate) != 0 {
			return Cache, n
		}
	case fakekernel.CachePrivate:
		if level&ExcludeCachePrivate != 0 {
			return CachePrivate, 1
		}
	case fakekernel.Anon, fakekernel.KSM:
		if level&ExcludeUser != 0 {
			return User, 1
		}
	case fakekernel.AnonWaiters:
		// Quirk 4.9(3): without NUMBER(PG_slab) bit 7 (PG_waiters) is
		// taken for PG_slab, and slab pages are never anon: the page is
		// then an LRU page that is not anon, i.e. page cache.
		if !e.ExportSlab && e.PG.Waiters == 7 {
			if level&(ExcludeCache|ExcludeCachePrivate) != 0 {
				return Cache, 1
			}
		} else if level&ExcludeUser != 0 {
			return User, 1
		}
	case fakekernel.THP, fakekernel.Hugetlb:
		if level&ExcludeUser != 0 {
			return User, n
		}
	case fakekernel.Hwpoison:
		if e.ExportHwpoison {
			return Hwpoison, 1
		}
	case fakekernel.Offline:
		return Offline, 1
	case fakekernel.FreeBadOrder, fakekernel.OwnerPriv, fakekernel.Movable, fakekernel.SlabAnonBit,
		fakekernel.StrayTail, fakekernel.HugetlbAt511:
		// kept: an invalid order, not cache, not anon, a tail, and the
		// 512-window quirk (4.9(2)) hiding the hugetlb destructor.
	}
	return Keep, 0
}

type expectation struct {
	scanned bool
	counts  Counts
	keep    *mem.Bitmap
	why     map[mem.PFN]string
}

func expect(k *fakekernel.Kernel, level Level) expectation {
	e := k.Era
	x := expectation{
		scanned: level&(ExcludeCache|ExcludeCachePrivate|ExcludeUser|ExcludeFree) != 0 || e.ExportHwpoison,
		keep:    mem.NewBitmap(fakekernel.ClampedMaxPFN),
		why:     map[mem.PFN]string{},
	}
	for pfn := uint64(0); pfn < fakekernel.ClampedMaxPFN; pfn++ {
		if fakekernel.IsStored(pfn) {
			x.keep.Set(mem.PFN(pfn))
		}
	}
	if !x.scanned {
		return x
	}
	for _, p := range k.Placed {
		c, n := expectClass(e, p, level)
		if c == Keep {
			x.why[mem.PFN(p.PFN)] = p.String() + " kept"
			continue
		}
		end := min(p.PFN+n, fakekernel.ClampedMaxPFN)
		for pfn := p.PFN; pfn < end; pfn++ {
			x.keep.Clear(mem.PFN(pfn))
			x.why[mem.PFN(pfn)] = fmt.Sprintf("%s excluded as %s", p, c)
		}
		x.counts.add(c, end-p.PFN)
	}
	return x
}

func openFake(t testing.TB, k *fakekernel.Kernel) vmcore.Dump {
	t.Helper()
	d, err := k.Dump()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestExcludeFakeEras runs every layout era, paging mode and level over a
// fake kernel and compares Exclude's plan with the page set and counts
// derived from what was placed.
func TestExcludeFakeEras(t *testing.T) {
	for _, e := range fakekernel.Eras {
		for _, v := range fakeVariants {
			if testing.Short() && v.name != "4level" && e.Name != "6.12" {
				continue
			}
			t.Run(e.Name+"/"+v.name, func(t *testing.T) {
				k := fakekernel.New(v.cfg(e))
				d := openFake(t, k)
				for _, level := range testLevels {
					t.Run(fmt.Sprint("d", level), func(t *testing.T) {
						p, err := Exclude(context.Background(), d, level, Options{Workers: 3})
						if err != nil {
							t.Fatal(err)
						}
						checkPlan(t, k, p, expect(k, level))
					})
				}
			})
		}
	}
}

func checkPlan(t *testing.T, k *fakekernel.Kernel, p *Plan, x expectation) {
	t.Helper()
	if p.MaxPFN != fakekernel.ClampedMaxPFN || p.Keep.Len() != fakekernel.ClampedMaxPFN {
		t.Errorf("MaxPFN %d, Keep.Len %d; want %d (clamped to the last section with a mem_map)",
			p.MaxPFN, p.Keep.Len(), fakekernel.ClampedMaxPFN)
	}
	if p.Scanned != x.scanned {
		t.Errorf("Scanned = %v, want %v", p.Scanned, x.scanned)
	}
	if p.Scanned && !strings.HasPrefix(p.Layout.Era, k.Era.LayoutEra) {
		t.Errorf("layout era %q, want %q...", p.Layout.Era, k.Era.LayoutEra)
	}
	if p.Counts != x.counts {
		t.Errorf("Counts = %+v\nwant     %+v", p.Counts, x.counts)
	}
	bad := 0
	for pfn := mem.PFN(0); pfn < fakekernel.ClampedMaxPFN; pfn++ {
		if got, want := p.Keep.Test(pfn), x.keep.Test(pfn); got != want {
			if bad++; bad <= 10 {
				t.Errorf("pfn %#x: keep %v, want %v (%s)", uint64(pfn), got, want, x.why[pfn])
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d pfns differ", bad)
	}
}

// TestExcludeFakeRootGaps uses SIZE(mem_section) 2048, two sections per
// root, so the root of sections 2 and 3 is zero.
func TestExcludeFakeRootGaps(t *testing.T) {
	for _, name := range []string{"4.14", "6.12"} {
		k := fakekernel.New(fakekernel.Config{Era: fakekernel.EraByName(name), MemSectionSize: 2048})
		d := openFake(t, k)
		p, err := Exclude(context.Background(), d, MaxLevel, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkPlan(t, k, p, expect(k, MaxLevel))
	}
}

// TestExcludeFakeRefusals checks that levels needing kernel data are
// refused with the missing VMCOREINFO keys named, and that levels 0 and 1
// still work without them.
func TestExcludeFakeRefusals(t *testing.T) {
	e := fakekernel.EraByName("6.12")
	tests := []struct {
		name   string
		edit   func(k *fakekernel.Kernel)
		level  Level
		noNote bool
		want   []string // keys a *kernel.MissingError must name
		is     error
	}{
		{name: "no vmcoreinfo", noNote: true, level: 2, is: ErrNeedVMCOREINFO},
		{name: "no vmcoreinfo d31", noNote: true, level: 31, is: ErrNeedVMCOREINFO},
		{name: "struct page", level: 8, edit: func(k *fakekernel.Kernel) { k.Omit("SIZE(page)", "OFFSET(page.mapping)") },
			want: []string{"SIZE(page)", "OFFSET(page.mapping)"}},
		{name: "refcount", level: 2, edit: func(k *fakekernel.Kernel) { k.Omit("OFFSET(page._refcount)") },
			want: []string{"OFFSET(page._refcount)"}},
		{name: "page tables", level: 31, edit: func(k *fakekernel.Kernel) { k.Omit("SYMBOL(init_top_pgt)") },
			want: []string{"SYMBOL(init_top_pgt)"}},
		{name: "phys_base", level: 31, edit: func(k *fakekernel.Kernel) { k.Omit("NUMBER(phys_base)") },
			want: []string{"NUMBER(phys_base)"}},
		{name: "sparsemem", level: 4, edit: func(k *fakekernel.Kernel) {
			k.Omit("SYMBOL(mem_section)", "OFFSET(mem_section.section_mem_map)")
		}, want: []string{"SYMBOL(mem_section)", "OFFSET(mem_section.section_mem_map)"}},
		{name: "free needs _mapcount", level: 16, edit: func(k *fakekernel.Kernel) { k.Omit("OFFSET(page._mapcount)") },
			want: []string{"OFFSET(page._mapcount)"}},
		{name: "free needs private", level: 31, edit: func(k *fakekernel.Kernel) {
			k.Omit("OFFSET(page.private)", "OFFSET(page._mapcount)")
		}, want: []string{"OFFSET(page._mapcount)", "OFFSET(page.private)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := fakekernel.New(fakekernel.Config{Era: e})
			if tc.edit != nil {
				tc.edit(k)
			}
			if tc.noNote {
				k.DropVMCOREINFO()
			}
			d := openFake(t, k)
			_, err := Exclude(context.Background(), d, tc.level, Options{})
			if err == nil {
				t.Fatalf("level %d: no error", tc.level)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
			if tc.want != nil {
				var me *kernel.MissingError
				if !errors.As(err, &me) {
					t.Fatalf("error %v is not a *kernel.MissingError", err)
				}
				if fmt.Sprint(me.Keys) != fmt.Sprint(tc.want) {
					t.Errorf("missing keys %v, want %v", me.Keys, tc.want)
				}
				for _, key := range tc.want {
					if !strings.Contains(err.Error(), key) {
						t.Errorf("error %q does not name %s", err, key)
					}
				}
			}
			// Levels 0 and 1 need no kernel data: the stored pages pass.
			for _, level := range []Level{0, 1} {
				p, err := Exclude(context.Background(), d, level, Options{})
				if err != nil {
					t.Fatalf("level %d: %v", level, err)
				}
				// (A usable VMCOREINFO with PG_hwpoison is still scanned.)
				if !p.Scanned && p.Keep.Count() != countStoredBelow(d, p.MaxPFN) {
					t.Errorf("level %d: scanned %v, keep %d pages; want the %d stored", level, p.Scanned,
						p.Keep.Count(), countStoredBelow(d, p.MaxPFN))
				}
			}
		})
	}
	// Without _mapcount the levels that need no free pages still run.
	k := fakekernel.New(fakekernel.Config{Era: e})
	k.Omit("OFFSET(page._mapcount)")
	if _, err := Exclude(context.Background(), openFake(t, k), 15, Options{}); err != nil {
		t.Errorf("level 15 without OFFSET(page._mapcount): %v", err)
	}
}

func countStoredBelow(d vmcore.Dump, n mem.PFN) uint64 {
	var c uint64
	for pfn := mem.PFN(0); pfn < n; pfn++ {
		if d.Stored().Test(pfn) {
			c++
		}
	}
	return c
}

// TestExcludeFakeBuddyOrders: a buddy head whose page.private is not a
// usable order must be kept, whatever LENGTH(zone.free_area) says, and
// must not stall the scan.
func TestExcludeFakeBuddyOrders(t *testing.T) {
	e := fakekernel.EraByName("6.1")
	s1 := uint64(fakekernel.PagesPerSection)
	for _, tc := range []struct {
		name    string
		edit    func(k *fakekernel.Kernel)
		private uint64
	}{
		{"order 11 of 11", nil, 11},
		{"order 64 without LENGTH", func(k *fakekernel.Kernel) { k.Omit("LENGTH(zone.free_area)") }, 64},
		{"order 200 without LENGTH", func(k *fakekernel.Kernel) { k.Omit("LENGTH(zone.free_area)") }, 200},
		{"huge order, LENGTH -1", func(k *fakekernel.Kernel) { k.Set("LENGTH(zone.free_area)", "-1") }, 1 << 40},
		{"order 70, LENGTH 100", func(k *fakekernel.Kernel) { k.Set("LENGTH(zone.free_area)", "100") }, 70},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := fakekernel.New(fakekernel.Config{Era: e})
			if tc.edit != nil {
				tc.edit(k)
			}
			pfn := s1 + 16 // a free slot of the zoo
			k.SetPage(pfn, fakekernel.Page{Mapcount: e.Buddy, Private: tc.private})
			d := openFake(t, k)
			p, err := Exclude(context.Background(), d, ExcludeFree, Options{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if !p.Keep.Test(mem.PFN(pfn)) || !p.Keep.Test(mem.PFN(pfn+1)) {
				t.Errorf("buddy with order %d excluded", tc.private)
			}
		})
	}
}

// TestExcludeFakeUnacceptedLength: unaccepted memory takes its block size
// from LENGTH(zone.free_area); a missing or absurd length must not panic.
func TestExcludeFakeUnacceptedLength(t *testing.T) {
	for _, val := range []string{"", "0", "-3", "65", "1000"} {
		t.Run("LENGTH="+val, func(t *testing.T) {
			k := fakekernel.New(fakekernel.Config{Era: fakekernel.EraByName("6.16")})
			if val == "" {
				k.Omit("LENGTH(zone.free_area)")
			} else {
				k.Set("LENGTH(zone.free_area)", val)
			}
			d := openFake(t, k)
			p, err := Exclude(context.Background(), d, MaxLevel, Options{Workers: 1})
			if err != nil {
				return // refusing is fine; panicking or hanging is not
			}
			if p.Keep.Len() > d.MaxPFN() {
				t.Errorf("keep has %d pfns, dump %d", p.Keep.Len(), d.MaxPFN())
			}
		})
	}
}

// failingPages is a dump whose ReadPages always fails, as a read of a
// whole window can where a single page would not.
type failingPages struct {
	vmcore.Dump
	calls int
}

func (f *failingPages) ReadPages(pfn mem.PFN, dst []byte) error {
	f.calls++
	return fmt.Errorf("pfn %#x: %w", uint64(pfn), io.ErrUnexpectedEOF)
}

// noPages hides the dump's ReadPages.
type noPages struct{ vmcore.Dump }

// TestExcludeStructPageReads: the plan is the same whether struct pages
// are read a window at a time (ReadPages), page by page because the
// dump has no ReadPages, or page by page after ReadPages failed; with one
// worker and with several.
func TestExcludeStructPageReads(t *testing.T) {
	k := fakekernel.New(fakekernel.Config{Era: fakekernel.Eras[len(fakekernel.Eras)-1]})
	d := openFake(t, k)
	fail := &failingPages{Dump: d}
	for _, workers := range []int{1, 3} {
		want, err := Exclude(context.Background(), d, MaxLevel, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, k, want, expect(k, MaxLevel))
		for name, src := range map[string]vmcore.Dump{"no ReadPages": noPages{d}, "failing ReadPages": fail} {
			got, err := Exclude(context.Background(), src, MaxLevel, Options{Workers: workers})
			if err != nil {
				t.Fatalf("%s, %d workers: %v", name, workers, err)
			}
			if !got.Keep.Equal(want.Keep) || got.Counts != want.Counts {
				t.Errorf("%s, %d workers: plan differs: counts %+v, want %+v", name, workers, got.Counts, want.Counts)
			}
		}
	}
	if fail.calls == 0 {
		t.Error("ReadPages was never tried: the window path is not exercised")
	}
}
