package fakekernel

// CompoundStyle says where a kernel keeps a compound page's order and
// destructor.
type CompoundStyle int

// Compound styles, oldest first.
const (
	CompoundLRU    CompoundStyle = iota // <4.4: first tail's lru.next = dtor function, lru.prev = order
	CompoundPage                        // 4.4-6.2: page.compound_dtor/compound_order in the first tail
	CompoundFolio                       // 6.3-6.5: folio._folio_dtor/_folio_order (same bytes, new names)
	CompoundFlags1                      // 6.6+: order in the low byte of the first tail's flags (folio._flags_1)
)

// Flags are page flag bit numbers of one kernel; -1 means the kernel has
// no such flag.
type Flags struct {
	Lru, Slab, Private, Swapcache, OwnerPriv1, Head, Swapbacked, Hwpoison, Waiters, Hugetlb int
}

// Era describes one kernel version's struct page and what its VMCOREINFO
// exports. Values mirror real kernels of that version where they matter
// to classification (which keys exist, field widths, page-type encoding);
// bit numbers and addresses are plausible and consistent, not exact.
type Era struct {
	Name    string // "6.1"
	Release string // OSRELEASE
	// LayoutEra is the prefix kernel.PageLayout.Era must have.
	LayoutEra string

	// struct page (SIZE(page) is always 64)
	Flags, Mapping, LRU, Private, Mapcount, Refcount int
	RefcountKey                                      string // "page._refcount" or "page._count"
	CompoundHeadKey                                  string // "page.compound_head", "page.compound_info" or "" (not exported)
	CompoundHead                                     int
	Compound                                         CompoundStyle
	OrderOff, DtorOff                                int  // in the first tail page
	Wide                                             bool // 16-bit compound_order/dtor (4.4-4.15)

	PG                                           Flags
	ExportSlab, ExportSwapbacked, ExportHwpoison bool
	ExportHeadMask, ExportBuddy, ExportPGHugetlb bool

	// Page-type values the kernel stores in _mapcount/page_type and
	// exports as NUMBER(PAGE_*_MAPCOUNT_VALUE); 0 = the kernel has none.
	Buddy, Offline, HugetlbType, SlabType, Unaccepted int32

	// Compound destructors written to the first tail page: dtor IDs
	// (4.4-6.5) or function addresses (<4.4, SYMBOL(free_huge_page)).
	HugetlbDtor, THPDtor uint64

	PointerMemSection bool   // pre-4.15: SYMBOL(mem_section) is the address of a pointer to the roots
	PGDName           string // "init_top_pgt" (4.13+) or "init_level4_pgt"
	FreeAreaLen       int    // LENGTH(zone.free_area)
}

// HasCompoundHead reports whether tail pages can be recognised from
// VMCOREINFO (OFFSET(page.compound_head) or, 7.1+, page.compound_info).
func (e *Era) HasCompoundHead() bool { return e.CompoundHeadKey != "" }

// modern is the struct page of 5.x-7.x x86_64 kernels.
func modern(e Era) Era {
	e.Flags, e.LRU, e.CompoundHead, e.Mapping, e.Private, e.Mapcount, e.Refcount = 0, 8, 8, 24, 40, 48, 52
	e.RefcountKey, e.CompoundHeadKey = "page._refcount", "page.compound_head"
	e.OrderOff, e.DtorOff = 17, 16
	e.ExportSlab, e.ExportSwapbacked, e.ExportHwpoison, e.ExportHeadMask, e.ExportBuddy = true, true, true, true, true
	e.PGDName, e.FreeAreaLen = "init_top_pgt", 11
	return e
}

// Bits of 5.10-6.5 (PG_head 16) and of 6.6+ (PG_head moved to bit 6,
// PG_hugetlb = PG_active on the first tail page); 6.12 dropped PG_error.
var (
	flags510 = Flags{Lru: 4, Waiters: 7, Slab: 9, OwnerPriv1: 10, Swapcache: 10, Private: 13, Head: 16, Swapbacked: 19, Hwpoison: 23, Hugetlb: -1}
	flags66  = Flags{Lru: 5, Head: 6, Waiters: 7, Hugetlb: 8, Slab: 11, OwnerPriv1: 12, Swapcache: 12, Private: 15, Swapbacked: 19, Hwpoison: 23}
	flags612 = Flags{Lru: 5, Head: 6, Waiters: 7, Hugetlb: 8, Slab: -1, OwnerPriv1: 10, Swapcache: 10, Private: 14, Swapbacked: 17, Hwpoison: 21}
)

// 6.10/6.11 page types: the type's bit cleared in an all-ones word.
const (
	pt610Buddy   = ^int32(0x40000000)
	pt610Offline = ^int32(0x20000000)
	pt610Hugetlb = ^int32(0x04000000)
	pt610Slab    = ^int32(0x02000000)
)

// 6.12+ page types: PGTY_x << 24 (include/linux/page-flags.h), printed
// by VMCOREINFO_NUMBER as a negative long.
const (
	pgtyBuddy      = int32(-0x10000000) // 0xf0 << 24
	pgtyOffline    = int32(-0x0f000000) // 0xf1 << 24
	pgtyHugetlb    = int32(-0x0c000000) // 0xf4 << 24
	pgtySlab       = int32(-0x0b000000) // 0xf5 << 24
	pgtyUnaccepted = int32(-0x09000000) // 0xf7 << 24
)

// Addresses of free_huge_page and free_compound_page in the <4.4 fake.
const (
	freeHugePageAddr     = 0xffffffff811c2a30
	freeCompoundPageAddr = 0xffffffff81183f10
)

