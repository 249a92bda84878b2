package mem

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// Bitmap holds one bit per page frame for pfns [0, Len()). Its byte form
// (ReadAt, BitmapFromBytes) has bit p in byte p/8 at bit position p%8
// (least significant first), the on-disk layout of kdump-compressed
// bitmaps.
//
// The bits live in chunks of ChunkPFNs pages. A chunk whose bits are all
// clear or all set is not stored: it points to one of two shared,
// read-only chunks. So a bitmap costs memory only where its bits are
// mixed, plus one pointer per chunk (64 KiB per TiB of 4 KiB pages): the
// RAM map of a machine (long runs of set bits with a few holes) and the
// keep map of a sparse core stay small however large the machine. Set,
// Clear and the range operations turn a shared chunk into a private one
// when they must change it; Compact and Freeze turn private chunks that
// became uniform back into shared ones.
//
// Rank (the number of set bits below a pfn) is answered in constant time
// from a table of prefix counts built by Freeze; kdump readers need it to
// find a page's descriptor.
//
// Goroutines may change disjoint sets of whole chunks (ranges aligned to
// ChunkPFNs) at the same time, and read a bitmap nobody changes; nothing
// else is safe for concurrent use.
type Bitmap struct {
	n    PFN
	c    []*chunk
	rank []rankEntry // one per chunk; nil until Freeze
	sum  uint64      // set bits; valid with rank
}

// ChunkPFNs is the number of pages per chunk of a Bitmap. Chunks start at
// multiples of it.
const ChunkPFNs = 1 << chunkShift

const (
	chunkShift = 15
	chunkMask  = ChunkPFNs - 1
	chunkWords = ChunkPFNs / 64
	// subWords is the number of words per in-chunk prefix count, so
	// Rank counts at most that many words.
	subWords = 64
	nSub     = chunkWords / subWords
	// ChunkBytes is the size of one chunk in the byte form.
	chunkBytes = ChunkPFNs / 8
)

type chunk [chunkWords]uint64

// rankEntry holds the set bits below a chunk and, for a private chunk,
// below each subWords words of it.
type rankEntry struct {
	base uint64
	sub  [nSub]uint16
}

// The shared chunks. They are never written: every write path asks
// writable for a private chunk first.
var (
	zeroChunk = new(chunk)
	fullChunk = func() *chunk {
		c := new(chunk)
		for i := range c {
			c[i] = ^uint64(0)
		}
		return c
	}()
)

// NewBitmap returns an all-clear bitmap for n pages. It allocates one
// pointer per chunk and no bits.
func NewBitmap(n PFN) *Bitmap {
	nc := (uint64(n) + ChunkPFNs - 1) / ChunkPFNs
	c := make([]*chunk, nc)
	for i := range c {
		c[i] = zeroChunk
	}
	return &Bitmap{n: n, c: c}
}

// BitmapFromBytes returns a bitmap of n pages holding the bits of b, in
// the byte form. It copies b (only the chunks that are mixed) and ignores
// bits at n and above. It fails if b is too short for n pages.
func BitmapFromBytes(b []byte, n PFN) (*Bitmap, error) {
	need := (uint64(n) + 7) / 8
	if uint64(len(b)) < need {
		return nil, fmt.Errorf("bitmap of %d bytes is too short for %d pages", len(b), uint64(n))
	}
	m := NewBitmap(n)
	for i := range m.c {
		off := uint64(i) * chunkBytes
		m.loadChunk(i, b[off:min(off+chunkBytes, need)])
	}
	return m, nil
}

// ReadBitmap reads the byte form of a bitmap of n pages from r at off, a
// chunk at a time, so that only the mixed chunks are ever held.
func ReadBitmap(r io.ReaderAt, off int64, n PFN) (*Bitmap, error) {
	need := (uint64(n) + 7) / 8
	m := NewBitmap(n)
	// Read up to readChunks chunks at once: fewer reads on slow files.
	const readChunks = 64
	buf := make([]byte, min(need, readChunks*chunkBytes))
	for i := 0; i < len(m.c); i += readChunks {
		o := uint64(i) * chunkBytes
		b := buf[:min(uint64(len(buf)), need-o)]
		k, err := r.ReadAt(b, off+int64(o))
		if k < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("bitmap byte %#x of %#x: %w", o+uint64(k), need, err)
		}
		for j := i; j < min(i+readChunks, len(m.c)); j++ {
			q := uint64(j-i) * chunkBytes
			m.loadChunk(j, b[q:min(q+chunkBytes, uint64(len(b)))])
		}
	}
	return m, nil
}

