package codec

import (
	"encoding/binary"
	"math/bits"
)

// A deflate encoder for single pages, used for the kdump zlib method.
//
// Why not a general deflate library: makedumpfile -c runs zlib's
// compress2 at level 1 once per page. Each call sets up and tears down
// a whole deflate state, and general Go encoders carry the same kind of
// per-stream cost (the Huffman table construction of
// github.com/klauspost/compress alone was a third of its time on 4 KiB
// pages) or compress less well than zlib level 1 at their fast levels
// (77% of the page size against zlib's 66% on the real corpus). Pages
// are small, come one at a time and are always complete, so the encoder
// below does exactly one thing: it finds matches the way zlib level 1
// does (deflate_fast: a 3-byte hash of 15 bits, hash chains followed at
// most 4 deep, a match of 8 bytes is good enough, matches of up to 4
// bytes have their positions hashed too) and writes one block, the
// smallest of stored, fixed and dynamic Huffman (optimal code lengths,
// limited to 15 bits). Its output is therefore about as small as zlib's
// (it is not byte-identical: Huffman ties and matches running past the
// end of the input are settled differently) while the hash tables are
// never cleared: entries carry a per-page base and older ones read as
// empty.

const (
	dfHashBits  = 15
	dfMaxChain  = 4
	dfNice      = 8
	dfMaxInsert = 4
	dfMinMatch  = 3
	dfMaxMatch  = 258
	dfWSize     = 1 << 15
	dfMaxDist   = dfWSize - (dfMaxMatch + dfMinMatch + 1) // zlib's MAX_DIST
	// dfMaxInput is the largest input the page encoder takes; larger
	// blocks would need a sliding window. 32 KiB covers every page
	// size Linux uses on x86_64 (4 KiB) and most others.
	dfMaxInput  = dfWSize
	dfLitCodes  = 286
	dfDistCodes = 30
	dfBLCodes   = 19
	dfEOB       = 256
)

// pageDeflater holds the tables of one encoder; one per goroutine.
type pageDeflater struct {
	// head[h] is base+pos of the last position with hash h; prev[pos]
	// the head value it replaced. Values at or below base are empty.
	head [1 << dfHashBits]uint32
	prev [dfMaxInput]uint32
	base uint32

	syms []uint32 // literal: byte; match: 1<<31 | distcode<<24 | (len-3)<<16 | (dist-1)

	lfreq [dfLitCodes]uint32
	// used has bit b set when literal b occurs in the page. Compressible
	// pages use few of the 256 literals, and the per-page work on the
	// literal tree (lengths, costs, codes) visits only those.
	used  [4]uint64
	dfreq [dfDistCodes]uint32
	lbits [dfLitCodes]uint8
	dbits [dfDistCodes]uint8
	lcode [dfLitCodes]uint16
	dcode [dfDistCodes]uint16

	blfreq [dfBLCodes]uint32
	blbits [dfBLCodes]uint8
	blcode [dfBLCodes]uint16
	rle    []uint16 // code-length codes: symbol | extra<<8

	sortBuf []uint64
	sortTmp []uint64
	lenBuf  []uint32
}

// Static tables: length and distance codes and the fixed Huffman code.
var (
	dfLenCode   [256]uint8 // (length-3) -> length code - 257
	dfLenBase   [29]uint16
	dfLenExtra  = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dfDistCode  [512]uint8 // zlib's _dist_code: dist-1 < 256, else 256+(dist-1)>>7
	dfDistBase  [30]uint16
	dfDistExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	dfBLOrder   = [dfBLCodes]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
	dfBLExtra   = [dfBLCodes]uint8{16: 2, 17: 3, 18: 7}

	dfFixedLBits [dfLitCodes + 2]uint8
	dfFixedLCode [dfLitCodes + 2]uint16
	dfFixedDBits [dfDistCodes]uint8
	dfFixedDCode [dfDistCodes]uint16
)