// Eras lists the kernel versions the tests cover, one or more per layout
// era of makedumpfile.md §4.8.
var Eras = []*Era{
	{ // RHEL 7 style 3.10: order and dtor in page.lru, no compound_head,
		// no PAGE_BUDDY_MAPCOUNT_VALUE (the -128 default applies) and no
		// PG_swapbacked or PG_head_mask.
		Name: "3.10", Release: "3.10.0-1160.el7.x86_64", LayoutEra: "<4.4",
		Flags: 0, Mapping: 8, Mapcount: 24, Refcount: 28, LRU: 32, Private: 48,
		RefcountKey: "page._count", Compound: CompoundLRU, OrderOff: 40, DtorOff: 32, Wide: true,
		PG:         Flags{Lru: 5, Slab: 7, OwnerPriv1: 8, Private: 11, Head: 14, Swapcache: 15, Swapbacked: 19, Hwpoison: 23, Waiters: -1, Hugetlb: -1},
		ExportSlab: true, ExportHwpoison: true,
		Buddy: -128, HugetlbDtor: freeHugePageAddr, THPDtor: freeCompoundPageAddr,
		PGDName: "init_level4_pgt", FreeAreaLen: 11, PointerMemSection: true,
	},
	{ // 4.14: 16-bit compound_dtor/order, mem_section is a pointer.
		Name: "4.14", Release: "4.14.336", LayoutEra: "4.4-6.2",
		Flags: 0, Mapping: 8, Mapcount: 24, Refcount: 28, LRU: 32, CompoundHead: 32, Private: 48,
		RefcountKey: "page._refcount", CompoundHeadKey: "page.compound_head",
		Compound: CompoundPage, DtorOff: 40, OrderOff: 42, Wide: true,
		PG:         Flags{Lru: 5, Waiters: 7, Slab: 8, OwnerPriv1: 9, Swapcache: 9, Private: 12, Head: 15, Swapbacked: 18, Hwpoison: 22, Hugetlb: -1},
		ExportSlab: true, ExportSwapbacked: true, ExportHwpoison: true, ExportHeadMask: true, ExportBuddy: true,
		Buddy: -128, HugetlbDtor: 2, THPDtor: 3,
		PGDName: "init_top_pgt", FreeAreaLen: 11, PointerMemSection: true,
	},
	ptr(modern(Era{Name: "5.10", Release: "5.10.0-33-amd64", LayoutEra: "4.4-6.2", Compound: CompoundPage,
		PG: flags510, Buddy: -129, Offline: -257, HugetlbDtor: 2, THPDtor: 3})),
	ptr(noHwpoison(modern(Era{Name: "6.1", Release: "6.1.0-27-cloud-amd64", LayoutEra: "4.4-6.2", Compound: CompoundPage,
		PG: flags510, Buddy: -129, Offline: -257, HugetlbDtor: 2, THPDtor: 3}))),
	ptr(modern(Era{Name: "6.4", Release: "6.4.0-150600.23.7-default", LayoutEra: "6.3-6.5", Compound: CompoundFolio,
		PG: flags510, Buddy: -129, Offline: -257, HugetlbDtor: 2, THPDtor: 3})),
	ptr(pgHugetlb(modern(Era{Name: "6.7", Release: "6.7.12-amd64", LayoutEra: "6.6-6.8", Compound: CompoundFlags1,
		PG: flags66, Buddy: -129, Offline: -257}))),
	ptr(modern(Era{Name: "6.9", Release: "6.9.12-amd64", LayoutEra: "6.9+", Compound: CompoundFlags1,
		PG: flags66, Buddy: -129, Offline: -257, HugetlbType: -2049})),
	ptr(noSlab(modern(Era{Name: "6.10", Release: "6.10.11-amd64", LayoutEra: "6.9+", Compound: CompoundFlags1,
		PG: flags66, Buddy: pt610Buddy, Offline: pt610Offline, HugetlbType: pt610Hugetlb, SlabType: pt610Slab}))),
	ptr(noSlab(modern(Era{Name: "6.12", Release: "6.12.48+deb13-amd64", LayoutEra: "6.9+", Compound: CompoundFlags1,
		PG: flags612, Buddy: pgtyBuddy, Offline: pgtyOffline, HugetlbType: pgtyHugetlb, SlabType: pgtySlab}))),
	ptr(noSlab(modern(Era{Name: "6.16", Release: "6.16.3-coco", LayoutEra: "6.9+", Compound: CompoundFlags1,
		PG: flags612, Buddy: pgtyBuddy, Offline: pgtyOffline, HugetlbType: pgtyHugetlb, SlabType: pgtySlab, Unaccepted: pgtyUnaccepted}))),
	ptr(compoundInfo(noSlab(modern(Era{Name: "7.1", Release: "7.1.0-rc2", LayoutEra: "6.9+", Compound: CompoundFlags1,
		PG: flags612, Buddy: pgtyBuddy, Offline: pgtyOffline, HugetlbType: pgtyHugetlb, SlabType: pgtySlab, Unaccepted: pgtyUnaccepted})))),
}

func ptr(e Era) *Era { return &e }

func noHwpoison(e Era) Era { e.ExportHwpoison = false; return e }

// noSlab: 6.10 removed PG_slab; VMCOREINFO has PAGE_SLAB_MAPCOUNT_VALUE instead.
func noSlab(e Era) Era { e.ExportSlab = false; return e }

func pgHugetlb(e Era) Era { e.ExportPGHugetlb = true; return e }

// compoundInfo: 7.1 renamed page.compound_head to page.compound_info.
func compoundInfo(e Era) Era { e.CompoundHeadKey = "page.compound_info"; return e }

// EraByName returns the era called name, or nil.
func EraByName(name string) *Era {
	for _, e := range Eras {
		if e.Name == name {
			return e
		}
	}
	return nil
}
