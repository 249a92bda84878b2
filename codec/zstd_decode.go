package codec

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// A zstd frame decoder (RFC 8878) for pages: the output length is known
// (the page), so frames decode straight into dst and every length is
// checked against what dst has left. It takes what any encoder writes:
// raw, RLE and compressed blocks; raw, RLE, Huffman and treeless literals
// (one or four streams, direct or FSE-compressed weights); predefined,
// RLE, FSE-described and repeated sequence tables; repeat offsets;
// several frames in a row and skippable frames; the content checksum
// (verified). Dictionaries are refused: kdump writers never use one.
//
// Why not github.com/klauspost/compress/zstd: its package links
// crypto/rand, log and an encoder for every level into every binary that
// reads pages, about 500 KB of the makedumpfile binary that the capture
// kernel keeps resident.

// errZstd wraps ErrCorrupt with a zstd context.
func errZstd(format string, a ...any) error {
	return fmt.Errorf("zstd: %s: %w", fmt.Sprintf(format, a...), ErrCorrupt)
}

const (
	zstdMagic         = 0xFD2FB528
	zstdSkippableMask = 0xFFFFFFF0
	zstdSkippableID   = 0x184D2A50
	zstdMaxBlock      = 128 << 10
	zstdHufMaxBits    = 11
)

// zstdDecoder holds a frame's state that blocks share (tables that a
// later block may repeat, the repeat offsets) and reusable buffers.
type zstdDecoder struct {
	lits []byte // the current block's literals

	huf     [1 << zstdHufMaxBits]hufEntry
	hufBits uint8 // 0: no table yet in this frame

	ll, of, ml fseTable
	llSet      bool
	ofSet      bool
	mlSet      bool
	// The tables hold the predefined distribution, which need not be
	// built again (most small blocks use it).
	llPre, ofPre, mlPre bool

	rep [3]int

	weights [256]uint8
	norm    [64]int16 // normalized counts, the largest alphabet is ML's 53
	wfse    fseTable  // for Huffman weights
}

type hufEntry struct {
	sym  uint8
	bits uint8
}

type fseEntry struct {
	sym  uint8
	bits uint8
	base uint16
}

type fseTable struct {
	log uint8
	e   [512]fseEntry
}

// decode decodes the frames in src into dst, which they must fill.
func (z *zstdDecoder) decode(dst, src []byte) error {
	d := 0
	if len(src) == 0 {
		return errZstd("no frame")
	}
	for len(src) > 0 {
		if len(src) < 4 {
			return errZstd("%d stray bytes after a frame", len(src))
		}
		magic := binary.LittleEndian.Uint32(src)
		if magic&zstdSkippableMask == zstdSkippableID {
			if len(src) < 8 {
				return errZstd("skippable frame header cut short")
			}
			n := uint64(binary.LittleEndian.Uint32(src[4:]))
			if n > uint64(len(src)-8) {
				return errZstd("skippable frame of %d bytes overruns the input", n)
			}
			src = src[8+n:]
			continue
		}
		if magic != zstdMagic {
			return errZstd("bad magic %#08x", magic)
		}
		n, used, err := z.frame(dst[d:], src[4:])
		if err != nil {
			return err
		}
		d += n
		src = src[4+used:]
	}
	if d != len(dst) {
		return errZstd("decoded %d bytes, want %d", d, len(dst))
	}
	return nil
}

