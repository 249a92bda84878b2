package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"unsafe"
)

// LZO1X-1 compression, written to produce the same bytes as liblzo2's
// lzo1x_1_compress (LZO 2.10 as built for x86_64: 16-bit dictionary
// entries, 64-bit unaligned loads). Byte identity matters because
// makedumpfile -l stores whatever lzo1x_1_compress returns, and we want
// dumps of the same size as the C tool's, page for page. Every choice
// below that looks arbitrary (where the scan starts, how far it skips,
// where match extension gives up) is there to match that output.
//
// The algorithm in one paragraph: the input is cut into chunks of at most
// 48 KiB, each with a freshly zeroed dictionary of 2^14 16-bit chunk
// offsets indexed by a multiplicative hash of the 4 bytes at a position.
// At each probed position the dictionary gives one candidate; if its 4
// bytes equal ours we have a match, which is extended 8 bytes at a time.
// Otherwise the scan moves on, taking bigger steps the longer the current
// run of literals is (one extra byte per 32 literals), which is what makes
// incompressible pages cheap. Literals still pending at the end of a chunk
// carry over into the next chunk's first literal run.

const (
	lzoDictBits   = 14
	lzoChunkLen   = 49152 // liblzo2 caps a chunk so offsets fit in 16 bits and M4's reach
	lzoHashMul    = 0x1824429d
	lzoTailLen    = 20 // no match starts within the last 20 bytes of a chunk
	lzoM2MaxLen   = 8
	lzoM2MaxOff   = 0x0800
	lzoM3MaxLen   = 33
	lzoM3MaxOff   = 0x4000
	lzoM4MaxLen   = 9
	lzoM3Marker   = 32
	lzoM4Marker   = 16
	lzoMinLookLen = 4
)

// LZOMaxCompressedLen returns the capacity dst must have for
// LZOCompressor.Compress to compress n bytes: n + n/16 + 64 + 3, the
// bound liblzo2 documents for LZO1X and the one makedumpfile allocates.
func LZOMaxCompressedLen(n int) int {
	return n + n/16 + 64 + 3
}

// LZOCompressor compresses blocks in the LZO1X-1 format, the LZO page
// encoding of kdump-compressed dumps (page flag 0x2). Its output is
// accepted by any LZO1X decoder (liblzo2's lzo1x_decompress_safe, which
// crash and libkdumpfile use, and DecodeLZO1X) and is byte-identical to
// liblzo2's lzo1x_1_compress for the same input.
//
// The zero value is ready to use. A compressor holds a 32 KiB dictionary
// and may be reused for any number of blocks, but not by two goroutines at
// once; use one per worker.
type LZOCompressor struct {
	// dict holds base plus the chunk offset of the last position with
	// each hash. Entries below base are left over from earlier chunks
	// and count as offset 0, which is what liblzo2's per-chunk zeroing
	// of its table amounts to; moving base past the last chunk's
	// entries replaces that clear. Entries are 16 bits, as liblzo2's,
	// for half the memory per worker (the speed measured the same as
	// with 32-bit entries). So base moves by a chunk's length, and the
	// table is cleared when the next chunk would not fit below 1<<16:
	// every 16 chunks of a 4 KiB page, every chunk of 48 KiB.
	dict [1 << lzoDictBits]uint16
	base uint32
	last uint32 // the previous chunk's length: entries stay below base+last
}

// Compress compresses src into dst as one LZO1X block (no lzop header)
// ending with the end-of-stream marker, and returns its length.
// len(dst) must be at least LZOMaxCompressedLen(len(src)); otherwise
// Compress writes nothing and returns an error wrapping io.ErrShortBuffer.
// Any length of src works, including 0 (which yields the 3-byte marker).
// Compress may scribble on dst beyond the returned length, up to that
// bound. It does not allocate.
func (c *LZOCompressor) Compress(dst, src []byte) (int, error) {
	if need := LZOMaxCompressedLen(len(src)); len(dst) < need {
		return 0, fmt.Errorf("lzo1x compress %d bytes: dst has %d bytes, need %d: %w",
			len(src), len(dst), need, io.ErrShortBuffer)
	}
	op := 0
	pending := 0 // literals not yet written, ending at the current chunk's start
	start := 0
	for len(src)-start > lzoTailLen {
		end := start + min(len(src)-start, lzoChunkLen)
		if (pending+end-start)>>5 == 0 {
			// liblzo2's guard against pointer overflow (the worst-case
			// skip, (pending+len)/32 bytes past the chunk, must be
			// positive) also sends inputs of 21..31 bytes straight to
			// the literal path; so must we.
			break
		}
		// liblzo2 zeroes its dictionary per chunk, and a zero entry is a
		// live candidate (chunk offset 0). Moving base past every entry
		// of the last chunk has the same effect, until base plus this
		// chunk's offsets would not fit in an entry.
		c.base += c.last
		if c.base+uint32(end-start) > 1<<16 {
			clear(c.dict[:])
			c.base = 0
		}
		c.last = uint32(end - start)
		op, pending = c.compressChunk(dst, op, src[:end], start, pending)
		start = end
	}
	pending += len(src) - start
	if pending > 0 {
		ii := len(src) - pending
		switch {
		case op == 0 && pending <= 238:
			// A block that starts with literals may say so in its
			// first byte: 18..255 stand for 1..238 literals.
			dst[op] = byte(17 + pending)
			op++
		case pending <= 3:
			// Up to 3 literals ride in the low bits of the previous
			// match's last-but-one byte.
			dst[op-2] |= byte(pending)
		default:
			op = lzoPutLiteralLen(dst, op, pending)
		}
		op += copy(dst[op:], src[ii:])
	}
	// End of stream: an M4 match of length 3 with distance 16384.
	dst[op] = lzoM4Marker | 1
	dst[op+1] = 0
	dst[op+2] = 0
	return op + 3, nil
}

