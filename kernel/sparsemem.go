package kernel

import (
	"fmt"
)

// Section flag bits in mem_section.section_mem_map (include/linux/mmzone.h).
// makedumpfile masks the low 5 bits; vmemmap pointers are at least 2 MiB
// aligned, so that is safe even as newer kernels add flag bits.
const (
	sectionMarkedPresent = 1 << 0
	sectionMapMask       = ^uint64(0x1f)
)

// x86_64 defaults when VMCOREINFO predates the NUMBERs (makedumpfile's
// get_versiondep_info_x86_64).
const (
	defaultSectionSizeBits  = 27
	defaultMaxPhysmemBits   = 46
	defaultMaxPhysmemBitsL5 = 52
)

// maxSections caps the section table: 2^22 sections of 128 MiB is 512 TiB.
const maxSections = 1 << 22

// MemMap says where the struct page of each pfn lives: per memory
// section, the kernel virtual address of the section's first struct page.
type MemMap struct {
	PagesPerSection uint64
	StructPageSize  uint64
	// Sections[i] is the virtual address of the struct page of pfn
	// i*PagesPerSection, or 0 for a section without a mem_map.
	Sections []uint64
}

// PageAddr returns the virtual address of pfn's struct page.
func (m *MemMap) PageAddr(pfn uint64) (uint64, bool) {
	s := pfn / m.PagesPerSection
	if s >= uint64(len(m.Sections)) || m.Sections[s] == 0 {
		return 0, false
	}
	return m.Sections[s] + pfn%m.PagesPerSection*m.StructPageSize, true
}

// MaxPFN is one past the last pfn of the last section with a mem_map
// (makedumpfile clamps max_mapnr to it, which handles mem= and drops
// firmware ranges such as QEMU's BIOS ROM).
func (m *MemMap) MaxPFN() uint64 {
	for i := len(m.Sections) - 1; i >= 0; i-- {
		if m.Sections[i] != 0 {
			return uint64(i+1) * m.PagesPerSection
		}
	}
	return 0
}