// frame decodes one frame (after its magic) into dst and returns the
// bytes written and read.
func (z *zstdDecoder) frame(dst, src []byte) (int, int, error) {
	if len(src) < 1 {
		return 0, 0, errZstd("frame header cut short")
	}
	fhd := src[0]
	s := 1
	fcsFlag := fhd >> 6
	single := fhd&0x20 != 0
	checksum := fhd&0x04 != 0
	if fhd&0x08 != 0 {
		return 0, 0, errZstd("reserved frame header bit set")
	}
	var window uint64 // set below for single-segment frames
	if !single {
		if len(src) < 2 {
			return 0, 0, errZstd("frame header cut short")
		}
		wd := src[1]
		base := uint64(1) << (10 + wd>>3)
		window = base + base/8*uint64(wd&7)
		s++
	}
	dictLen := [4]int{0, 1, 2, 4}[fhd&3]
	fcsLen := [4]int{0, 2, 4, 8}[fcsFlag]
	if fcsFlag == 0 && single {
		fcsLen = 1
	}
	if len(src) < s+dictLen+fcsLen {
		return 0, 0, errZstd("frame header cut short")
	}
	var dict uint64
	for i := dictLen - 1; i >= 0; i-- {
		dict = dict<<8 | uint64(src[s+i])
	}
	if dict != 0 {
		return 0, 0, errZstd("frame needs dictionary %d", dict)
	}
	s += dictLen
	fcs := uint64(0)
	hasFCS := fcsLen > 0
	for i := fcsLen - 1; i >= 0; i-- {
		fcs = fcs<<8 | uint64(src[s+i])
	}
	if fcsLen == 2 {
		fcs += 256
	}
	s += fcsLen
	if hasFCS && fcs > uint64(len(dst)) {
		return 0, 0, errZstd("frame content size %d is larger than the %d bytes left", fcs, len(dst))
	}
	if single {
		window = fcs
	}
	// No block may hold more than the window (RFC 8878 Block_Maximum_Size;
	// libzstd refuses such frames).
	blockMax := int(min(window, zstdMaxBlock))

	// Frame state.
	z.hufBits = 0
	z.llSet, z.ofSet, z.mlSet = false, false, false
	z.rep = [3]int{1, 4, 8}
	d := 0
	for {
		if len(src)-s < 3 {
			return 0, 0, errZstd("block header cut short")
		}
		h := uint32(src[s]) | uint32(src[s+1])<<8 | uint32(src[s+2])<<16
		s += 3
		last := h&1 != 0
		size := int(h >> 3)
		if size > blockMax {
			return 0, 0, errZstd("block of %d bytes in a window of %d", size, window)
		}
		switch (h >> 1) & 3 {
		case 0: // raw
			if size > len(src)-s {
				return 0, 0, errZstd("raw block of %d bytes overruns the input", size)
			}
			if size > len(dst)-d {
				return 0, 0, errZstd("raw block of %d bytes overruns the output", size)
			}
			d += copy(dst[d:], src[s:s+size])
			s += size
		case 1: // RLE
			if s >= len(src) {
				return 0, 0, errZstd("RLE block cut short")
			}
			if size > len(dst)-d {
				return 0, 0, errZstd("RLE block of %d bytes overruns the output", size)
			}
			b := src[s]
			for i := range dst[d : d+size] {
				dst[d+i] = b
			}
			d += size
			s++
		case 2:
			if size > len(src)-s {
				return 0, 0, errZstd("compressed block of %d bytes overruns the input", size)
			}
			n, err := z.block(dst[:d+min(blockMax, len(dst)-d)], d, src[s:s+size])
			if err != nil {
				return 0, 0, err
			}
			d = n
			s += size
		default:
			return 0, 0, errZstd("reserved block type")
		}
		if last {
			break
		}
	}
	if hasFCS && uint64(d) != fcs {
		return 0, 0, errZstd("frame holds %d bytes, its header says %d", d, fcs)
	}
	if checksum {
		if len(src)-s < 4 {
			return 0, 0, errZstd("content checksum cut short")
		}
		want := binary.LittleEndian.Uint32(src[s:])
		if got := uint32(xxh64(dst[:d])); got != want {
			return 0, 0, errZstd("content checksum %#08x, want %#08x", got, want)
		}
		s += 4
	}
	return d, s, nil
}

// block decodes one compressed block, appending to dst[:d]; it returns
// the new length.
func (z *zstdDecoder) block(dst []byte, d int, src []byte) (int, error) {
	lits, n, err := z.literals(src, len(dst)-d)
	if err != nil {
		return 0, err
	}
	src = src[n:]
	return z.sequences(dst, d, lits, src)
}