// loadChunk fills chunk i from its bytes (fewer than chunkBytes for the
// last one), keeping it shared when it is uniform.
func (m *Bitmap) loadChunk(i int, b []byte) {
	var w chunk
	for k := 0; k < len(b); k += 8 {
		if len(b)-k >= 8 {
			w[k/8] = binary.LittleEndian.Uint64(b[k:])
			continue
		}
		for j := k; j < len(b); j++ {
			w[k/8] |= uint64(b[j]) << (8 * (j - k))
		}
	}
	if base := PFN(i) << chunkShift; m.n-base < ChunkPFNs {
		// Bits at n and above stay clear in every chunk.
		lim := uint(m.n - base)
		for k := lim / 64; k < chunkWords; k++ {
			if lim > k*64 {
				w[k] &= 1<<(lim-k*64) - 1
			} else {
				w[k] = 0
			}
		}
	}
	switch {
	case w == *zeroChunk:
		m.c[i] = zeroChunk
	case w == *fullChunk:
		m.c[i] = fullChunk
	default:
		c := new(chunk)
		*c = w
		m.c[i] = c
	}
}

// Len returns the number of pages the bitmap covers.
func (m *Bitmap) Len() PFN { return m.n }

// ByteLen returns the size of the byte form: (Len()+7)/8.
func (m *Bitmap) ByteLen() int64 { return int64((uint64(m.n) + 7) / 8) }

// partial reports whether chunk i reaches past n (only the last one can).
func (m *Bitmap) partial(i int) bool {
	return uint64(i+1)*ChunkPFNs > uint64(m.n)
}

// writable returns chunk i as a private chunk, copying a shared one.
func (m *Bitmap) writable(i int) *chunk {
	c := m.c[i]
	if c == zeroChunk || c == fullChunk {
		p := new(chunk)
		*p = *c
		m.c[i] = p
		c = p
	}
	m.dropRank()
	return c
}

// dropRank forgets the rank table after a change. It writes the field
// only when there is a table, so goroutines changing their own chunks of
// an unfrozen bitmap do not write shared memory.
func (m *Bitmap) dropRank() {
	if m.rank != nil {
		m.rank = nil
	}
}

// Test reports whether the bit for p is set; pfns beyond Len are clear.
func (m *Bitmap) Test(p PFN) bool {
	if p >= m.n {
		return false
	}
	return m.c[p>>chunkShift][p&chunkMask>>6]&(1<<(p&63)) != 0
}

// Set sets the bit for p.
func (m *Bitmap) Set(p PFN) {
	if p < m.n && !m.Test(p) {
		m.writable(int(p >> chunkShift))[p&chunkMask>>6] |= 1 << (p & 63)
	}
}

// Clear clears the bit for p.
func (m *Bitmap) Clear(p PFN) {
	if m.Test(p) {
		m.writable(int(p >> chunkShift))[p&chunkMask>>6] &^= 1 << (p & 63)
	}
}

// SetRange sets the bits for [start, end), clamped to Len.
func (m *Bitmap) SetRange(start, end PFN) { m.fill(start, end, true) }

// ClearRange clears the bits for [start, end), clamped to Len.
func (m *Bitmap) ClearRange(start, end PFN) {
	// Most runs a filter clears are a few pages inside one word.
	if start < end && end <= m.n && start>>6 == (end-1)>>6 {
		c := m.c[start>>chunkShift]
		if c == zeroChunk {
			return
		}
		if c != fullChunk {
			c[start&chunkMask>>6] &^= (^uint64(0) >> (64 - (end - start))) << (start & 63)
			m.dropRank()
			return
		}
	}
	m.fill(start, end, false)
}

