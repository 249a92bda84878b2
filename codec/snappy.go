package codec

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// The snappy block format (page flag 0x4) is small enough to carry here:
// a library for it (the only one with a snappy-compatible encoder is
// github.com/klauspost/compress/s2) links crypto/rand and encoding/json
// into every binary that compresses pages, for its framing format and
// index, which kdump pages never use.
//
// A block is the uvarint length of the decoded data, then elements, each
// starting with a tag byte whose low two bits give its kind:
//
//	00 literal: length-1 in the upper six bits, or 60..63 there meaning
//	   that 1..4 little-endian bytes of length-1 follow; then the bytes
//	01 copy of 4..11 bytes: length-4 in bits 2..4, offset bits 8..10 in
//	   bits 5..7, then one byte of offset bits 0..7
//	10 copy of 1..64 bytes: length-1 in the upper six bits, then a
//	   16-bit little-endian offset
//	11 the same with a 32-bit offset
//
// A copy repeats the bytes offset back from the end of what is decoded
// so far (offset 0 is invalid); it may overlap what it produces.

// snappyMaxEncodedLen bounds what our encoder writes for n bytes. Every
// copy element stores at least 4 bytes in at most 3, so it saves at least
// one byte; a literal's header costs 1 byte up to 60 bytes, 2 up to 256
// and 3 beyond (a literal never crosses a 64 KiB piece). So beyond the
// 10-byte length preamble and n itself, each piece adds at most 3 bytes
// for its first literal and one byte per literal longer than 256 bytes:
// n/256 in all. (The reference encoder's bound, 32 + n + n/6, covers any
// conforming encoder and would make every page buffer 10% larger.)
func snappyMaxEncodedLen(n int) int { return binary.MaxVarintLen64 + n + 3*(n/snappyBlock+1) + n/256 }

// snappyBlock is the largest piece of input the encoder matches within:
// offsets stay below 65536, so every copy fits the 2-byte-offset forms.
const snappyBlock = 1 << 16

// snappyMinMatchInput is the shortest piece worth searching for matches:
// a shorter one is written as one literal.
const snappyMinMatchInput = 17

// snappyEncoder holds the hash table of the match finder: for each hash
// of 4 input bytes, the last position within the current piece that had
// it. It is sized to the piece (256 entries up to 16 Ki), so a 4 KiB page
// uses 8 KiB of it.
type snappyEncoder struct {
	table []uint16
}

// encode writes the snappy block for src into dst, which must have
// snappyMaxEncodedLen(len(src)) bytes, and returns its length.
func (e *snappyEncoder) encode(dst, src []byte) int {
	d := binary.PutUvarint(dst, uint64(len(src)))
	for len(src) > 0 {
		p := src[:min(len(src), snappyBlock)]
		src = src[len(p):]
		if len(p) < snappyMinMatchInput {
			d += snappyLiteral(dst[d:], p)
			continue
		}
		d += e.encodePiece(dst[d:], p)
	}
	return d
}

// snappyHash maps 4 bytes to a table index of the given width; the
// multiplier is the reference implementation's.
func snappyHash(u uint32, shift uint) uint32 { return (u * 0x1e35a7bd) >> shift }

func load32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

// encodePiece finds matches in p (at most snappyBlock bytes, at least
// snappyMinMatchInput) and writes p's elements to dst.
//
// The search is the reference encoder's: hash the 4 bytes at each
// probed position and compare them with those at the position last seen
// with that hash. Probes move one byte at a time for the first 32 misses
// and ever further apart the longer no match turns up, so incompressible
// data is skipped quickly. After a match, the positions
// just before and at its end are hashed, and a match right at its end is
// taken at once.
func (e *snappyEncoder) encodePiece(dst, p []byte) int {
	size := 1 << 8
	for size < 1<<14 && size < len(p) {
		size <<= 1
	}
	if cap(e.table) < size {
		e.table = make([]uint16, size)
	}
	table := e.table[:size]
	clear(table)
	shift := uint(32 - bits.TrailingZeros(uint(size)))

	// The last 15 bytes are never the start of a match: load32 at a
	// probe position and the match extension's 8-byte steps stay within
	// p without further checks.
	limit := len(p) - 15
	d := 0
	emitted := 0 // p[:emitted] is written
	s := 1
	h := snappyHash(load32(p, s), shift)
	for {
		// Look for a position s whose 4 bytes equal those at cand.
		skip := 32
		next := s
		var cand int
		for {
			s = next
			next = s + skip>>5
			skip += skip >> 5
			if next > limit {
				goto tail
			}
			cand = int(table[h])
			table[h] = uint16(s)
			h = snappyHash(load32(p, next), shift)
			if load32(p, s) == load32(p, cand) {
				break
			}
		}
		d += snappyLiteral(dst[d:], p[emitted:s])

		// Emit the match, then look for another right at its end.
		for {
			start := s
			s = snappyExtend(p, cand+4, s+4)
			d += snappyCopy(dst[d:], start-cand, s-start)
			emitted = s
			if s >= limit {
				goto tail
			}
			x := binary.LittleEndian.Uint64(p[s-1:])
			table[snappyHash(uint32(x), shift)] = uint16(s - 1)
			hs := snappyHash(uint32(x>>8), shift)
			cand = int(table[hs])
			table[hs] = uint16(s)
			if uint32(x>>8) != load32(p, cand) {
				s++
				h = snappyHash(uint32(x>>16), shift)
				break
			}
		}
	}
tail:
	if emitted < len(p) {
		d += snappyLiteral(dst[d:], p[emitted:])
	}
	return d
}