// literals decodes the literals section at the start of src and returns
// the literals and the section's length. More than room literals cannot
// fit the output and are refused before anything is allocated for them.
func (z *zstdDecoder) literals(src []byte, room int) ([]byte, int, error) {
	if len(src) < 1 {
		return nil, 0, errZstd("literals section missing")
	}
	typ := src[0] & 3
	sf := (src[0] >> 2) & 3
	if typ < 2 { // raw or RLE
		var size, h int
		switch sf {
		case 0, 2:
			size, h = int(src[0]>>3), 1
		case 1:
			if len(src) < 2 {
				return nil, 0, errZstd("literals header cut short")
			}
			size, h = int(src[0]>>4)|int(src[1])<<4, 2
		case 3:
			if len(src) < 3 {
				return nil, 0, errZstd("literals header cut short")
			}
			size, h = int(src[0]>>4)|int(src[1])<<4|int(src[2])<<12, 3
		}
		if size > min(zstdMaxBlock, room) {
			return nil, 0, errZstd("%d literals for %d bytes of output", size, room)
		}
		if typ == 0 {
			if size > len(src)-h {
				return nil, 0, errZstd("%d raw literals overrun the block", size)
			}
			return src[h : h+size], h + size, nil
		}
		if h >= len(src) {
			return nil, 0, errZstd("RLE literals cut short")
		}
		lits := z.litBuf(size)
		for i := range lits {
			lits[i] = src[h]
		}
		return lits, h + 1, nil
	}

	// Huffman-coded literals.
	var regen, comp, h int
	streams := 4
	switch sf {
	case 0, 1:
		if len(src) < 3 {
			return nil, 0, errZstd("literals header cut short")
		}
		v := int(src[0]) | int(src[1])<<8 | int(src[2])<<16
		regen, comp, h = v>>4&0x3ff, v>>14&0x3ff, 3
		if sf == 0 {
			streams = 1
		}
	case 2:
		if len(src) < 4 {
			return nil, 0, errZstd("literals header cut short")
		}
		v := int(binary.LittleEndian.Uint32(src))
		regen, comp, h = v>>4&0x3fff, v>>18&0x3fff, 4
	case 3:
		if len(src) < 5 {
			return nil, 0, errZstd("literals header cut short")
		}
		v := int(binary.LittleEndian.Uint32(src)) | int(src[4])<<32
		regen, comp, h = v>>4&0x3ffff, v>>22&0x3ffff, 5
	}
	if regen > min(zstdMaxBlock, room) {
		return nil, 0, errZstd("%d literals for %d bytes of output", regen, room)
	}
	if comp > len(src)-h {
		return nil, 0, errZstd("%d bytes of compressed literals overrun the block", comp)
	}
	data := src[h : h+comp]
	if typ == 2 {
		n, err := z.hufTable(data)
		if err != nil {
			return nil, 0, err
		}
		data = data[n:]
	} else if z.hufBits == 0 {
		return nil, 0, errZstd("treeless literals without an earlier Huffman table")
	}
	lits := z.litBuf(regen)
	if streams == 1 {
		if err := z.hufStream(lits, data); err != nil {
			return nil, 0, err
		}
		return lits, h + comp, nil
	}
	if len(data) < 6 {
		return nil, 0, errZstd("literals jump table cut short")
	}
	s1 := int(binary.LittleEndian.Uint16(data))
	s2 := int(binary.LittleEndian.Uint16(data[2:]))
	s3 := int(binary.LittleEndian.Uint16(data[4:]))
	data = data[6:]
	if s1+s2+s3 > len(data) {
		return nil, 0, errZstd("literals streams overrun their section")
	}
	seg := (regen + 3) / 4
	if 3*seg > regen {
		return nil, 0, errZstd("%d literals cannot fill four streams", regen)
	}
	if err := z.hufStreams4(lits, seg, [4][]byte{
		data[:s1], data[s1 : s1+s2], data[s1+s2 : s1+s2+s3], data[s1+s2+s3:],
	}); err != nil {
		return nil, 0, err
	}
	return lits, h + comp, nil
}

