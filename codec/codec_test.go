package codec

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fuzzseed"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

func testPage() []byte {
	rng := rand.New(rand.NewSource(3))
	p := make([]byte, 4096)
	for i := 0; i < len(p); i += 16 {
		p[i] = byte(rng.Intn(4))
		copy(p[i+4:], "page")
	}
	return p
}

func zlibEncode(t testing.TB, p []byte) []byte {
	var b bytes.Buffer
	w, err := zlib.NewWriterLevel(&b, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	w.Close()
	return b.Bytes()
}

func zstdEncode(t testing.TB, p []byte) []byte {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(p, nil)
}

// encoded returns the test page in every method.
func encoded(t testing.TB) map[Method][]byte {
	p := testPage()
	return map[Method][]byte{
		Raw:    p,
		Zlib:   zlibEncode(t, p),
		Snappy: snappy.Encode(nil, p),
		Zstd:   zstdEncode(t, p),
	}
}

func TestDecodeMethods(t *testing.T) {
	p := testPage()
	for m, src := range encoded(t) {
		t.Run(m.String(), func(t *testing.T) {
			var d Decoder
			defer d.Close()
			for i := 0; i < 3; i++ { // reuse of state
				dst := make([]byte, len(p))
				if err := d.Decode(m, dst, src); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(dst, p) {
					t.Fatal("decoded page differs")
				}
			}
			// Wrong page size: both shorter and longer output must fail.
			for _, n := range []int{len(p) - 1, len(p) + 1} {
				if err := d.Decode(m, make([]byte, n), src); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("dst of %d bytes: err %v, want ErrCorrupt", n, err)
				}
			}
			// Truncated and bit-flipped input must fail or at least not panic.
			for i := 0; i < len(src); i += 1 + len(src)/50 {
				if err := d.Decode(m, make([]byte, len(p)), src[:i]); err == nil {
					t.Fatalf("truncated to %d bytes: no error", i)
				}
				bad := append([]byte(nil), src...)
				bad[i] ^= 0x55
				d.Decode(m, make([]byte, len(p)), bad)
			}
		})
	}
}

func TestDecodeLZOPage(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "lzo1x", "zeros-4k.lzo"))
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	dst := bytes.Repeat([]byte{1}, 4096)
	if err := d.Decode(LZO, dst, src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst, make([]byte, 4096)) {
		t.Fatal("not zero")
	}
	if err := d.Decode(LZO, make([]byte, 8192), src); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short output: %v", err)
	}
}

func TestDecodeUnknownMethod(t *testing.T) {
	var d Decoder
	if err := d.Decode(Method(0x40), make([]byte, 16), nil); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("err %v", err)
	}
}

func TestMethodForFlags(t *testing.T) {
	tests := []struct {
		flags uint32
		m     Method
		ok    bool
	}{
		{0, Raw, true}, {1, Zlib, true}, {2, LZO, true}, {4, Snappy, true}, {0x20, Zstd, true},
		{0x21, Zlib, true}, {0x24, Snappy, true}, {0x06, LZO, true},
		{0x8, 0, false}, {0x10, 0, false}, {0x40, 0, false}, {0x80000000, 0, false},
	}
	for _, tc := range tests {
		m, ok := MethodForFlags(tc.flags)
		if m != tc.m || ok != tc.ok {
			t.Errorf("MethodForFlags(%#x) = %v,%v want %v,%v", tc.flags, m, ok, tc.m, tc.ok)
		}
	}
	if Zstd.String() != "zstd" || Method(0x40).String() != "method(0x40)" {
		t.Error("String")
	}
}

// TestDecodeAllocs: decoding a page allocates nothing once the Decoder
// has warmed up.
func TestDecodeAllocs(t *testing.T) {
	lzo, err := os.ReadFile(filepath.Join("testdata", "lzo1x", "pagelike-4k.lzo"))
	if err != nil {
		t.Fatal(err)
	}
	enc := encoded(t)
	enc[LZO] = lzo
	for m, src := range enc {
		t.Run(m.String(), func(t *testing.T) {
			var d Decoder
			defer d.Close()
			dst := make([]byte, 4096)
			if err := d.Decode(m, dst, src); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if err := d.Decode(m, dst, src); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 && !(raceEnabled && m == Zstd) {
				t.Errorf("%v: %v allocations per page", m, allocs)
			}
		})
	}
}

func BenchmarkDecodeLZO(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("testdata", "lzo1x", "pagelike-4k.lzo"))
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 4096)
	b.SetBytes(4096)
	for b.Loop() {
		if _, err := DecodeLZO1X(dst, src); err != nil {
			b.Fatal(err)
		}
	}
}

// fuzzMethods maps FuzzDecode's method argument (mod 5) to a Method.
var fuzzMethods = [...]Method{Raw, Zlib, LZO, Snappy, Zstd}

func fuzzMethodIndex(m Method) uint8 {
	for i, x := range fuzzMethods {
		if x == m {
			return uint8(i)
		}
	}
	return 0
}

// FuzzDecode feeds arbitrary bytes to every method; none may panic, and an
// error must wrap ErrCorrupt. Seeds: a test page in every method, the
// committed seeds in testdata/fuzz/FuzzDecode and, when the real-kernel
// corpus is built, a stored page of each method from its kdump files.
func FuzzDecode(f *testing.F) {
	for m, src := range encoded(f) {
		f.Add(fuzzMethodIndex(m), src)
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "lzo1x", "pagelike-0.lzo")); err == nil {
		f.Add(fuzzMethodIndex(LZO), b)
	}
	if s := fuzzseed.Load(f); s != nil {
		for _, p := range s.Pages {
			if m, ok := MethodForFlags(p.Flags); ok {
				f.Add(fuzzMethodIndex(m), p.Data)
			}
		}
	}
	// One Decoder for all execs, as a reader keeps one per goroutine:
	// creating the zstd decoder per exec would dominate the run.
	var d Decoder
	defer d.Close()
	dst := make([]byte, 4096)
	f.Fuzz(func(t *testing.T, m uint8, src []byte) {
		meth := fuzzMethods[int(m)%len(fuzzMethods)]
		if err := d.Decode(meth, dst, src); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v: %v", meth, err)
		}
	})
}

// pagelikePage is the page-like 4 KiB page of the LZO test vectors
// (testdata/lzo1x/pagelike-4k.lzo, decoded).
func pagelikePage(t testing.TB) []byte {
	t.Helper()
	lz, err := os.ReadFile(filepath.Join("testdata", "lzo1x", "pagelike-4k.lzo"))
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, 4096)
	if _, err := DecodeLZO1X(page, lz); err != nil {
		t.Fatal(err)
	}
	return page
}

// BenchmarkDecode decodes a page-like 4 KiB page (the LZO test page's
// contents) compressed by our Encoder with each method.
func BenchmarkDecode(b *testing.B) {
	page := pagelikePage(b)
	for _, m := range []Method{Zlib, LZO, Snappy, Zstd} {
		b.Run(m.String(), func(b *testing.B) {
			var e Encoder
			defer e.Close()
			buf := make([]byte, MaxEncodedLen(len(page)))
			n, err := e.Encode(m, buf, page)
			if err != nil {
				b.Fatal(err)
			}
			src := buf[:n]
			var d Decoder
			defer d.Close()
			dst := make([]byte, len(page))
			b.SetBytes(int64(len(page)))
			for b.Loop() {
				if err := d.Decode(m, dst, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
