package fakekernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// Geometry of every fake: 4 MiB sections (NUMBER(SECTION_SIZE_BITS)=22)
// so a handful of them fit in 32 MiB.
const (
	PageSize        = 4096
	SectionSizeBits = 22
	PagesPerSection = 1 << (SectionSizeBits - 12)
	NumSections     = 8
	PhysSize        = NumSections * PagesPerSection * PageSize
	StructPageSize  = 64

	// ClampedMaxPFN is where the filter must stop: the end of the last
	// section with a mem_map (section 7 has RAM but no mem_map).
	ClampedMaxPFN = 7 * PagesPerSection

	startKernelMap = 0xffffffff80000000
	poolStart      = 24 << 20 // page tables, mem_section, section 4's mem_map
	poolEnd        = 26 << 20
	vmemmapPhys    = 26 << 20 // the 2 MiB leaf behind the vmemmap
)

// Section roles:
//
//	0, 1, 5, 6  mem_map in the vmemmap (one 2 MiB leaf)
//	2           RAM without a mem_map (section not present)
//	3           a hole: no RAM, no mem_map
//	4           mem_map in vmalloc space, 4 KiB PTEs to scattered pages
//	7           RAM without a mem_map: the filter clamps MaxPFN below it
var (
	// SectionHasMemMap says which sections are present.
	SectionHasMemMap = [NumSections]bool{true, true, false, false, true, true, true, false}
)

// Load is one PT_LOAD: physical [Start, End), of which [Start, FileEnd)
// is in the file.
type Load struct{ Start, End, FileEnd uint64 }

// Loads are the fake's RAM. The first segment lacks its last three pages
// in the file (a partly filtered input), and [0x9f000, 0x100000) and
// section 3 are holes.
var Loads = []Load{
	{0x1000, 0x9f000, 0x9c000},
	{0x100000, 0xc00000, 0xc00000},
	{0x1000000, 0x2000000, 0x2000000},
}

// IsRAM reports whether pfn lies in a PT_LOAD; IsStored whether the file
// holds it.
func IsRAM(pfn uint64) bool {
	for _, l := range Loads {
		if pfn*PageSize >= l.Start && (pfn+1)*PageSize <= l.End {
			return true
		}
	}
	return false
}

// IsStored reports whether the dump file holds page pfn.
func IsStored(pfn uint64) bool {
	for _, l := range Loads {
		if pfn*PageSize >= l.Start && (pfn+1)*PageSize <= l.FileEnd {
			return true
		}
	}
	return false
}

// x86_64 entry bits.
const (
	pteP    = 1 << 0
	pteRW   = 1 << 1
	ptePSE  = 1 << 7
	addrMsk = 0x000ffffffffff000
)

// Config chooses a fake.
type Config struct {
	Era       *Era
	FiveLevel bool
	// SMEMask is set in every page-table entry and exported as
	// NUMBER(sme_mask), as on an AMD SME host.
	SMEMask uint64
	// MemSectionSize is SIZE(mem_section); 0 means 16. Larger values
	// put fewer sections in each root, so roots of absent sections are 0.
	MemSectionSize int
}

// Mapping is one virtual range the fake's page tables map.
type Mapping struct{ VA, PA, Size uint64 }

// Kernel is a built fake.
type Kernel struct {
	Config
	Phys []byte // physical memory [0, PhysSize)

	PGD        uint64 // physical address of init_top_pgt
	InitTopPgt uint64 // its kernel-text virtual address
	PhysBase   int64  // NUMBER(phys_base)
	PageOffset uint64 // direct map, one 1 GiB leaf to physical 0
	Vmemmap    uint64
	Vmalloc    uint64 // section 4's mem_map lives at Vmalloc+0x3000
	MemSection uint64 // SYMBOL(mem_section)
	DataVA     uint64 // a kernel data page (holds the mem_section pointer pre-4.15)
	Mappings   []Mapping
	// MemMap[s] is the virtual address of section s's first struct page.
	MemMap [NumSections]uint64
	Placed []Placement

	next         uint64
	omit         map[string]bool
	set          map[string]string
	extraLines   []string
	vmcoreinfo   []string // KEY=VALUE lines in kernel order
	noVMCOREINFO bool
}

