package mem

import "fmt"

// PFN is a physical page frame number: a physical address divided by the
// page size.
type PFN uint64

// PhysAddr is a physical memory address.
type PhysAddr uint64

// VirtAddr is a kernel virtual address.
type VirtAddr uint64

// Range is the half-open physical address range [Start, End).
type Range struct {
	Start, End PhysAddr
}

// Len returns the number of bytes in the range.
func (r Range) Len() uint64 {
	if r.End < r.Start {
		return 0
	}
	return uint64(r.End - r.Start)
}

// Contains reports whether a lies inside the range.
func (r Range) Contains(a PhysAddr) bool { return a >= r.Start && a < r.End }

func (r Range) String() string { return fmt.Sprintf("[%#x, %#x)", uint64(r.Start), uint64(r.End)) }

// PFNRange is the half-open page frame range [Start, End).
type PFNRange struct {
	Start, End PFN
}

// Len returns the number of pages in the range.
func (r PFNRange) Len() uint64 {
	if r.End < r.Start {
		return 0
	}
	return uint64(r.End - r.Start)
}

func (r PFNRange) String() string {
	return fmt.Sprintf("pfn [%#x, %#x)", uint64(r.Start), uint64(r.End))
}
