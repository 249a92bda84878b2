package codec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"testing"
)

var encodeMethods = []Method{Raw, Zlib, LZO, Snappy, Zstd}

// encodeInputs are page-sized inputs of the kinds a dump holds: zero,
// sparse, struct arrays, text, random (incompressible) and odd sizes.
func encodeInputs() map[string][]byte {
	rng := rand.New(rand.NewSource(7))
	in := map[string][]byte{
		"zero":     make([]byte, 4096),
		"sparse":   lzoSparse(rng, 4096),
		"records":  lzoRecords(rng, 4096),
		"random":   lzoRandom(rng, 4096),
		"text":     bytes.Repeat([]byte("kernel: the quick brown fox jumps over the lazy dog\n"), 4096/52+1)[:4096],
		"testpage": testPage(),
		"empty":    {},
		"tiny":     []byte("x"),
		"big-64k":  bytes.Repeat(lzoRecords(rng, 4096), 16),
	}
	return in
}

// TestEncodeRoundTrip: every method's output decodes to the input with our
// Decoder (which checks the length exactly, as crash and libkdumpfile do).
func TestEncodeRoundTrip(t *testing.T) {
	var e Encoder
	defer e.Close()
	var d Decoder
	defer d.Close()
	for name, src := range encodeInputs() {
		for _, m := range encodeMethods {
			t.Run(name+"/"+m.String(), func(t *testing.T) {
				dst := make([]byte, MaxEncodedLen(len(src)))
				n, err := e.Encode(m, dst, src)
				if err != nil {
					t.Fatal(err)
				}
				if len(src) == 0 {
					return // a page is never empty; Decode wants a page
				}
				got := make([]byte, len(src))
				if err := d.Decode(m, got, dst[:n]); err != nil {
					t.Fatalf("decode %d bytes: %v", n, err)
				}
				if !bytes.Equal(got, src) {
					t.Fatal("round trip changed the data")
				}
			})
		}
	}
}