// hufStreams4 decodes four Huffman streams into the four segments of
// lits (seg bytes each, the last one shorter), a symbol of each in turn:
// the four chains of table lookups then overlap.
func (z *zstdDecoder) hufStreams4(lits []byte, seg int, src [4][]byte) error {
	var br [4]backReader
	for i := range br {
		var err error
		if br[i], err = newBackReader(src[i]); err != nil {
			return err
		}
	}
	o0, o1, o2, o3 := lits[:seg], lits[seg:2*seg], lits[2*seg:3*seg], lits[3*seg:]
	mb := uint(z.hufBits)
	mask := uint64(1)<<mb - 1
	huf := &z.huf
	b0, b1, b2, b3 := &br[0], &br[1], &br[2], &br[3]
	for i := range o3 {
		b0.need(mb)
		b1.need(mb)
		b2.need(mb)
		b3.need(mb)
		e0 := huf[b0.v>>(b0.n-mb)&mask]
		e1 := huf[b1.v>>(b1.n-mb)&mask]
		e2 := huf[b2.v>>(b2.n-mb)&mask]
		e3 := huf[b3.v>>(b3.n-mb)&mask]
		b0.n -= uint(e0.bits)
		b1.n -= uint(e1.bits)
		b2.n -= uint(e2.bits)
		b3.n -= uint(e3.bits)
		o0[i], o1[i], o2[i], o3[i] = e0.sym, e1.sym, e2.sym, e3.sym
	}
	for i := len(o3); i < seg; i++ {
		for k, o := range [3][]byte{o0, o1, o2} {
			b := &br[k]
			b.need(mb)
			e := huf[b.v>>(b.n-mb)&mask]
			b.n -= uint(e.bits)
			o[i] = e.sym
		}
	}
	for i := range br {
		if p := br[i].pos(); p != 0 {
			return errZstd("Huffman stream %d has %d bits left over or missing", i+1, p)
		}
	}
	return nil
}

func (z *zstdDecoder) litBuf(n int) []byte {
	if cap(z.lits) < n {
		z.lits = make([]byte, n, max(n, 4096))
	}
	return z.lits[:n]
}

// hufTable reads a Huffman tree description and builds the decoding
// table; it returns the description's length.
func (z *zstdDecoder) hufTable(src []byte) (int, error) {
	if len(src) < 1 {
		return 0, errZstd("Huffman tree description missing")
	}
	hb := int(src[0])
	var nw, used int
	if hb >= 128 {
		nw = hb - 127
		nb := (nw + 1) / 2
		if nb > len(src)-1 {
			return 0, errZstd("Huffman weights cut short")
		}
		for i := range nw {
			b := src[1+i/2]
			if i%2 == 0 {
				z.weights[i] = b >> 4
			} else {
				z.weights[i] = b & 15
			}
		}
		used = 1 + nb
	} else {
		if hb == 0 || hb > len(src)-1 {
			return 0, errZstd("FSE-compressed Huffman weights of %d bytes", hb)
		}
		var err error
		nw, err = z.fseWeights(src[1 : 1+hb])
		if err != nil {
			return 0, err
		}
		used = 1 + hb
	}
	// The last symbol's weight is implied: it brings the total to the
	// next power of two.
	total := 0
	for _, w := range z.weights[:nw] {
		if w > zstdHufMaxBits {
			return 0, errZstd("Huffman weight %d", w)
		}
		if w > 0 {
			total += 1 << (w - 1)
		}
	}
	if total == 0 {
		return 0, errZstd("all Huffman weights zero")
	}
	maxBits := bits.Len(uint(total))
	rest := 1<<maxBits - total
	if maxBits > zstdHufMaxBits || rest&(rest-1) != 0 {
		return 0, errZstd("Huffman weights do not sum to a power of two")
	}
	if nw >= 256 {
		return 0, errZstd("%d Huffman weights", nw+1)
	}
	z.weights[nw] = uint8(bits.Len(uint(rest)))
	nsym := nw + 1
	// Fill the table by increasing weight, symbols in order within one
	// weight: a symbol of weight w takes 2^(w-1) slots and is coded in
	// maxBits+1-w bits.
	var start [zstdHufMaxBits + 2]int
	for _, w := range z.weights[:nsym] {
		if w > 0 {
			start[w+1] += 1 << (w - 1)
		}
	}
	for w := 2; w < len(start); w++ {
		start[w] += start[w-1]
	}
	for s, w := range z.weights[:nsym] {
		if w == 0 {
			continue
		}
		e := hufEntry{sym: uint8(s), bits: uint8(maxBits) + 1 - w}
		p, span := start[w], 1<<(w-1)
		t := z.huf[p : p+span]
		t[0] = e
		for k := 1; k < span; k *= 2 { // the common symbols take up to half the table
			copy(t[k:], t[:k])
		}
		start[w] = p + span
	}
	z.hufBits = uint8(maxBits)
	return used, nil
}