// snappyExtend returns the end of the match that continues at a and b
// (a < b), comparing 8 bytes at a time.
func snappyExtend(p []byte, a, b int) int {
	for b+8 <= len(p) {
		x := binary.LittleEndian.Uint64(p[a:]) ^ binary.LittleEndian.Uint64(p[b:])
		if x != 0 {
			return b + bits.TrailingZeros64(x)>>3
		}
		a += 8
		b += 8
	}
	for b < len(p) && p[a] == p[b] {
		a++
		b++
	}
	return b
}

// snappyLiteral writes a literal element holding lit and returns its
// length. lit may be empty (nothing is written).
func snappyLiteral(dst, lit []byte) int {
	n := len(lit) - 1
	var d int
	switch {
	case n < 0:
		return 0
	case n < 60:
		dst[0] = byte(n) << 2
		d = 1
	case n < 1<<8:
		dst[0] = 60 << 2
		dst[1] = byte(n)
		d = 2
	case n < 1<<16:
		dst[0] = 61 << 2
		binary.LittleEndian.PutUint16(dst[1:], uint16(n))
		d = 3
	default: // a piece is at most 64 KiB
		dst[0] = 62 << 2
		dst[1] = byte(n)
		dst[2] = byte(n >> 8)
		dst[3] = byte(n >> 16)
		d = 4
	}
	return d + copy(dst[d:], lit)
}

// snappyCopy writes copy elements for a match of length bytes at offset
// (1..65535) and returns their length.
func snappyCopy(dst []byte, offset, length int) int {
	d := 0
	// Long matches go in 64-byte pieces, leaving at least 4 bytes (the
	// 1-byte-offset form's minimum) for the last one.
	for length >= 68 {
		d += snappyCopy2(dst[d:], offset, 64)
		length -= 64
	}
	if length > 64 {
		d += snappyCopy2(dst[d:], offset, 60)
		length -= 60
	}
	if length >= 12 || offset >= 2048 {
		return d + snappyCopy2(dst[d:], offset, length)
	}
	dst[d] = byte(offset>>8)<<5 | byte(length-4)<<2 | 1
	dst[d+1] = byte(offset)
	return d + 2
}

func snappyCopy2(dst []byte, offset, length int) int {
	dst[0] = byte(length-1)<<2 | 2
	binary.LittleEndian.PutUint16(dst[1:], uint16(offset))
	return 3
}

// decodeSnappy decodes the snappy block src into dst, which it must fill
// exactly. Every length and offset is checked against what is left of
// src and dst before use.
func decodeSnappy(dst, src []byte) error {
	n, k := binary.Uvarint(src)
	if k <= 0 || k > 5 { // a 32-bit length takes at most 5 bytes
		return fmt.Errorf("snappy: bad length preamble: %w", ErrCorrupt)
	}
	if n != uint64(len(dst)) {
		return fmt.Errorf("snappy: block decodes to %d bytes, want %d: %w", n, len(dst), ErrCorrupt)
	}
	s, d := k, 0
	for s < len(src) {
		tag := src[s]
		var length, offset int
		switch tag & 3 {
		case 0:
			x := int(tag >> 2)
			s++
			if x >= 60 {
				nb := x - 59 // 1..4 length bytes
				if nb > len(src)-s {
					return fmt.Errorf("snappy: literal length at %d cut short: %w", s-1, ErrCorrupt)
				}
				x = 0
				for i := nb - 1; i >= 0; i-- {
					x = x<<8 | int(src[s+i])
				}
				s += nb
			}
			length = x + 1
			if length > len(dst)-d || length > len(src)-s {
				return fmt.Errorf("snappy: literal of %d bytes at %d overruns the block: %w", length, s, ErrCorrupt)
			}
			copy(dst[d:], src[s:s+length])
			d += length
			s += length
			continue
		case 1:
			if len(src)-s < 2 {
				return fmt.Errorf("snappy: copy at %d cut short: %w", s, ErrCorrupt)
			}
			length = 4 + int(tag>>2&7)
			offset = int(tag>>5)<<8 | int(src[s+1])
			s += 2
		case 2:
			if len(src)-s < 3 {
				return fmt.Errorf("snappy: copy at %d cut short: %w", s, ErrCorrupt)
			}
			length = 1 + int(tag>>2)
			offset = int(binary.LittleEndian.Uint16(src[s+1:]))
			s += 3
		case 3:
			if len(src)-s < 5 {
				return fmt.Errorf("snappy: copy at %d cut short: %w", s, ErrCorrupt)
			}
			length = 1 + int(tag>>2)
			o := binary.LittleEndian.Uint32(src[s+1:])
			if uint64(o) > uint64(len(dst)) {
				return fmt.Errorf("snappy: copy offset %d at %d is out of range: %w", o, s, ErrCorrupt)
			}
			offset = int(o)
			s += 5
		}
		if offset == 0 || offset > d {
			return fmt.Errorf("snappy: copy offset %d at output %d is out of range: %w", offset, d, ErrCorrupt)
		}
		if length > len(dst)-d {
			return fmt.Errorf("snappy: copy of %d bytes at output %d overruns %d: %w", length, d, len(dst), ErrCorrupt)
		}
		if offset >= length {
			copy(dst[d:d+length], dst[d-offset:])
		} else {
			// An overlapping copy repeats its own output.
			for i := range length {
				dst[d+i] = dst[d-offset+i]
			}
		}
		d += length
	}
	if d != len(dst) {
		return fmt.Errorf("snappy: decoded %d bytes, want %d: %w", d, len(dst), ErrCorrupt)
	}
	return nil
}