// lzoPutLiteralLen writes the instruction for a run of n >= 4 literals in
// state 0 and returns the new output position.
func lzoPutLiteralLen(dst []byte, op, n int) int {
	if n <= 18 {
		dst[op] = byte(n - 3)
		return op + 1
	}
	n -= 18
	dst[op] = 0
	op++
	for n > 255 {
		dst[op] = 0
		op++
		n -= 255
	}
	dst[op] = byte(n)
	return op + 1
}

// lzoPutLongLen writes the zero-byte extension of a match length that did
// not fit the instruction's length field and returns the new position.
func lzoPutLongLen(dst []byte, op, n int) int {
	for n > 255 {
		dst[op] = 0
		op++
		n -= 255
	}
	dst[op] = byte(n)
	return op + 1
}

// le32 and le64 load 4 and 8 bytes at p+i without a bounds check; the
// scan in compressChunk uses them for every read of the input, where each
// position is bounded by the chunk's length by construction (the comments
// there say why each is). With checked loads, the code otherwise the
// same, the scan ran 1.4 times the instructions and was 7-19% slower on
// page-like data: each check needs the slice's length in a register, or
// a reload, in loops that have too few registers already.
func le32(p *byte, i int) uint32 {
	return binary.LittleEndian.Uint32((*[4]byte)(unsafe.Add(unsafe.Pointer(p), i))[:])
}

func le64(p *byte, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(unsafe.Pointer(p), i))[:])
}

// errLZODict is what the scan panics with if a dictionary entry points at
// or past the position being probed, which the moving base rules out; it
// guards the unchecked loads against a compressor used by two goroutines
// at once. The check costs one compare with a register already loaded.
var errLZODict = errors.New("lzo1x compress: dictionary entry ahead of the scan (compressor used concurrently?)")

// lzoProbe probes the positions from ip on, each step 1+(ip-ii)/32 bytes
// past the previous, updating the dictionary, until the 4 bytes at ip
// equal those at the dictionary's candidate. It returns ip and the
// candidate's position, or a negative position once ip reaches
// len(src)-4. Positions count from the chunk's start, so a dictionary
// entry e means position e-base, and one below base (left from an
// earlier chunk) means 0, the candidate liblzo2's zeroed table gives.
// That takes a branch: a branchless mask measured about 5% slower on
// incompressible pages (noisy runs), where nearly every entry is stale
// and the predicted branch lets the load of the candidate start before
// the entry is read. compressChunk uses lzoProbe for a chunk's first match and
// repeats the loop inline for the others.
func lzoProbe(dict *[1 << lzoDictBits]uint16, p *byte, end, base, ii, ip int) (int, int) {
	_ = dict[0] // one nil check here, not one per probe
	for ip < end {
		dv := le32(p, ip)
		h := (dv * lzoHashMul) >> (32 - lzoDictBits)
		mpos := int(dict[h]) - base
		if mpos < 0 {
			mpos = 0
		}
		dict[h] = uint16(ip + base)
		if uint(mpos) >= uint(ip) {
			panic(errLZODict)
		}
		if dv == le32(p, mpos) {
			return ip, mpos
		}
		ip += 1 + (ip-ii)>>5
	}
	return ip, -1
}

