package codec

import (
	"bytes"
	"compress/zlib"
	"hash/adler32"
	"io"
	"math/rand"
	"testing"
)

// inflate decodes a zlib stream with the standard library's decoder,
// an implementation independent of ours.
func inflate(t testing.TB, b []byte) []byte {
	t.Helper()
	r, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("zlib header: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// deflateInputs are blocks that take every path of the page encoder:
// empty and tiny inputs (no hash), runs (long matches, length 258),
// text (short matches, inserted positions), random bytes (a stored
// block), few symbols (fixed Huffman) and the largest input.
func deflateInputs() map[string][]byte {
	rng := rand.New(rand.NewSource(5))
	random := func(n int) []byte { b := make([]byte, n); rng.Read(b); return b }
	text := func(n int) []byte {
		words := []string{"the ", "page ", "cache ", "struct ", "kmem_cache", "\x00\x00", "\xff\xff\xff\xff", "0123"}
		var b []byte
		for len(b) < n {
			b = append(b, words[rng.Intn(len(words))]...)
		}
		return b[:n]
	}
	in := map[string][]byte{
		"empty":  {},
		"one":    {7},
		"two":    {7, 7},
		"three":  {1, 2, 3},
		"zero4k": make([]byte, 4096),
		"rand4k": random(4096),
		"text4k": text(4096),
		"text1":  text(300),
		"max":    text(dfMaxInput),
		"randmx": random(dfMaxInput),
		"ab":     bytes.Repeat([]byte("ab"), 2048),
		"mixed":  append(append(text(1000), make([]byte, 2000)...), random(1096)...),
	}
	for i := 4; i < 40; i++ {
		in["short"+string(rune('a'+i%26))+string(rune('0'+i/26))] = text(i)
	}
	return in
}

func TestDeflatePageRoundTrip(t *testing.T) {
	var e Encoder
	var dec Decoder
	defer dec.Close()
	for name, src := range deflateInputs() {
		dst := make([]byte, MaxEncodedLen(len(src)))
		n, err := e.Encode(Zlib, dst, src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := inflate(t, dst[:n]); !bytes.Equal(got, src) {
			t.Fatalf("%s: round trip differs (%d bytes in, %d out)", name, len(src), len(got))
		}
		// Our own decoder, as kdump readers use it, agrees.
		if len(src) > 0 {
			back := make([]byte, len(src))
			if err := dec.Decode(Zlib, back, dst[:n]); err != nil || !bytes.Equal(back, src) {
				t.Fatalf("%s: Decode: %v", name, err)
			}
		}
	}
}

// TestDeflatePageReuse: one encoder over many pages gives the bytes a
// fresh encoder gives for each (the tables' per-page base works), also
// across the wrap of the base.
func TestDeflatePageReuse(t *testing.T) {
	in := deflateInputs()
	var reused pageDeflater
	for round := 0; round < 3; round++ {
		if round == 2 {
			reused.base = ^uint32(0) - 3*dfMaxInput // wraps within this round
		}
		for name, src := range in {
			var fresh pageDeflater
			a := make([]byte, MaxEncodedLen(len(src)))
			b := make([]byte, MaxEncodedLen(len(src)))
			na := reused.compress(a, src)
			nb := fresh.compress(b, src)
			if !bytes.Equal(a[:na], b[:nb]) {
				t.Fatalf("round %d %s: a reused encoder writes other bytes than a fresh one", round, name)
			}
		}
	}
}

// TestDeflateLengthLimit: frequencies in a Fibonacci series make the
// optimal code deeper than deflate's 15 bits; the limited lengths are a
// complete prefix code within the limit.
func TestDeflateLengthLimit(t *testing.T) {
	var d pageDeflater
	freq := make([]uint32, dfLitCodes)
	a, b := uint32(1), uint32(1)
	for i := 0; i < 25; i++ {
		freq[i*3] = a
		a, b = b, a+b
	}
	lens := make([]uint8, dfLitCodes)
	d.buildLengths(freq, lens, 15, nil)
	kraft := 0.0
	for sym, l := range lens {
		if (l == 0) != (freq[sym] == 0) {
			t.Fatalf("symbol %d: length %d for frequency %d", sym, l, freq[sym])
		}
		if l > 15 {
			t.Fatalf("symbol %d: length %d over the limit", sym, l)
		}
		if l > 0 {
			kraft += 1 / float64(uint(1)<<l)
		}
	}
	if kraft != 1 {
		t.Fatalf("Kraft sum %v, want 1 (a complete code)", kraft)
	}
	// Rarer symbols never get shorter codes than more frequent ones.
	for i := 3; i < 25*3; i += 3 {
		if lens[i] > lens[i-3] {
			t.Fatalf("symbol %d (freq %d) has a longer code than symbol %d (freq %d)", i, freq[i], i-3, freq[i-3])
		}
	}
}

func TestDeflateLengthsOptimal(t *testing.T) {
	// Small alphabets where the optimum is known.
	var d pageDeflater
	for _, c := range []struct {
		freq []uint32
		want []uint8
	}{
		{[]uint32{1, 1}, []uint8{1, 1}},
		{[]uint32{5}, []uint8{1, 1}}, // a second code is forced, as zlib does
		{[]uint32{1, 1, 2, 4}, []uint8{3, 3, 2, 1}},
		{[]uint32{3, 3, 3, 3}, []uint8{2, 2, 2, 2}},
	} {
		lens := make([]uint8, len(c.freq))
		freq := append([]uint32(nil), c.freq...)
		if len(freq) == 1 {
			freq = append(freq, 0)
			lens = append(lens, 0)
		}
		d.buildLengths(freq, lens, 15, nil)
		if !bytes.Equal(lens, c.want) {
			t.Errorf("freq %v: lengths %v, want %v", c.freq, lens, c.want)
		}
	}
}

func FuzzDeflatePage(f *testing.F) {
	for _, b := range deflateInputs() {
		if len(b) <= 4096 {
			f.Add(b)
		}
	}
	var e Encoder
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > dfMaxInput {
			src = src[:dfMaxInput]
		}
		dst := make([]byte, MaxEncodedLen(len(src)))
		n, err := e.Encode(Zlib, dst, src)
		if err != nil {
			t.Fatal(err)
		}
		if n > len(src)+5*(len(src)/0xffff+1)+6 {
			t.Fatalf("%d bytes for %d: more than a stored block", n, len(src))
		}
		if got := inflate(t, dst[:n]); !bytes.Equal(got, src) {
			t.Fatal("round trip differs")
		}
	})
}

// BenchmarkDeflatePage: our page encoder against the previous one
// (github.com/klauspost/compress at level 1) on text-like pages; the
// real corpus numbers come from BenchmarkCorpusEncodePages in package
// dump.
func BenchmarkDeflatePage(b *testing.B) {
	src := deflateInputs()["text4k"]
	dst := make([]byte, MaxEncodedLen(len(src)))
	var e Encoder
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := e.Encode(Zlib, dst, src); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAdler32Sum(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, n := range []int{0, 1, 15, 16, 17, 4096, 5551, 5552, 5553, 65536, 100000} {
		b := make([]byte, n)
		rng.Read(b)
		ff := bytes.Repeat([]byte{0xff}, n)
		for _, in := range [][]byte{b, ff} {
			if got, want := adler32Sum(in), adler32.Checksum(in); got != want {
				t.Fatalf("%d bytes: %#x, want %#x", n, got, want)
			}
		}
	}
}