// fseWeights decodes FSE-compressed Huffman weights into z.weights and
// returns how many there are.
func (z *zstdDecoder) fseWeights(src []byte) (int, error) {
	n, err := z.readFSETable(&z.wfse, src, zstdHufMaxBits, 6)
	if err != nil {
		return 0, err
	}
	br, err := newBackReader(src[n:])
	if err != nil {
		return 0, err
	}
	t := &z.wfse
	s1 := br.read(uint(t.log))
	s2 := br.read(uint(t.log))
	nw := 0
	for {
		if nw+2 > 255 {
			return 0, errZstd("too many Huffman weights")
		}
		e := t.e[s1]
		z.weights[nw] = e.sym
		nw++
		s1 = uint64(e.base) + br.read(uint(e.bits))
		if br.pos() < 0 {
			z.weights[nw] = t.e[s2].sym
			nw++
			break
		}
		e = t.e[s2]
		z.weights[nw] = e.sym
		nw++
		s2 = uint64(e.base) + br.read(uint(e.bits))
		if br.pos() < 0 {
			z.weights[nw] = t.e[s1].sym
			nw++
			break
		}
	}
	return nw, nil
}

// hufStream decodes one Huffman stream into out, which it must fill,
// consuming the stream exactly.
func (z *zstdDecoder) hufStream(out, src []byte) error {
	br, err := newBackReader(src)
	if err != nil {
		return err
	}
	mb := uint(z.hufBits)
	mask := uint64(1)<<mb - 1
	for i := range out {
		br.need(mb)
		e := z.huf[br.v>>(br.n-mb)&mask]
		out[i] = e.sym
		br.n -= uint(e.bits)
	}
	if p := br.pos(); p != 0 {
		return errZstd("Huffman stream has %d bits left over or missing", p)
	}
	return nil
}

// readFSETable reads an FSE table description (normalized counts) from
// src and builds t; it returns the description's length in bytes.
func (z *zstdDecoder) readFSETable(t *fseTable, src []byte, maxSym int, maxLog uint8) (int, error) {
	if len(src) < 1 {
		return 0, errZstd("FSE table description missing")
	}
	fr := fwdReader{b: src}
	al := uint8(fr.read(4)) + 5
	if al > maxLog {
		return 0, errZstd("FSE accuracy log %d above %d", al, maxLog)
	}
	remaining := 1<<al + 1
	threshold := 1 << al
	nbits := al + 1
	sym := 0
	for remaining > 1 {
		if sym > maxSym {
			return 0, errZstd("FSE table has more than %d symbols", maxSym+1)
		}
		mx := 2*threshold - 1 - remaining
		v := int(fr.peek(nbits))
		var count int
		if v&(threshold-1) < mx {
			count = v & (threshold - 1)
			fr.skip(nbits - 1)
		} else {
			count = v & (2*threshold - 1)
			if count >= threshold {
				count -= mx
			}
			fr.skip(nbits)
		}
		count-- // -1: "less than 1" probability
		if count < 0 {
			remaining--
		} else {
			remaining -= count
		}
		z.norm[sym] = int16(count)
		sym++
		if count == 0 {
			// Runs of zero counts follow as 2-bit repeat fields.
			for {
				r := int(fr.read(2))
				for range r {
					if sym > maxSym {
						return 0, errZstd("FSE zero run past the last symbol")
					}
					z.norm[sym] = 0
					sym++
				}
				if r != 3 {
					break
				}
			}
		}
		for remaining < threshold && threshold > 1 {
			nbits--
			threshold >>= 1
		}
		if fr.over() {
			return 0, errZstd("FSE table description cut short")
		}
	}
	if remaining != 1 {
		return 0, errZstd("FSE counts overshoot the table")
	}
	if err := buildFSE(t, z.norm[:sym], al); err != nil {
		return 0, err
	}
	return fr.bytes(), nil
}

// buildFSE builds the decoding table for normalized counts norm at
// accuracy log al.
func buildFSE(t *fseTable, norm []int16, al uint8) error {
	size := 1 << al
	if size > len(t.e) {
		return errZstd("FSE table of log %d", al)
	}
	t.log = al
	var next [64]uint16
	high := size - 1
	for s, c := range norm {
		if c == -1 {
			t.e[high].sym = uint8(s)
			high--
			next[s] = 1
		} else {
			next[s] = uint16(c)
		}
	}
	step := size>>1 + size>>3 + 3
	mask := size - 1
	pos := 0
	for s, c := range norm {
		for range max(int(c), 0) {
			t.e[pos].sym = uint8(s)
			for {
				pos = (pos + step) & mask
				if pos <= high {
					break
				}
			}
		}
	}
	if pos != 0 {
		return errZstd("FSE counts do not fill the table")
	}
	for u := range size {
		s := t.e[u].sym
		x := next[s]
		next[s]++
		nb := al - uint8(bits.Len16(x)-1)
		t.e[u].bits = nb
		t.e[u].base = x<<nb - uint16(size)
	}
	return nil
}

