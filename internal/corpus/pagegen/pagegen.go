package pagegen

import (
	"encoding/binary"
	"math/bits"
)

// PageSize is the unit whose kind is chosen independently.
const PageSize = 4096

// Kind is the kind of content of one page.
type Kind int

const (
	Random  Kind = iota // incompressible
	Text                // 4 bits of entropy per byte: compresses about 2:1
	Pattern             // one 64-byte pattern repeated: compresses very well
)

// KindOf returns the kind of page index of a stream with seed: about half
// the pages are Random, a third Text and the rest Pattern.
func KindOf(seed, index uint64) Kind {
	switch h := mix(seed ^ mix(index+1)); {
	case h%16 < 8:
		return Random
	case h%16 < 13:
		return Text
	default:
		return Pattern
	}
}

// Fill fills b with the stream for seed, starting at byte offset off of the
// stream (a multiple of 8). Page kinds follow KindOf with page index
// (off+i)/PageSize. Every 8-byte word is non-zero, so no page is a zero page.
func Fill(b []byte, seed, off uint64) {
	for len(b) >= 8 {
		page := off / PageSize
		n := PageSize - int(off%PageSize)
		if n > len(b) {
			n = len(b) &^ 7
		}
		fillPage(b[:n], seed, page, KindOf(seed, page), off%PageSize)
		b = b[n:]
		off += uint64(n)
	}
}

// fillPage fills part of one page starting at byte offset in of that page.
func fillPage(b []byte, seed, page uint64, k Kind, in uint64) {
	state := mix(seed+page*0x9e3779b97f4a7c15) + in/8*0xa0761d6478bd642f
	switch k {
	case Random:
		for i := 0; i+8 <= len(b); i += 8 {
			state += 0xa0761d6478bd642f
			hi, lo := bits.Mul64(state, state^0xe7037ed1a0b428db)
			binary.LittleEndian.PutUint64(b[i:], (hi^lo)|1)
		}
	case Text:
		for i := 0; i+8 <= len(b); i += 8 {
			state += 0xa0761d6478bd642f
			hi, lo := bits.Mul64(state, state^0xe7037ed1a0b428db)
			// Bytes 'a'..'p': never zero.
			binary.LittleEndian.PutUint64(b[i:], (hi^lo)&0x0f0f0f0f0f0f0f0f+0x6161616161616161)
		}
	case Pattern:
		base := mix(seed ^ page)
		for i := 0; i+8 <= len(b); i += 8 {
			w := (in + uint64(i)) / 8 % 8
			binary.LittleEndian.PutUint64(b[i:], mix(base+w)|0x0101010101010101)
		}
	}
}

// mix is the splitmix64 finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