// New builds a fake kernel for cfg.
func New(cfg Config) *Kernel {
	if cfg.MemSectionSize == 0 {
		cfg.MemSectionSize = 16
	}
	k := &Kernel{Config: cfg, Phys: make([]byte, PhysSize), next: poolStart,
		omit: map[string]bool{}, set: map[string]string{}}
	k.PGD = k.alloc()
	if cfg.FiveLevel {
		k.PageOffset, k.Vmemmap, k.Vmalloc = 0xff11000000000000, 0xffd4000000000000, 0xffa0000000000000
	} else {
		k.PageOffset, k.Vmemmap, k.Vmalloc = 0xffff888000000000, 0xffffea0000000000, 0xffffc90000000000
	}
	k.Map(k.PageOffset, 0, 1<<30)
	k.Map(k.Vmemmap, vmemmapPhys, 2<<20)
	k.InitTopPgt = 0xffffffff82e0a000
	k.Map(k.InitTopPgt, k.PGD, PageSize)
	k.PhysBase = int64(k.PGD) - int64(k.InitTopPgt-startKernelMap)
	k.DataVA = k.InitTopPgt + 0x5000
	k.Map(k.DataVA, k.alloc(), PageSize)

	// Section 4's mem_map: 16 pages in vmalloc space, backed by pool
	// pages in reverse order so a wrong translation reads the wrong page.
	va4 := k.Vmalloc + 0x3000
	const n4 = PagesPerSection * StructPageSize / PageSize
	var pages [n4]uint64
	for i := range pages {
		pages[i] = k.alloc()
	}
	for i := 0; i < n4; i++ {
		pa := pages[n4-1-i]
		k.Map(va4+uint64(i)*PageSize, pa, PageSize)
	}
	for s := range k.MemMap {
		switch {
		case s == 4:
			k.MemMap[s] = va4
		case SectionHasMemMap[s]:
			k.MemMap[s] = k.Vmemmap + uint64(s)*PagesPerSection*StructPageSize
		}
	}
	k.buildMemSection()
	k.initStructPages()
	k.placeZoo()
	k.buildVMCOREINFO()
	return k
}

func (k *Kernel) alloc() uint64 {
	pa := k.next
	k.next += PageSize
	if k.next > poolEnd {
		panic("fakekernel: page pool exhausted")
	}
	return pa
}

// U64 and PutU64 access physical memory.
func (k *Kernel) U64(pa uint64) uint64 { return binary.LittleEndian.Uint64(k.Phys[pa:]) }

// PutU64 writes physical memory.
func (k *Kernel) PutU64(pa, v uint64) { binary.LittleEndian.PutUint64(k.Phys[pa:], v) }

// Map maps [va, va+size) to pa with a leaf of that size (4 KiB, 2 MiB or
// 1 GiB), creating the tables on the way.
func (k *Kernel) Map(va, pa, size uint64) {
	leaf := map[uint64]uint{PageSize: 12, 2 << 20: 21, 1 << 30: 30}[size]
	if leaf == 0 || va%size != 0 || pa%size != 0 {
		panic(fmt.Sprintf("fakekernel: bad mapping %#x -> %#x size %#x", va, pa, size))
	}
	shifts := []uint{39, 30, 21, 12}
	if k.FiveLevel {
		shifts = []uint{48, 39, 30, 21, 12}
	}
	table := k.PGD
	for _, sh := range shifts {
		ea := table + (va>>sh&511)*8
		if sh == leaf {
			e := pa | pteP | pteRW | k.SMEMask
			if sh != 12 {
				e |= ptePSE
			}
			k.PutU64(ea, e)
			break
		}
		e := k.U64(ea)
		if e&pteP == 0 {
			e = k.alloc() | pteP | pteRW | k.SMEMask
			k.PutU64(ea, e)
		} else if e&ptePSE != 0 {
			panic(fmt.Sprintf("fakekernel: %#x is already under a large page", va))
		}
		table = e &^ k.SMEMask & addrMsk
	}
	k.Mappings = append(k.Mappings, Mapping{va, pa, size})
}

// Entry returns the physical address of the page-table entry for va at
// the level whose index starts at bit shift (48, 39, 30, 21 or 12), for
// tests that corrupt entries. ok is false if a table on the way is absent.
func (k *Kernel) Entry(va uint64, shift uint) (pa uint64, ok bool) {
	shifts := []uint{39, 30, 21, 12}
	if k.FiveLevel {
		shifts = []uint{48, 39, 30, 21, 12}
	}
	table := k.PGD
	for _, sh := range shifts {
		ea := table + (va>>sh&511)*8
		if sh == shift {
			return ea, true
		}
		e := k.U64(ea)
		if e&pteP == 0 || e&ptePSE != 0 {
			return 0, false
		}
		table = e &^ k.SMEMask & addrMsk
	}
	return 0, false
}

