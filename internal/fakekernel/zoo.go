package fakekernel

import (
	"fmt"
	"strconv"
)

// Kind is what a placed page is, in the kernel's terms.
type Kind int

// Page kinds the fake places.
const (
	Free         Kind = iota // buddy block head; Order pages
	FreeBadOrder             // buddy head whose order ≥ LENGTH(zone.free_area)
	Unaccepted               // unaccepted memory block of 1<<(NR_PAGE_ORDERS-1) pages (6.16+)
	Cache                    // file page on the LRU
	CachePrivate             // file page on the LRU with PG_private (buffer heads)
	CacheFolio               // large file folio on the LRU, Order pages
	SwapCache                // shmem page in the swap cache: PG_swapcache|PG_swapbacked, off the LRU
	OwnerPriv                // PG_owner_priv_1 (PG_swapcache's alias) without PG_swapbacked: fs-private, not cache
	Anon                     // anonymous page: mapping = anon_vma | 1
	KSM                      // KSM page: mapping = stable node | 3
	Movable                  // non-LRU movable (zsmalloc, balloon): mapping | 2
	SlabAnonBit              // slab page whose slab pointer overlays mapping with bit 0 set (6.2+)
	AnonWaiters              // anonymous page with PG_waiters (bit 7) set
	THP                      // anonymous transparent huge page, Order pages
	Hugetlb                  // hugetlbfs folio, Order pages
	HugetlbAt511             // hugetlb head at index 511 of a 512-page window, Order 1
	StrayTail                // tail page (compound_head | 1) with an anon mapping, head elsewhere
	Hwpoison                 // PG_hwpoison
	Offline                  // PageOffline (balloon, virtio-mem)
)