// LocateMemMap reads the SPARSEMEM (EXTREME) section table to find every
// section's mem_map, for pfns below maxPFN.
func LocateMemMap(vi *VMCOREINFO, x *X86_64, maxPFN uint64) (*MemMap, error) {
	need := []string{"SYMBOL(mem_section)", "SIZE(mem_section)", "OFFSET(mem_section.section_mem_map)", "SIZE(page)"}
	if miss := vi.Missing(need...); len(miss) > 0 {
		return nil, &MissingError{What: "sparsemem mem_map", Keys: miss}
	}
	ps, ok := vi.PageSize()
	if !ok {
		ps = 4096
	}
	pageShift := uint(0)
	for 1<<pageShift < ps {
		pageShift++
	}
	secBits := int64(defaultSectionSizeBits)
	if n, ok := vi.Number("SECTION_SIZE_BITS"); ok {
		secBits = n
	}
	physBits := int64(defaultMaxPhysmemBits)
	if x.FiveLevel() {
		physBits = defaultMaxPhysmemBitsL5
	}
	if n, ok := vi.Number("MAX_PHYSMEM_BITS"); ok {
		physBits = n
	}
	if secBits <= int64(pageShift) || secBits > 40 || physBits < secBits || physBits > 56 {
		return nil, fmt.Errorf("sparsemem: SECTION_SIZE_BITS %d / MAX_PHYSMEM_BITS %d do not make sense with %d-byte pages", secBits, physBits, ps)
	}
	msSize, _ := vi.Size("mem_section")
	smmOff, _ := vi.Offset("mem_section.section_mem_map")
	pageSize, _ := vi.Size("page")
	if msSize <= 0 || msSize > int64(ps) || smmOff < 0 || smmOff+8 > msSize || pageSize <= 0 || pageSize > 1024 {
		return nil, fmt.Errorf("sparsemem: SIZE(mem_section) %d, OFFSET(mem_section.section_mem_map) %d, SIZE(page) %d are not usable", msSize, smmOff, pageSize)
	}
	m := &MemMap{PagesPerSection: 1 << uint(secBits-int64(pageShift)), StructPageSize: uint64(pageSize)}
	nrSections := uint64(1) << uint(physBits-secBits)
	perRoot := uint64(ps) / uint64(msSize)
	roots := (nrSections + perRoot - 1) / perRoot
	if l, ok := vi.Length("mem_section"); ok && l > 0 && uint64(l) != roots {
		// Only SPARSEMEM_EXTREME is built by the kernels we support
		// (every x86_64 distribution kernel since 2.6.24).
		return nil, fmt.Errorf("sparsemem: LENGTH(mem_section) %d is not the %d roots of SPARSEMEM_EXTREME", l, roots)
	}
	numSections := (maxPFN + m.PagesPerSection - 1) / m.PagesPerSection
	if numSections > nrSections {
		numSections = nrSections
	}
	// The table costs 8 bytes per section; real kernels have 128 MiB
	// sections (a few thousand at most on x86_64). A tiny hostile
	// SECTION_SIZE_BITS must not turn into a huge allocation.
	if numSections > maxSections {
		return nil, fmt.Errorf("sparsemem: %d sections of %d pages (SECTION_SIZE_BITS %d) for %d pages is more than the %d supported", numSections, m.PagesPerSection, secBits, maxPFN, maxSections)
	}
	sym, _ := vi.Symbol("mem_section")
	// Since 4.15 VMCOREINFO gives the address of the root array itself;
	// older kernels gave the address of the pointer to it.
	secs, err := readSections(x, sym, numSections, perRoot, uint64(msSize), uint64(smmOff), m)
	if err != nil || !anySection(secs) {
		ptr, perr := x.ReadU64(sym)
		if perr == nil && ptr != 0 {
			if secs2, err2 := readSections(x, ptr, numSections, perRoot, uint64(msSize), uint64(smmOff), m); err2 == nil && anySection(secs2) {
				m.Sections = secs2
				return m, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("sparsemem: %w", err)
		}
		return nil, fmt.Errorf("sparsemem: no section with a mem_map found from SYMBOL(mem_section) %#x", sym)
	}
	m.Sections = secs
	return m, nil
}

func anySection(s []uint64) bool {
	for _, v := range s {
		if v != 0 {
			return true
		}
	}
	return false
}

func readSections(x *X86_64, rootsVA, numSections, perRoot, msSize, smmOff uint64, m *MemMap) ([]uint64, error) {
	secs := make([]uint64, numSections)
	var cachedRoot, cachedRootIdx uint64 = 0, ^uint64(0)
	for nr := uint64(0); nr < numSections; nr++ {
		ri := nr / perRoot
		if ri != cachedRootIdx {
			r, err := x.ReadU64(rootsVA + ri*8)
			if err != nil {
				return nil, fmt.Errorf("read mem_section root %d: %w", ri, err)
			}
			cachedRoot, cachedRootIdx = r, ri
		}
		if cachedRoot == 0 {
			continue
		}
		smm, err := x.ReadU64(cachedRoot + nr%perRoot*msSize + smmOff)
		if err != nil {
			return nil, fmt.Errorf("read section %d: %w", nr, err)
		}
		if smm&sectionMarkedPresent == 0 {
			continue
		}
		// The kernel stores mem_map minus the section's first pfn, so
		// adding it back yields the struct page of that pfn.
		va := smm&sectionMapMask + nr*m.PagesPerSection*m.StructPageSize
		if va < 0xff00000000000000 { // below every 4- or 5-level kernel address
			return nil, fmt.Errorf("section %d: mem_map %#x is not a kernel address", nr, va)
		}
		secs[nr] = va
	}
	return secs, nil
}
