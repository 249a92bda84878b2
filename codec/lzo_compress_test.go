package codec

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"testing"
)

// corpusVmcore is a real kernel's memory as an ELF core, made by the corpus
// tooling; tests that sample pages from it skip when it is absent.
const corpusVmcore = "/var/cache/kdumpkit/corpus/default-1024M/vmcore.elf"

type lzoCase = struct {
	name string
	data []byte
}

// lzoCompressInputs extends lzoInputs with inputs aimed at the compressor:
// every short length, lengths around liblzo2's 48 KiB chunk boundary and
// its 20-byte tail, long runs and page-like records.
func lzoCompressInputs() []lzoCase {
	out := lzoInputs()
	rng := rand.New(rand.NewSource(2))
	for n := 0; n <= 70; n++ {
		out = append(out,
			lzoCase{fmt.Sprintf("zeros-%d", n), make([]byte, n)},
			lzoCase{fmt.Sprintf("random-%d", n), lzoRandom(rng, n)},
			lzoCase{fmt.Sprintf("abc-%d", n), bytes.Repeat([]byte("abc"), n)[:n]},
		)
	}
	for _, n := range []int{255, 256, 257, 4095, 4097, 8191, 12345, 16383, 16384, 16385, 32768,
		49151, 49152, 49153, 49171, 49172, 49173, 49176, 98304, 98305, 98325, 131072, 262144} {
		out = append(out,
			lzoCase{fmt.Sprintf("zeros-%d", n), make([]byte, n)},
			lzoCase{fmt.Sprintf("records-%d", n), lzoRecords(rng, n)},
			lzoCase{fmt.Sprintf("random-%d", n), lzoRandom(rng, n)},
			lzoCase{fmt.Sprintf("sparse-%d", n), lzoSparse(rng, n)},
		)
	}
	// Random bytes up to a chunk boundary, then zeros: the first chunk
	// ends with a long literal run carried into the second.
	tail := make([]byte, 100000)
	copy(tail, lzoRandom(rng, 49150))
	out = append(out, lzoCase{"random-then-zeros-100k", tail})
	// Periodic data whose period exceeds M3's reach (16 KiB), for M4.
	period := lzoRandom(rng, 20000)
	out = append(out, lzoCase{"period-20000", bytes.Repeat(period, 5)})
	// Long matches at every distance class and long literal runs.
	for _, d := range []int{1, 2, 3, 7, 8, 9, 2048, 2049, 16384, 16385, 30000} {
		b := lzoRandom(rng, d)
		for len(b) < 40000 {
			b = append(b, b[len(b)-d:len(b)-d+min(d, 40000-len(b), 1+rng.Intn(600))]...)
			b = append(b, lzoRandom(rng, rng.Intn(40))...)
		}
		out = append(out, lzoCase{fmt.Sprintf("dist-%d", d), b})
	}
	for i := 0; i < 16; i++ {
		out = append(out,
			lzoCase{fmt.Sprintf("records-4k-%d", i), lzoRecords(rng, 4096)},
			lzoCase{fmt.Sprintf("sparse-4k-%d", i), lzoSparse(rng, 4096)},
		)
	}
	return out
}

func lzoRandom(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}

// lzoRecords mimics an array of kernel structs: fixed-size records holding
// list pointers, flags, counters and a name.
func lzoRecords(rng *rand.Rand, n int) []byte {
	b := make([]byte, n+64)
	size := 40 + 8*rng.Intn(20)
	base := uint64(0xffff888100000000) | uint64(rng.Intn(1<<24))<<12
	for i, k := 0, 0; i+size <= len(b); i, k = i+size, k+1 {
		r := b[i : i+size]
		binary.LittleEndian.PutUint64(r[0:], base+uint64(k+1)*uint64(size))
		binary.LittleEndian.PutUint64(r[8:], base+uint64(k-1)*uint64(size))
		binary.LittleEndian.PutUint32(r[16:], uint32(rng.Intn(4))<<8|1)
		binary.LittleEndian.PutUint32(r[20:], uint32(k))
		binary.LittleEndian.PutUint64(r[24:], uint64(rng.Intn(1000)))
		copy(r[32:], "kworker/")
		if rng.Intn(3) == 0 {
			binary.LittleEndian.PutUint64(r[size-8:], rng.Uint64())
		}
	}
	return b[:n]
}

// lzoSparse is mostly zeros with scattered words, like a lightly used page.
func lzoSparse(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n/64; i++ {
		off := rng.Intn(n)
		b[off] = byte(rng.Intn(256))
		if off+8 <= n && rng.Intn(2) == 0 {
			binary.LittleEndian.PutUint64(b[off:], 0xffffffff81000000|uint64(rng.Intn(1<<24)))
		}
	}
	return b
}

