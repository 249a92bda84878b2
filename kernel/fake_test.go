package kernel_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
	"github.com/kdumpkit/kdumpkit/kernel"
)

type pagingVariant struct {
	name string
	cfg  fakekernel.Config
}

func pagingVariants(e *fakekernel.Era) []pagingVariant {
	return []pagingVariant{
		{"4level", fakekernel.Config{Era: e}},
		{"5level", fakekernel.Config{Era: e, FiveLevel: true}},
		{"4level-sme", fakekernel.Config{Era: e, SMEMask: 1 << 47}},
		{"5level-sme", fakekernel.Config{Era: e, FiveLevel: true, SMEMask: 1 << 51}},
	}
}

func parseFake(t *testing.T, k *fakekernel.Kernel) *kernel.VMCOREINFO {
	t.Helper()
	vi, err := kernel.ParseVMCOREINFO([]byte(k.VMCOREINFO()))
	if err != nil {
		t.Fatal(err)
	}
	return vi
}

func newFakeX86(t *testing.T, k *fakekernel.Kernel) *kernel.X86_64 {
	t.Helper()
	x, err := kernel.NewX86_64(parseFake(t, k), fakekernel.Memory{K: k})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestFakeVtoP walks 4- and 5-level page tables through 1 GiB, 2 MiB and
// 4 KiB leaves, with and without an SME bit in every entry.
func TestFakeVtoP(t *testing.T) {
	for _, v := range pagingVariants(fakekernel.EraByName("6.12")) {
		t.Run(v.name, func(t *testing.T) {
			k := fakekernel.New(v.cfg)
			x := newFakeX86(t, k)
			if x.FiveLevel() != v.cfg.FiveLevel {
				t.Errorf("FiveLevel = %v", x.FiveLevel())
			}
			if x.PhysBase() != uint64(k.PhysBase) || k.PhysBase >= 0 {
				t.Errorf("PhysBase = %#x, want %#x (negative, as with KASLR)", x.PhysBase(), uint64(k.PhysBase))
			}
			vmalloc := k.Vmalloc + 0x3000
			mapped := []uint64{
				k.PageOffset, k.PageOffset + 0x123456, k.PageOffset + 1<<30 - 1, // 1 GiB leaf
				k.Vmemmap, k.Vmemmap + 0x1234, k.Vmemmap + 2<<20 - 8, // 2 MiB leaf
				vmalloc, vmalloc + 0x10, vmalloc + 0x1008, vmalloc + 15*0x1000 + 0xfff, // 4 KiB PTEs
				k.InitTopPgt, k.InitTopPgt + 0x7f8, k.DataVA + 0x10, // kernel text, 4 KiB
			}
			for round := 0; round < 2; round++ { // the second round hits the cache
				for _, va := range mapped {
					want, _ := k.VtoP(va)
					got, err := x.VtoP(va)
					if err != nil || got != want {
						t.Errorf("round %d: VtoP(%#x) = %#x, %v; want %#x", round, va, got, err, want)
					}
				}
			}
			unmapped := []uint64{
				vmalloc - 0x1000,     // PTE not present, its table cached by now
				vmalloc + 16*0x1000,  // same
				k.Vmalloc + 0x200000, // PMD not present
				k.PageOffset + 1<<30, // PUD not present
				k.Vmemmap + 2<<20,    // PMD not present beside a 2 MiB leaf
				0xffffc07e00000000,   // a 4-level top slot never used (5-level: its p4d slot)
				0xffffffff80000000,   // kernel text below what is mapped
			}
			if v.cfg.FiveLevel {
				// A 4-level direct-map address: top index 511 exists
				// in the 5-level table (kernel text), its next does not.
				unmapped = append(unmapped, 0xffff888000000000)
			}
			for _, va := range unmapped {
				if pa, err := x.VtoP(va); !errors.Is(err, kernel.ErrNotMapped) {
					t.Errorf("VtoP(%#x) = %#x, %v; want ErrNotMapped", va, pa, err)
				}
			}
			// A read across the boundary of two 4 KiB pages that are
			// not physically adjacent.
			va := vmalloc + 0xff8
			got := make([]byte, 16)
			if err := x.ReadVirt(got, va); err != nil {
				t.Fatal(err)
			}
			pa0, _ := k.VtoP(va)
			pa1, _ := k.VtoP(va + 8)
			if pa1 == pa0+8 {
				t.Fatalf("test setup: pages at %#x are adjacent", va)
			}
			copy(k.Phys[pa0:pa0+8], "ABCDEFGH")
			copy(k.Phys[pa1:pa1+8], "IJKLMNOP")
			x = newFakeX86(t, k) // fresh page cache
			if err := x.ReadVirt(got, va); err != nil || string(got) != "ABCDEFGHIJKLMNOP" {
				t.Errorf("ReadVirt across pages = %q, %v", got, err)
			}
			if u, err := x.ReadU64(va + 4); err != nil || u != le64([]byte("EFGHIJKL")) {
				t.Errorf("unaligned ReadU64 = %#x, %v", u, err)
			}
			c := x.Clone()
			if u, err := c.ReadU64(va + 8); err != nil || u != le64([]byte("IJKLMNOP")) {
				t.Errorf("Clone ReadU64 = %#x, %v", u, err)
			}
		})
	}
}

func le64(b []byte) uint64 {
	var u uint64
	for i := 7; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	return u
}

// TestFakeSMEMaskNeeded shows the SME variants really depend on masking:
// without NUMBER(sme_mask) the walk runs off physical memory.
func TestFakeSMEMaskNeeded(t *testing.T) {
	k := fakekernel.New(fakekernel.Config{Era: fakekernel.EraByName("6.12"), SMEMask: 1 << 47})
	k.Omit("NUMBER(sme_mask)")
	x := newFakeX86(t, k)
	if pa, err := x.VtoP(k.Vmemmap); err == nil {
		t.Errorf("VtoP without sme_mask = %#x, want an error", pa)
	}
}

// TestFakeVtoPLoops points entries back at tables: the walk is bounded by
// the paging depth and must end.
func TestFakeVtoPLoops(t *testing.T) {
	for _, v := range pagingVariants(fakekernel.EraByName("6.1")) {
		t.Run(v.name, func(t *testing.T) {
			k := fakekernel.New(v.cfg)
			va := k.Vmalloc + 0x3000
			pte, ok1 := k.Entry(va, 12)
			pmd, ok2 := k.Entry(va, 21)
			if !ok1 || !ok2 {
				t.Fatal("test setup: no PTE/PMD")
			}
			// The PMD entry points at the top table, the PTE at its own
			// table.
			k.PutU64(pmd, k.PGD|1|v.cfg.SMEMask)
			k.PutU64(pte, pte&^0xfff|1|v.cfg.SMEMask)
			x := newFakeX86(t, k)
			for _, a := range []uint64{va, va + 0x1000, k.Vmalloc, k.Vmalloc + 0x1ff000} {
				x.VtoP(a) // any answer will do; it must return
				b := make([]byte, 3*4096)
				x.ReadVirt(b, a)
			}
		})
	}
}

// TestFakeLocateMemMap finds each section's mem_map, through the
// pre-4.15 pointer form of SYMBOL(mem_section) too, with and without zero
// roots.
func TestFakeLocateMemMap(t *testing.T) {
	for _, name := range []string{"4.14", "6.12"} {
		e := fakekernel.EraByName(name)
		for _, v := range pagingVariants(e) {
			for _, msSize := range []int{16, 2048} {
				v.cfg.MemSectionSize = msSize
				t.Run(fmt.Sprintf("%s/%s/ms%d", name, v.name, msSize), func(t *testing.T) {
					k := fakekernel.New(v.cfg)
					if e.PointerMemSection != (k.MemSection == k.DataVA) {
						t.Fatal("test setup: SYMBOL(mem_section) form")
					}
					vi := parseFake(t, k)
					x := newFakeX86(t, k)
					mm, err := kernel.LocateMemMap(vi, x, fakekernel.NumSections*fakekernel.PagesPerSection)
					if err != nil {
						t.Fatal(err)
					}
					if mm.PagesPerSection != fakekernel.PagesPerSection || mm.StructPageSize != fakekernel.StructPageSize {
						t.Errorf("PagesPerSection %d, StructPageSize %d", mm.PagesPerSection, mm.StructPageSize)
					}
					if fmt.Sprint(mm.Sections) != fmt.Sprint(k.MemMap[:]) {
						t.Errorf("Sections = %#x\nwant       %#x", mm.Sections, k.MemMap)
					}
					if mm.MaxPFN() != fakekernel.ClampedMaxPFN {
						t.Errorf("MaxPFN = %d, want %d", mm.MaxPFN(), fakekernel.ClampedMaxPFN)
					}
					for _, pfn := range []uint64{0, 1025, 4096 + 77, 7167} {
						if a, ok := mm.PageAddr(pfn); !ok || a != k.StructPageVA(pfn) {
							t.Errorf("PageAddr(%#x) = %#x, %v; want %#x", pfn, a, ok, k.StructPageVA(pfn))
						}
					}
					for _, pfn := range []uint64{2048, 3072 + 5, 7168, 1 << 40} {
						if a, ok := mm.PageAddr(pfn); ok {
							t.Errorf("PageAddr(%#x) = %#x for a section without mem_map", pfn, a)
						}
					}
					// A smaller maxPFN reads fewer sections.
					mm, err = kernel.LocateMemMap(vi, x, 3*fakekernel.PagesPerSection-1)
					if err != nil || len(mm.Sections) != 3 || mm.MaxPFN() != 2*fakekernel.PagesPerSection {
						t.Errorf("LocateMemMap(maxPFN 3071) = %v, %v", mm, err)
					}
				})
			}
		}
	}
}

func TestFakeLocateMemMapErrors(t *testing.T) {
	e := fakekernel.EraByName("6.12")
	for _, tc := range []struct {
		name string
		edit func(k *fakekernel.Kernel)
		want string
	}{
		{"keys", func(k *fakekernel.Kernel) { k.Omit("SIZE(mem_section)", "SIZE(page)") }, "[SIZE(mem_section) SIZE(page)]"},
		{"zero roots", func(k *fakekernel.Kernel) { k.Set("SYMBOL(mem_section)", fmt.Sprintf("%x", k.DataVA+0x100)) }, "no section with a mem_map"},
		{"unmapped roots", func(k *fakekernel.Kernel) { k.Set("SYMBOL(mem_section)", "ffffc7ff00000000") }, "not mapped"},
		{"length", func(k *fakekernel.Kernel) { k.Set("LENGTH(mem_section)", "2048") }, "LENGTH(mem_section) 2048"},
		{"section bits", func(k *fakekernel.Kernel) { k.Set("NUMBER(SECTION_SIZE_BITS)", "12") }, "SECTION_SIZE_BITS 12"},
		{"smm offset", func(k *fakekernel.Kernel) { k.Set("OFFSET(mem_section.section_mem_map)", "4096") }, "not usable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := fakekernel.New(fakekernel.Config{Era: e})
			tc.edit(k)
			vi := parseFake(t, k)
			_, err := kernel.LocateMemMap(vi, newFakeX86(t, k), fakekernel.NumSections*fakekernel.PagesPerSection)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestFakePageLayoutEras checks the layout era, field widths and
// compound-head key chosen for each era's VMCOREINFO.
func TestFakePageLayoutEras(t *testing.T) {
	for _, e := range fakekernel.Eras {
		t.Run(e.Name, func(t *testing.T) {
			k := fakekernel.New(fakekernel.Config{Era: e})
			l, err := kernel.NewPageLayout(parseFake(t, k))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(l.Era, e.LayoutEra) {
				t.Errorf("Era %q, want %q...", l.Era, e.LayoutEra)
			}
			if l.CompoundHead.OK != e.HasCompoundHead() || (l.CompoundHead.OK && l.CompoundHead.V != int64(e.CompoundHead)) {
				t.Errorf("CompoundHead = %+v", l.CompoundHead)
			}
			wantSlab := int64(e.PG.Slab)
			if !e.ExportSlab {
				wantSlab = 7 // makedumpfile's PG_slab default (quirk 4.9(3))
			}
			if l.PGSlab != wantSlab {
				t.Errorf("PGSlab = %d, want %d", l.PGSlab, wantSlab)
			}
			if !l.CanFindBuddy() || int32(l.Buddy.V) != e.Buddy {
				t.Errorf("Buddy = %+v, CanFindBuddy %v; want %d", l.Buddy, l.CanFindBuddy(), e.Buddy)
			}
			switch e.Compound {
			case fakekernel.CompoundLRU:
				if l.OrderWidth != 2 || l.DtorWidth != 8 || l.OrderOff != int64(e.OrderOff) || l.DtorOff != int64(e.DtorOff) {
					t.Errorf("order %d/%d dtor %d/%d", l.OrderOff, l.OrderWidth, l.DtorOff, l.DtorWidth)
				}
			case fakekernel.CompoundPage, fakekernel.CompoundFolio:
				w := 1
				if e.Wide {
					w = 2
				}
				if l.OrderWidth != w || l.DtorWidth != w || l.OrderOff != int64(e.OrderOff) || l.DtorOff != int64(e.DtorOff) {
					t.Errorf("order %d/%d dtor %d/%d, want %d/%d %d/%d", l.OrderOff, l.OrderWidth, l.DtorOff, l.DtorWidth,
						e.OrderOff, w, e.DtorOff, w)
				}
			}
		})
	}
}

// TestParseVersionStablePatch: stable kernels pass patch level 255.
func TestParseVersionStablePatch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want kernel.Version
	}{
		{"4.14.336", kernel.MakeVersion(4, 14, 255)},
		{"4.19.325-cip", kernel.MakeVersion(4, 19, 255)},
		{"5.10.0-33-amd64", kernel.MakeVersion(5, 10, 0)},
	} {
		v, err := kernel.ParseVersion(tc.in)
		if err != nil || v != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", tc.in, v, err, tc.want)
		}
	}
	for _, bad := range []string{"4.300.1", "256.1", "x.y"} {
		if v, err := kernel.ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", bad, v)
		}
	}
}