func (m *Bitmap) fill(start, end PFN, on bool) {
	end = min(end, m.n)
	for start < end {
		i := int(start >> chunkShift)
		base := PFN(i) << chunkShift
		lo, hi := uint(start-base), uint(min(end-base, ChunkPFNs))
		start = base + PFN(hi)
		if lo == 0 && hi == ChunkPFNs {
			// A whole chunk: share (the last, partial chunk never
			// gets here, so the full chunk never covers pfns ≥ n).
			if on {
				m.c[i] = fullChunk
			} else {
				m.c[i] = zeroChunk
			}
			m.dropRank()
			continue
		}
		if c := m.c[i]; (on && c == fullChunk) || (!on && c == zeroChunk) {
			continue
		}
		w := m.writable(i)
		for lo < hi {
			k := lo >> 6
			b := lo & 63
			n := min(hi-lo, 64-b)
			mask := (^uint64(0) >> (64 - n)) << b
			if on {
				w[k] |= mask
			} else {
				w[k] &^= mask
			}
			lo += n
		}
	}
}

// uniform returns the shared chunk equal to chunk i, or nil.
func (m *Bitmap) uniform(i int) *chunk {
	c := m.c[i]
	if c == zeroChunk || c == fullChunk {
		return c
	}
	or, and := uint64(0), ^uint64(0)
	for _, w := range c {
		or |= w
		and &= w
	}
	switch {
	case or == 0:
		return zeroChunk
	case and == ^uint64(0) && !m.partial(i):
		return fullChunk
	}
	return nil
}

// Compact shares the chunks that lie wholly in [start, end) (the last
// chunk counts when end reaches Len) and became all clear or all set.
// Code that clears or sets many bits calls it when it is done with a
// range, so memory is held for mixed chunks only; Freeze compacts all.
func (m *Bitmap) Compact(start, end PFN) {
	end = min(end, m.n)
	i := int((start + chunkMask) >> chunkShift)
	for ; i < len(m.c); i++ {
		base := PFN(i) << chunkShift
		if base+ChunkPFNs > end && !(end == m.n && m.partial(i)) {
			break
		}
		if u := m.uniform(i); u != nil && u != m.c[i] {
			m.c[i] = u
		}
	}
}

// Private returns the number of chunks the bitmap holds memory for.
func (m *Bitmap) Private() int {
	k := 0
	for _, c := range m.c {
		if c != zeroChunk && c != fullChunk {
			k++
		}
	}
	return k
}

// Footprint returns the bytes the bitmap holds: its private chunks, the
// chunk table and the rank table.
func (m *Bitmap) Footprint() int64 {
	return int64(m.Private())*chunkBytes + int64(len(m.c))*8 + int64(cap(m.rank))*int64(8+2*nSub)
}

// chunkCount counts the set bits of chunk i.
func (m *Bitmap) chunkCount(i int) uint64 {
	switch c := m.c[i]; c {
	case zeroChunk:
		return 0
	case fullChunk:
		return ChunkPFNs
	default:
		return popcount(c[:])
	}
}

