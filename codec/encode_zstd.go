package codec

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// A zstd encoder for single pages, used for the kdump zstd method.
//
// Why not a general zstd library: makedumpfile -z calls ZSTD_compressCCtx
// at level 1 once per page, and each 4 KiB page becomes one frame with one
// block. A general encoder builds its entropy tables for every block with
// machinery sized for 128 KiB blocks (that was about 40% of the time of
// github.com/klauspost/compress on kernel pages), and its fastest level
// compresses less than libzstd's level 1. Pages are small, come one at a
// time and are always complete, so this encoder does one thing:
//
//   - Match finding as libzstd's "fast" strategy at level 1 does for a
//     4 KiB source (one hash table, 5-byte hashes, no chains), with the
//     repeat offset tried one byte ahead of every position and the second
//     repeat offset right after every match. The table is never cleared:
//     entries carry a per-page base and older ones read as empty.
//   - One Compressed_Block (RFC 8878), or an RLE block when the page is
//     one byte repeated, or a Raw block when nothing smaller comes out
//     (EncodePage then stores the page raw anyway).
//   - Literals: Raw, RLE or Huffman (one stream below 256 literals, else
//     four), whichever is smallest; the code lengths are optimal over the
//     literals the page uses, limited to 11 bits, and the tree is
//     described by direct 4-bit weights or FSE-compressed weights,
//     whichever is smaller. Literals whose most frequent byte is hardly
//     more frequent than in random data stay raw without a Huffman code
//     being built (libzstd's test): data pages are full of them.
//   - Sequences: for each of literal lengths, match lengths and offsets,
//     the predefined table, RLE, or an FSE table normalised from the
//     page's own counts, by estimated size in bits. The last page's
//     normalised tables, descriptions and encoding tables are kept: about
//     half the pages of a dump have the same distribution as the page
//     before.
//
// Speed comes from doing per page only what the page needs: the search
// runs in its own small function over a fixed buffer whose positions are
// masked (so the loads carry no bounds checks), each sequence's codes and
// extra bits are packed as it is found, its literals copied 16 bytes at
// a time into another such buffer, the Huffman builder walks only the
// literals the page uses, and the bit writers keep their state in
// locals. Go keeps no register across a call, so a loop that calls or
// holds many values pays in spills: what looks like an obvious split
// or merge of these loops (search and packing in one loop, or packing
// in a second pass) measured slower.
//
// No checksum is written (makedumpfile's frames have none either); the
// frame header is single-segment with the content size, so decoders need
// no window descriptor.

const (
	zsMaxInput  = 128 << 10 // one block: Block_Maximum_Size
	zsHashBits  = 13
	zsMinMatch  = 5
	zsSkipShift = 8 // search step grows by one every 2^8 bytes without a match (libzstd's kSearchStrength)

	zsLLCodes    = 36
	zsMLCodes    = 53
	zsOFCodes    = 32
	zsLLMaxLog   = 9
	zsMLMaxLog   = 9
	zsOFMaxLog   = 8
	zsHufMaxBits = 11
)

// zsSeq is one sequence: the codes of its literal length, match length
// and Offset_Value (1-3: repeat codes, else offset + 3), and their extra
// bits in the order they are written (literal length, match length,
// offset) with their count.
type zsSeq struct {
	extra         uint64
	ebits         uint8
	llc, mlc, ofc uint8
}

// zsTableDesc is a normalized distribution and its description.
type zsTableDesc struct {
	norm [zsMLCodes]int16
	hdr  [96]byte
	n    uint8 // symbols in norm
	hn   uint8 // bytes in hdr
	log  uint8
}

// fseCTable is an FSE encoding table (FSE's "CTable"): the next states by
// symbol and, per symbol, the values that give the number of bits to emit
// from a state and where its next states start.
type fseCTable struct {
	tableLog uint8
	state    [1 << zsLLMaxLog]uint16
	tt       [64]fseSymTT
	// Scratch space of build.
	cumul   [64]uint16
	symbols [1 << zsLLMaxLog]uint8
}

type fseSymTT struct {
	deltaNbBits    uint32
	deltaFindState int32
}

// pageZstd holds the tables of one encoder; one per goroutine.
type pageZstd struct {
	table [1 << zsHashBits]uint32
	base  uint32
	// The base and length of the input being parsed, for find.
	pbase uint32
	n     int

	buf    *zsBuf
	litBuf *zsBuf
	seqs   []zsSeq
	lits   []byte

	litFreq [256]uint32
	llFreq  [64]uint32
	mlFreq  [64]uint32
	ofFreq  [zsOFCodes]uint32

	hufLen  [256]uint8
	hufTab  [256]uint32 // code | length<<16
	weights [256]uint8
	keys    []uint32 // freq<<8 | symbol, then lengths
	keyTmp  []uint32
	syms    []uint8 // the used literals in order
	// hufCount[l] is the number of literals with codes of length l,
	// hufMaxLen the longest.
	hufCount  [16]uint16
	hufMaxLen uint8
	lenBuf    []uint32

	norm [zsMLCodes]int16
	ct   [3]fseCTable // literal lengths, offsets, match lengths
	// ctDefault[k] tells that ct[k] holds the predefined table,
	// ctLast[k] that it holds the one made from last[k].
	ctDefault [3]bool
	ctLast    [3]bool
	last      [3]zsTableDesc
	wct       fseCTable // Huffman weights
	wnorm     [16]int16
	wfreq     [16]uint32
	hdrBuf    [256]byte // a Huffman tree description, with the bit writer's slack

	out []byte // the block is built here, then copied to dst if it is smaller
}