// The predefined distributions of RFC 8878 (3.1.1.3.2.2).
var (
	zstdLLDefault = [...]int16{4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1,
		2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1}
	zstdMLDefault = [...]int16{1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1}
	zstdOFDefault = [...]int16{1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1}
)

// Baselines and extra bits of the literal and match length codes.
var (
	zstdLLBase = [36]uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096,
		8192, 16384, 32768, 65536}
	zstdLLBits = [36]uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	zstdMLBase = [53]uint32{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
		19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
		35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051,
		4099, 8195, 16387, 32771, 65539}
	zstdMLBits = [53]uint8{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11,
		12, 13, 14, 15, 16}
)

// seqTable sets up t for one of the sequence codes by its mode and
// returns the bytes of src its description took.
func (z *zstdDecoder) seqTable(t *fseTable, set, pre *bool, mode uint8, src []byte, def []int16, defLog uint8, maxSym int, maxLog uint8) (int, error) {
	if mode == 1 || mode == 2 {
		*pre = false // t is overwritten below
	}
	switch mode {
	case 0:
		if !*pre {
			copy(z.norm[:], def)
			if err := buildFSE(t, z.norm[:len(def)], defLog); err != nil {
				return 0, err
			}
		}
		*set, *pre = true, true
		return 0, nil
	case 1:
		if len(src) < 1 {
			return 0, errZstd("RLE sequence code missing")
		}
		if int(src[0]) > maxSym {
			return 0, errZstd("RLE sequence code %d above %d", src[0], maxSym)
		}
		t.log = 0
		t.e[0] = fseEntry{sym: src[0]}
		*set = true
		return 1, nil
	case 2:
		n, err := z.readFSETable(t, src, maxSym, maxLog)
		if err != nil {
			return 0, err
		}
		*set = true
		return n, nil
	}
	if !*set {
		return 0, errZstd("repeated sequence table without an earlier one")
	}
	return 0, nil
}