func popcount(ws []uint64) uint64 {
	var n int
	for _, w := range ws {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// Count returns the number of set bits.
func (m *Bitmap) Count() uint64 {
	if m.rank != nil {
		return m.sum
	}
	var n uint64
	for i := range m.c {
		n += m.chunkCount(i)
	}
	return n
}

// Freeze compacts the bitmap and builds the prefix-count table that makes
// Rank fast. Call it once the bitmap is final; changing a bit drops the
// table again.
func (m *Bitmap) Freeze() {
	m.Compact(0, m.n)
	rank := make([]rankEntry, len(m.c))
	var n uint64
	for i, c := range m.c {
		rank[i].base = n
		if c != zeroChunk && c != fullChunk {
			var s uint64
			for k := 0; k < nSub; k++ {
				rank[i].sub[k] = uint16(s)
				s += popcount(c[k*subWords : (k+1)*subWords])
			}
		}
		n += m.chunkCount(i)
	}
	m.rank, m.sum = rank, n
}

// Rank returns the number of set bits for pfns in [0, p).
func (m *Bitmap) Rank(p PFN) uint64 {
	if p >= m.n {
		return m.Count()
	}
	i := int(p >> chunkShift)
	off := uint64(p & chunkMask)
	c := m.c[i]
	if m.rank == nil {
		var n uint64
		for k := 0; k < i; k++ {
			n += m.chunkCount(k)
		}
		return n + chunkRank(c, 0, off)
	}
	e := &m.rank[i]
	switch c {
	case zeroChunk:
		return e.base
	case fullChunk:
		return e.base + off
	}
	s := off / 64 / subWords
	return e.base + uint64(e.sub[s]) + chunkRank(c, s*subWords, off)
}

// chunkRank counts the set bits of c from word w0 to bit off.
func chunkRank(c *chunk, w0, off uint64) uint64 {
	switch c {
	case zeroChunk:
		return 0
	case fullChunk:
		return off - w0*64
	}
	k := off / 64
	n := popcount(c[w0:k])
	if r := off & 63; r != 0 {
		n += uint64(bits.OnesCount64(c[k] & (1<<r - 1)))
	}
	return n
}

// Next returns the first set pfn at or after p, and false if none.
func (m *Bitmap) Next(p PFN) (PFN, bool) { return m.NextIn(p, m.n) }

// NextIn returns the first set pfn in [p, end), and false if none. It
// reads no word of the bitmap past the one holding end-1, so a goroutine
// may search its own chunks while others change theirs.
func (m *Bitmap) NextIn(p, end PFN) (PFN, bool) {
	end = min(end, m.n)
	for p < end {
		i := p >> chunkShift
		c := m.c[i]
		switch c {
		case zeroChunk:
			p = (i + 1) << chunkShift
			continue
		case fullChunk:
			return p, true
		}
		base := i << chunkShift
		k := uint64(p&chunkMask) >> 6
		if w := c[k] >> (p & 63); w != 0 {
			q := p + PFN(bits.TrailingZeros64(w))
			return q, q < end
		}
		for k++; k < chunkWords; k++ {
			q := base + PFN(k*64)
			if q >= end {
				return 0, false
			}
			if w := c[k]; w != 0 {
				q += PFN(bits.TrailingZeros64(w))
				return q, q < end
			}
		}
		p = base + ChunkPFNs
	}
	return 0, false
}

// nextClear returns the first clear pfn at or after p, or Len.
func (m *Bitmap) nextClear(p PFN) PFN {
	for p < m.n {
		i := p >> chunkShift
		c := m.c[i]
		switch c {
		case fullChunk:
			p = (i + 1) << chunkShift
			continue
		case zeroChunk:
			return p
		}
		base := i << chunkShift
		k := uint64(p&chunkMask) >> 6
		if w := ^c[k] >> (p & 63); w != 0 {
			return min(p+PFN(bits.TrailingZeros64(w)), m.n)
		}
		for k++; k < chunkWords; k++ {
			if w := ^c[k]; w != 0 {
				return min(base+PFN(k*64)+PFN(bits.TrailingZeros64(w)), m.n)
			}
		}
		p = base + ChunkPFNs
	}
	return m.n
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
		e := m.nextClear(s)
		out = append(out, PFNRange{s, e})
		p = e
	}
}

// ReadAt reads the byte form of the bitmap (ByteLen bytes) at byte offset
// off, as io.ReaderAt does, so a writer can store a bitmap of any size
// through a small buffer.
func (m *Bitmap) ReadAt(p []byte, off int64) (int, error) {
	size := m.ByteLen()
	if off < 0 {
		return 0, fmt.Errorf("bitmap: negative offset %d", off)
	}
	if off >= size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > size-off {
		n = int(size - off)
	}
	for done := 0; done < n; {
		o := uint64(off) + uint64(done)
		c := m.c[o/chunkBytes]
		in := o % chunkBytes
		k := int(min(uint64(n-done), chunkBytes-in))
		dst := p[done : done+k]
		switch c {
		case zeroChunk:
			clear(dst)
		case fullChunk:
			for j := range dst {
				dst[j] = 0xff
			}
		default:
			j := 0
			for ; j < k && (in+uint64(j))%8 != 0; j++ {
				b := in + uint64(j)
				dst[j] = byte(c[b/8] >> (8 * (b % 8)))
			}
			for ; j+8 <= k; j += 8 {
				binary.LittleEndian.PutUint64(dst[j:], c[(in+uint64(j))/8])
			}
			for ; j < k; j++ {
				b := in + uint64(j)
				dst[j] = byte(c[b/8] >> (8 * (b % 8)))
			}
		}
		done += k
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Equal reports whether m and o cover the same pages with the same bits.
func (m *Bitmap) Equal(o *Bitmap) bool {
	if m.n != o.n {
		return false
	}
	for i, c := range m.c {
		if c != o.c[i] && *c != *o.c[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of m covering n pages: m's bits below min(n,
// Len()), clear above. Shared chunks stay shared.
func (m *Bitmap) Clone(n PFN) *Bitmap {
	c := NewBitmap(n)
	c.CopyRange(m, 0, min(n, m.n))
	return c
}

// CopyRange makes the bits of m for [start, end) equal to src's (clamped
// to both lengths). Whole chunks are copied as chunks.
func (m *Bitmap) CopyRange(src *Bitmap, start, end PFN) {
	end = min(end, m.n, src.n)
	for start < end {
		i := int(start >> chunkShift)
		base := PFN(i) << chunkShift
		lo, hi := uint(start-base), uint(min(end-base, ChunkPFNs))
		start = base + PFN(hi)
		s := src.c[i]
		if lo == 0 && hi == ChunkPFNs {
			if s == zeroChunk || s == fullChunk {
				m.c[i] = s
				m.dropRank()
			} else {
				*m.writable(i) = *s
			}
			continue
		}
		if s == m.c[i] && (s == zeroChunk || s == fullChunk) {
			continue
		}
		w := m.writable(i)
		for lo < hi {
			k := lo >> 6
			b := lo & 63
			n := min(hi-lo, 64-b)
			mask := (^uint64(0) >> (64 - n)) << b
			w[k] = w[k]&^mask | s[k]&mask
			lo += n
		}
	}
}

// Slice returns a new bitmap of hi-lo pages whose bit i is m's bit lo+i
// (clear for pfns at or beyond Len). lo must be a multiple of ChunkPFNs,
// so chunks line up: shared chunks stay shared and a mixed chunk is
// copied. It is how a window of a large bitmap is taken without a
// pointer table for the whole machine.
func (m *Bitmap) Slice(lo, hi PFN) *Bitmap {
	if lo%ChunkPFNs != 0 {
		panic(fmt.Sprintf("mem: Slice at %#x, not a multiple of %#x", uint64(lo), ChunkPFNs))
	}
	hi = max(hi, lo)
	s := NewBitmap(hi - lo)
	first := int(lo >> chunkShift)
	for i := range s.c {
		if first+i >= len(m.c) {
			break
		}
		c := m.c[first+i]
		base := PFN(i) << chunkShift
		switch {
		case c == zeroChunk:
		case c == fullChunk && !s.partial(i) && !m.partial(first+i):
			s.c[i] = fullChunk
		default:
			w := new(chunk)
			*w = *c
			// Bits past either bitmap's end stay clear.
			lim := uint64(min(s.n-base, ChunkPFNs))
			if mb := PFN(first+i) << chunkShift; m.n-mb < PFN(lim) {
				lim = uint64(m.n - mb)
			}
			for k := lim / 64; k < chunkWords; k++ {
				if lim > k*64 {
					w[k] &= 1<<(lim-k*64) - 1
				} else {
					w[k] = 0
				}
			}
			s.c[i] = w
			if u := s.uniform(i); u != nil {
				s.c[i] = u
			}
		}
	}
	return s
}

// PrivateIn returns the number of chunks holding pfns of [start, end)
// that the bitmap holds memory for. A goroutine may count its own chunks
// while others change theirs.
func (m *Bitmap) PrivateIn(start, end PFN) int {
	end = min(end, m.n)
	if start >= end {
		return 0
	}
	k := 0
	for i := int(start >> chunkShift); i <= int((end-1)>>chunkShift); i++ {
		if c := m.c[i]; c != zeroChunk && c != fullChunk {
			k++
		}
	}
	return k
}