// Sequence code tables (RFC 8878 3.1.1.3.2.1).
var (
	zsLLBits = [64]uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	zsMLBits = [64]uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	zsLLBase [64]uint32
	zsMLBase [64]uint32 // match length - 3
	zsLLCode [64]uint8
	zsMLCode [128]uint8

	// Default distributions (RFC 8878 3.1.1.3.2.2).
	zsLLDefault = [zsLLCodes]int16{4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
		2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1}
	zsMLDefault = [zsMLCodes]int16{1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1}
	zsOFDefault = [29]int16{1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1}
	zsDefaultCT [3]fseCTable
	// zsDefaultCost[k][sym] is the cost in 1/256 bits of sym under
	// default distribution k (LL, OF, ML); 0 where it has no code.
	zsDefaultCost [3][zsMLCodes]uint32

	// zsLog256[i] is 256*log2(i).
	zsLog256 [1<<zsLLMaxLog + 1]uint32
)

func init() {
	b := uint32(0)
	for c := 0; c < zsLLCodes; c++ {
		zsLLBase[c] = b
		b += 1 << zsLLBits[c]
	}
	b = 0
	for c := 0; c < zsMLCodes; c++ {
		zsMLBase[c] = b
		b += 1 << zsMLBits[c]
	}
	for c := 0; c < zsLLCodes; c++ {
		for v := zsLLBase[c]; v < zsLLBase[c]+1<<zsLLBits[c] && v < 64; v++ {
			zsLLCode[v] = uint8(c)
		}
	}
	for c := 0; c < zsMLCodes; c++ {
		for v := zsMLBase[c]; v < zsMLBase[c]+1<<zsMLBits[c] && v < 128; v++ {
			zsMLCode[v] = uint8(c)
		}
	}
	for i := 1; i < len(zsLog256); i++ {
		zsLog256[i] = uint32(math.Round(256 * math.Log2(float64(i))))
	}
	defs := [3][]int16{zsLLDefault[:], zsOFDefault[:], zsMLDefault[:]}
	logs := [3]uint8{6, 5, 6}
	for k, d := range defs {
		zsDefaultCT[k].build(d, logs[k])
		for s, c := range d {
			if c < 0 {
				c = 1
			}
			zsDefaultCost[k][s] = uint32(logs[k])*256 - zsLog256[c]
		}
	}
}

func zsLLCodeOf(ll uint32) uint8 {
	if ll < 64 {
		return zsLLCode[ll]
	}
	return uint8(bits.Len32(ll)) + 18
}

func zsMLCodeOf(mlBase uint32) uint8 {
	if mlBase < 128 {
		return zsMLCode[mlBase]
	}
	return uint8(bits.Len32(mlBase)) + 35
}

// zsMaxOut is the size of the block buffer for an input of n bytes: a
// sequence costs at most 10 bytes and covers at least 4 input bytes.
func zsMaxOut(n int) int { return 3*n + 1024 }

// compress writes src as one zstd frame into dst and returns its length.
// len(src) <= zsMaxInput and len(dst) >= MaxEncodedLen(len(src)).
func (z *pageZstd) compress(dst, src []byte) int {
	n := len(src)
	// Frame header: magic, descriptor (Single_Segment, content size
	// field of 1, 2 or 4 bytes), content size.
	binary.LittleEndian.PutUint32(dst, 0xFD2FB528)
	h := 5
	switch {
	case n < 256:
		dst[4] = 0x20
		dst[5] = byte(n)
		h = 6
	case n < 65536+256:
		dst[4] = 1<<6 | 0x20
		binary.LittleEndian.PutUint16(dst[5:], uint16(n-256))
		h = 7
	default:
		dst[4] = 2<<6 | 0x20
		binary.LittleEndian.PutUint32(dst[5:], uint32(n))
		h = 9
	}
	if n == 0 {
		putBlockHeader(dst[h:], 0, 0)
		return h + 3
	}
	if isRun(src) {
		putBlockHeader(dst[h:], 1, n)
		dst[h+3] = src[0]
		return h + 4
	}
	if need := zsMaxOut(n); cap(z.out) < need {
		z.out = make([]byte, need)
	}
	out := z.out[:cap(z.out)]
	z.parse(src)
	k := z.writeLiterals(out)
	if k < n {
		k += z.writeSequences(out[k:])
	}
	if k >= n {
		putBlockHeader(dst[h:], 0, n)
		return h + 3 + copy(dst[h+3:], src)
	}
	putBlockHeader(dst[h:], 2, k)
	return h + 3 + copy(dst[h+3:], out[:k])
}

// zstdRawFrame writes src as a zstd frame of raw blocks of at most
// zsMaxInput bytes each (for inputs too large for the page encoder's one
// block) and returns its length: n plus 9 bytes of frame header and 3 per
// block. Never smaller than src, so EncodePage stores such a page raw;
// Encode still returns a valid frame.
func zstdRawFrame(dst, src []byte) int {
	binary.LittleEndian.PutUint32(dst, 0xFD2FB528)
	dst[4] = 2<<6 | 0x20 // Single_Segment, 4-byte content size
	binary.LittleEndian.PutUint32(dst[5:], uint32(len(src)))
	k := 9
	for first := true; first || len(src) > 0; first = false {
		n := min(len(src), zsMaxInput)
		putBlockHeader(dst[k:], 0, n)
		if n < len(src) {
			dst[k] &^= 1 // not the last block
		}
		k += 3 + copy(dst[k+3:], src[:n])
		src = src[n:]
	}
	return k
}

// putBlockHeader writes the header of a last block of type typ (0 raw,
// 1 RLE, 2 compressed) and size size.
func putBlockHeader(b []byte, typ, size int) {
	v := uint32(1 | typ<<1 | size<<3)
	b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16)
}

