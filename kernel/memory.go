package kernel

import (
	"fmt"

	"github.com/kdumpkit/kdumpkit/mem"
)

// Memory is physical memory by page; vmcore.Dump satisfies it.
type Memory interface {
	PageSize() int
	ReadPage(pfn mem.PFN, dst []byte) error
}

// pageCache keeps recently read physical pages. Page-table and mem_map
// reads hit the same few pages over and over; a small direct-mapped cache
// turns most of them into a copy. A slot's page buffer is allocated when
// the slot is first used: a translator that reads a few pages (the dump
// engine's, which looks up a handful of symbols) costs a few pages, not
// the whole cache.
type pageCache struct {
	m     Memory
	ps    uint64
	slots [cacheSlots]cacheSlot
}

const cacheSlots = 64

type cacheSlot struct {
	pfn  uint64 // pfn+1; 0 = empty
	data []byte
	err  error
}

func newPageCache(m Memory) *pageCache {
	return &pageCache{m: m, ps: uint64(m.PageSize())}
}

// page returns the cached page pfn; the slice is valid until the next call.
func (c *pageCache) page(pfn uint64) ([]byte, error) {
	s := &c.slots[pfn%cacheSlots]
	if s.pfn != pfn+1 {
		if s.data == nil {
			s.data = make([]byte, c.ps)
		}
		s.pfn = pfn + 1
		s.err = c.m.ReadPage(mem.PFN(pfn), s.data)
	}
	return s.data, s.err
}

// readPhys copies len(dst) bytes of physical memory at pa.
func (c *pageCache) readPhys(dst []byte, pa uint64) error {
	for len(dst) > 0 {
		p, err := c.page(pa / c.ps)
		if err != nil {
			return fmt.Errorf("physical address %#x: %w", pa, err)
		}
		n := copy(dst, p[pa%c.ps:])
		dst = dst[n:]
		pa += uint64(n)
	}
	return nil
}

func (c *pageCache) u64(pa uint64) (uint64, error) {
	if pa%8 == 0 {
		p, err := c.page(pa / c.ps)
		if err != nil {
			return 0, fmt.Errorf("physical address %#x: %w", pa, err)
		}
		o := pa % c.ps
		return le64(p[o:]), nil
	}
	var b [8]byte
	if err := c.readPhys(b[:], pa); err != nil {
		return 0, err
	}
	return le64(b[:]), nil
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