// corpusPages samples up to n pages, evenly spread over the PT_LOAD
// segments of the corpus vmcore, skipping all-zero pages (which a dump at
// -d 1 or higher never compresses). It skips the test without the corpus.
func corpusPages(tb testing.TB, n int) [][]byte {
	tb.Helper()
	f, err := elf.Open(corpusVmcore)
	if err != nil {
		tb.Skipf("corpus vmcore not available: %v", err)
	}
	defer f.Close()
	const page = 4096
	type seg struct{ off, pages int64 }
	var segs []seg
	var total int64
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Filesz >= page {
			segs = append(segs, seg{int64(p.Off), int64(p.Filesz) / page})
			total += int64(p.Filesz) / page
		}
	}
	if total == 0 {
		tb.Skip("corpus vmcore has no PT_LOAD data")
	}
	file, err := os.Open(corpusVmcore)
	if err != nil {
		tb.Skipf("corpus vmcore: %v", err)
	}
	defer file.Close()
	zero := make([]byte, page)
	var out [][]byte
	// Stride over all pages (an odd stride, to avoid beating with
	// power-of-two layouts), trying more pages than needed since many
	// are zero.
	stride := max(total/int64(4*n), 1) | 1
	for i := int64(0); i < total && len(out) < n; i += stride {
		j := i
		var off int64
		for _, s := range segs {
			if j < s.pages {
				off = s.off + j*page
				break
			}
			j -= s.pages
		}
		b := make([]byte, page)
		if _, err := file.ReadAt(b, off); err != nil {
			tb.Fatalf("read corpus page at 0x%x: %v", off, err)
		}
		if !bytes.Equal(b, zero) {
			out = append(out, b)
		}
	}
	return out
}

// checkLZOCompress compresses data, checks that our decoder and liblzo2's
// (when o is not nil) restore it, and reports whether our block equals
// liblzo2's lzo1x_1_compress output; want is that output (nil without o).
func checkLZOCompress(t *testing.T, c *LZOCompressor, o *lzo2, data []byte) (ours, want []byte) {
	t.Helper()
	dst := make([]byte, LZOMaxCompressedLen(len(data)))
	n, err := c.Compress(dst, data)
	if err != nil {
		t.Fatalf("Compress %d bytes: %v", len(data), err)
	}
	ours = dst[:n]
	back := make([]byte, len(data))
	m, err := DecodeLZO1X(back, ours)
	if err != nil || m != len(data) || !bytes.Equal(back, data) {
		t.Fatalf("DecodeLZO1X of our %d-byte block: n=%d (want %d) err=%v equal=%v",
			n, m, len(data), err, bytes.Equal(back[:m], data[:m]))
	}
	if o == nil {
		return ours, nil
	}
	rc, got := o.Decompress(ours, len(data))
	if rc != 0 || !bytes.Equal(got, data) {
		t.Fatalf("lzo1x_decompress_safe of our %d-byte block: rc %d, %d bytes, equal=%v",
			n, rc, len(got), bytes.Equal(got, data))
	}
	return ours, o.Compress(t, data)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestLZOCompress round-trips every input through our decoder and liblzo2's
// and requires output identical to liblzo2's lzo1x_1_compress.
func TestLZOCompress(t *testing.T) {
	o := tryOracle()
	if o == nil {
		t.Logf("liblzo2 oracle not available, checking our decoder only: %v", oracleErr)
	}
	var c LZOCompressor
	same := 0
	inputs := lzoCompressInputs()
	for _, tc := range inputs {
		t.Run(tc.name, func(t *testing.T) {
			ours, want := checkLZOCompress(t, &c, o, tc.data)
			if o == nil {
				return
			}
			if !bytes.Equal(ours, want) {
				t.Errorf("differs from lzo1x_1_compress: %d vs %d bytes, first difference at %d",
					len(ours), len(want), firstDiff(ours, want))
				return
			}
			same++
		})
	}
	if o != nil {
		t.Logf("%d of %d inputs byte-identical to lzo1x_1_compress", same, len(inputs))
	}
}

// TestLZOCompressCorpus does the same over pages of a real kernel's memory.
func TestLZOCompressCorpus(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 300
	}
	pages := corpusPages(t, n)
	o := getOracle(t)
	var c LZOCompressor
	same, oursTotal, wantTotal := 0, 0, 0
	for i, p := range pages {
		ours, want := checkLZOCompress(t, &c, o, p)
		oursTotal += len(ours)
		wantTotal += len(want)
		if bytes.Equal(ours, want) {
			same++
		} else if same+1 == i { // report the first few only
			t.Errorf("page %d: differs from lzo1x_1_compress: %d vs %d bytes, first difference at %d",
				i, len(ours), len(want), firstDiff(ours, want))
		}
	}
	t.Logf("%d of %d non-zero corpus pages byte-identical; %d vs %d compressed bytes (ours vs liblzo2)",
		same, len(pages), oursTotal, wantTotal)
	if same != len(pages) {
		t.Errorf("%d pages differ", len(pages)-same)
	}
}