// TestEncodeFormats checks the container bytes the C readers rely on.
func TestEncodeFormats(t *testing.T) {
	var e Encoder
	defer e.Close()
	src := testPage()
	dst := make([]byte, MaxEncodedLen(len(src)))

	n, err := e.Encode(Zlib, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 1950: CM 8, 32 KiB window, FLEVEL 0 (fastest) as deflateInit(1).
	if dst[0] != 0x78 || dst[1] != 0x01 {
		t.Errorf("zlib header % x, want 78 01", dst[:2])
	}
	if n < 6 {
		t.Fatalf("zlib stream of %d bytes", n)
	}

	n, err = e.Encode(Zstd, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	// Magic, then a frame header descriptor with Single_Segment set (so
	// the content size is present) and no checksum flag.
	if !bytes.Equal(dst[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		t.Fatalf("zstd magic % x", dst[:4])
	}
	fhd := dst[4]
	if fhd&0x20 == 0 {
		t.Errorf("zstd frame header %#x: Single_Segment not set, no content size", fhd)
	}
	if fhd&0x04 != 0 {
		t.Errorf("zstd frame header %#x: checksum flag set", fhd)
	}
	if fcs := fhd >> 6; fcs != 1 { // 2-byte field: value - 256
		t.Errorf("zstd frame header %#x: content size field code %d, want 1 (2 bytes)", fhd, fcs)
	} else if got := int(dst[5]) | int(dst[6])<<8 + 256; got != len(src) {
		t.Errorf("zstd content size %d, want %d", got, len(src))
	}
	_ = n

	n, err = e.Encode(Snappy, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	// Raw block format: a varint of the decoded length (4096 = 80 20),
	// not the framing format's stream identifier.
	if dst[0] != 0x80 || dst[1] != 0x20 {
		t.Errorf("snappy block starts % x, want the varint 80 20", dst[:2])
	}
	_ = n
}

// TestEncodePage: the strictly-smaller rule of makedumpfile.
func TestEncodePage(t *testing.T) {
	var e Encoder
	defer e.Close()
	in := encodeInputs()
	for _, m := range encodeMethods {
		t.Run(m.String(), func(t *testing.T) {
			dst := make([]byte, MaxEncodedLen(4096))
			data, used, err := e.EncodePage(m, dst, in["random"])
			if err != nil {
				t.Fatal(err)
			}
			if used != Raw || &data[0] != &in["random"][0] {
				t.Errorf("random page stored as %v (%d bytes), want raw", used, len(data))
			}
			data, used, err = e.EncodePage(m, dst, in["records"])
			if err != nil {
				t.Fatal(err)
			}
			if m == Raw {
				if used != Raw || len(data) != 4096 {
					t.Errorf("raw: got %v, %d bytes", used, len(data))
				}
				return
			}
			if used != m || len(data) >= 4096 || &data[0] != &dst[0] {
				t.Errorf("records page: %v, %d bytes; want %v, fewer than 4096 bytes in dst", used, len(data), m)
			}
		})
	}
}

// TestEncodePageEqualSize: a compressed form exactly as long as the page
// is not used (makedumpfile tests size_out < page_size).
func TestEncodePageEqualSize(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var e Encoder
	defer e.Close()
	// Snappy stores incompressible input as one literal: varint length
	// (2 bytes) + literal tag (3 bytes) + data, so a random input of n
	// bytes always exceeds n; shrinking the tail to compressible bytes
	// finds an input whose output is exactly len(src) long.
	for k := 0; k < 64; k++ {
		src := lzoRandom(rng, 4096)
		for i := 4096 - k; i < 4096; i++ {
			src[i] = 0
		}
		dst := make([]byte, MaxEncodedLen(len(src)))
		n, err := e.Encode(Snappy, dst, src)
		if err != nil {
			t.Fatal(err)
		}
		_, used, err := e.EncodePage(Snappy, dst, src)
		if err != nil {
			t.Fatal(err)
		}
		if (n < len(src)) != (used == Snappy) {
			t.Fatalf("compressed to %d of %d bytes, EncodePage chose %v", n, len(src), used)
		}
	}
}

func TestEncodeShortDst(t *testing.T) {
	var e Encoder
	defer e.Close()
	src := testPage()
	for _, m := range encodeMethods {
		_, err := e.Encode(m, make([]byte, len(src)), src)
		if !errors.Is(err, io.ErrShortBuffer) {
			t.Errorf("%v: err %v, want io.ErrShortBuffer", m, err)
		}
	}
	if _, err := e.Encode(Method(0x40), make([]byte, MaxEncodedLen(4096)), src); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("method 0x40: err %v, want ErrUnknownMethod", err)
	}
}

func TestMaxEncodedLen(t *testing.T) {
	// makedumpfile's calculate_len_buf_out for a 4 KiB page is
	// page + page/16 + 64 + 3 = 4419 with lzo linked in; the other
	// bounds are below it for pages.
	if got := MaxEncodedLen(4096); got != 4419 {
		t.Errorf("MaxEncodedLen(4096) = %d, want 4419", got)
	}
}

func TestEncodeAllocs(t *testing.T) {
	src := encodeInputs()["records"]
	for _, m := range encodeMethods {
		t.Run(m.String(), func(t *testing.T) {
			var e Encoder
			defer e.Close()
			dst := make([]byte, MaxEncodedLen(len(src)))
			if _, _, err := e.EncodePage(m, dst, src); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if _, _, err := e.EncodePage(m, dst, src); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v: %v allocations per page", m, allocs)
			}
		})
	}
}

// benchPages returns the page sets the encode benchmarks compress:
// synthetic page-like data (sparse pages, struct arrays and one random
// page in four), and non-zero pages of the real-kernel corpus when it is
// present (what -d 1 and higher compress).
func benchPages(b testing.TB) map[string][][]byte {
	sets := map[string][][]byte{}
	rng := rand.New(rand.NewSource(11))
	var syn [][]byte
	for i := 0; i < 2048; i++ {
		switch i % 4 {
		case 0:
			syn = append(syn, lzoSparse(rng, 4096))
		case 1, 2:
			syn = append(syn, lzoRecords(rng, 4096))
		default:
			syn = append(syn, lzoRandom(rng, 4096))
		}
	}
	sets["synthetic"] = syn
	if _, err := os.Stat(corpusVmcore); err == nil {
		sets["corpus"] = corpusPages(b, 2048)
	}
	return sets
}

// BenchmarkEncodePage compresses 4 KiB pages with the strictly-smaller
// rule, one goroutine per method; MB/s is uncompressed input, and
// ratio% the stored bytes per input byte.
func BenchmarkEncodePage(b *testing.B) {
	sets := benchPages(b)
	for _, kind := range []string{"corpus", "synthetic"} {
		pages := sets[kind]
		if pages == nil {
			continue
		}
		for _, m := range encodeMethods[1:] {
			benchEncode(b, m, kind, pages)
		}
	}
}

func benchEncode(b *testing.B, m Method, kind string, pages [][]byte) {
	b.Run(fmt.Sprintf("%v/%s", m, kind), func(b *testing.B) {
		var e Encoder
		defer e.Close()
		dst := make([]byte, MaxEncodedLen(4096))
		var in, out int64
		b.SetBytes(4096)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p := pages[i%len(pages)]
			data, _, err := e.EncodePage(m, dst, p)
			if err != nil {
				b.Fatal(err)
			}
			in += int64(len(p))
			out += int64(len(data))
		}
		b.ReportMetric(100*float64(out)/float64(in), "ratio%")
	})
}
