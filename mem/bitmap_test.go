package mem

import (
	"bytes"
	"io"
	"math/rand"
	"sync"
	"testing"
)

// model is the obvious bitmap the chunked one is checked against.
type model []bool

func (md model) bytes() []byte {
	b := make([]byte, (len(md)+7)/8)
	for p, on := range md {
		if on {
			b[p/8] |= 1 << (p % 8)
		}
	}
	return b
}

// check compares every query of m with md.
func check(t *testing.T, what string, m *Bitmap, md model) {
	t.Helper()
	n := PFN(len(md))
	if m.Len() != n {
		t.Fatalf("%s: Len %d, want %d", what, m.Len(), n)
	}
	var c uint64
	nextSet := make([]PFN, n+1)
	nextSet[n] = n
	for p := n; p > 0; p-- {
		nextSet[p-1] = nextSet[p]
		if md[p-1] {
			nextSet[p-1] = p - 1
		}
	}
	for p := PFN(0); p <= n; p++ {
		if got := m.Rank(p); got != c {
			t.Fatalf("%s: Rank(%d) = %d, want %d", what, p, got, c)
		}
		q, ok := m.Next(p)
		if want := nextSet[p]; ok != (want < n) || (ok && q != want) {
			t.Fatalf("%s: Next(%d) = %d,%v, want %d", what, p, q, ok, want)
		}
		if p < n {
			if m.Test(p) != md[p] {
				t.Fatalf("%s: Test(%d) = %v", what, p, !md[p])
			}
			if md[p] {
				c++
			}
		}
	}
	if m.Test(n) || m.Test(n+ChunkPFNs) {
		t.Fatalf("%s: bits past Len read set", what)
	}
	if m.Count() != c {
		t.Fatalf("%s: Count = %d, want %d", what, m.Count(), c)
	}
	want := md.bytes()
	got := make([]byte, len(want))
	if k, err := m.ReadAt(got, 0); k != len(got) || (err != nil && err != io.EOF) {
		t.Fatalf("%s: ReadAt = %d, %v", what, k, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: byte form differs", what)
	}
	// Odd pieces at odd offsets give the same bytes.
	for off := 0; off < len(want); {
		k := 1 + (off*7)%13
		piece := make([]byte, k)
		r, err := m.ReadAt(piece, int64(off))
		if r != min(k, len(want)-off) || (r < k && err != io.EOF) || (r == k && err != nil) {
			t.Fatalf("%s: ReadAt(%d bytes at %d) = %d, %v", what, k, off, r, err)
		}
		if !bytes.Equal(piece[:r], want[off:off+r]) {
			t.Fatalf("%s: ReadAt piece at %d differs", what, off)
		}
		off += r
	}
	var ranges []PFNRange
	for p := PFN(0); p < n; p++ {
		if md[p] && (p == 0 || !md[p-1]) {
			ranges = append(ranges, PFNRange{p, p + 1})
		} else if md[p] {
			ranges[len(ranges)-1].End = p + 1
		}
	}
	gr := m.Ranges()
	if len(gr) != len(ranges) {
		t.Fatalf("%s: %d ranges, want %d", what, len(gr), len(ranges))
	}
	for i := range gr {
		if gr[i] != ranges[i] {
			t.Fatalf("%s: range %d = %v, want %v", what, i, gr[i], ranges[i])
		}
	}
}

func TestBitmapAgainstModel(t *testing.T) {
	for _, n := range []PFN{0, 1, 7, 8, 9, 63, 64, 65, ChunkPFNs - 1, ChunkPFNs, ChunkPFNs + 1, 3*ChunkPFNs + 13} {
		rng := rand.New(rand.NewSource(int64(n)))
		m := NewBitmap(n)
		md := make(model, n)
		for op := 0; op < 200; op++ {
			a := PFN(rng.Int63n(int64(n) + 2))
			b := a + PFN(rng.Int63n(int64(n)/2+2))
			if rng.Intn(4) == 0 {
				b = a + PFN(rng.Intn(70))
			}
			switch rng.Intn(5) {
			case 0:
				m.Set(a)
				if a < n {
					md[a] = true
				}
			case 1:
				m.Clear(a)
				if a < n {
					md[a] = false
				}
			case 2:
				m.SetRange(a, b)
				for p := a; p < min(b, n); p++ {
					md[p] = true
				}
			case 3:
				m.ClearRange(a, b)
				for p := a; p < min(b, n); p++ {
					md[p] = false
				}
			case 4:
				m.Compact(a, b)
			}
			if op%50 == 49 {
				check(t, "unfrozen", m, md)
				m.Freeze()
				check(t, "frozen", m, md)
			}
		}
		fb, err := BitmapFromBytes(md.bytes(), n)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "from bytes", fb, md)
		if !fb.Equal(m) || !m.Equal(fb) {
			t.Fatalf("n=%d: Equal false for the same bits", n)
		}
		rb, err := ReadBitmap(bytes.NewReader(append([]byte{9, 9}, md.bytes()...)), 2, n)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "read", rb, md)
		for _, cn := range []PFN{n, n / 2, n + 100} {
			cl := m.Clone(cn)
			cm := make(model, cn)
			copy(cm, md)
			check(t, "clone", cl, cm)
			cl.Set(0)
			if cn > 0 && !cl.Test(0) {
				t.Fatal("clone: Set(0) lost")
			}
		}
		// CopyRange onto a bitmap of other bits.
		dst := NewBitmap(n)
		dst.SetRange(n/3, n)
		dm := make(model, n)
		for p := n / 3; p < n; p++ {
			dm[p] = true
		}
		a, b := n/5, n-n/7
		dst.CopyRange(m, a, b)
		copy(dm[a:b], md[a:b])
		check(t, "copy range", dst, dm)
		if n > 0 {
			md[n-1] = !md[n-1]
			o, _ := BitmapFromBytes(md.bytes(), n)
			if o.Equal(m) {
				t.Fatalf("n=%d: Equal true for different bits", n)
			}
		}
	}
}

