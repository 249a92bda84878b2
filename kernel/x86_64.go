package kernel

import (
	"errors"
	"fmt"
)

// x86_64 paging constants (arch/x86/include/asm/pgtable_types.h).
const (
	startKernelMap = 0xffffffff80000000 // __START_KERNEL_map
	ptePresent     = 1 << 0
	ptePSE         = 1 << 7             // large page at PUD (1 GiB) or PMD (2 MiB) level
	physAddrMask   = 0x000ffffffffff000 // bits 12..51
	size2M         = 1 << 21
	size1G         = 1 << 30
)

// ErrNotMapped is wrapped when a virtual address has no mapping.
var ErrNotMapped = errors.New("virtual address not mapped")

// X86_64 translates kernel virtual addresses of an x86_64 dump with the
// kernel's own page tables, found from VMCOREINFO alone. It is not safe
// for concurrent use; Clone gives each goroutine its own.
type X86_64 struct {
	mem      Memory
	pc       *pageCache
	pgd      uint64 // physical address of init_top_pgt
	l5       bool
	mask     uint64 // physical address bits of an entry, minus the SME bit
	physBase uint64

	// tlb caches translations per 2 MiB of virtual space: either the
	// physical base of a 2 MiB (or 1 GiB) leaf, or the physical address
	// of the page-table page holding the region's PTEs.
	tlb map[uint64]tlbEntry
}

type tlbEntry struct {
	pa   uint64 // leaf: physical address of the 2 MiB region; else PTE table
	leaf bool
}

// maxTLB bounds the translation cache: 2^16 entries cover 128 GiB of
// 2 MiB regions, more than a mem_map scan of a large machine touches at
// once; past that the cache is simply dropped and refilled.
const maxTLB = 1 << 16

// NewX86_64 sets up translation from VMCOREINFO. It needs
// SYMBOL(init_top_pgt) (or the pre-4.13 init_level4_pgt) and
// NUMBER(phys_base); NUMBER(pgtable_l5_enabled) and NUMBER(sme_mask) are
// used when present.
func NewX86_64(vi *VMCOREINFO, m Memory) (*X86_64, error) {
	pgdSym, ok := vi.Symbol("init_top_pgt")
	if !ok {
		pgdSym, ok = vi.Symbol("init_level4_pgt")
	}
	if !ok {
		return nil, &MissingError{What: "x86_64 page tables", Keys: []string{"SYMBOL(init_top_pgt)"}}
	}
	pb, ok := vi.Number("phys_base")
	if !ok {
		return nil, &MissingError{What: "x86_64 page tables", Keys: []string{"NUMBER(phys_base)"}}
	}
	x := &X86_64{mem: m, pc: newPageCache(m), physBase: uint64(pb), mask: physAddrMask, tlb: map[uint64]tlbEntry{}}
	if l5, ok := vi.Number("pgtable_l5_enabled"); ok && l5 != 0 {
		x.l5 = true
	}
	if sme, ok := vi.Number("sme_mask"); ok {
		x.mask &^= uint64(sme)
	}
	if pgdSym < startKernelMap {
		return nil, fmt.Errorf("SYMBOL(init_top_pgt) %#x is below __START_KERNEL_map", pgdSym)
	}
	x.pgd = pgdSym - startKernelMap + x.physBase
	return x, nil
}

// Clone returns a translator with the same setup and its own caches.
func (x *X86_64) Clone() *X86_64 {
	c := *x
	c.pc = newPageCache(x.mem)
	c.tlb = map[uint64]tlbEntry{}
	return &c
}

// PhysBase is NUMBER(phys_base): where the kernel image was loaded
// relative to its link address.
func (x *X86_64) PhysBase() uint64 { return x.physBase }

// FiveLevel reports whether the kernel used 5-level paging.
func (x *X86_64) FiveLevel() bool { return x.l5 }