func init() {
	l := 0
	for code := 0; code < 28; code++ {
		dfLenBase[code] = uint16(l)
		for i := 0; i < 1<<dfLenExtra[code]; i++ {
			dfLenCode[l] = uint8(code)
			l++
		}
	}
	// Length 258 has its own code (285), not 284's last slot.
	dfLenCode[255] = 28
	dfLenBase[28] = 255
	d := 0
	for code := 0; code < 16; code++ {
		dfDistBase[code] = uint16(d)
		for i := 0; i < 1<<dfDistExtra[code]; i++ {
			dfDistCode[d] = uint8(code)
			d++
		}
	}
	d >>= 7
	for code := 16; code < 30; code++ {
		dfDistBase[code] = uint16(d << 7)
		for i := 0; i < 1<<(dfDistExtra[code]-7); i++ {
			dfDistCode[256+d] = uint8(code)
			d++
		}
	}
	for i := range dfFixedLBits {
		switch {
		case i < 144:
			dfFixedLBits[i] = 8
		case i < 256:
			dfFixedLBits[i] = 9
		case i < 280:
			dfFixedLBits[i] = 7
		default:
			dfFixedLBits[i] = 8
		}
	}
	canonicalCodes(dfFixedLBits[:], dfFixedLCode[:])
	for i := range dfFixedDBits {
		dfFixedDBits[i] = 5
	}
	canonicalCodes(dfFixedDBits[:], dfFixedDCode[:])
}

func dfDist(dist uint32) int {
	d := dist - 1
	if d < 256 {
		return int(dfDistCode[d])
	}
	return int(dfDistCode[256+d>>7])
}

// compress writes src as a zlib stream (RFC 1950, level-1 header) into
// dst and returns its length. len(src) <= dfMaxInput and len(dst) >=
// MaxEncodedLen(len(src)).
func (d *pageDeflater) compress(dst, src []byte) int {
	d.match(src)
	dst[0], dst[1] = 0x78, 0x01
	n := 2 + d.writeBlock(dst[2:], src)
	binary.BigEndian.PutUint32(dst[n:], adler32Sum(src))
	return n + 4
}