var kindNames = [...]string{"free", "free bad order", "unaccepted", "cache", "cache private", "cache folio",
	"swapcache", "owner_priv_1", "anon", "ksm", "movable", "slab anon bit", "anon waiters", "thp", "hugetlb",
	"hugetlb at 511", "stray tail", "hwpoison", "offline"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Placement is one page (or block head) the fake placed.
type Placement struct {
	PFN   uint64
	Kind  Kind
	Order uint // for Free, CacheFolio, THP, Hugetlb, HugetlbAt511, Unaccepted
}

func (p Placement) String() string {
	return fmt.Sprintf("%s@%#x/%d", p.Kind, p.PFN, p.Order)
}

// Pointers the fake stores in mapping and friends.
const (
	fileMapping  = 0xffff888003a41c08 // struct address_space *: even
	anonVMA      = 0xffff888004b2e100
	stableNode   = 0xffff888004c0ff00
	movableOps   = 0xffffffff8244e9a0
	slabCache    = 0xffff888003001e00
	bufferHead   = 0xffff888005d17a28
	hugetlbfsMap = 0xffff888003f2a6b8
)

// placeZoo places one or more pages of every Kind.
func (k *Kernel) placeZoo() {
	e := k.Era
	k.Place(0x80, Anon, 0)
	k.Place(0x90, Free, 4) // 0x90..0x9f: 0x9f is a hole, 0x9c..0x9e are not in the file
	k.Place(0x200, Free, 2)
	s1 := uint64(PagesPerSection)
	k.Place(s1+0, Free, 0)
	k.Place(s1+2, Free, 1)
	k.Place(s1+8, Free, 3)
	k.Place(s1+32, Free, 5)
	k.Place(s1+64, FreeBadOrder, 0)
	k.Place(s1+65, Cache, 0)
	k.Place(s1+66, CachePrivate, 0)
	k.Place(s1+67, SwapCache, 0)
	k.Place(s1+68, OwnerPriv, 0)
	k.Place(s1+69, Anon, 0)
	k.Place(s1+70, KSM, 0)
	k.Place(s1+71, Movable, 0)
	k.Place(s1+72, SlabAnonBit, 0)
	k.Place(s1+73, AnonWaiters, 0)
	k.Place(s1+74, Hwpoison, 0)
	if e.Offline != 0 {
		k.Place(s1+75, Offline, 0)
	}
	if e.HasCompoundHead() {
		k.Place(s1+76, StrayTail, 0)
	}
	k.Place(s1+80, CacheFolio, 2)
	k.Place(s1+511, HugetlbAt511, 1)
	k.Place(s1+768, Free, 8)
	s4 := 4 * uint64(PagesPerSection)
	k.Place(s4, Hugetlb, 9)
	k.Place(s4+512, THP, 9)
	s5 := 5 * uint64(PagesPerSection)
	if e.Unaccepted != 0 {
		k.Place(s5, Unaccepted, uint(e.FreeAreaLen-1))
	} else {
		k.Place(s5, Free, uint(e.FreeAreaLen-1))
	}
	k.Place(6*uint64(PagesPerSection)+3, Cache, 0) // among the page tables
}

func bitIf(n int) uint64 {
	if n < 0 {
		return 0
	}
	return 1 << uint(n)
}

// Place writes the struct pages of one placement the way the era's kernel
// does and records it in Placed.
func (k *Kernel) Place(pfn uint64, kind Kind, order uint) {
	e := k.Era
	pg := e.PG
	p := Page{Mapcount: -1}
	switch kind {
	case Free:
		p.Mapcount, p.Private = e.Buddy, uint64(order)
	case FreeBadOrder:
		p.Mapcount, p.Private = e.Buddy, uint64(e.FreeAreaLen)
	case Unaccepted:
		p.Mapcount = e.Unaccepted
	case Cache:
		p.Flags, p.Mapping = bitIf(pg.Lru), fileMapping
	case CachePrivate:
		p.Flags, p.Mapping, p.Private = bitIf(pg.Lru)|bitIf(pg.Private), fileMapping, bufferHead
	case SwapCache:
		p.Flags, p.Private = bitIf(pg.Swapcache)|bitIf(pg.Swapbacked), 0x3c01
	case OwnerPriv:
		p.Flags, p.Mapping = bitIf(pg.OwnerPriv1), fileMapping
	case Anon:
		p.Flags, p.Mapping, p.Mapcount = bitIf(pg.Lru)|bitIf(pg.Swapbacked), anonVMA|1, 0
	case KSM:
		p.Flags, p.Mapping, p.Mapcount = bitIf(pg.Lru)|bitIf(pg.Swapbacked), stableNode|3, 1
	case Movable:
		p.Mapping = movableOps | 2
	case SlabAnonBit:
		p.Mapping = slabCache | 1
		if e.SlabType != 0 {
			p.Mapcount = e.SlabType
		} else {
			p.Flags = bitIf(pg.Slab)
		}
	case AnonWaiters:
		p.Flags, p.Mapping, p.Mapcount = bitIf(pg.Lru)|bitIf(pg.Swapbacked)|bitIf(pg.Waiters), anonVMA|1, 0
	case THP:
		p.Flags, p.Mapping, p.Mapcount = bitIf(pg.Lru)|bitIf(pg.Swapbacked), anonVMA|1, 0
	case CacheFolio:
		p.Flags, p.Mapping = bitIf(pg.Lru), fileMapping
	case Hugetlb, HugetlbAt511:
		p.Mapping = hugetlbfsMap
		if e.HugetlbType != 0 {
			p.Mapcount = e.HugetlbType
		}
	case StrayTail:
		p.Flags, p.Mapping, p.CompoundHead = bitIf(pg.Lru), anonVMA|1, k.Vmemmap|1
	case Hwpoison:
		p.Flags = bitIf(pg.Hwpoison)
	case Offline:
		p.Mapcount = e.Offline
	default:
		panic("fakekernel: unknown kind")
	}
	compound := kind == THP || kind == CacheFolio || kind == Hugetlb || kind == HugetlbAt511
	if compound {
		p.Flags |= bitIf(pg.Head)
	}
	k.SetPage(pfn, p)
	k.Placed = append(k.Placed, Placement{pfn, kind, order})
	if !compound {
		return
	}
	var dtor uint64
	switch kind {
	case THP:
		dtor = e.THPDtor
	case Hugetlb, HugetlbAt511:
		dtor = e.HugetlbDtor
	}
	head := k.StructPageVA(pfn)
	for i := uint64(1); i < 1<<order; i++ {
		t := Page{Mapcount: -1, CompoundHead: head | 1}
		if i == 1 && e.Compound == CompoundFlags1 {
			t.Flags = uint64(order)
			if (kind == Hugetlb || kind == HugetlbAt511) && e.ExportPGHugetlb {
				t.Flags |= bitIf(pg.Hugetlb)
			}
		}
		k.SetPage(pfn+i, t)
		if i != 1 {
			continue
		}
		b := k.Phys[k.StructPage(pfn+1):]
		switch e.Compound {
		case CompoundLRU:
			putN(b[e.DtorOff:], dtor, 8)
			putN(b[e.OrderOff:], uint64(order), 8)
		case CompoundPage, CompoundFolio:
			w := 1
			if e.Wide {
				w = 2
			}
			putN(b[e.DtorOff:], dtor, w)
			putN(b[e.OrderOff:], uint64(order), w)
		}
	}
}

func putN(b []byte, v uint64, n int) {
	for i := 0; i < n; i++ {
		b[i] = byte(v >> (8 * i))
	}
}
