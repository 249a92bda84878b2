package mem

import (
	"fmt"
	"math/bits"
)

// Bitmap holds one bit per page frame for pfns [0, Len()). Bit p lives in
// byte p/8 at bit position p%8 (least significant first), the on-disk
// layout of kdump-compressed bitmaps.
//
// Rank (the number of set bits below a pfn) is answered in constant time
// from a table of prefix counts built by Freeze; kdump readers need it to
// find a page's descriptor.
type Bitmap struct {
	b    []byte
	n    PFN
	rank []uint64 // rank[i] = set bits in pfns [0, i*rankStride); nil until Freeze
}

// rankStride is the number of pfns per prefix-count entry. 4096 pfns cost
// 512 bytes of bitmap per 8-byte count, so the table is 1/64 of the bitmap.
const rankStride = 4096

// NewBitmap returns an all-clear bitmap for n pages.
func NewBitmap(n PFN) *Bitmap {
	return &Bitmap{b: make([]byte, (uint64(n)+7)/8), n: n}
}

// BitmapFromBytes wraps raw bitmap bytes covering n pages. It does not copy
// b. It fails if b is too short for n pages.
func BitmapFromBytes(b []byte, n PFN) (*Bitmap, error) {
	need := (uint64(n) + 7) / 8
	if uint64(len(b)) < need {
		return nil, fmt.Errorf("bitmap of %d bytes is too short for %d pages", len(b), uint64(n))
	}
	return &Bitmap{b: b[:need], n: n}, nil
}

// Len returns the number of pages the bitmap covers.
func (m *Bitmap) Len() PFN { return m.n }

// Bytes returns the underlying bytes (not a copy).
func (m *Bitmap) Bytes() []byte { return m.b }

// Test reports whether the bit for p is set; pfns beyond Len are clear.
func (m *Bitmap) Test(p PFN) bool {
	if p >= m.n {
		return false
	}
	return m.b[p>>3]&(1<<(p&7)) != 0
}

// Set sets the bit for p. It must not be called after Freeze.
func (m *Bitmap) Set(p PFN) {
	if p < m.n {
		m.b[p>>3] |= 1 << (p & 7)
		m.rank = nil
	}
}

// Clear clears the bit for p.
func (m *Bitmap) Clear(p PFN) {
	if p < m.n {
		m.b[p>>3] &^= 1 << (p & 7)
		m.rank = nil
	}
}

// SetRange sets the bits for [start, end), clamped to Len.
func (m *Bitmap) SetRange(start, end PFN) {
	if end > m.n {
		end = m.n
	}
	for p := start; p < end; {
		if p&7 == 0 && end-p >= 8 {
			m.b[p>>3] = 0xff
			p += 8
			continue
		}
		m.b[p>>3] |= 1 << (p & 7)
		p++
	}
	m.rank = nil
}

// ClearRange clears the bits for [start, end), clamped to Len.
func (m *Bitmap) ClearRange(start, end PFN) {
	if end > m.n {
		end = m.n
	}
	for p := start; p < end; {
		if p&7 == 0 && end-p >= 8 {
			m.b[p>>3] = 0
			p += 8
			continue
		}
		m.b[p>>3] &^= 1 << (p & 7)
		p++
	}
	m.rank = nil
}

// Count returns the number of set bits.
func (m *Bitmap) Count() uint64 { return m.countBelow(m.n) }

// countBelow counts set bits in [0, p) by scanning.
func (m *Bitmap) countBelow(p PFN) uint64 {
	return m.countRange(0, p)
}

// countRange counts set bits in [start, end) by scanning; start must be a
// multiple of 8.
func (m *Bitmap) countRange(start, end PFN) uint64 {
	if end > m.n {
		end = m.n
	}
	var c uint64
	i := uint64(start) / 8
	full := uint64(end) / 8
	for ; i+8 <= full; i += 8 {
		b := m.b[i : i+8]
		c += uint64(bits.OnesCount64(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56))
	}
	for ; i < full; i++ {
		c += uint64(bits.OnesCount8(m.b[i]))
	}
	if rem := uint64(end) & 7; rem != 0 {
		c += uint64(bits.OnesCount8(m.b[full] & (1<<rem - 1)))
	}
	return c
}

// Freeze builds the prefix-count table that makes Rank fast. Call it once
// the bitmap is final; Set and Clear drop the table again.
func (m *Bitmap) Freeze() {
	n := uint64(m.n)/rankStride + 1
	rank := make([]uint64, n)
	var c uint64
	for i := uint64(1); i < n; i++ {
		c += m.countRange(PFN((i-1)*rankStride), PFN(i*rankStride))
		rank[i] = c
	}
	m.rank = rank
}

// Rank returns the number of set bits for pfns in [0, p).
func (m *Bitmap) Rank(p PFN) uint64 {
	if p > m.n {
		p = m.n
	}
	if m.rank == nil {
		return m.countBelow(p)
	}
	i := uint64(p) / rankStride
	base := PFN(i * rankStride)
	return m.rank[i] + m.countRange(base, p)
}

// Next returns the first set pfn at or after p, and false if none.
func (m *Bitmap) Next(p PFN) (PFN, bool) {
	for p < m.n {
		by := m.b[p>>3] >> (p & 7)
		if by == 0 {
			p = (p | 7) + 1
			continue
		}
		p += PFN(bits.TrailingZeros8(by))
		if p < m.n {
			return p, true
		}
		return 0, false
	}
	return 0, false
}

// Ranges returns the maximal runs of set bits as half-open pfn ranges.
func (m *Bitmap) Ranges() []PFNRange {
	var out []PFNRange
	p := PFN(0)
	for {
		s, ok := m.Next(p)
		if !ok {
			return out
		}
		e := s + 1
		for e < m.n && m.Test(e) {
			e++
		}
		out = append(out, PFNRange{s, e})
		p = e
	}
}