// TestLZOCompressBaseWrap runs the compressor across the point where its
// dictionary's base would wrap and it must clear the table.
func TestLZOCompressBaseWrap(t *testing.T) {
	o := tryOracle()
	var c LZOCompressor
	// As if a 4 KiB chunk had just been compressed close to the top of
	// the entries' range; its entries, stale for the next chunk, look
	// recent to a compressor that does not move base past them.
	c.base, c.last = 1<<16-2*4096, 4096
	start := c.base
	for i := range c.dict {
		c.dict[i] = uint16(c.base + uint32(i)%c.last)
	}
	for i, tc := range lzoCompressInputs()[:40] {
		ours, want := checkLZOCompress(t, &c, o, tc.data)
		if o != nil && !bytes.Equal(ours, want) {
			t.Fatalf("%s (call %d, base 0x%x): differs from lzo1x_1_compress", tc.name, i, c.base)
		}
	}
	if c.base >= start {
		t.Fatalf("base 0x%x did not wrap", c.base)
	}
}

func TestLZOCompressShortDst(t *testing.T) {
	var c LZOCompressor
	src := make([]byte, 4096)
	dst := make([]byte, LZOMaxCompressedLen(len(src))-1)
	if _, err := c.Compress(dst, src); !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("err = %v, want io.ErrShortBuffer", err)
	}
}

func TestLZOCompressAllocs(t *testing.T) {
	var c LZOCompressor
	src := lzoRecords(rand.New(rand.NewSource(3)), 4096)
	dst := make([]byte, LZOMaxCompressedLen(len(src)))
	if a := testing.AllocsPerRun(100, func() { c.Compress(dst, src) }); a != 0 {
		t.Fatalf("%v allocations per Compress, want 0", a)
	}
}

// FuzzLZOCompress round-trips arbitrary input through our decoder and
// liblzo2's and checks byte identity with lzo1x_1_compress.
func FuzzLZOCompress(f *testing.F) {
	for _, tc := range lzoInputs() {
		if len(tc.data) <= 1<<16 {
			f.Add(tc.data)
		}
	}
	f.Add(bytes.Repeat([]byte("abcdefgh"), 6200))
	o := tryOracle()
	var c LZOCompressor
	f.Fuzz(func(t *testing.T, data []byte) {
		ours, want := checkLZOCompress(t, &c, o, data)
		if o != nil && !bytes.Equal(ours, want) {
			t.Fatalf("differs from lzo1x_1_compress: %d vs %d bytes, first difference at %d",
				len(ours), len(want), firstDiff(ours, want))
		}
	})
}

// lzoBenchSets are the benchmark inputs: real pages when the corpus is
// present, and synthetic page-like data always.
func lzoBenchSets(b *testing.B) []lzoCase {
	rng := rand.New(rand.NewSource(4))
	var recs, sparse, random []byte
	for i := 0; i < 256; i++ {
		recs = append(recs, lzoRecords(rng, 4096)...)
		sparse = append(sparse, lzoSparse(rng, 4096)...)
		random = append(random, lzoRandom(rng, 4096)...)
	}
	sets := []lzoCase{{"records", recs}, {"sparse", sparse}, {"random", random}}
	if _, err := os.Stat(corpusVmcore); err == nil {
		var real []byte
		for _, p := range corpusPages(b, 2048) {
			real = append(real, p...)
		}
		sets = append([]lzoCase{{"corpus", real}}, sets...)
	}
	return sets
}

// BenchmarkLZOCompress compresses 4 KiB pages; one op is a whole set.
func BenchmarkLZOCompress(b *testing.B) {
	for _, set := range lzoBenchSets(b) {
		b.Run(set.name, func(b *testing.B) {
			var c LZOCompressor
			dst := make([]byte, LZOMaxCompressedLen(4096))
			b.SetBytes(int64(len(set.data)))
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				total = 0
				for p := 0; p < len(set.data); p += 4096 {
					n, _ := c.Compress(dst, set.data[p:p+4096])
					total += n
				}
			}
			b.ReportMetric(float64(total)/float64(len(set.data)), "ratio")
		})
	}
}

// BenchmarkLZOCompressLiblzo2 is BenchmarkLZOCompress for liblzo2's
// lzo1x_1_compress (gcc -O2), timed inside the oracle process so the pipe
// is not counted: ns/op and C-MB/s are elapsed time, C-cpu-MB/s uses the
// thread's CPU time, which is steadier on a loaded machine. Compare C-MB/s
// with BenchmarkLZOCompress's MB/s.
func BenchmarkLZOCompressLiblzo2(b *testing.B) {
	o := getOracle(b)
	for _, set := range lzoBenchSets(b) {
		b.Run(set.name, func(b *testing.B) {
			ns, cpu, total := o.CompressTiming(b.N, 4096, set.data)
			bytes := float64(len(set.data)) * float64(b.N)
			b.ReportMetric(float64(ns)/float64(b.N), "ns/op")
			b.ReportMetric(bytes/float64(ns)*1e3, "C-MB/s")
			b.ReportMetric(bytes/float64(cpu)*1e3, "C-cpu-MB/s")
			b.ReportMetric(float64(total)/float64(len(set.data)), "ratio")
		})
	}
}