// isRun tells whether all bytes of p equal p[0].
func isRun(p []byte) bool {
	x := uint64(p[0]) * 0x0101010101010101
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p) != x {
			return false
		}
		p = p[8:]
	}
	for _, c := range p {
		if uint64(c) != x&0xff {
			return false
		}
	}
	return true
}

func zsHash(v uint64) uint32 {
	const prime5 = 889523592379
	return uint32(((v << 24) * prime5) >> (64 - zsHashBits))
}

// zsBuf holds the input while it is parsed. Positions are below
// zsMaxInput, so masking them with zsMask changes nothing but lets the
// compiler drop the bounds checks of the loads, and the 16 bytes past
// the largest input keep 8-byte loads at any position inside the array.
type zsBuf [zsMaxInput + 16]byte

const zsMask = zsMaxInput - 1

func (b *zsBuf) load64(i int) uint64 {
	i &= zsMask
	return uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
		uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
}

func (b *zsBuf) store64(i int, v uint64) {
	binary.LittleEndian.PutUint64(b[i&zsMask:], v)
}

func (b *zsBuf) load32(i int) uint32 {
	i &= zsMask
	return uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24
}

// matchLen returns how many bytes at a and s agree, counting up to end
// for s.
func (b *zsBuf) matchLen(a, s, end int) int {
	n := 0
	for s+n+8 <= end {
		if x := b.load64(a+n) ^ b.load64(s+n); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for s+n < end && b[(a+n)&zsMask] == b[(s+n)&zsMask] {
		n++
	}
	return n
}

// find searches from ip for the next match, trying the last offset one
// byte ahead of each position and then the hash table, and returns its
// start, offset and length, or start -1 when it reached n-8. It is
// apart from parse so that its loop keeps its few values in registers;
// the values that stay the same for a page come from z rather than as
// arguments, which parse would have to keep and reload around each call.
func (z *pageZstd) find(ip, anchor int, r0 uint32) (start, off, mlen int) {
	buf, table, base, n := z.buf, &z.table, z.pbase, z.n
	limit := n - 8
	for ip < limit {
		cur := buf.load64(ip)
		h := zsHash(cur)
		cand := table[h]
		table[h] = base + uint32(ip)
		// The last offset, one byte ahead. r0 is 1 or an offset used
		// before ip, so a >= 0.
		a, s := ip+1-int(r0), ip+1
		if buf.load32(a) != uint32(cur>>8) {
			// The hash table's candidate.
			c := int(cand - base)
			if cand < base || (buf.load64(c)^cur)<<24 != 0 {
				ip += 1 + (ip-anchor)>>zsSkipShift
				continue
			}
			a, s = c, ip
		}
		// A match of at least 4 bytes from a to s: extend it forward
		// (matchLen, inline: this runs once per sequence).
		m := 4
		for {
			if s+m+8 > n {
				for s+m < n && buf[(a+m)&zsMask] == buf[(s+m)&zsMask] {
					m++
				}
				break
			}
			if x := buf.load64(a+m) ^ buf.load64(s+m); x != 0 {
				m += bits.TrailingZeros64(x) >> 3
				break
			}
			m += 8
		}
		if s == ip {
			// A hash match: extend it backward too.
			for s > anchor && a > 0 && buf[(s-1)&zsMask] == buf[(a-1)&zsMask] {
				s--
				a--
				m++
			}
		}
		return s, s - a, m
	}
	return -1, 0, 0
}

// parse fills z.seqs and z.lits with a greedy parse of src and counts the
// symbols.
func (z *pageZstd) parse(src []byte) {
	n := len(src)
	if z.base > ^uint32(0)-2*zsMaxInput || z.base == 0 {
		// Entries below base read as empty; a zeroed table is empty
		// from base 1 on.
		clear(z.table[:])
		z.base = 1
	}
	base := z.base
	z.base += uint32(n)
	z.pbase, z.n = base, n
	// A sequence covers at least 4 bytes.
	if cap(z.seqs) < n/4+1 {
		z.seqs = make([]zsSeq, max(n/4+1, 4096/4+1))
	}
	if z.buf == nil {
		// Only the pages of them that inputs reach get touched.
		z.buf = new(zsBuf)
		z.litBuf = new(zsBuf)
	}
	buf := z.buf
	copy(buf[:n], src)
	seqs := z.seqs[:cap(z.seqs)]
	// Literals go to a fixed array at masked positions: no bounds
	// checks, and no slice to keep in registers. They are copied 16
	// bytes at a time, which the 16 bytes past the largest input leave
	// room for.
	lits := z.litBuf
	llFreq, mlFreq, ofFreq := &z.llFreq, &z.mlFreq, &z.ofFreq
	ns, nl := 0, 0
	clear(z.litFreq[:])
	clear(z.llFreq[:])
	clear(z.mlFreq[:])
	clear(z.ofFreq[:])
	table := &z.table
	// The repeat offsets as the decoder will have them.
	r0, r1, r2 := uint32(1), uint32(4), uint32(8)

	// Each sequence gets its literals copied out, its codes, their
	// extra bits and counts as it is found.
	anchor := 0
	ip := 1 // libzstd starts one byte in, with nothing behind
	limit := n - 8
	for ip < limit {
		start, off, mlen := z.find(ip, anchor, r0)
		if start < 0 {
			break
		}
		for {
			ll := uint32(start - anchor)
			o := uint32(off)
			var ofv uint32
			switch {
			case ll > 0 && o == r0:
				ofv = 1
			case o == r1:
				ofv = 1 + b2u32(ll > 0)
				r0, r1 = o, r0
			case o == r2:
				ofv = 2 + b2u32(ll > 0)
				r0, r1, r2 = o, r0, r1
			case ll == 0 && o == r0-1:
				ofv = 3
				r0, r1, r2 = o, r0, r1
			default:
				ofv = o + 3
				r0, r1, r2 = o, r0, r1
			}
			// Most literal runs are short: 16 bytes at once,
			// then the rest of a longer run.
			lits.store64(nl, buf.load64(anchor))
			lits.store64(nl+8, buf.load64(anchor+8))
			for k := 16; k < int(ll); k += 8 {
				lits.store64(nl+k, buf.load64(anchor+k))
			}
			nl += int(ll)
			mb := uint32(mlen - 3)
			ofc := uint8(bits.Len32(ofv)-1) & 31
			extra, ebits := uint64(ofv-1<<ofc), ofc
			llc, mlc := uint8(ll), uint8(mb)
			if ll >= 16 || mb >= 32 {
				llc, mlc = zsLLCodeOf(ll)&63, zsMLCodeOf(mb)&63
				lb, mlb := zsLLBits[llc], zsMLBits[mlc]
				extra = uint64(ll-zsLLBase[llc]) | uint64(mb-zsMLBase[mlc])<<lb | extra<<(lb+mlb)
				ebits += lb + mlb
			}
			q := &seqs[ns]
			q.extra, q.ebits = extra, ebits
			q.llc, q.mlc, q.ofc = llc, mlc, ofc
			llFreq[llc&63]++
			mlFreq[mlc&63]++
			ofFreq[ofc]++
			ns++
			ip = start + mlen
			anchor = ip
			if ip >= limit {
				break
			}
			// Fill the table inside the match, then take the
			// second repeat offset for as long as it goes on
			// matching.
			p := ip - 2
			table[zsHash(buf.load64(p))] = base + uint32(p)
			r := ip - int(r1)
			if r < 0 || buf.load32(r) != buf.load32(ip) {
				break
			}
			table[zsHash(buf.load64(ip))] = base + uint32(ip)
			start, off = ip, int(r1)
			mlen = 4 + buf.matchLen(r+4, ip+4, n)
		}
	}

	nl += copy(lits[nl:], src[anchor:])
	z.seqs, z.lits = seqs[:ns], lits[:nl]
	countBytes(&z.litFreq, z.lits)
}

// countBytes adds the bytes of p to the histogram h, four at a time.
func countBytes(h *[256]uint32, p []byte) {
	for len(p) >= 4 {
		q := p[:4]
		h[q[0]]++
		h[q[1]]++
		h[q[2]]++
		h[q[3]]++
		p = p[4:]
	}
	for _, c := range p {
		h[c]++
	}
}

func b2u32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// zsBits is the forward bit writer of zstd's bitstreams: LSB first, with
// 8 bytes of slack after the last whole byte.
type zsBits struct {
	out   []byte
	n     int
	acc   uint64
	nbits uint
}

func (w *zsBits) add(v uint32, nb uint8) {
	w.acc |= uint64(v) << (w.nbits & 63)
	w.nbits += uint(nb)
}

func (w *zsBits) addMasked(v uint32, nb uint32) {
	w.acc |= uint64(v&(1<<nb-1)) << (w.nbits & 63)
	w.nbits += uint(nb)
}

func (w *zsBits) flush() {
	binary.LittleEndian.PutUint64(w.out[w.n:], w.acc)
	k := w.nbits >> 3
	w.n += int(k)
	w.acc >>= (k * 8) & 63
	if k == 8 {
		w.acc = 0
	}
	w.nbits &= 7
}

// close writes the end mark and returns the length of the stream.
func (w *zsBits) close() int {
	w.add(1, 1)
	w.flush()
	if w.nbits > 0 {
		w.n++
	}
	return w.n
}

// writeLiterals writes the literals section and returns its length.
func (z *pageZstd) writeLiterals(out []byte) int {
	lits := z.lits
	n := len(lits)
	rawHdr := 1
	if n >= 32 {
		rawHdr = 2
	}
	if n >= 4096 {
		rawHdr = 3
	}
	writeRaw := func(typ int) int {
		switch rawHdr {
		case 1:
			out[0] = byte(typ | n<<3)
		case 2:
			out[0] = byte(typ | 1<<2 | (n&15)<<4)
			out[1] = byte(n >> 4)
		default:
			out[0] = byte(typ | 3<<2 | (n&15)<<4)
			out[1] = byte(n >> 4)
			out[2] = byte(n >> 12)
		}
		if typ == 1 {
			out[rawHdr] = lits[0]
			return rawHdr + 1
		}
		return rawHdr + copy(out[rawHdr:], lits)
	}
	if n == 0 {
		return writeRaw(0)
	}
	// Used symbols and their frequencies; the symbols again in order
	// for the code assignment and the tree description.
	if cap(z.syms) < 256 {
		z.syms = make([]uint8, 256)
		z.keys = make([]uint32, 256)
		z.keyTmp = make([]uint32, 256)
	}
	// Without branches: every symbol is written, and the next one
	// overwrites it when it is not used.
	keys := (*[256]uint32)(z.keys[:256])
	syms := (*[256]uint8)(z.syms[:256])
	lf := &z.litFreq
	most := uint32(0)
	nk := 0
	for s := 0; s < 256; s++ {
		f := lf[s]
		keys[nk&255] = f<<8 | uint32(s)
		syms[nk&255] = uint8(s)
		nk += int(b2u32(f != 0))
		most = max(most, f)
	}
	z.keys, z.syms = keys[:nk], syms[:nk]
	if len(keys) == 1 {
		return writeRaw(1)
	}
	if n < 16 {
		return writeRaw(0)
	}
	// libzstd's test for literals not worth a Huffman code: no literal
	// is much more frequent than in random bytes. It spares data
	// pages the whole Huffman construction.
	if int(most) <= n>>7+4 {
		return writeRaw(0)
	}
	// Cost of the Huffman streams.
	nbits := z.huffLengths()
	single := n < 256
	streams := int(nbits+7) / 8
	if single {
		streams++
	} else {
		streams += 6 + 4
	}
	if streams+1 >= n {
		// Not smaller even before the tree description.
		return writeRaw(0)
	}
	tree := z.huffTree()
	if tree == 0 {
		return writeRaw(0)
	}
	comp := tree + streams
	hdr := 3
	sizeBits := uint(10)
	if !single {
		switch m := max(n, comp); {
		case m < 1024:
		case m < 16384:
			hdr, sizeBits = 4, 14
		default:
			hdr, sizeBits = 5, 18
		}
	}
	if hdr+comp >= rawHdr+n {
		return writeRaw(0)
	}
	// Codes: in zstd's canonical order the longest codes come first
	// and a code's bits are written as a number, MSB first for the
	// decoder reading backwards.
	z.huffCodes()
	p := hdr + copy(out[hdr:], z.hdrBuf[:tree])
	if single {
		p += z.huffStream(out[p:], lits)
	} else {
		seg := (n + 3) / 4
		jt := p
		p += 6
		for i := 0; i < 4; i++ {
			part := lits[min(i*seg, n):min((i+1)*seg, n)]
			k := z.huffStream(out[p:], part)
			if i < 3 {
				binary.LittleEndian.PutUint16(out[jt+2*i:], uint16(k))
			}
			p += k
		}
	}
	comp = p - hdr
	sf := uint64(0)
	switch {
	case single:
		sf = 0
	case sizeBits == 10:
		sf = 1
	case sizeBits == 14:
		sf = 2
	default:
		sf = 3
	}
	v := 2 | sf<<2 | uint64(n)<<4 | uint64(comp)<<(4+sizeBits)
	for i := 0; i < hdr; i++ {
		out[i] = byte(v >> (8 * i))
	}
	return p
}

// huffStream writes lits as one Huffman-coded stream, last literal
// first, and returns its length.
func (z *pageZstd) huffStream(out []byte, lits []byte) int {
	// Code and length in one entry: code | len<<16.
	tab := &z.hufTab
	var acc uint64
	nbits := uint(0)
	n := 0
	i := len(lits)
	for i&3 != 0 {
		i--
		e := tab[lits[i]]
		acc |= uint64(e&0xffff) << (nbits & 63)
		nbits += uint(e >> 16)
	}
	for i > 0 {
		binary.LittleEndian.PutUint64(out[n:], acc)
		k := nbits >> 3
		n += int(k)
		acc >>= (k * 8) & 63
		nbits &= 7
		// 4 codes of at most 11 bits fit with the 7 left over.
		q := lits[i-4 : i]
		e := tab[q[3]]
		acc |= uint64(e&0xffff) << (nbits & 63)
		nbits += uint(e >> 16)
		e = tab[q[2]]
		acc |= uint64(e&0xffff) << (nbits & 63)
		nbits += uint(e >> 16)
		e = tab[q[1]]
		acc |= uint64(e&0xffff) << (nbits & 63)
		nbits += uint(e >> 16)
		e = tab[q[0]]
		acc |= uint64(e&0xffff) << (nbits & 63)
		nbits += uint(e >> 16)
		i -= 4
	}
	w := zsBits{out: out, n: n, acc: acc, nbits: nbits}
	return w.close()
}

// huffLengths sets z.hufLen to optimal code lengths limited to 11 bits
// for the literals in z.keys (freq<<8 | symbol, at least two), and
// z.hufCount and z.hufMaxLen, and returns the length of the literals in
// bits.
func (z *pageZstd) huffLengths() uint64 {
	keys := z.keys
	// Sort by frequency, ties by symbol: insertion sort for short
	// lists, else a radix sort (sortkeys.go).
	if len(keys) <= 32 {
		insertionSortKeys(keys)
	} else {
		var tmp []uint32
		keys, tmp = radixSortKeys(keys, z.keyTmp[:len(keys)], 8)
		z.keys, z.keyTmp = keys, tmp[:cap(tmp)]
	}
	a := z.lenBuf[:0]
	for _, k := range keys {
		a = append(a, k>>8)
	}
	minimumRedundancy(a)
	if a[0] > zsHufMaxBits {
		limitLengths(a, zsHufMaxBits)
	}
	clear(z.hufLen[:])
	count := &z.hufCount
	clear(count[:])
	var nbits uint64
	for i, k := range keys {
		l := a[i]
		z.hufLen[k&0xff] = uint8(l)
		count[l&15]++
		nbits += uint64(k>>8) * uint64(l)
	}
	// a is in decreasing order.
	z.hufMaxLen = uint8(a[0])
	z.lenBuf = a
	return nbits
}

// huffCodes assigns zstd's canonical codes: by increasing weight
// (decreasing length), then by symbol, from code 0 up.
func (z *pageZstd) huffCodes() {
	count := &z.hufCount
	var next [16]uint16
	maxLen := int(z.hufMaxLen)
	for l := maxLen; l > 1; l-- {
		next[l-1] = (next[l] + count[l]) >> 1
	}
	for _, s := range z.syms {
		l := z.hufLen[s]
		z.hufTab[s] = uint32(next[l&15]) | uint32(l)<<16
		next[l&15]++
	}
}

// huffTree writes the Huffman tree description into z.hdrBuf and returns
// its length, or 0 if it cannot be described (then literals go raw).
func (z *pageZstd) huffTree() int {
	// The last symbol's weight is implied.
	syms := z.syms[:len(z.syms)-1]
	maxSym := int(z.syms[len(z.syms)-1])
	maxLen := z.hufMaxLen
	// Weights by length: 0 for unused symbols.
	w := z.weights[:maxSym]
	clear(w)
	for _, s := range syms {
		w[s] = maxLen + 1 - z.hufLen[s]
	}
	direct := 0
	if maxSym <= 128 {
		direct = 1 + (maxSym+1)/2
	}
	fse := z.fseWeights(w, maxLen, maxSym)
	switch {
	case fse > 0 && (direct == 0 || fse+1 < direct):
		z.hdrBuf[0] = byte(fse)
		// fseWeights left the stream at z.hdrBuf[1:].
		return fse + 1
	case direct > 0:
		z.hdrBuf[0] = byte(127 + maxSym)
		for i := 0; i < maxSym; i += 2 {
			b := w[i] << 4
			if i+1 < maxSym {
				b |= w[i+1]
			}
			z.hdrBuf[1+i/2] = b
		}
		return direct
	}
	return 0
}

// fseWeights FSE-compresses the weights w (alphabet 0..maxW) of the
// literals below maxSym with two interleaved states into z.hdrBuf[1:] and
// returns the length, or 0 when they cannot be or it would not fit in 127
// bytes.
func (z *pageZstd) fseWeights(w []uint8, maxW uint8, maxSym int) int {
	if len(w) < 2 {
		return 0
	}
	// The weights' counts come from the code lengths of the used
	// literals below maxSym; the others have weight 0.
	freq := z.wfreq[:maxW+1]
	for l := 1; l <= int(maxW); l++ {
		freq[int(maxW)+1-l] = uint32(z.hufCount[l])
	}
	freq[maxW+1-z.hufLen[maxSym]]--
	freq[0] = uint32(maxSym - (len(z.syms) - 1))
	distinct := 0
	for _, f := range freq {
		distinct += int(b2u32(f != 0))
	}
	if distinct < 2 {
		return 0
	}
	tableLog := fseOptimalLog(6, len(w), int(maxW))
	norm := z.wnorm[:maxW+1]
	fseNormalize(norm, freq, len(w), tableLog)
	buf := z.hdrBuf[1:]
	// The table description, then the stream; the buffer has room for
	// 127 bytes plus the bit writer's 8 of slack.
	var tmp [24]byte
	hn := fseWriteNCount(tmp[:], norm, tableLog)
	copy(buf, tmp[:hn])
	ct := &z.wct
	ct.build(norm, tableLog)
	// Bound: at most tableLog bits per weight and 2 states, the end
	// mark, and the bit writer's slack.
	if hn+(len(w)*6+12+8)/8+8 > len(buf) {
		return 0
	}
	// s0 has the even indexes, s1 the odd ones; the last two weights
	// set the first states.
	i := len(w) - 1
	var s0, s1 uint32
	if i&1 == 1 {
		s1, s0 = ct.init(w[i]), ct.init(w[i-1])
	} else {
		s0, s1 = ct.init(w[i]), ct.init(w[i-1])
	}
	i -= 2
	var acc uint64
	nbits := uint(0)
	n := hn
	tab, tt := &ct.state, &ct.tt
	var low uint32
	if i >= 0 && i&1 == 0 {
		// An odd count left: one even weight first.
		t := tt[w[i]&63]
		nb := (s0 + t.deltaNbBits) >> 16
		low = s0 & (1<<(nb&31) - 1)
		s0 = uint32(tab[(int32(s0>>(nb&31))+t.deltaFindState)&511])
		acc |= uint64(low) << (nbits & 63)
		nbits += uint(nb)
		i--
	}
	for ; i > 0; i -= 2 {
		// At most 7 bits stay, and 2 weights add at most 12.
		binary.LittleEndian.PutUint64(buf[n:], acc)
		k := nbits >> 3
		n += int(k)
		acc >>= (k * 8) & 63
		nbits &= 7
		t := tt[w[i]&63]
		nb := (s1 + t.deltaNbBits) >> 16
		low = s1 & (1<<(nb&31) - 1)
		s1 = uint32(tab[(int32(s1>>(nb&31))+t.deltaFindState)&511])
		acc |= uint64(low) << (nbits & 63)
		nbits += uint(nb)
		t = tt[w[i-1]&63]
		nb = (s0 + t.deltaNbBits) >> 16
		low = s0 & (1<<(nb&31) - 1)
		s0 = uint32(tab[(int32(s0>>(nb&31))+t.deltaFindState)&511])
		acc |= uint64(low) << (nbits & 63)
		nbits += uint(nb)
	}
	bw := zsBits{out: buf, n: n, acc: acc, nbits: nbits}
	bw.flush()
	bw.addMasked(s1, uint32(tableLog))
	bw.addMasked(s0, uint32(tableLog))
	k := bw.close()
	if k > 127 {
		return 0
	}
	return k
}

// fseOptimalLog picks an accuracy log for n symbols of alphabet
// 0..maxSym, at most maxLog, as libzstd's FSE_optimalTableLog does.
func fseOptimalLog(maxLog uint8, n, maxSym int) uint8 {
	hb := func(x int) int { return bits.Len(uint(x)) - 1 }
	log := int(maxLog)
	if m := hb(n-1) - 2; m < log {
		log = m
	}
	minBits := min(hb(n)+1, hb(maxSym)+2)
	if minBits > log {
		log = minBits
	}
	log = max(log, 5)
	return uint8(min(log, int(maxLog)))
}

// fseNormalize scales freq (summing to total) to norm summing to
// 1<<tableLog, every used symbol getting at least 1.
func fseNormalize(norm []int16, freq []uint32, total int, tableLog uint8) {
	size := 1 << tableLog
	sum := 0
	big := 0
	for s, f := range freq {
		if f == 0 {
			norm[s] = 0
			continue
		}
		p := (int(f)*size + total/2) / total
		if p < 1 {
			p = 1
		}
		norm[s] = int16(p)
		sum += p
		if freq[s] > freq[big] || norm[big] == 0 {
			big = s
		}
	}
	d := size - sum
	if int(norm[big])+d >= 1 && (d >= 0 || int(norm[big])+d >= int(norm[big])/2) {
		norm[big] += int16(d)
		return
	}
	// Too much handed out: take from the largest shares one at a time.
	for ; d < 0; d++ {
		m := 0
		for s := range norm {
			if norm[s] > norm[m] {
				m = s
			}
		}
		norm[m]--
	}
	for ; d > 0; d-- {
		norm[big]++
	}
}

// fseWriteNCount writes the FSE table description of norm (RFC 8878
// 4.1.1) into out and returns its length.
func fseWriteNCount(out []byte, norm []int16, tableLog uint8) int {
	var acc uint64
	nb := uint(0)
	n := 0
	put := func(v uint64, k uint) {
		acc |= v << nb
		nb += k
		for nb >= 8 {
			out[n] = byte(acc)
			n++
			acc >>= 8
			nb -= 8
		}
	}
	put(uint64(tableLog-5), 4)
	size := 1 << tableLog
	remaining := size + 1
	threshold := size
	nbBits := uint(tableLog) + 1
	prev0 := false
	last := len(norm) - 1
	for last > 0 && norm[last] == 0 {
		last--
	}
	for s := 0; s <= last && remaining > 1; {
		if prev0 {
			start := s
			for norm[s] == 0 {
				s++
			}
			for s >= start+24 {
				start += 24
				put(0xffff, 16)
			}
			for s >= start+3 {
				start += 3
				put(3, 2)
			}
			put(uint64(s-start), 2)
		}
		c := int(norm[s])
		s++
		mx := 2*threshold - 1 - remaining
		if c < 0 {
			remaining += c
		} else {
			remaining -= c
		}
		c++
		if c >= threshold {
			c += mx
		}
		if c < mx {
			put(uint64(c), nbBits-1)
		} else {
			put(uint64(c), nbBits)
		}
		prev0 = c == 1
		for remaining < threshold {
			nbBits--
			threshold >>= 1
		}
	}
	if nb > 0 {
		out[n] = byte(acc)
		n++
	}
	return n
}

// build makes the encoding table for norm (RFC 8878 4.1.1.1's spread).
func (t *fseCTable) build(norm []int16, tableLog uint8) {
	t.tableLog = tableLog
	size := 1 << tableLog
	mask := size - 1
	cumul := &t.cumul
	symbols := &t.symbols
	high := size - 1
	c0 := 0
	for s, c := range norm {
		cumul[s&63] = uint16(c0)
		if c == -1 {
			c0++
			symbols[high&511] = uint8(s)
			high--
		} else {
			c0 += int(c)
		}
	}
	step := size>>1 + size>>3 + 3
	pos := 0
	if high == size-1 {
		// No "less than 1" symbols: no cells to skip.
		for s, c := range norm {
			for i := int16(0); i < c; i++ {
				symbols[pos&511] = uint8(s)
				pos = (pos + step) & mask
			}
		}
	} else {
		for s, c := range norm {
			for i := int16(0); i < c; i++ {
				symbols[pos&511] = uint8(s)
				pos = (pos + step) & mask
				for pos > high {
					pos = (pos + step) & mask
				}
			}
		}
	}
	for u := 0; u < size; u++ {
		s := symbols[u&511] & 63
		t.state[cumul[s]&511] = uint16(size + u)
		cumul[s]++
	}
	total := 0
	for s, c := range norm {
		switch c {
		case 0:
			t.tt[s&63] = fseSymTT{deltaNbBits: uint32(tableLog+1)<<16 - uint32(size)}
		case -1, 1:
			t.tt[s&63] = fseSymTT{uint32(tableLog)<<16 - uint32(size), int32(total - 1)}
			total++
		default:
			maxBitsOut := uint32(tableLog) - uint32(bits.Len32(uint32(c-1))-1)
			minStatePlus := uint32(c) << maxBitsOut
			t.tt[s&63] = fseSymTT{maxBitsOut<<16 - minStatePlus, int32(total - int(c))}
			total += int(c)
		}
	}
}

// init returns the first state for sym: the one that makes the next
// symbol cost the fewest bits (FSE_initCState2).
func (t *fseCTable) init(sym uint8) uint32 {
	tt := t.tt[sym]
	nb := (tt.deltaNbBits + 1<<15) >> 16
	v := nb<<16 - tt.deltaNbBits
	return uint32(t.state[int32(v>>nb)+tt.deltaFindState])
}

// Sequence table modes.
const (
	zsPredefined = 0
	zsRLE        = 1
	zsFSE        = 2
)

// writeSequences writes the sequences section and returns its length.
func (z *pageZstd) writeSequences(out []byte) int {
	seqs := z.seqs
	ns := len(seqs)
	p := 0
	switch {
	case ns < 128:
		out[0] = byte(ns)
		p = 1
	case ns < 0x7f00:
		out[0] = byte(ns>>8 | 0x80)
		out[1] = byte(ns)
		p = 2
	default:
		out[0] = 0xff
		binary.LittleEndian.PutUint16(out[1:], uint16(ns-0x7f00))
		p = 3
	}
	if ns == 0 {
		return p
	}
	modesAt := p
	p++
	freqs := [3][]uint32{z.llFreq[:zsLLCodes], z.ofFreq[:], z.mlFreq[:zsMLCodes]}
	maxLogs := [3]uint8{zsLLMaxLog, zsOFMaxLog, zsMLMaxLog}
	modes := byte(0)
	for k := 0; k < 3; k++ {
		mode, used := z.chooseTable(k, freqs[k], ns, maxLogs[k], out[p:])
		p += used
		if mode == zsPredefined && !z.ctDefault[k] {
			// The writer below reads all three tables from z.ct.
			z.ct[k] = zsDefaultCT[k]
			z.ctLast[k] = false
		}
		z.ctDefault[k] = mode == zsPredefined
		modes |= byte(mode) << (6 - 2*k)
	}
	out[modesAt] = modes
	llT, ofT, mlT := &z.ct[0], &z.ct[1], &z.ct[2]

	// The last sequence first: its codes set the first states.
	last := seqs[ns-1]
	llS := llT.init(last.llc)
	ofS := ofT.init(last.ofc)
	mlS := mlT.init(last.mlc)
	acc := last.extra
	nbits := uint(last.ebits)
	n := p
	for i := ns - 2; i >= 0; i-- {
		// Flush whole bytes: at most 7 bits stay.
		binary.LittleEndian.PutUint64(out[n:], acc)
		k := nbits >> 3
		n += int(k)
		acc >>= (k * 8) & 63
		nbits &= 7
		q := &seqs[i]
		var low uint32
		// States: offset, match length, literal length (at most
		// 8+9+9 bits).
		t := &ofT.tt[q.ofc&63]
		nb := (ofS + t.deltaNbBits) >> 16
		low = ofS & (1<<(nb&31) - 1)
		ofS = uint32(ofT.state[(int32(ofS>>(nb&31))+t.deltaFindState)&511])
		acc |= uint64(low) << (nbits & 63)
		nbits += uint(nb)
		t = &mlT.tt[q.mlc&63]
		nb = (mlS + t.deltaNbBits) >> 16
		low = mlS & (1<<(nb&31) - 1)
		mlS = uint32(mlT.state[(int32(mlS>>(nb&31))+t.deltaFindState)&511])
		acc |= uint64(low) << (nbits & 63)
		nbits += uint(nb)
		t = &llT.tt[q.llc&63]
		nb = (llS + t.deltaNbBits) >> 16
		low = llS & (1<<(nb&31) - 1)
		llS = uint32(llT.state[(int32(llS>>(nb&31))+t.deltaFindState)&511])
		acc |= uint64(low) << (nbits & 63)
		nbits += uint(nb)
		// Extra bits, at most 16+16+17.
		if q.ebits > 63-33 {
			binary.LittleEndian.PutUint64(out[n:], acc)
			k := nbits >> 3
			n += int(k)
			acc >>= (k * 8) & 63
			nbits &= 7
		}
		acc |= q.extra << (nbits & 63)
		nbits += uint(q.ebits)
	}
	w := zsBits{out: out, n: n, acc: acc, nbits: nbits}
	w.flush()
	w.addMasked(mlS, uint32(mlT.tableLog))
	w.addMasked(ofS, uint32(ofT.tableLog))
	w.flush()
	w.addMasked(llS, uint32(llT.tableLog))
	return w.close()
}

// chooseTable picks the table mode for one kind of code (k: 0 literal
// lengths, 1 offsets, 2 match lengths) by estimated size, builds the
// table in z.ct[k] unless it is predefined, writes its description into
// out and returns the mode and the description's length.
func (z *pageZstd) chooseTable(k int, freq []uint32, ns int, maxLog uint8, out []byte) (int, int) {
	maxSym, distinct := 0, 0
	for s, f := range freq {
		if f != 0 {
			maxSym = s
			distinct++
		}
	}
	ct := &z.ct[k]
	if distinct == 1 {
		// RLE: one byte, no bits per symbol.
		if ns > 1 || zsDefaultCost[k][maxSym] == 0 || zsDefaultCost[k][maxSym] > 8*256 {
			z.ctLast[k] = false
			ct.tableLog = 0
			ct.state[0], ct.state[1] = 0, 0
			ct.tt[maxSym] = fseSymTT{}
			out[0] = byte(maxSym)
			return zsRLE, 1
		}
	}
	// Cost of the predefined table, in 1/256 bits; offsets past its
	// codes cannot use it.
	defCost := uint64(0)
	defOK := k != 1 || maxSym <= 28
	if defOK {
		dc := &zsDefaultCost[k]
		for s := 0; s <= maxSym; s++ {
			defCost += uint64(freq[s]) * uint64(dc[s])
		}
	}
	if distinct == 1 {
		return zsPredefined, 0
	}
	if defOK && ns < 8 {
		return zsPredefined, 0
	}
	tableLog := fseOptimalLog(maxLog, ns, maxSym)
	norm := z.norm[:maxSym+1]
	fseNormalize(norm, freq[:maxSym+1], ns, tableLog)
	// Half the pages of a dump have the distribution of the page
	// before: its description, and its table if ct still holds it,
	// are kept.
	c := &z.last[k]
	same := c.log == tableLog && int(c.n) == len(norm)
	for s := 0; same && s < len(norm); s++ {
		same = c.norm[s] == norm[s]
	}
	if !same {
		c.log, c.n = tableLog, uint8(len(norm))
		copy(c.norm[:], norm)
		c.hn = uint8(fseWriteNCount(c.hdr[:], norm, tableLog))
		z.ctLast[k] = false
	}
	hn := int(c.hn)
	cost := uint64(hn) * 8 * 256
	for s := 0; s <= maxSym; s++ {
		if f := freq[s]; f != 0 {
			cost += uint64(f) * uint64(uint32(tableLog)*256-zsLog256[norm[s]])
		}
	}
	if defOK && defCost <= cost {
		return zsPredefined, 0
	}
	if !z.ctLast[k] {
		ct.build(norm, tableLog)
		z.ctLast[k] = true
	}
	return zsFSE, copy(out, c.hdr[:hn])
}