// sequences decodes the sequences section src and executes it, with
// literals lits, appending to dst[:d]; it returns the new length.
func (z *zstdDecoder) sequences(dst []byte, d int, lits, src []byte) (int, error) {
	if len(src) < 1 {
		return 0, errZstd("sequences section missing")
	}
	nseq := int(src[0])
	s := 1
	switch {
	case nseq == 0:
		if len(src) != 1 {
			return 0, errZstd("%d bytes after an empty sequences section", len(src)-1)
		}
		if len(lits) > len(dst)-d {
			return 0, errZstd("literals overrun the output")
		}
		return d + copy(dst[d:], lits), nil
	case nseq < 128:
	case nseq < 255:
		if len(src) < 2 {
			return 0, errZstd("sequence count cut short")
		}
		nseq = (nseq-128)<<8 | int(src[1])
		s = 2
	default:
		if len(src) < 3 {
			return 0, errZstd("sequence count cut short")
		}
		nseq = int(src[1]) | int(src[2])<<8 + 0x7f00
		s = 3
	}
	if s >= len(src) {
		return 0, errZstd("sequence modes cut short")
	}
	modes := src[s]
	s++
	if modes&3 != 0 {
		return 0, errZstd("reserved sequence mode bits set")
	}
	n, err := z.seqTable(&z.ll, &z.llSet, &z.llPre, modes>>6, src[s:], zstdLLDefault[:], 6, 35, 9)
	if err != nil {
		return 0, fmt.Errorf("literal lengths: %w", err)
	}
	s += n
	n, err = z.seqTable(&z.of, &z.ofSet, &z.ofPre, modes>>4&3, src[s:], zstdOFDefault[:], 5, 31, 8)
	if err != nil {
		return 0, fmt.Errorf("offsets: %w", err)
	}
	s += n
	n, err = z.seqTable(&z.ml, &z.mlSet, &z.mlPre, modes>>2&3, src[s:], zstdMLDefault[:], 6, 52, 9)
	if err != nil {
		return 0, fmt.Errorf("match lengths: %w", err)
	}
	s += n

	br, err := newBackReader(src[s:])
	if err != nil {
		return 0, err
	}
	sll := br.read(uint(z.ll.log))
	sof := br.read(uint(z.of.log))
	sml := br.read(uint(z.ml.log))
	frameStart := 0 // offsets may reach back to the start of dst (this frame's output)
	for i := range nseq {
		lle, ofe, mle := z.ll.e[sll], z.of.e[sof], z.ml.e[sml]
		if lle.sym > 35 || mle.sym > 52 || ofe.sym > 31 {
			return 0, errZstd("sequence code out of range")
		}
		// The extra bits of offset (<= 31) and match length (<= 16),
		// then of literal length (<= 16) and the three state updates
		// (<= 9+9+8): at most two loads.
		mlb, llb := uint(zstdMLBits[mle.sym]), uint(zstdLLBits[lle.sym])
		br.need(uint(ofe.sym) + mlb)
		ofv := uint64(1)<<ofe.sym + br.get(uint(ofe.sym))
		ml := int(zstdMLBase[mle.sym]) + int(br.get(mlb))
		br.need(llb + uint(lle.bits) + uint(mle.bits) + uint(ofe.bits))
		ll := int(zstdLLBase[lle.sym]) + int(br.get(llb))
		if i < nseq-1 {
			sll = uint64(lle.base) + br.get(uint(lle.bits))
			sml = uint64(mle.base) + br.get(uint(mle.bits))
			sof = uint64(ofe.base) + br.get(uint(ofe.bits))
		}
		if br.pos() < 0 {
			return 0, errZstd("sequence bitstream overrun")
		}

		var off int
		if ofv > 3 {
			off = int(ofv - 3)
			z.rep = [3]int{off, z.rep[0], z.rep[1]}
		} else {
			k := int(ofv) - 1
			if ll == 0 {
				k++
			}
			switch k {
			case 0:
				off = z.rep[0]
			case 1:
				off = z.rep[1]
				z.rep[0], z.rep[1] = z.rep[1], z.rep[0]
			case 2:
				off = z.rep[2]
				z.rep = [3]int{off, z.rep[0], z.rep[1]}
			case 3:
				off = z.rep[0] - 1
				if off == 0 {
					return 0, errZstd("repeat offset 0")
				}
				z.rep = [3]int{off, z.rep[0], z.rep[1]}
			}
		}

		if ll > len(lits) {
			return 0, errZstd("sequence wants %d literals, %d left", ll, len(lits))
		}
		if ll+ml > len(dst)-d {
			return 0, errZstd("sequence overruns the output")
		}
		d += copy(dst[d:], lits[:ll])
		lits = lits[ll:]
		if off > d-frameStart || off <= 0 {
			return 0, errZstd("match offset %d reaches before the frame", off)
		}
		if off >= ml {
			copy(dst[d:d+ml], dst[d-off:])
		} else {
			for j := range ml {
				dst[d+j] = dst[d-off+j]
			}
		}
		d += ml
	}
	if p := br.pos(); p != 0 {
		return 0, errZstd("sequence bitstream has %d bits left", p)
	}
	if len(lits) > len(dst)-d {
		return 0, errZstd("literals overrun the output")
	}
	return d + copy(dst[d:], lits), nil
}

// backReader reads a zstd backward bitstream: the last byte's highest set
// bit marks the end, and bits are taken from there toward the start, the
// higher bits of each value first. Bits are loaded into v a few bytes at
// a time; below the start of the stream they read as zeros, counted in
// over.
type backReader struct {
	b    []byte
	off  int    // b[:off] is not loaded yet
	v    uint64 // the low n bits are loaded and not yet read
	n    uint
	over int // zero bits supplied past the start
}

func newBackReader(b []byte) (backReader, error) {
	if len(b) == 0 || b[len(b)-1] == 0 {
		return backReader{}, errZstd("bitstream without its end mark")
	}
	last := b[len(b)-1]
	n := uint(bits.Len8(last) - 1)
	r := backReader{b: b, off: len(b) - 1, v: uint64(last) & (1<<n - 1), n: n}
	r.refill()
	return r, nil
}

