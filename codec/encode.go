package codec

import (
	"compress/zlib"
	"errors"
	"fmt"
	"io"
)

// MaxEncodedLen returns the capacity dst must have for Encoder.Encode to
// compress n bytes with any method. Like makedumpfile's
// calculate_len_buf_out it is the largest of the methods' own bounds.
func MaxEncodedLen(n int) int {
	m := LZOMaxCompressedLen(n) // n + n/16 + 64 + 3, also above zlib's compressBound
	m = max(m, snappyMaxEncodedLen(n))
	// ZSTD_compressBound.
	zs := n + n>>8
	if n < 128<<10 {
		zs += (128<<10 - n) >> 11
	}
	return max(m, zs)
}

// Encoder compresses pages with the methods of the kdump-compressed
// format, producing what crash, libkdumpfile and makedumpfile decode:
//
//   - Zlib: an RFC 1950 stream with one deflate block, from our page
//     encoder (encode_deflate.go): zlib level 1's match finding with
//     optimal Huffman codes, as small as makedumpfile's
//     compress2(Z_BEST_SPEED) pages or smaller, several times faster.
//     The bytes differ from C zlib's. Inputs over 32 KiB (pages
//     of 64 KiB) go to the standard library's compress/zlib at level 1:
//     a second deflate encoder (klauspost's, whose decoder we use) would
//     add about 50 KB to every binary for pages no x86_64 kernel has.
//   - LZO: an LZO1X-1 block, byte-identical to liblzo2's lzo1x_1_compress.
//   - Snappy: the raw snappy block format (not the framing format), from
//     our own encoder (snappy.go), the reference encoder's algorithm.
//   - Zstd: one zstd frame with the content size in the frame header and
//     no checksum, like ZSTD_compressCCtx at level 1, from our page
//     encoder (encode_zstd.go): libzstd level 1's match finding with
//     Huffman and FSE tables chosen per page, no larger than libzstd's
//     pages on the corpus. The bytes differ from libzstd's. An input over
//     128 KiB (a page of 256 KiB; one zstd block holds 128 KiB) gets a
//     frame of raw blocks, which EncodePage then stores raw: a second
//     zstd encoder for pages no x86_64 kernel has would keep about
//     700 KB of binary resident in every dump.
//
// The zero value is ready to use. An Encoder holds per-method state,
// created on first use, and is not safe for concurrent use: keep one per
// goroutine. After the first page of each method, Encode does not
// allocate.
type Encoder struct {
	lzo  *LZOCompressor
	sn   *snappyEncoder
	df   *pageDeflater
	zw   *zlib.Writer
	zout sliceWriter
	zs   *pageZstd
}

// Encode compresses src with method m into dst and returns the length of
// the result. len(dst) must be at least MaxEncodedLen(len(src)); otherwise
// Encode returns an error wrapping io.ErrShortBuffer. Raw copies src.
// Encode may scribble on dst beyond n.
func (e *Encoder) Encode(m Method, dst, src []byte) (n int, err error) {
	if need := MaxEncodedLen(len(src)); len(dst) < need {
		return 0, fmt.Errorf("%v: compress %d bytes: dst has %d bytes, need %d: %w",
			m, len(src), len(dst), need, io.ErrShortBuffer)
	}
	switch m {
	case Raw:
		return copy(dst, src), nil
	case LZO:
		if e.lzo == nil {
			e.lzo = new(LZOCompressor)
		}
		return e.lzo.Compress(dst, src)
	case Snappy:
		if e.sn == nil {
			e.sn = new(snappyEncoder)
		}
		return e.sn.encode(dst, src), nil
	case Zlib:
		return e.encodeZlib(dst, src)
	case Zstd:
		return e.encodeZstd(dst, src)
	}
	return 0, fmt.Errorf("%v: %w", m, ErrUnknownMethod)
}

// EncodePage applies makedumpfile's rule for a page: compress it with m
// once and keep the compressed form only if it is strictly smaller than
// the page, else store the page raw. It returns the bytes to store (a
// prefix of dst, or src itself) and the method they are in (m or Raw).
// dst must have MaxEncodedLen(len(src)) bytes. With m == Raw it returns
// src.
func (e *Encoder) EncodePage(m Method, dst, src []byte) (data []byte, used Method, err error) {
	if m == Raw {
		return src, Raw, nil
	}
	n, err := e.Encode(m, dst, src)
	if err != nil {
		return nil, Raw, err
	}
	if n < len(src) {
		return dst[:n], m, nil
	}
	return src, Raw, nil
}

func (e *Encoder) encodeZlib(dst, src []byte) (int, error) {
	if len(src) <= dfMaxInput {
		if e.df == nil {
			e.df = new(pageDeflater)
		}
		return e.df.compress(dst, src), nil
	}
	e.zout = sliceWriter{b: dst}
	if e.zw == nil {
		zw, err := zlib.NewWriterLevel(&e.zout, zlib.BestSpeed)
		if err != nil {
			return 0, fmt.Errorf("zlib: %w", err)
		}
		e.zw = zw
	} else {
		e.zw.Reset(&e.zout)
	}
	if _, err := e.zw.Write(src); err != nil {
		return 0, fmt.Errorf("zlib: %w", err)
	}
	if err := e.zw.Close(); err != nil {
		return 0, fmt.Errorf("zlib: %w", err)
	}
	n := e.zout.n
	e.zout = sliceWriter{} // drop the reference to dst
	return n, nil
}

func (e *Encoder) encodeZstd(dst, src []byte) (int, error) {
	if len(src) > zsMaxInput {
		return zstdRawFrame(dst, src), nil
	}
	if e.zs == nil {
		e.zs = new(pageZstd)
	}
	return e.zs.compress(dst, src), nil
}

// Close releases what the Encoder holds. It holds nothing that needs
// releasing (all its state is garbage-collected memory); Close stays so
// callers need not know which methods ever had resources. The Encoder
// can be used again afterwards.
func (e *Encoder) Close() {}

// sliceWriter writes into a fixed byte slice and fails when it is full.
type sliceWriter struct {
	b []byte
	n int
}

var errSliceFull = errors.New("output buffer full")

func (w *sliceWriter) Write(p []byte) (int, error) {
	k := copy(w.b[w.n:], p)
	w.n += k
	if k < len(p) {
		return k, fmt.Errorf("%w: %w", errSliceFull, io.ErrShortBuffer)
	}
	return k, nil
}