// compressChunk compresses src[in:len(src)] (the chunk; bytes before in are
// earlier chunks) into dst at op. pending literals end at in and are
// written before the chunk's first match. It returns the new output
// position and the number of literals still pending at the chunk's end.
func (c *LZOCompressor) compressChunk(dst []byte, op int, src []byte, in, pending int) (int, int) {
	dict := &c.dict
	_ = dict[0] // one nil check here, not one per probe
	base := int(c.base)
	s := src[in:] // positions below count from the chunk's start
	ipEnd := len(s) - lzoTailLen
	p := unsafe.SliceData(s)
	ip := 0
	if pending < lzoMinLookLen {
		// liblzo2 starts the scan 4 bytes into the literal run.
		ip += lzoMinLookLen - pending
	}
	// The scan begins with a skip step, as the first probe is one byte on.
	ip += 1 + ip>>5
	// Until the first match the skip counts from the chunk's start, not
	// from the start of the pending literals.
	ip, mpos := lzoProbe(dict, p, ipEnd, base, 0, ip)
	if mpos < 0 {
		return op, len(s) + pending
	}
	// The first literal run (never empty: the first probe is at least 5
	// bytes past its start) may begin in an earlier chunk.
	op = lzoPutLiterals(dst, op, src[in-pending:in+ip])

	for {
		// A match of at least 4 bytes at distance ip-mpos (>= 1: the
		// probe checked mpos < ip). Extend it 8 bytes at a time.
		// liblzo2 stops extending once the match reaches ipEnd, without
		// counting the equal bytes of the last word; we do the same so
		// that lengths agree. end and m walk the two copies. The first
		// load starts at ip+4 < ipEnd+4, later ones only once
		// end < ipEnd, so all end before ipEnd+12 < len(s); those at m
		// are behind them.
		end, m := ip+lzoMinLookLen, mpos+lzoMinLookLen
		for {
			v := le64(p, end) ^ le64(p, m)
			if v != 0 {
				end += bits.TrailingZeros64(v) >> 3
				break
			}
			end += 8
			m += 8
			if end >= ipEnd {
				break
			}
		}
		mlen := end - ip
		off := ip - mpos
		ip += mlen
		if mlen <= lzoM2MaxLen && off <= lzoM2MaxOff {
			// M2: 3..8 bytes within 2 KiB, two bytes.
			off--
			d := dst[op : op+2 : op+2]
			d[0] = byte((mlen-1)<<5 | (off&7)<<2)
			d[1] = byte(off >> 3)
			op += 2
		} else if off <= lzoM3MaxOff && mlen <= lzoM3MaxLen {
			// M3: within 16 KiB, up to 33 bytes, three bytes.
			off--
			d := dst[op : op+3 : op+3]
			d[0] = byte(lzoM3Marker | (mlen - 2))
			d[1] = byte(off << 2)
			d[2] = byte(off >> 6)
			op += 3
		} else {
			op = lzoPutLongMatch(dst, op, mlen, off)
		}

		// The next probe is right after the match. This is lzoProbe
		// written out: the compiler does not inline it, and a call per
		// match cost 2-5% (every value live here is spilled around a
		// call). A mask for stale entries made the compiler run out of
		// registers here and keep the candidate on the stack, 4-9%
		// slower on records and sparse pages; with dst behind a pointer
		// it fitted but was no faster than this. Loads at ip end before
		// ipEnd+4; mpos < ip.
		ii := ip
		for {
			if ip >= ipEnd {
				return op, len(s) - ii
			}
			dv := le32(p, ip)
			h := (dv * lzoHashMul) >> (32 - lzoDictBits)
			mpos = int(dict[h]) - base
			if mpos < 0 {
				mpos = 0
			}
			dict[h] = uint16(ip + base)
			if uint(mpos) >= uint(ip) {
				panic(errLZODict)
			}
			if dv == le32(p, mpos) {
				break
			}
			ip += 1 + (ip-ii)>>5
		}
		if t := ip - ii; t > 0 {
			if t <= 16 && op <= len(dst)-17 {
				if t <= 3 {
					dst[op-2] |= byte(t)
				} else {
					dst[op] = byte(t - 3)
					op++
				}
				// Copy 16 bytes and keep t: the excess is overwritten
				// by what follows and stays within dst. The loads end
				// at ii+16 <= ip+16 < ipEnd+16, inside the chunk.
				d := dst[op : op+16 : op+16]
				binary.LittleEndian.PutUint64(d, le64(p, ii))
				binary.LittleEndian.PutUint64(d[8:], le64(p, ii+8))
				op += t
			} else {
				op = lzoPutLiterals(dst, op, s[ii:ip])
			}
		}
	}
}

// lzoPutLiterals writes the instruction for the literal run lit (which
// follows a match, or starts the block) and the run itself, and returns
// the new output position.
func lzoPutLiterals(dst []byte, op int, lit []byte) int {
	if t := len(lit); t <= 3 {
		dst[op-2] |= byte(t)
	} else {
		op = lzoPutLiteralLen(dst, op, t)
	}
	return op + copy(dst[op:], lit)
}

// lzoPutLongMatch writes an M3 match longer than 33 bytes or an M4 match
// and returns the new output position.
func lzoPutLongMatch(dst []byte, op, mlen, off int) int {
	if off <= lzoM3MaxOff {
		off--
		dst[op] = lzoM3Marker
		op = lzoPutLongLen(dst, op+1, mlen-lzoM3MaxLen)
	} else {
		// M4: 16 KiB up to 48 KiB (the chunk size keeps us below
		// M4's limit of 0xbfff).
		off -= 0x4000
		hi := byte((off >> 11) & 8)
		if mlen <= lzoM4MaxLen {
			dst[op] = lzoM4Marker | hi | byte(mlen-2)
			op++
		} else {
			dst[op] = lzoM4Marker | hi
			op = lzoPutLongLen(dst, op+1, mlen-lzoM4MaxLen)
		}
	}
	dst[op] = byte(off << 2)
	dst[op+1] = byte(off >> 6)
	return op + 2
}