// pos is the number of bits not yet read; negative once reads went past
// the start of the stream.
func (r *backReader) pos() int { return r.off*8 + int(r.n) - r.over }

// refill loads bytes until at least 56 bits are loaded or the stream's
// start is reached.
func (r *backReader) refill() {
	if r.off >= 8 {
		k := (63 - r.n) >> 3
		if k > 0 {
			r.v = r.v<<(8*k) | binary.LittleEndian.Uint64(r.b[r.off-8:])>>(64-8*k)
			r.off -= int(k)
			r.n += 8 * k
		}
		return
	}
	for r.n <= 55 && r.off > 0 {
		r.off--
		r.v = r.v<<8 | uint64(r.b[r.off])
		r.n += 8
	}
}

// need makes at least k (<= 56) bits available, zeros past the start.
func (r *backReader) need(k uint) {
	if r.n < k {
		r.fill(k)
	}
}

func (r *backReader) fill(k uint) {
	r.refill()
	if r.n < k {
		r.over += int(k - r.n)
		r.v <<= k - r.n
		r.n = k
	}
}

// get returns the next k bits, which must be loaded (need).
func (r *backReader) get(k uint) uint64 {
	v := r.v << (64 - r.n) >> (64 - k) // bits [n-k, n); n <= 63
	r.n -= k
	return v
}

// read returns the next k (<= 56) bits.
func (r *backReader) read(k uint) uint64 {
	if r.n < k {
		r.fill(k)
	}
	v := r.v << (64 - r.n) >> (64 - k) // bits [n-k, n); n <= 63
	r.n -= k
	return v
}

// fwdReader reads bits from the start of b, least significant first (the
// FSE table descriptions). Reads past the end give zeros and set over.
type fwdReader struct {
	b   []byte
	bit int
}

func (r *fwdReader) peek(n uint8) uint64 {
	var v uint64
	i := r.bit >> 3
	for k := 0; k < 4 && i+k < len(r.b); k++ {
		v |= uint64(r.b[i+k]) << (8 * k)
	}
	return v >> uint(r.bit&7) & (1<<n - 1)
}

func (r *fwdReader) skip(n uint8) { r.bit += int(n) }

func (r *fwdReader) read(n uint8) uint64 {
	v := r.peek(n)
	r.skip(n)
	return v
}

func (r *fwdReader) over() bool { return r.bit > len(r.b)*8 }

func (r *fwdReader) bytes() int { return (r.bit + 7) >> 3 }

// xxh64 is XXH64 with seed 0, for the frame checksum.
func xxh64(b []byte) uint64 {
	const (
		p1 = 11400714785074694791
		p2 = 14029467366897019727
		p3 = 1609587929392839161
		p4 = 9650029242287828579
		p5 = 2870177450012600261
	)
	round := func(acc, in uint64) uint64 {
		acc += in * p2
		acc = bits.RotateLeft64(acc, 31)
		return acc * p1
	}
	merge := func(acc, v uint64) uint64 {
		acc ^= round(0, v)
		return acc*p1 + p4
	}
	n := uint64(len(b))
	var h, seed uint64
	if len(b) >= 32 {
		v1 := seed + p1 + p2
		v2 := seed + p2
		v3 := seed
		v4 := seed - p1
		for len(b) >= 32 {
			v1 = round(v1, binary.LittleEndian.Uint64(b))
			v2 = round(v2, binary.LittleEndian.Uint64(b[8:]))
			v3 = round(v3, binary.LittleEndian.Uint64(b[16:]))
			v4 = round(v4, binary.LittleEndian.Uint64(b[24:]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = merge(h, v1)
		h = merge(h, v2)
		h = merge(h, v3)
		h = merge(h, v4)
	} else {
		h = seed + p5
	}
	h += n
	for ; len(b) >= 8; b = b[8:] {
		h ^= round(0, binary.LittleEndian.Uint64(b))
		h = bits.RotateLeft64(h, 27)*p1 + p4
	}
	if len(b) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(b)) * p1
		h = bits.RotateLeft64(h, 23)*p2 + p3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * p5
		h = bits.RotateLeft64(h, 11) * p1
	}
	h ^= h >> 33
	h *= p2
	h ^= h >> 29
	h *= p3
	h ^= h >> 32
	return h
}