// match fills d.syms with zlib level 1's parse of src.
func (d *pageDeflater) match(src []byte) {
	n := len(src)
	if d.base > ^uint32(0)-2*dfMaxInput {
		clear(d.head[:])
		d.base = 0
	}
	base := d.base
	d.base += uint32(n) + 1
	if cap(d.syms) < n+1 {
		d.syms = make([]uint32, 0, max(n+1, 4096+1))
	}
	syms := d.syms[:n+1] // at most one symbol per byte, and the end
	k := 0
	lf, df := &d.lfreq, &d.dfreq
	clear(lf[:])
	clear(df[:])
	used := &d.used
	*used = [4]uint64{}
	head, prev := &d.head, d.prev[:n]
	// Distances need no check when the whole input fits in the window.
	far := n > dfMaxDist
	s := 0
	// hpre holds the first two bytes at s as zlib's rolling hash has
	// them before it takes in the third (UPDATE_HASH); the hash of s is
	// (hpre<<5 ^ src[s+2]) masked, and that hash is hpre for s+1. hpre
	// is kept unmasked: the bits above the mask only move up, so the
	// masked hashes are zlib's, one AND fewer per position.
	var hpre uint32
	if n >= dfMinMatch {
		hpre = uint32(src[0])<<5 ^ uint32(src[1])
	}
	for s < n-2 {
		hpre = hpre<<5 ^ uint32(src[s+2])
		h := hpre & (1<<dfHashBits - 1)
		cand := head[h] // base+pos, or <= base for none (zlib's NIL is position 0)
		prev[s] = cand
		head[h] = base + uint32(s)
		if cand <= base || (far && s-int(cand-base) > dfMaxDist) {
			b := src[s]
			lf[b]++
			used[b>>6] |= 1 << (b & 63)
			syms[k] = uint32(b)
			k++
			s++
			continue
		}
		c := int(cand - base)
		mlen, mpos := 0, c
		if s+dfNice <= n {
			// The first candidate decides most searches: a match
			// of dfNice bytes ends the search there, and a chain
			// that ends after it has nothing else to offer.
			// The loads slice with an end (one check each, see
			// matchLen).
			x := binary.LittleEndian.Uint64(src[c:c+8]) ^ binary.LittleEndian.Uint64(src[s:s+8])
			switch {
			case x == 0:
				mlen = dfNice + matchLen(src[c+dfNice:], src[s+dfNice:s+min(dfMaxMatch, n-s)])
			case prev[c] <= base:
				mlen = bits.TrailingZeros64(x) >> 3
			default:
				// Go on down the chain with what the first
				// candidate gave.
				best, bestPos := dfMinMatch-1, 0
				if l := bits.TrailingZeros64(x) >> 3; l > best {
					best, bestPos = l, c
				}
				mlen, mpos = best, bestPos
				if next := int(prev[c] - base); !far || next > s-dfMaxDist {
					mlen, mpos = d.longest(src, s, next, base, best, bestPos, dfMaxChain-1)
				}
			}
		} else {
			mlen, mpos = d.longest(src, s, c, base, dfMinMatch-1, 0, dfMaxChain)
		}
		if mlen < dfMinMatch {
			b := src[s]
			lf[b]++
			used[b>>6] |= 1 << (b & 63)
			syms[k] = uint32(b)
			k++
			s++
			continue
		}
		dist := uint32(s - mpos)
		dc := dfDist(dist)
		lf[257+int(dfLenCode[mlen-dfMinMatch])]++
		df[dc]++
		syms[k] = 1<<31 | uint32(dc)<<24 | uint32(mlen-dfMinMatch)<<16 | (dist - 1)
		k++
		if mlen <= dfMaxInsert && n-s-mlen >= dfMinMatch {
			// Short matches have their positions hashed too; the
			// rolling hash of the last one leads into the next.
			h := hpre
			for i := s + 1; i < s+mlen; i++ {
				h = h<<5 ^ uint32(src[i+2])
				prev[i] = head[h&(1<<dfHashBits-1)]
				head[h&(1<<dfHashBits-1)] = base + uint32(i)
			}
			hpre = h
			s += mlen
			continue
		}
		s += mlen
		if s < n-2 {
			hpre = uint32(src[s])<<5 ^ uint32(src[s+1])
		}
	}
	// The last bytes are too few to hash: literals.
	for ; s < n; s++ {
		lf[src[s]]++
		used[src[s]>>6] |= 1 << (src[s] & 63)
		syms[k] = uint32(src[s])
		k++
	}
	syms = syms[:k]
	d.lfreq[dfEOB] = 1
	d.syms = syms
}

// longest follows the hash chain from position cur as zlib's
// longest_match does at level 1, for at most chain candidates, and
// returns the best length (clamped to the input) and its position,
// starting from best at bestPos.
//
// zlib tests two bytes at the current best length and the first two
// before it compares a candidate in full; comparing 8 bytes at a time
// from the start finds the same matches (a candidate is taken only when
// it is longer than the best so far) with fewer branches.
func (d *pageDeflater) longest(src []byte, s, cur int, base uint32, best, bestPos, chain int) (int, int) {
	look := len(src) - s
	nice := min(dfNice, look)
	maxLen := min(dfMaxMatch, look)
	limit := 0 // positions at or below limit end the chain
	if s > dfMaxDist {
		limit = s - dfMaxDist
	}
	scan := src[s : maxLen+s]
	// Chain positions are below s < dfMaxInput: masked into the array
	// they need no bounds check (0.8% of the encoder's instructions).
	prev := &d.prev
	for {
		if l := matchLen(src[cur:], scan); l > best {
			best, bestPos = l, cur
			if l >= nice {
				break
			}
		}
		next := prev[cur&(dfMaxInput-1)]
		if next <= base {
			break
		}
		cur = int(next - base)
		if cur <= limit {
			break
		}
		chain--
		if chain == 0 {
			break
		}
	}
	return best, bestPos
}

