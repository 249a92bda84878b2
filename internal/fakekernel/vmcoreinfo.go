package fakekernel

import "fmt"

// buildVMCOREINFO writes the note lines in the order the kernel's
// crash_save_vmcoreinfo_init and arch_crash_save_vmcoreinfo print them,
// with the keys the era's kernel exports. The fake always exports
// NUMBER(SECTION_SIZE_BITS) and NUMBER(MAX_PHYSMEM_BITS) (real kernels
// only since 5.x) because its sections are 4 MiB, not the x86_64 default.
func (k *Kernel) buildVMCOREINFO() {
	e := k.Era
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	add("OSRELEASE=%s", e.Release)
	if e.Name >= "5" {
		add("BUILD-ID=3b43fad5034874490492495d552c0af6a5fab235")
	}
	add("PAGESIZE=%d", PageSize)
	add("SYMBOL(init_uts_ns)=%x", uint64(0xffffffff83812f40))
	add("OFFSET(uts_namespace.name)=0")
	add("SYMBOL(node_online_map)=%x", uint64(0xffffffff8383b480))
	add("SYMBOL(swapper_pg_dir)=%x", k.InitTopPgt)
	add("SYMBOL(_stext)=%x", uint64(0xffffffff81000000))
	add("SYMBOL(mem_section)=%x", k.MemSection)
	physBits := 46
	if k.FiveLevel {
		physBits = 52
	}
	nrSections := uint64(1) << (physBits - SectionSizeBits)
	perRoot := uint64(PageSize / k.MemSectionSize)
	add("LENGTH(mem_section)=%d", (nrSections+perRoot-1)/perRoot)
	add("SIZE(mem_section)=%d", k.MemSectionSize)
	add("OFFSET(mem_section.section_mem_map)=0")
	add("NUMBER(SECTION_SIZE_BITS)=%d", SectionSizeBits)
	add("NUMBER(MAX_PHYSMEM_BITS)=%d", physBits)
	add("SIZE(page)=%d", StructPageSize)
	add("SIZE(pglist_data)=174208")
	add("SIZE(zone)=1536")
	add("SIZE(free_area)=88")
	add("SIZE(list_head)=16")
	add("SIZE(nodemask_t)=128")
	add("OFFSET(page.flags)=%d", e.Flags)
	add("OFFSET(%s)=%d", e.RefcountKey, e.Refcount)
	add("OFFSET(page.mapping)=%d", e.Mapping)
	add("OFFSET(page.lru)=%d", e.LRU)
	add("OFFSET(page._mapcount)=%d", e.Mapcount)
	add("OFFSET(page.private)=%d", e.Private)
	switch e.Compound {
	case CompoundPage:
		add("OFFSET(page.compound_dtor)=%d", e.DtorOff)
		add("OFFSET(page.compound_order)=%d", e.OrderOff)
	case CompoundFolio:
		add("OFFSET(folio._folio_dtor)=%d", StructPageSize+e.DtorOff)
		add("OFFSET(folio._folio_order)=%d", StructPageSize+e.OrderOff)
	}
	if e.HasCompoundHead() {
		add("OFFSET(%s)=%d", e.CompoundHeadKey, e.CompoundHead)
	}
	add("OFFSET(pglist_data.node_zones)=0")
	add("OFFSET(pglist_data.nr_zones)=171552")
	add("OFFSET(pglist_data.node_start_pfn)=171560")
	add("OFFSET(pglist_data.node_spanned_pages)=171576")
	add("OFFSET(pglist_data.node_id)=171584")
	add("OFFSET(zone.free_area)=256")
	add("OFFSET(zone.vm_stat)=1344")
	add("OFFSET(zone.spanned_pages)=144")
	add("OFFSET(free_area.free_list)=0")
	add("OFFSET(list_head.next)=0")
	add("OFFSET(list_head.prev)=8")
	add("LENGTH(zone.free_area)=%d", e.FreeAreaLen)
	add("SYMBOL(prb)=%x", uint64(0xffffffff836622c0))
	add("LENGTH(free_area.free_list)=5")
	add("NUMBER(NR_FREE_PAGES)=0")
	add("NUMBER(PG_lru)=%d", e.PG.Lru)
	add("NUMBER(PG_private)=%d", e.PG.Private)
	add("NUMBER(PG_swapcache)=%d", e.PG.Swapcache)
	if e.ExportSwapbacked {
		add("NUMBER(PG_swapbacked)=%d", e.PG.Swapbacked)
	}
	if e.ExportSlab {
		add("NUMBER(PG_slab)=%d", e.PG.Slab)
	}
	if e.SlabType != 0 {
		add("NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=%d", e.SlabType)
	}
	if e.ExportHwpoison {
		add("NUMBER(PG_hwpoison)=%d", e.PG.Hwpoison)
	}
	if e.ExportHeadMask {
		add("NUMBER(PG_head_mask)=%d", 1<<e.PG.Head)
	}
	if e.ExportBuddy {
		add("NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=%d", e.Buddy)
	}
	if e.ExportPGHugetlb {
		add("NUMBER(PG_hugetlb)=%d", e.PG.Hugetlb)
	}
	if e.HugetlbType != 0 {
		add("NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=%d", e.HugetlbType)
	}
	if e.Compound == CompoundPage || e.Compound == CompoundFolio {
		add("NUMBER(HUGETLB_PAGE_DTOR)=%d", e.HugetlbDtor)
	}
	if e.Compound == CompoundLRU {
		add("SYMBOL(free_huge_page)=%x", e.HugetlbDtor)
	}
	if e.Offline != 0 {
		add("NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)=%d", e.Offline)
	}
	if e.Unaccepted != 0 {
		add("NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)=%d", e.Unaccepted)
	}
	add("NUMBER(phys_base)=%d", k.PhysBase)
	add("SYMBOL(%s)=%x", e.PGDName, k.InitTopPgt)
	l5 := 0
	if k.FiveLevel {
		l5 = 1
	}
	add("NUMBER(pgtable_l5_enabled)=%d", l5)
	add("SYMBOL(node_data)=%x", uint64(0xffffffff838368e0))
	add("LENGTH(node_data)=1024")
	add("KERNELOFFSET=%x", uint64(0x1b000000))
	add("NUMBER(KERNEL_IMAGE_SIZE)=1073741824")
	add("NUMBER(sme_mask)=%d", k.SMEMask)
	add("CRASHTIME=1732250000")
	k.vmcoreinfo = lines
}
