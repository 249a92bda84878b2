package codec

import (
	"encoding/binary"
	"fmt"
)

// DecodeLZO1X decodes one LZO1X block (the output of liblzo2's
// lzo1x_1_compress or any other LZO1X compressor, without an lzop header)
// from src into dst and returns the number of bytes written. It is the
// equivalent of lzo1x_decompress_safe: it fails, with an error wrapping
// ErrCorrupt, if the input is malformed or truncated, if a match reaches
// before the start of the output, if the output would not fit in dst, or
// if bytes follow the end-of-stream marker. It never writes past len(dst).
//
// The bitstream (see liblzo2's lzo1x_d.ch and the Linux kernel's
// Documentation/staging/lzo.rst) is a sequence of instructions. The low two
// bits of most match instructions ("state") give the number of literals
// (0..3) that follow the match, and the state selects how the next
// instruction byte 0..15 is read:
//
//	state 0:    0000LLLL          literal run of 3+L bytes (L=0: long length)
//	state 1..3: 0000DDSS HHHHHHHH 2-byte match, distance 1+D+4H
//	state 4:    0000DDSS HHHHHHHH 3-byte match, distance 2049+D+4H
//	            (state 4 = the previous instruction was a literal run)
//	any state:  0001HLLL LE16     M4: 2+L bytes (L=0: long), distance
//	                              16384+16384H+(LE16>>2); distance 16384
//	                              ends the stream
//	            001LLLLL LE16     M3: 2+L bytes (L=0: long), distance 1+(LE16>>2)
//	            01LDDDSS HHHHHHHH M2: 3+L bytes, distance 1+D+8H
//	            1LLDDDSS HHHHHHHH M2: 5+L bytes, distance 1+D+8H
//
// A long length is a run of zero bytes, each worth 255, then a nonzero byte
// added to the field's maximum (15, 31 or 7). For M3/M4 the state comes
// from the low two bits of the LE16. The first byte of a block is special:
// 18..20 copy 1..3 literals (state 1..3), 21..255 copy 4..238 literals
// (state 4); 0..17 are ordinary instructions in state 0.
func DecodeLZO1X(dst, src []byte) (int, error) {
	ip, op := 0, 0
	state := 0
	if len(src) > 0 && src[0] > 17 {
		n := int(src[0]) - 17
		ip = 1
		if n > len(src)-ip {
			return op, lzoInputOverrun(ip)
		}
		if n > len(dst)-op {
			return op, lzoOutputOverrun(op, n)
		}
		copy(dst[op:], src[ip:ip+n])
		ip += n
		op += n
		state = n
		if state > 4 {
			state = 4
		}
	}
	for {
		if ip >= len(src) {
			return op, lzoInputOverrun(ip)
		}
		inst := int(src[ip])
		ip++
		var length, dist, next int
		switch {
		case inst >= 64: // M2
			if ip >= len(src) {
				return op, lzoInputOverrun(ip)
			}
			length = inst>>5 + 1
			dist = (inst>>2)&7 + int(src[ip])<<3 + 1
			ip++
			next = inst & 3
		case inst >= 32: // M3
			length = inst & 31
			if length == 0 {
				var err error
				if length, ip, err = lzoLongLength(src, ip, 31, len(dst)); err != nil {
					return op, err
				}
			}
			length += 2
			if len(src)-ip < 2 {
				return op, lzoInputOverrun(ip)
			}
			v := int(binary.LittleEndian.Uint16(src[ip:]))
			ip += 2
			dist = v>>2 + 1
			next = v & 3
		case inst >= 16: // M4, or the end of the stream
			length = inst & 7
			if length == 0 {
				var err error
				if length, ip, err = lzoLongLength(src, ip, 7, len(dst)); err != nil {
					return op, err
				}
			}
			length += 2
			if len(src)-ip < 2 {
				return op, lzoInputOverrun(ip)
			}
			v := int(binary.LittleEndian.Uint16(src[ip:]))
			ip += 2
			dist = (inst&8)<<11 + v>>2
			if dist == 0 {
				if ip != len(src) {
					return op, fmt.Errorf("%d bytes after the end-of-stream marker at byte %d: %w", len(src)-ip, ip-3, ErrCorrupt)
				}
				return op, nil
			}
			dist += 16384
			next = v & 3
		default: // 0..15: meaning depends on the state
			switch state {
			case 0: // literal run
				length = inst
				if length == 0 {
					var err error
					if length, ip, err = lzoLongLength(src, ip, 15, len(dst)); err != nil {
						return op, err
					}
				}
				length += 3
				if length > len(src)-ip {
					return op, lzoInputOverrun(ip)
				}
				if length > len(dst)-op {
					return op, lzoOutputOverrun(op, length)
				}
				copy(dst[op:], src[ip:ip+length])
				ip += length
				op += length
				state = 4
				continue
			case 4: // 3-byte match right after a literal run
				length = 3
				dist = 2049
			default: // 2-byte match after a match with 1..3 literals
				length = 2
				dist = 1
			}
			if ip >= len(src) {
				return op, lzoInputOverrun(ip)
			}
			dist += inst>>2 + int(src[ip])<<2
			ip++
			next = inst & 3
		}

		if dist > op {
			return op, fmt.Errorf("match at output byte %d reaches back %d bytes, before the start: %w", op, dist, ErrCorrupt)
		}
		if length > len(dst)-op {
			return op, lzoOutputOverrun(op, length)
		}
		if dist >= length {
			copy(dst[op:op+length], dst[op-dist:])
		} else {
			// Overlapping match: each byte may be one this copy wrote
			// (a run), so copy forwards one byte at a time.
			for i := op; i < op+length; i++ {
				dst[i] = dst[i-dist]
			}
		}
		op += length

		if next > 0 {
			if next > len(src)-ip {
				return op, lzoInputOverrun(ip)
			}
			if next > len(dst)-op {
				return op, lzoOutputOverrun(op, next)
			}
			copy(dst[op:], src[ip:ip+next])
			ip += next
			op += next
		}
		state = next
	}
}

// lzoLongLength reads the zero-byte extension of a length field starting
// at src[ip] and returns base + 255·zeros + the final nonzero byte. A length
// larger than limit cannot fit the output, so it is rejected as soon as the
// zero run shows it, which also keeps the arithmetic from overflowing.
func lzoLongLength(src []byte, ip, base, limit int) (int, int, error) {
	start := ip
	n := base
	for {
		if ip >= len(src) {
			return 0, ip, lzoInputOverrun(ip)
		}
		b := int(src[ip])
		ip++
		if b != 0 {
			return n + b, ip, nil
		}
		n += 255
		if n > limit {
			return 0, ip, fmt.Errorf("length at input byte %d exceeds the %d-byte output: %w", start, limit, ErrCorrupt)
		}
	}
}

func lzoInputOverrun(ip int) error {
	return fmt.Errorf("input ends at byte %d in the middle of an instruction or without the end-of-stream marker: %w", ip, ErrCorrupt)
}

func lzoOutputOverrun(op, n int) error {
	return fmt.Errorf("%d bytes at output byte %d overrun the output: %w", n, op, ErrCorrupt)
}