// section_mem_map flag bits.
const (
	secPresent = 1 << 0
	secHasMap  = 1 << 1
	secOnline  = 1 << 2
	secEarly   = 1 << 3
	secTainted = 1 << 4
)

// buildMemSection writes SPARSEMEM_EXTREME roots and sections. Only the
// first page of the root array is backed: the filter reads roots of the
// fake's few sections only.
func (k *Kernel) buildMemSection() {
	ms := uint64(k.MemSectionSize)
	perRoot := PageSize / ms
	roots := k.alloc()
	for ri := uint64(0); ri*perRoot < NumSections; ri++ {
		any := false
		for s := ri * perRoot; s < (ri+1)*perRoot && s < NumSections; s++ {
			any = any || SectionHasMemMap[s] || s == 2
		}
		if !any {
			continue // root stays 0
		}
		root := k.alloc()
		k.PutU64(roots+ri*8, k.PageOffset+root)
		for s := ri * perRoot; s < (ri+1)*perRoot && s < NumSections; s++ {
			var smm uint64
			switch {
			case s == 4:
				smm = k.MemMap[s] - s*PagesPerSection*StructPageSize | secPresent | secHasMap | secOnline | secTainted
			case SectionHasMemMap[s]:
				smm = k.MemMap[s] - s*PagesPerSection*StructPageSize | secPresent | secHasMap | secOnline | secEarly
			case s == 2:
				// Memory the kernel knows but whose mem_map was never
				// set up: a plausible pointer without PRESENT.
				smm = k.Vmemmap | secHasMap
			}
			k.PutU64(root+(s%perRoot)*ms, smm)
		}
	}
	if k.Era.PointerMemSection {
		k.PutU64(k.vaToPA(k.DataVA), k.PageOffset+roots)
		k.MemSection = k.DataVA
	} else {
		k.MemSection = k.PageOffset + roots
	}
}

// vaToPA translates the fake's own mappings (a test oracle independent of
// the code under test).
func (k *Kernel) vaToPA(va uint64) uint64 {
	for _, m := range k.Mappings {
		if va >= m.VA && va-m.VA < m.Size {
			return m.PA + va - m.VA
		}
	}
	panic(fmt.Sprintf("fakekernel: %#x is not mapped", va))
}

// VtoP is the fake's own translation of va, for tests; ok is false when
// va is not mapped.
func (k *Kernel) VtoP(va uint64) (uint64, bool) {
	for _, m := range k.Mappings {
		if va >= m.VA && va-m.VA < m.Size {
			return m.PA + va - m.VA, true
		}
	}
	return 0, false
}

// StructPage returns the physical address of pfn's struct page as the
// kernel lays it out (via MemMap for present sections, else the unused
// vmemmap slot).
func (k *Kernel) StructPage(pfn uint64) uint64 {
	s := pfn / PagesPerSection
	if s < NumSections && k.MemMap[s] != 0 {
		return k.vaToPA(k.MemMap[s] + pfn%PagesPerSection*StructPageSize)
	}
	return vmemmapPhys + pfn*StructPageSize
}

// StructPageVA returns the virtual address of pfn's struct page (present
// sections only).
func (k *Kernel) StructPageVA(pfn uint64) uint64 {
	return k.MemMap[pfn/PagesPerSection] + pfn%PagesPerSection*StructPageSize
}

// Page is what the fake writes into one struct page; fields the era's
// layout lacks are ignored.
type Page struct {
	Flags, Mapping, Private uint64
	Mapcount                int32
	CompoundHead            uint64 // tail pages: head's address | 1
}

// SetPage writes p into pfn's struct page.
func (k *Kernel) SetPage(pfn uint64, p Page) {
	e := k.Era
	pa := k.StructPage(pfn)
	b := k.Phys[pa : pa+StructPageSize]
	clear(b)
	le := binary.LittleEndian
	le.PutUint64(b[e.Flags:], p.Flags)
	le.PutUint64(b[e.Mapping:], p.Mapping)
	le.PutUint64(b[e.Private:], p.Private)
	le.PutUint32(b[e.Mapcount:], uint32(p.Mapcount))
	le.PutUint32(b[e.Refcount:], 1)
	if e.HasCompoundHead() {
		le.PutUint64(b[e.CompoundHead:], p.CompoundHead)
	}
}