// VtoP translates a kernel virtual address to a physical address.
func (x *X86_64) VtoP(va uint64) (uint64, error) {
	key := va >> 21
	if e, ok := x.tlb[key]; ok {
		if e.leaf {
			return e.pa | va&(size2M-1), nil
		}
		return x.pte(e.pa, va)
	}
	pa, e, err := x.walk(va)
	if err != nil {
		return 0, err
	}
	if len(x.tlb) >= maxTLB {
		clear(x.tlb)
	}
	x.tlb[key] = e
	return pa, nil
}

func (x *X86_64) entry(table, va uint64, shift uint, level string) (uint64, error) {
	e, err := x.pc.u64(table + (va>>shift&511)*8)
	if err != nil {
		return 0, fmt.Errorf("va %#x: read %s entry: %w", va, level, err)
	}
	if e&ptePresent == 0 {
		return 0, fmt.Errorf("va %#x: %s entry %#x not present: %w", va, level, e, ErrNotMapped)
	}
	return e, nil
}

// walk does the full page-table walk and returns what to cache for the
// 2 MiB region around va.
func (x *X86_64) walk(va uint64) (uint64, tlbEntry, error) {
	table := x.pgd
	if x.l5 {
		e, err := x.entry(table, va, 48, "pgd")
		if err != nil {
			return 0, tlbEntry{}, err
		}
		table = e & x.mask
	}
	e, err := x.entry(table, va, 39, "p4d")
	if err != nil {
		return 0, tlbEntry{}, err
	}
	pud, err := x.entry(e&x.mask, va, 30, "pud")
	if err != nil {
		return 0, tlbEntry{}, err
	}
	if pud&ptePSE != 0 {
		base := pud & x.mask &^ (size1G - 1)
		region := base | va&(size1G-1)&^(size2M-1)
		return base | va&(size1G-1), tlbEntry{pa: region, leaf: true}, nil
	}
	pmd, err := x.entry(pud&x.mask, va, 21, "pmd")
	if err != nil {
		return 0, tlbEntry{}, err
	}
	if pmd&ptePSE != 0 {
		base := pmd & x.mask &^ (size2M - 1)
		return base | va&(size2M-1), tlbEntry{pa: base, leaf: true}, nil
	}
	ptTable := pmd & x.mask
	pa, err := x.pte(ptTable, va)
	return pa, tlbEntry{pa: ptTable}, err
}

func (x *X86_64) pte(table, va uint64) (uint64, error) {
	e, err := x.entry(table, va, 12, "pte")
	if err != nil {
		return 0, err
	}
	return e&x.mask | va&0xfff, nil
}

// ReadVirt copies len(dst) bytes at kernel virtual address va.
func (x *X86_64) ReadVirt(dst []byte, va uint64) error {
	for len(dst) > 0 {
		pa, err := x.VtoP(va)
		if err != nil {
			return err
		}
		n := min(uint64(len(dst)), 4096-va&0xfff)
		if err := x.pc.readPhys(dst[:n], pa); err != nil {
			return fmt.Errorf("va %#x: %w", va, err)
		}
		dst = dst[n:]
		va += n
	}
	return nil
}

// ReadU64 reads a little-endian 64-bit value at va.
func (x *X86_64) ReadU64(va uint64) (uint64, error) {
	if va&7 == 0 {
		pa, err := x.VtoP(va)
		if err != nil {
			return 0, err
		}
		v, err := x.pc.u64(pa)
		if err != nil {
			return 0, fmt.Errorf("va %#x: %w", va, err)
		}
		return v, nil
	}
	var b [8]byte
	if err := x.ReadVirt(b[:], va); err != nil {
		return 0, err
	}
	return le64(b[:]), nil
}

// MissingError says which VMCOREINFO keys a feature needs and lacks.
type MissingError struct {
	What string
	Keys []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s: VMCOREINFO lacks %v", e.What, e.Keys)
}