func TestBitmapFromBytesTooShort(t *testing.T) {
	if _, err := BitmapFromBytes(make([]byte, 1), 9); err == nil {
		t.Fatal("want error for short bitmap")
	}
	if _, err := ReadBitmap(bytes.NewReader(make([]byte, 10)), 0, 100); err == nil {
		t.Fatal("want error for a bitmap past the end of the reader")
	}
}

// TestBitmapBitsPastLenIgnored: bits past n in the byte form do not leak
// into the bitmap.
func TestBitmapBitsPastLenIgnored(t *testing.T) {
	b := bytes.Repeat([]byte{0xff}, 2*chunkBytes)
	m, err := BitmapFromBytes(b, ChunkPFNs+3)
	if err != nil {
		t.Fatal(err)
	}
	if m.Count() != ChunkPFNs+3 {
		t.Fatalf("Count %d, want %d", m.Count(), ChunkPFNs+3)
	}
	out := make([]byte, m.ByteLen())
	m.ReadAt(out, 0)
	if out[len(out)-1] != 0x07 {
		t.Fatalf("last byte %#x, want 0x07", out[len(out)-1])
	}
}

// TestBitmapSparseFootprint: a bitmap for 1 TiB of 4 KiB pages that is
// set but for a few holes, or clear but for a few pages, holds memory
// for the chunks that are mixed only.
func TestBitmapSparseFootprint(t *testing.T) {
	const n = PFN(1 << 28) // 1 TiB of 4 KiB pages
	ram := NewBitmap(n)
	ram.SetRange(0, n)
	ram.ClearRange(0x9f, 0x100)           // the legacy hole
	ram.ClearRange(0xc0000, 0x100000)     // the PCI hole below 4 GiB
	ram.ClearRange(n-ChunkPFNs/2, n-1000) // a hole inside the last chunk
	keep := ram.Clone(n)
	for p := PFN(0); p < n; p += n / 100 {
		keep.ClearRange(p, p+n/100-5) // a few pages kept in each 1%
	}
	ram.Freeze()
	keep.Freeze()
	if got := ram.Private(); got != 2 {
		t.Errorf("RAM map holds %d chunks, want 2 (the ones with hole edges)", got)
	}
	if got := keep.Private(); got > 200 {
		t.Errorf("keep map holds %d chunks, want at most 200", got)
	}
	flat := int64(n / 8)
	for name, m := range map[string]*Bitmap{"ram": ram, "keep": keep} {
		if fp := m.Footprint(); fp > flat/32 {
			t.Errorf("%s: footprint %d bytes, more than 1/32 of the flat %d", name, fp, flat)
		}
	}
	want := uint64(n) - (0x100 - 0x9f) - (0x100000 - 0xc0000) - (ChunkPFNs/2 - 1000)
	if ram.Count() != want || ram.Rank(n) != want {
		t.Errorf("Count %d, Rank(n) %d, want %d", ram.Count(), ram.Rank(n), want)
	}
	if r := ram.Rank(0x100000 + 5); r != 0x100000+5-(0x100-0x9f)-(0x100000-0xc0000) {
		t.Errorf("Rank past the PCI hole = %#x", r)
	}
}