// initStructPages gives every struct page a plain kernel page (no flags,
// _mapcount -1). The unused vmemmap slots of sections without a vmemmap
// mem_map get free-page decoys: the filter must never read them.
func (k *Kernel) initStructPages() {
	for pfn := uint64(0); pfn < NumSections*PagesPerSection; pfn++ {
		s := pfn / PagesPerSection
		if SectionHasMemMap[s] {
			k.SetPage(pfn, Page{Mapcount: -1})
		}
		if !SectionHasMemMap[s] || s == 4 {
			pa := vmemmapPhys + pfn*StructPageSize
			b := k.Phys[pa : pa+StructPageSize]
			binary.LittleEndian.PutUint32(b[k.Era.Mapcount:], uint32(k.Era.Buddy))
		}
	}
}

// ELF returns the fake as an ELF core like /proc/vmcore, with the
// VMCOREINFO note (unless DropVMCOREINFO was called).
func (k *Kernel) ELF() []byte {
	var notes []elfcore.Note
	if !k.noVMCOREINFO {
		notes = append(notes, elfcore.Note{Name: elfcore.NameVMCOREINFO, Desc: []byte(k.VMCOREINFO())})
	}
	return k.ELFWithNotes(notes)
}

// ELFWithNotes is ELF with the given notes instead.
func (k *Kernel) ELFWithNotes(notes []elfcore.Note) []byte {
	var segs []elfcore.Segment
	for _, l := range Loads {
		segs = append(segs, elfcore.Segment{PAddr: l.Start, VAddr: k.PageOffset + l.Start,
			Data: k.Phys[l.Start:l.FileEnd], MemSz: l.End - l.Start})
	}
	return elfcore.Build(0, notes, segs)
}

// Dump opens the fake's ELF core as a vmcore.Dump.
func (k *Kernel) Dump() (vmcore.Dump, error) {
	b := k.ELF()
	return vmcore.OpenReaderAt(bytes.NewReader(b), int64(len(b)))
}

// DropVMCOREINFO makes ELF leave the note out.
func (k *Kernel) DropVMCOREINFO() { k.noVMCOREINFO = true }

// Omit removes VMCOREINFO keys (e.g. "SIZE(page)").
func (k *Kernel) Omit(keys ...string) {
	for _, key := range keys {
		k.omit[key] = true
	}
}

// Set replaces a VMCOREINFO value or, if the key is new, appends it.
func (k *Kernel) Set(key, value string) {
	if _, ok := k.set[key]; !ok && !k.hasLine(key) {
		k.extraLines = append(k.extraLines, key)
	}
	k.set[key] = value
}

func (k *Kernel) hasLine(key string) bool {
	for _, l := range k.vmcoreinfo {
		if strings.HasPrefix(l, key+"=") {
			return true
		}
	}
	return false
}

// VMCOREINFO returns the note text with Omit and Set applied.
func (k *Kernel) VMCOREINFO() string {
	var sb strings.Builder
	emit := func(key, val string) {
		if k.omit[key] {
			return
		}
		if v, ok := k.set[key]; ok {
			val = v
		}
		sb.WriteString(key + "=" + val + "\n")
	}
	for _, l := range k.vmcoreinfo {
		key, val, _ := strings.Cut(l, "=")
		emit(key, val)
	}
	for _, key := range k.extraLines {
		emit(key, "")
	}
	return sb.String()
}

// Memory is the fake's physical memory as a kernel.Memory (without the
// ELF round trip): pages the dump would not hold read as errors wrapping
// mem.ErrNotRAM.
type Memory struct{ K *Kernel }

// PageSize is 4096.
func (Memory) PageSize() int { return PageSize }

// ReadPage copies page pfn.
func (m Memory) ReadPage(pfn mem.PFN, dst []byte) error {
	if !IsStored(uint64(pfn)) {
		return fmt.Errorf("pfn %#x: %w", uint64(pfn), mem.ErrNotRAM)
	}
	copy(dst[:PageSize], m.K.Phys[uint64(pfn)*PageSize:])
	return nil
}
