package kernel

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a kernel version from OSRELEASE ("6.1.0-27-cloud-amd64" →
// 6.1.0). Comparing versions orders them.
type Version uint32

// MakeVersion builds a Version from its parts.
func MakeVersion(major, minor, patch int) Version {
	return Version(major<<16 | minor<<8 | min(patch, 255))
}

// ParseVersion reads the leading "X.Y[.Z]" of a release string.
func ParseVersion(release string) (Version, error) {
	s := release
	if i := strings.IndexFunc(s, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(strings.Trim(s, "."), ".")
	if len(parts) < 2 {
		return 0, fmt.Errorf("release %q does not start with a kernel version", release)
	}
	var n [3]int
	for i := 0; i < len(parts) && i < 3; i++ {
		v, err := strconv.Atoi(parts[i])
		// Stable patch levels pass 255 (4.14.336, 4.19.325); MakeVersion
		// clamps them. Only major and minor must fit their byte.
		if err != nil || (i < 2 && v > 255) || v > 1<<20 {
			return 0, fmt.Errorf("release %q does not start with a kernel version", release)
		}
		n[i] = v
	}
	return MakeVersion(n[0], n[1], n[2]), nil
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v>>16, v>>8&0xff, v&0xff) }

// Defaults makedumpfile uses for page flag numbers a VMCOREINFO lacks
// (2.6.25-era values, get_value_for_old_linux). Newer kernels that stopped
// exporting PG_slab (6.10+) therefore test bit 7, which is PG_waiters
// there; we keep that so our page sets match makedumpfile's.
const (
	pgLruOriginal       = 5
	pgSlabOriginal      = 7
	pgPrivateOriginal   = 11
	pgCompoundOriginal  = 14
	pgSwapcacheOriginal = 15
	buddyMapcountOld    = -128 // PAGE_BUDDY_MAPCOUNT_VALUE for 2.6.39 .. 4.17
)

// PageMappingAnon is the low bit of page->mapping for anonymous pages.
const PageMappingAnon = 1

// opt is an optional 64-bit VMCOREINFO value.
type opt struct {
	V  int64
	OK bool
}

// PageLayout says how to decode a struct page of this kernel: member
// offsets, flag bit numbers and page-type values, and where a compound
// page keeps its order and destructor, chosen by which VMCOREINFO keys
// exist (the layout eras of makedumpfile.md §4.8).
type PageLayout struct {
	Version Version
	Size    uint64 // SIZE(page)

	Flags, Mapping, Refcount int64 // member offsets, always present
	Mapcount, Private        opt   // _mapcount/page_type, private
	CompoundHead             opt   // compound_head (7.1+: compound_info)

	PGLru, PGPrivate, PGSwapcache, PGSlab int64
	PGSwapbacked, PGHwpoison, PGHugetlb   opt
	HeadMask                              uint64

	// Page-type values in _mapcount/page_type, compared as int32.
	Buddy, Offline, Hugetlb, Slab, Unaccepted opt

	HugetlbDtor, FreeHugePage opt
	FreeAreaLen               opt // LENGTH(zone.free_area): buddy orders

	// Where the first tail page keeps the compound order and destructor,
	// relative to that tail page; 0 = not known. Widths in bytes.
	OrderOff, DtorOff     int64
	OrderWidth, DtorWidth int
	// Era names the layout rule used, for messages and tests.
	Era string
}

// NewPageLayout reads the struct page facts from VMCOREINFO. It fails,
// naming the keys, when the basic members are missing: without them no
// page can be classified.
func NewPageLayout(vi *VMCOREINFO) (*PageLayout, error) {
	l := &PageLayout{}
	v, err := ParseVersion(vi.OSRelease())
	if err != nil {
		return nil, err
	}
	l.Version = v
	var missing []string
	req := func(key string, get func(string) (int64, bool), name string) int64 {
		n, ok := get(name)
		if !ok {
			missing = append(missing, key)
		}
		return n
	}
	size := req("SIZE(page)", vi.Size, "page")
	l.Flags = req("OFFSET(page.flags)", vi.Offset, "page.flags")
	l.Mapping = req("OFFSET(page.mapping)", vi.Offset, "page.mapping")
	if n, ok := vi.Offset("page._refcount"); ok {
		l.Refcount = n
	} else {
		l.Refcount = req("OFFSET(page._refcount)", vi.Offset, "page._count")
	}
	if len(missing) > 0 {
		return nil, &MissingError{What: "struct page", Keys: missing}
	}
	if size < 16 || size > 1024 {
		return nil, fmt.Errorf("SIZE(page) %d is not a plausible struct page size", size)
	}
	l.Size = uint64(size)
	for _, off := range []int64{l.Flags, l.Mapping, l.Refcount} {
		if off < 0 || off+8 > size {
			return nil, fmt.Errorf("struct page member offset %d lies outside SIZE(page) %d", off, size)
		}
	}
	get := func(f func(string) (int64, bool), name string) opt {
		n, ok := f(name)
		return opt{n, ok}
	}
	l.Mapcount = get(vi.Offset, "page._mapcount")
	l.Private = get(vi.Offset, "page.private")
	l.CompoundHead = get(vi.Offset, "page.compound_head")
	if !l.CompoundHead.OK {
		l.CompoundHead = get(vi.Offset, "page.compound_info")
	}
	for _, o := range []opt{l.Mapcount, l.Private, l.CompoundHead} {
		if o.OK && (o.V < 0 || o.V+8 > size) {
			return nil, fmt.Errorf("struct page member offset %d lies outside SIZE(page) %d", o.V, size)
		}
	}
	num := func(name string, def int64) int64 {
		if n, ok := vi.Number(name); ok {
			return n
		}
		return def
	}
	l.PGLru = num("PG_lru", pgLruOriginal)
	l.PGPrivate = num("PG_private", pgPrivateOriginal)
	l.PGSwapcache = num("PG_swapcache", pgSwapcacheOriginal)
	l.PGSlab = num("PG_slab", pgSlabOriginal)
	l.PGSwapbacked = get(vi.Number, "PG_swapbacked")
	if !l.PGSwapbacked.OK && l.PGSwapcache < l.PGPrivate {
		l.PGSwapbacked = opt{l.PGPrivate + 6, true}
	}
	l.PGHwpoison = get(vi.Number, "PG_hwpoison")
	l.PGHugetlb = get(vi.Number, "PG_hugetlb")
	l.HeadMask = uint64(num("PG_head_mask", 1<<pgCompoundOriginal))
	for _, b := range []int64{l.PGLru, l.PGPrivate, l.PGSwapcache, l.PGSlab, l.PGSwapbacked.V, l.PGHwpoison.V, l.PGHugetlb.V} {
		if b < 0 || b > 63 {
			return nil, fmt.Errorf("page flag bit number %d is not in 0..63", b)
		}
	}
	l.Buddy = get(vi.Number, "PAGE_BUDDY_MAPCOUNT_VALUE")
	if !l.Buddy.OK && v >= MakeVersion(2, 6, 39) {
		l.Buddy = opt{buddyMapcountOld, true}
	}
	l.Offline = get(vi.Number, "PAGE_OFFLINE_MAPCOUNT_VALUE")
	l.Hugetlb = get(vi.Number, "PAGE_HUGETLB_MAPCOUNT_VALUE")
	l.Slab = get(vi.Number, "PAGE_SLAB_MAPCOUNT_VALUE")
	l.Unaccepted = get(vi.Number, "PAGE_UNACCEPTED_MAPCOUNT_VALUE")
	l.HugetlbDtor = get(vi.Number, "HUGETLB_PAGE_DTOR")
	if s, ok := vi.Symbol("free_huge_page"); ok {
		l.FreeHugePage = opt{int64(s), true}
	}
	l.FreeAreaLen = get(vi.Length, "zone.free_area")

	width := 1
	if v < MakeVersion(4, 16, 0) {
		width = 2
	}
	switch {
	case l.Hugetlb.OK:
		l.Era = "6.9+: order in folio._flags_1, hugetlb page type"
	case l.PGHugetlb.OK:
		l.Era = "6.6-6.8: order in folio._flags_1, PG_hugetlb"
	default:
		if o, ok := vi.Offset("folio._folio_order"); ok {
			l.OrderOff, l.Era = o-size, "6.3-6.5: folio._folio_order/_folio_dtor"
		} else if o, ok := vi.Offset("page.compound_order"); ok {
			l.OrderOff, l.Era = o, "4.4-6.2: page.compound_order/compound_dtor"
		} else if v < MakeVersion(4, 4, 0) {
			lru, _ := vi.Offset("page.lru")
			prev, _ := vi.Offset("list_head.prev")
			l.OrderOff, l.Era = lru+prev, "<4.4: order and dtor in page.lru"
		}
		if o, ok := vi.Offset("folio._folio_dtor"); ok {
			l.DtorOff = o - size
		} else if o, ok := vi.Offset("page.compound_dtor"); ok {
			l.DtorOff = o
		} else if v < MakeVersion(4, 4, 0) {
			lru, _ := vi.Offset("page.lru")
			next, _ := vi.Offset("list_head.next")
			l.DtorOff = lru + next
		}
		l.OrderWidth = width
		l.DtorWidth = width
		if v < MakeVersion(4, 4, 0) {
			l.DtorWidth = 8
		}
		if l.Era == "" {
			l.Era = "no compound order known"
		}
	}
	for _, o := range []int64{l.OrderOff, l.DtorOff} {
		if o < 0 || o+8 > size {
			return nil, fmt.Errorf("compound order/dtor offset %d lies outside SIZE(page) %d", o, size)
		}
	}
	return l, nil
}

// CanFindBuddy reports whether free pages can be told from mem_map
// alone (makedumpfile's page_is_buddy_v3; we do not walk free lists).
func (l *PageLayout) CanFindBuddy() bool {
	return l.Buddy.OK && l.Mapcount.OK && l.Private.OK
}

func bit(f uint64, n int64) bool { return f>>uint(n)&1 != 0 }

// IsSlab follows makedumpfile: the slab page type (6.10+) or PG_slab.
func (l *PageLayout) IsSlab(flags uint64, mapcount uint32) bool {
	if l.Slab.OK && int32(mapcount) == int32(l.Slab.V) {
		return true
	}
	return bit(flags, l.PGSlab)
}

// IsAnon: PAGE_MAPPING_ANON set (anon, KSM) and not a slab page, whose
// slab pointer overlays mapping since 6.2.
func (l *PageLayout) IsAnon(mapping, flags uint64, mapcount uint32) bool {
	return mapping&PageMappingAnon != 0 && !l.IsSlab(flags, mapcount)
}

// IsCache: on an LRU list, or in the swap cache (PG_swapcache counts only
// with PG_swapbacked on kernels that have it).
func (l *PageLayout) IsCache(flags uint64) bool {
	if bit(flags, l.PGLru) {
		return true
	}
	return (!l.PGSwapbacked.OK || bit(flags, l.PGSwapbacked.V)) && bit(flags, l.PGSwapcache)
}

// IsPrivate: PG_private.
func (l *PageLayout) IsPrivate(flags uint64) bool { return bit(flags, l.PGPrivate) }

// IsHead: first page of a compound page.
func (l *PageLayout) IsHead(flags uint64) bool { return flags&l.HeadMask != 0 }

// IsBuddy: a free page heading a buddy block (order in page.private).
func (l *PageLayout) IsBuddy(flags uint64, mapcount uint32) bool {
	return !l.IsSlab(flags, mapcount) && int32(mapcount) == int32(l.Buddy.V)
}

// IsUnaccepted: unaccepted memory (TDX/SNP guests, 6.16+).
func (l *PageLayout) IsUnaccepted(mapcount uint32) bool {
	return l.Unaccepted.OK && int32(mapcount) == int32(l.Unaccepted.V)
}

// IsOffline: logically offline (balloon, virtio-mem, Hyper-V).
func (l *PageLayout) IsOffline(flags uint64, mapcount uint32) bool {
	return l.Offline.OK && !l.IsSlab(flags, mapcount) && int32(mapcount) == int32(l.Offline.V)
}

// IsHwpoison: PG_hwpoison, when the kernel has it.
func (l *PageLayout) IsHwpoison(flags uint64) bool {
	return l.PGHwpoison.OK && bit(flags, l.PGHwpoison.V)
}

// hugetlbDtor marks a hugetlb folio found by page type or PG_hugetlb.
const hugetlbDtor = ^uint64(0)

// IsHugetlbDtor reports whether a compound destructor value means hugetlb.
func (l *PageLayout) IsHugetlbDtor(dtor uint64) bool {
	return dtor == hugetlbDtor ||
		(l.HugetlbDtor.OK && dtor == uint64(l.HugetlbDtor.V)) ||
		(l.FreeHugePage.OK && dtor == uint64(l.FreeHugePage.V))
}

// CompoundInfo returns the order and destructor of a compound head page,
// reading the first tail page (tail = the next struct page). Invalid
// orders (≥ 64, or a head not aligned to its order) give order 0, as in
// makedumpfile.
func (l *PageLayout) CompoundInfo(pfn uint64, head, tail []byte) (order uint, dtor uint64) {
	switch {
	case l.Hugetlb.OK:
		order = uint(le64(tail[l.Flags:]) & 0xff)
		if l.Mapcount.OK && int32(le32(head[l.Mapcount.V:])) == int32(l.Hugetlb.V) {
			dtor = hugetlbDtor
		}
	case l.PGHugetlb.OK:
		f1 := le64(tail[l.Flags:])
		order = uint(f1 & 0xff)
		if bit(f1, l.PGHugetlb.V) {
			dtor = hugetlbDtor
		}
	default:
		if l.OrderOff != 0 {
			order = uint(readWidth(tail[l.OrderOff:], l.OrderWidth))
		}
		if l.DtorOff != 0 {
			dtor = readWidth(tail[l.DtorOff:], l.DtorWidth)
		}
	}
	if order >= 64 || pfn&(1<<order-1) != 0 {
		order = 0
	}
	return order, dtor
}

func readWidth(b []byte, w int) uint64 {
	switch w {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(b[0]) | uint64(b[1])<<8
	}
	return le64(b)
}

func le32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