// TestBitmapConcurrentChunks: goroutines changing their own chunks and
// searching them with NextIn do not race (run with -race).
func TestBitmapConcurrentChunks(t *testing.T) {
	const chunks = 8
	m := NewBitmap(chunks*ChunkPFNs - 5)
	m.SetRange(0, m.Len())
	var wg sync.WaitGroup
	counts := make([]uint64, chunks)
	for c := 0; c < chunks; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo, hi := PFN(c)*ChunkPFNs, min(PFN(c+1)*ChunkPFNs, m.Len())
			m.ClearRange(lo+10, hi)
			for p := lo + 1; p < lo+10; p += 2 {
				m.Clear(p)
			}
			for p, ok := m.NextIn(lo, hi); ok; p, ok = m.NextIn(p+1, hi) {
				counts[c]++
			}
			m.Compact(lo, hi)
		}()
	}
	wg.Wait()
	for c, k := range counts {
		if k != 5 {
			t.Errorf("chunk %d: %d set bits found, want 5", c, k)
		}
	}
	m.Freeze()
	if m.Count() != 5*chunks {
		t.Errorf("Count %d, want %d", m.Count(), 5*chunks)
	}
}

func BenchmarkBitmapNext(b *testing.B) {
	m := NewBitmap(1 << 20)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 1<<18; i++ {
		m.Set(PFN(rng.Intn(1 << 20)))
	}
	m.Freeze()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for p, ok := m.Next(0); ok; p, ok = m.Next(p + 1) {
		}
	}
}

func BenchmarkBitmapRank(b *testing.B) {
	m := NewBitmap(1 << 20)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 1<<18; i++ {
		m.Set(PFN(rng.Intn(1 << 20)))
	}
	m.Freeze()
	b.ResetTimer()
	var s uint64
	for i := 0; i < b.N; i++ {
		s += m.Rank(PFN(i*7919) & (1<<20 - 1))
	}
	_ = s
}

func TestBitmapSlice(t *testing.T) {
	const n = 3*ChunkPFNs + 100
	m := NewBitmap(n)
	m.SetRange(0, ChunkPFNs)                 // chunk 0 full
	m.SetRange(ChunkPFNs+5, ChunkPFNs+70)    // chunk 1 mixed
	m.SetRange(2*ChunkPFNs, 3*ChunkPFNs+100) // chunk 2 full, chunk 3 partial full
	for _, tc := range []struct{ lo, hi PFN }{
		{0, n}, {0, ChunkPFNs}, {ChunkPFNs, 2 * ChunkPFNs}, {ChunkPFNs, ChunkPFNs + 64},
		{2 * ChunkPFNs, 2*ChunkPFNs + 1}, {2 * ChunkPFNs, n + 5000}, {3 * ChunkPFNs, n}, {4 * ChunkPFNs, 5 * ChunkPFNs},
	} {
		s := m.Slice(tc.lo, tc.hi)
		if s.Len() != tc.hi-tc.lo {
			t.Fatalf("[%#x, %#x): Len %#x", tc.lo, tc.hi, s.Len())
		}
		for i := PFN(0); i < s.Len(); i++ {
			if s.Test(i) != m.Test(tc.lo+i) {
				t.Fatalf("[%#x, %#x): bit %#x is %v, want %v", tc.lo, tc.hi, i, s.Test(i), m.Test(tc.lo+i))
			}
		}
		s.Freeze()
		if got, want := s.Count(), m.Rank(min(tc.hi, n))-m.Rank(min(tc.lo, n)); got != want {
			t.Errorf("[%#x, %#x): %d set, want %d", tc.lo, tc.hi, got, want)
		}
		// Only a mixed chunk costs memory: chunk 1, or a cut chunk.
		if tc.lo == 0 && tc.hi == ChunkPFNs && s.Private() != 0 {
			t.Errorf("slice of a full chunk holds %d chunks", s.Private())
		}
	}
	// Chunk 1 is mixed; the last, partial chunk is never shared.
	if m.PrivateIn(0, n) != 2 || m.PrivateIn(ChunkPFNs+100, ChunkPFNs+101) != 1 || m.PrivateIn(2*ChunkPFNs, n) != 1 || m.PrivateIn(0, ChunkPFNs) != 0 || m.PrivateIn(5, 5) != 0 {
		t.Errorf("PrivateIn: %d %d %d", m.PrivateIn(0, n), m.PrivateIn(ChunkPFNs+100, ChunkPFNs+101), m.PrivateIn(2*ChunkPFNs, n))
	}
	defer func() {
		if recover() == nil {
			t.Error("Slice at an unaligned pfn did not panic")
		}
	}()
	m.Slice(1, 2)
}