// matchLen returns how many leading bytes a and b (the shorter) share.
func matchLen(a, b []byte) int {
	// One check up front: a is as long as b (its capacity too), so the
	// compiler proves the loads below in bounds. Each load takes a
	// slice with an explicit end: an open one (a[n:]) costs a pointer
	// mask and a length check per load; with them here and in match
	// the page encoder ran 8% more instructions.
	a = a[:len(b):len(b)]
	n := 0
	for ; n < len(b)-7; n += 8 {
		x := binary.LittleEndian.Uint64(a[n:n+8]) ^ binary.LittleEndian.Uint64(b[n:n+8])
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
	}
	for n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// bitWriter writes deflate's LSB-first bit stream into a byte slice
// that is known to be large enough.
type bitWriter struct {
	out   []byte
	n     int
	acc   uint64
	nbits uint
}

func (w *bitWriter) bits(v uint32, nb uint8) {
	w.acc |= uint64(v) << (w.nbits & 63)
	w.nbits += uint(nb)
	if w.nbits >= 48 {
		w.spill()
	}
}

// spill writes the 6 whole bytes at the bottom of the accumulator. It
// stores 8 bytes; the 2 past them are rewritten by the next spill or
// by flush.
func (w *bitWriter) spill() {
	binary.LittleEndian.PutUint64(w.out[w.n:], w.acc)
	w.n += 6
	w.acc >>= 48
	w.nbits -= 48
}

func (w *bitWriter) flush() int {
	for w.nbits > 0 {
		w.out[w.n] = byte(w.acc)
		w.n++
		w.acc >>= 8
		w.nbits -= min(w.nbits, 8)
	}
	w.acc, w.nbits = 0, 0
	return w.n
}

// writeBlock writes d.syms as one final deflate block, the smallest of
// the three kinds, and returns its length in bytes.
func (d *pageDeflater) writeBlock(dst, src []byte) int {
	d.buildLengths(d.lfreq[:], d.lbits[:], 15, &d.used)
	d.buildLengths(d.dfreq[:], d.dbits[:], 15, nil)
	lcodes := dfLitCodes
	for lcodes > 257 && d.lbits[lcodes-1] == 0 {
		lcodes--
	}
	dcodes := dfDistCodes
	for dcodes > 1 && d.dbits[dcodes-1] == 0 {
		dcodes--
	}
	// Code-length codes for both trees, run-length coded as zlib does.
	d.rle = d.rle[:0]
	clear(d.blfreq[:])
	d.scanTree(d.lbits[:lcodes])
	d.scanTree(d.dbits[:dcodes])
	d.buildLengths(d.blfreq[:], d.blbits[:], 7, nil)
	blcodes := dfBLCodes
	for blcodes > 4 && d.blbits[dfBLOrder[blcodes-1]] == 0 {
		blcodes--
	}

	// Costs in bits, without the 3-bit block header.
	var extra, dyn, fixed uint64
	for i := 257; i < dfLitCodes; i++ {
		extra += uint64(d.lfreq[i]) * uint64(dfLenExtra[i-257])
	}
	for i := 0; i < dfDistCodes; i++ {
		extra += uint64(d.dfreq[i]) * uint64(dfDistExtra[i])
		dyn += uint64(d.dfreq[i]) * uint64(d.dbits[i])
		fixed += uint64(d.dfreq[i]) * 5
	}
	for w, x := range d.used {
		for ; x != 0; x &= x - 1 {
			i := w*64 + bits.TrailingZeros64(x)
			dyn += uint64(d.lfreq[i]) * uint64(d.lbits[i])
			fixed += uint64(d.lfreq[i]) * uint64(dfFixedLBits[i])
		}
	}
	for i := 256; i < dfLitCodes; i++ {
		dyn += uint64(d.lfreq[i]) * uint64(d.lbits[i])
		fixed += uint64(d.lfreq[i]) * uint64(dfFixedLBits[i])
	}
	dyn += 5 + 5 + 4 + 3*uint64(blcodes)
	for _, r := range d.rle {
		sym := r & 0xff
		dyn += uint64(d.blbits[sym]) + uint64(dfBLExtra[sym])
	}
	dyn += extra
	fixed += extra
	storedBytes := uint64(len(src)) + 5*(uint64(len(src)+0xffff)/0xffff+b2u(len(src) == 0))
	dynBytes := (dyn + 3 + 7) / 8
	fixedBytes := (fixed + 3 + 7) / 8

	w := bitWriter{out: dst}
	switch {
	case storedBytes <= min(dynBytes, fixedBytes):
		return writeStored(dst, src)
	case fixedBytes <= dynBytes:
		w.bits(1|1<<1, 3)
		d.writeSyms(&w, dfFixedLBits[:], dfFixedLCode[:], dfFixedDBits[:], dfFixedDCode[:])
	default:
		w.bits(1|2<<1, 3)
		canonicalCodesUsed(d.lbits[:lcodes], d.lcode[:], &d.used)
		canonicalCodes(d.dbits[:dcodes], d.dcode[:])
		canonicalCodes(d.blbits[:], d.blcode[:])
		w.bits(uint32(lcodes-257), 5)
		w.bits(uint32(dcodes-1), 5)
		w.bits(uint32(blcodes-4), 4)
		for i := 0; i < blcodes; i++ {
			w.bits(uint32(d.blbits[dfBLOrder[i]]), 3)
		}
		for _, r := range d.rle {
			sym := r & 0xff
			w.bits(uint32(d.blcode[sym]), d.blbits[sym])
			if e := dfBLExtra[sym]; e > 0 {
				w.bits(uint32(r>>8), e)
			}
		}
		d.writeSyms(&w, d.lbits[:], d.lcode[:], d.dbits[:], d.dcode[:])
	}
	return w.flush()
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// writeStored writes src as final stored blocks.
func writeStored(dst, src []byte) int {
	n := 0
	for first := true; first || len(src) > 0; first = false {
		k := min(len(src), 0xffff)
		final := byte(0)
		if k == len(src) {
			final = 1
		}
		dst[n] = final // BTYPE 00, then aligned
		binary.LittleEndian.PutUint16(dst[n+1:], uint16(k))
		binary.LittleEndian.PutUint16(dst[n+3:], ^uint16(k))
		n += 5
		n += copy(dst[n:], src[:k])
		src = src[k:]
	}
	return n
}

func (d *pageDeflater) writeSyms(w *bitWriter, lbits []uint8, lcode []uint16, dbits []uint8, dcode []uint16) {
	// A literal's code and bit count come from the code tables seen as
	// arrays of 256, indexed by a byte without checks (a table of both
	// packed in one word, built per page, made the loop spill the word
	// and took 12% more instructions here). A match's length and
	// distance each go out in one piece, code and extra bits together:
	// the loop below runs for every symbol of every page.
	lc, lb := (*[256]uint16)(lcode[:256]), (*[256]uint8)(lbits[:256])
	// A code's value with its extra bits is code | (v-base)<<nb, which
	// is (code - base<<nb) + v<<nb in wrapping arithmetic: per length or
	// distance code, small tables hold that difference, the code's bit
	// count and its total with the extra bits (one packed word per code
	// took 20% more instructions here, unpacking its fields).
	var lenA, distA [32]uint64
	var lenNb, lenTot, distNb, distTot [32]uint8
	for c := 0; c < 29; c++ {
		nb := lbits[257+c]
		lenA[c] = uint64(lcode[257+c]) - uint64(dfLenBase[c])<<nb
		lenNb[c], lenTot[c] = nb, nb+dfLenExtra[c]
	}
	for c := 0; c < len(dbits); c++ {
		nb := dbits[c]
		distA[c] = uint64(dcode[c]) - uint64(dfDistBase[c])<<nb
		distNb[c], distTot[c] = nb, nb+dfDistExtra[c]
	}
	// Stores slice out with an explicit end, one check each where
	// out[n:] costs a pointer mask and a length check: 9% of this loop.
	acc, nbits, out, n := w.acc, w.nbits, w.out, w.n
	for _, s := range d.syms {
		if s < 1<<31 {
			acc |= uint64(lc[s&0xff]) << (nbits & 63)
			nbits += uint(lb[s&0xff])
		} else {
			l := uint8(s >> 16)
			c := dfLenCode[l] & 31
			acc |= (lenA[c] + uint64(l)<<(lenNb[c]&31)) << (nbits & 63)
			nbits += uint(lenTot[c])
			dc := (s >> 24) & 31
			v := distA[dc] + uint64(s&0xffff)<<(distNb[dc]&31)
			// Up to 31 bits before, 20 for the length, 28 here: spill
			// first when they would not fit.
			if nbits >= 32 {
				binary.LittleEndian.PutUint64(out[n:n+8], acc)
				n += 4
				acc >>= 32
				nbits -= 32
			}
			acc |= v << (nbits & 63)
			nbits += uint(distTot[dc])
		}
		if nbits >= 32 {
			binary.LittleEndian.PutUint64(out[n:n+8], acc)
			n += 4
			acc >>= 32
			nbits -= 32
		}
	}
	w.acc, w.nbits, w.n = acc, nbits, n
	w.bits(uint32(lcode[dfEOB]), lbits[dfEOB])
}

// scanTree run-length codes one tree's code lengths into d.rle (zlib's
// scan_tree and send_tree): 16 repeats the previous length 3-6 times,
// 17 and 18 give runs of 3-10 and 11-138 zeros.
func (d *pageDeflater) scanTree(lens []uint8) {
	emit := func(sym, extra int) {
		d.rle = append(d.rle, uint16(sym|extra<<8))
		d.blfreq[sym]++
	}
	prevlen := -1
	for i := 0; i < len(lens); {
		cur := int(lens[i])
		j := i + 1
		for j < len(lens) && int(lens[j]) == cur {
			j++
		}
		run := j - i
		i = j
		if cur == 0 {
			for run >= 11 {
				k := min(run, 138)
				emit(18, k-11)
				run -= k
			}
			if run >= 3 {
				emit(17, run-3)
				run = 0
			}
			for ; run > 0; run-- {
				emit(0, 0)
			}
			prevlen = 0
			continue
		}
		if cur != prevlen {
			emit(cur, 0)
			run--
		}
		for run >= 3 {
			k := min(run, 6)
			emit(16, k-3)
			run -= k
		}
		for ; run > 0; run-- {
			emit(cur, 0)
		}
		prevlen = cur
	}
}

// buildLengths sets lens to optimal prefix code lengths for freq,
// limited to maxBits. As zlib does, a tree gets at least two codes, so
// that every code has at least one bit. If used is not nil, the symbols
// below 256 with a frequency are exactly its set bits.
func (d *pageDeflater) buildLengths(freq []uint32, lens []uint8, maxBits int, used *[4]uint64) {
	clear(lens)
	keys := d.sortBuf[:0]
	from := 0
	if used != nil {
		for w, x := range used {
			for ; x != 0; x &= x - 1 {
				sym := w*64 + bits.TrailingZeros64(x)
				keys = append(keys, uint64(freq[sym])<<16|uint64(sym))
			}
		}
		from = 256
	}
	for sym := from; sym < len(freq); sym++ {
		if f := freq[sym]; f != 0 {
			keys = append(keys, uint64(f)<<16|uint64(sym))
		}
	}
	for sym := 0; len(keys) < 2; sym++ {
		if freq[sym] == 0 {
			keys = append(keys, 1<<16|uint64(sym))
			if used != nil && sym < 256 {
				used[sym>>6] |= 1 << (sym & 63)
			}
		}
	}
	keys = d.sortByFreq(keys)
	a := d.lenBuf[:0]
	for _, k := range keys {
		a = append(a, uint32(k>>16))
	}
	d.lenBuf = a
	minimumRedundancy(a)
	// a[i] is now the length of keys[i]; the rarest symbols come first
	// and have the longest codes.
	if int(a[0]) > maxBits {
		limitLengths(a, maxBits)
	}
	for i, k := range keys {
		lens[k&0xffff] = uint8(a[i])
	}
}

// sortByFreq sorts keys (freq<<16 | symbol, in symbol order) by
// frequency, ties in symbol order. Short lists get an insertion sort,
// longer ones a stable radix sort on 6-bit digits of the frequency (two
// passes for a 4 KiB page),
// with only as many passes as the largest frequency needs: pages use few
// symbols, so these tables are rebuilt for every page and must be cheap.
func (d *pageDeflater) sortByFreq(keys []uint64) []uint64 {
	if len(keys) <= 24 {
		insertionSortKeys(keys)
		return keys
	}
	if cap(d.sortTmp) < len(keys) {
		d.sortTmp = make([]uint64, len(keys), max(len(keys), dfLitCodes+2))
	}
	keys, tmp := radixSortKeys(keys, d.sortTmp[:len(keys)], 16)
	d.sortBuf, d.sortTmp = keys[:0], tmp[:0]
	return keys
}

// minimumRedundancy turns ascending weights into Huffman code lengths in
// place (Moffat and Katajainen's in-place algorithm). len(a) >= 2.
func minimumRedundancy(a []uint32) {
	n := len(a)
	a[0] += a[1]
	root, leaf := 0, 2
	for next := 1; next < n-1; next++ {
		if leaf >= n || a[root] < a[leaf] {
			a[next] = a[root]
			a[root] = uint32(next)
			root++
		} else {
			a[next] = a[leaf]
			leaf++
		}
		if leaf >= n || (root < next && a[root] < a[leaf]) {
			a[next] += a[root]
			a[root] = uint32(next)
			root++
		} else {
			a[next] += a[leaf]
			leaf++
		}
	}
	a[n-2] = 0
	for next := n - 3; next >= 0; next-- {
		a[next] = a[a[next]] + 1
	}
	avail, used, depth := 1, 0, uint32(0)
	root, next := n-2, n-1
	for avail > 0 {
		for root >= 0 && a[root] == depth {
			used++
			root--
		}
		for avail > used {
			a[next] = depth
			next--
			avail--
		}
		avail = 2 * used
		depth++
		used = 0
	}
}

// limitLengths caps code lengths (descending in a) at maxBits and
// repairs the Kraft sum by lengthening the shortest codes that can
// take it, as zlib's gen_bitlen does; the rarest symbols keep the
// longest codes.
func limitLengths(a []uint32, maxBits int) {
	var count [32]int
	for _, l := range a {
		count[min(int(l), maxBits)]++
	}
	// Kraft sum in units of 2^-maxBits.
	total := 0
	for l := 1; l <= maxBits; l++ {
		total += count[l] << (maxBits - l)
	}
	for total > 1<<maxBits {
		count[maxBits]--
		for l := maxBits - 1; l > 0; l-- {
			if count[l] != 0 {
				count[l]--
				count[l+1] += 2
				break
			}
		}
		total--
	}
	i := 0
	for l := maxBits; l > 0; l-- {
		for k := 0; k < count[l]; k++ {
			a[i] = uint32(l)
			i++
		}
	}
}

// canonicalCodesUsed is canonicalCodes for the literal/length tree,
// whose lengths below 256 are zero except at used's set bits.
func canonicalCodesUsed(lens []uint8, codes []uint16, used *[4]uint64) {
	var count [16]uint16
	for w, x := range used {
		for ; x != 0; x &= x - 1 {
			count[lens[w*64+bits.TrailingZeros64(x)]]++
		}
	}
	for _, l := range lens[256:] {
		count[l]++
	}
	next := firstCodes(&count)
	for w, x := range used {
		for ; x != 0; x &= x - 1 {
			i := w*64 + bits.TrailingZeros64(x)
			l := lens[i]
			codes[i] = bits.Reverse16(next[l]) >> (16 - l)
			next[l]++
		}
	}
	for i, l := range lens[256:] {
		if l == 0 {
			continue
		}
		codes[256+i] = bits.Reverse16(next[l]) >> (16 - l)
		next[l]++
	}
}

// canonicalCodes assigns deflate's canonical codes for lens, bit-reversed
// for LSB-first output.
func canonicalCodes(lens []uint8, codes []uint16) {
	var count [16]uint16
	for _, l := range lens {
		count[l]++
	}
	next := firstCodes(&count)
	for i, l := range lens {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		codes[i] = bits.Reverse16(c) >> (16 - l)
	}
}

// firstCodes gives deflate's first canonical code of each bit length
// from the number of codes of each length (RFC 1951 3.2.2); length 0
// counts for nothing.
func firstCodes(count *[16]uint16) [16]uint16 {
	var next [16]uint16
	code := uint16(0)
	for b := 1; b < 16; b++ {
		prev := count[b-1]
		if b == 1 {
			prev = 0
		}
		code = (code + prev) << 1
		next[b] = code
	}
	return next
}

// adler32Sum is hash/adler32's Checksum, 16 bytes per step with the
// bytes summed in 16-bit lanes of a uint64 (SWAR): for a page it was a
// twentieth of the encoder's time done 4 bytes at a time, and about
// half of that again 16 bytes at a time with one multiply per byte.
// Two 8-byte words per step take half the dependent s1 updates and
// loop overhead of one word per step, and the step loop in a function
// of its own keeps its values in registers, and its loads index one
// 16-byte slice (no pointer mask for a resliced tail): 118M
// instructions became 81M on a quarter of the -d 31 corpus pages (8%
// of the page encoder's instructions before, 6% after).
func adler32Sum(p []byte) uint32 {
	// 5552 bytes keep s2 below 2^32 between reductions (zlib's NMAX).
	const nmax = 5552 / 16 * 16
	s1, s2 := uint32(1), uint32(0)
	for len(p) > 0 {
		q := p[:min(len(p), nmax)]
		p = p[len(q):]
		s1, s2 = adler32Chunk(s1, s2, q)
	}
	return s2<<16 | s1
}

// adler32Chunk adds q (at most zlib's NMAX bytes) to the sums and
// reduces them. Kept out of adler32Sum's loop over chunks, whose
// values would otherwise crowd this loop's registers.
func adler32Chunk(s1, s2 uint32, q []byte) (uint32, uint32) {
	const mod = 65521
	const (
		lanes = 0x00ff00ff00ff00ff
		ones  = 0x0001000100010001
		// The top 16 bits of lanes*wEven and lanes*wOdd are the
		// bytes at even and odd offsets weighted 8,6,4,2 and 7,5,3,1:
		// each byte's count of the 8 running sums s2 gains it in.
		// Two words' lanes added first (at most 510 each) still
		// keep every lane of either product below 16 bits, so no
		// carry reaches the top one.
		wEven = 2 | 4<<16 | 6<<32 | 8<<48
		wOdd  = 1 | 3<<16 | 5<<32 | 7<<48
	)
	i := 0
	for ; i < len(q)-15; i += 16 {
		// Of 16 bytes, the first word's each count in 8 sums more
		// than the second word's at the same offset.
		b := q[i : i+16]
		x0 := binary.LittleEndian.Uint64(b[:8])
		x1 := binary.LittleEndian.Uint64(b[8:])
		e0, o0 := x0&lanes, x0>>8&lanes
		e1, o1 := x1&lanes, x1>>8&lanes
		sum0 := uint32((e0 + o0) * ones >> 48)
		sum1 := uint32((e1 + o1) * ones >> 48)
		w := uint32(((e0+e1)*wEven + (o0+o1)*wOdd) >> 48)
		s2 += s1<<4 + sum0<<3 + w
		s1 += sum0 + sum1
	}
	for _, c := range q[i:] {
		s1 += uint32(c)
		s2 += s1
	}
	return s1 % mod, s2 % mod
}
