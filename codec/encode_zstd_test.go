package codec

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// unzstd decodes one frame with github.com/klauspost/compress, a decoder
// independent of our encoder.
func unzstd(t testing.TB, b []byte) []byte {
	t.Helper()
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := d.DecodeAll(b, nil)
	if err != nil {
		t.Fatalf("zstd decode %d bytes: %v", len(b), err)
	}
	return out
}

// zstdInputs are blocks that take every path of the page encoder: empty,
// tiny (no hash), one byte repeated (RLE block), short periods (repeat
// offsets, offset 1), random (raw block), few literals (RLE literals,
// direct Huffman weights), literals above 128 (FSE-compressed weights),
// long matches at the largest distance, and the largest input.
func zstdInputs() map[string][]byte {
	rng := rand.New(rand.NewSource(8))
	random := func(n int) []byte { b := make([]byte, n); rng.Read(b); return b }
	in := deflateInputs()
	for k, v := range in {
		if len(v) > zsMaxInput {
			delete(in, k)
		}
	}
	in["ff4k"] = bytes.Repeat([]byte{0xff}, 4096)
	in["period3"] = bytes.Repeat([]byte{1, 2, 3}, 1366)[:4096]
	in["period7"] = bytes.Repeat([]byte("abcdefg"), 600)[:4096]
	in["period4k"] = append(random(2048), random(0)...)
	in["period4k"] = append(in["period4k"], in["period4k"]...)
	farHalf := random(64)
	far := append(append(append([]byte{}, farHalf...), make([]byte, 4096-128)...), farHalf...)
	far[100] = 1 // not a run
	in["far"] = far
	ptrs := make([]byte, 4096)
	for i := 0; i < 4096; i += 8 {
		binary.LittleEndian.PutUint64(ptrs[i:], 0xffff888000000000|uint64(rng.Intn(1<<20))<<3)
	}
	in["pointers"] = ptrs
	high := make([]byte, 4096)
	for i := range high {
		high[i] = byte(200 + rng.Intn(3)*20)
	}
	in["highlits"] = high
	all := make([]byte, 4096)
	for i := range all {
		all[i] = byte(i)
	}
	in["allbytes"] = all
	in["rand128k"] = random(zsMaxInput)
	in["text128k"] = bytes.Repeat(in["text4k"], 32)
	in["rand128k+1"] = random(zsMaxInput + 1) // klauspost's encoder
	in["two"] = []byte{0, 1}
	// A literal length over 65536 (16 extra bits) before a match at a
	// distance as long: more extra bits than the sequence writer's
	// common case takes.
	big := random(70000)
	in["biglit"] = append(big, big[:3000]...)
	in["run-then-rand"] = append(make([]byte, 2000), random(2096)...)
	return in
}

func TestZstdPageRoundTrip(t *testing.T) {
	var e Encoder
	defer e.Close()
	var dec Decoder
	defer dec.Close()
	for name, src := range zstdInputs() {
		dst := make([]byte, MaxEncodedLen(len(src)))
		n, err := e.Encode(Zstd, dst, src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := unzstd(t, dst[:n]); !bytes.Equal(got, src) {
			t.Fatalf("%s: round trip differs (%d bytes in, %d out)", name, len(src), len(got))
		}
		if len(src) > 0 && len(src) <= MaxPageSize {
			back := make([]byte, len(src))
			if err := dec.Decode(Zstd, back, dst[:n]); err != nil || !bytes.Equal(back, src) {
				t.Fatalf("%s: Decode: %v", name, err)
			}
		}
		if len(src) <= zsMaxInput && n > len(src)+12 {
			t.Errorf("%s: %d bytes for %d: more than a raw block", name, n, len(src))
		}
	}
}

// TestZstdLargePage: a page over one block's 128 KiB (256 KiB pages)
// becomes a frame of raw blocks that both decoders give back, and
// EncodePage stores it raw.
func TestZstdLargePage(t *testing.T) {
	var e Encoder
	var dec Decoder
	defer dec.Close()
	for _, n := range []int{zsMaxInput + 1, 2 * zsMaxInput, MaxPageSize} {
		src := bytes.Repeat([]byte("kdump page "), n/11+1)[:n]
		dst := make([]byte, MaxEncodedLen(n))
		k, err := e.Encode(Zstd, dst, src)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		blocks := (n + zsMaxInput - 1) / zsMaxInput
		if want := n + 9 + 3*blocks; k != want {
			t.Errorf("%d bytes: frame of %d bytes, want %d (header, %d raw blocks)", n, k, want, blocks)
		}
		if got := unzstd(t, dst[:k]); !bytes.Equal(got, src) {
			t.Fatalf("%d bytes: klauspost gives back %d bytes that differ", n, len(got))
		}
		if n <= MaxPageSize {
			back := make([]byte, n)
			if err := dec.Decode(Zstd, back, dst[:k]); err != nil || !bytes.Equal(back, src) {
				t.Fatalf("%d bytes: Decode: %v", n, err)
			}
		}
		data, m, err := e.EncodePage(Zstd, dst, src)
		if err != nil || m != Raw || !bytes.Equal(data, src) {
			t.Errorf("%d bytes: EncodePage gave %v, %d bytes, %v; want the page raw", n, m, len(data), err)
		}
	}
}

// TestZstdPageKinds: the block and section kinds the inputs are meant to
// reach are reached (a test that the inputs above do what they say).
func TestZstdPageKinds(t *testing.T) {
	var z pageZstd
	in := zstdInputs()
	blockType := func(name string) int {
		src := in[name]
		dst := make([]byte, MaxEncodedLen(len(src)))
		n := z.compress(dst, src)
		h := 7
		if len(src) < 256 {
			h = 6
		}
		if n < h+3 {
			t.Fatalf("%s: frame of %d bytes", name, n)
		}
		return int(dst[h]>>1) & 3
	}
	for name, want := range map[string]int{"zero4k": 1, "ff4k": 1, "rand4k": 0, "text4k": 2, "pointers": 2, "highlits": 2} {
		if got := blockType(name); got != want {
			t.Errorf("%s: block type %d, want %d", name, got, want)
		}
	}
	// High literals need FSE-compressed weights (direct ones stop at
	// symbol 128).
	src := in["highlits"]
	dst := make([]byte, MaxEncodedLen(len(src)))
	z.compress(dst, src)
	if lt := dst[10] & 3; lt != 2 {
		t.Fatalf("highlits: literals block type %d, want 2 (Huffman)", lt)
	}
	hdr := [4]int{3, 3, 4, 5}[dst[10]>>2&3] // Size_Format
	if hb := dst[10+hdr]; hb >= 128 {
		t.Errorf("highlits: Huffman header byte %d, want FSE-compressed weights (< 128)", hb)
	}
}

// TestZstdPageReuse: one encoder over many pages gives the bytes a fresh
// encoder gives, also across the wrap of the table base.
func TestZstdPageReuse(t *testing.T) {
	in := zstdInputs()
	var reused pageZstd
	for round := 0; round < 3; round++ {
		if round == 2 {
			reused.base = ^uint32(0) - 3*zsMaxInput
		}
		for name, src := range in {
			if len(src) > zsMaxInput {
				continue
			}
			var fresh pageZstd
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

// zstdCLI decodes concatenated frames with the zstd command (libzstd),
// or skips.
func zstdCLI(t testing.TB, frames []byte) []byte {
	t.Helper()
	bin, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("zstd command not installed (apt package zstd)")
	}
	f := filepath.Join(t.TempDir(), "frames.zst")
	if err := os.WriteFile(f, frames, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-d", "-q", "-c", f).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("zstd -d: %v: %s", err, msg)
	}
	return out
}

// TestZstdPageLibzstd: libzstd (the zstd command) decodes every frame
// to its input.
func TestZstdPageLibzstd(t *testing.T) {
	var e Encoder
	defer e.Close()
	var frames, want []byte
	for _, src := range zstdInputs() {
		dst := make([]byte, MaxEncodedLen(len(src)))
		n, err := e.Encode(Zstd, dst, src)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, dst[:n]...)
		want = append(want, src...)
	}
	if got := zstdCLI(t, frames); !bytes.Equal(got, want) {
		t.Fatalf("zstd -d gave %d bytes, want %d (or other bytes)", len(got), len(want))
	}
}

func FuzzZstdPage(f *testing.F) {
	for _, b := range zstdInputs() {
		if len(b) <= 4096 {
			f.Add(b)
		}
	}
	if _, err := os.Stat(corpusVmcore); err == nil {
		for _, p := range corpusPages(f, 32) {
			f.Add(p)
		}
	}
	var e Encoder
	defer e.Close()
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > zsMaxInput {
			src = src[:zsMaxInput]
		}
		dst := make([]byte, MaxEncodedLen(len(src)))
		n, err := e.Encode(Zstd, dst, src)
		if err != nil {
			t.Fatal(err)
		}
		if n > len(src)+12 {
			t.Fatalf("%d bytes for %d: more than a raw block", n, len(src))
		}
		if got := unzstd(t, dst[:n]); !bytes.Equal(got, src) {
			t.Fatal("round trip differs")
		}
	})
}

// TestCorpusZstdPages compresses every non-zero page of the corpus
// vmcores (a superset of what any dump level keeps) and decodes each
// frame with github.com/klauspost/compress and all of them with libzstd
// (the zstd command). It reports the sizes against klauspost's
// SpeedFastest and SpeedDefault.
func TestCorpusZstdPages(t *testing.T) {
	if testing.Short() {
		t.Skip("reads whole corpus vmcores; skipped with -short")
	}
	for _, path := range []string{corpusVmcore, "/var/cache/kdumpkit/corpus/default-4096M/vmcore.elf"} {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			testCorpusZstd(t, path)
		})
	}
}

func testCorpusZstd(t *testing.T, path string) {
	f, err := elf.Open(path)
	if err != nil {
		t.Skipf("corpus vmcore not available: %v", err)
	}
	defer f.Close()
	file, err := os.Open(path)
	if err != nil {
		t.Skip(err)
	}
	defer file.Close()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	kfast, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithWindowSize(MaxPageSize), zstd.WithZeroFrames(true))
	defer kfast.Close()
	var e Encoder
	defer e.Close()
	page := make([]byte, 4096)
	zero := make([]byte, 4096)
	dst := make([]byte, MaxEncodedLen(4096))
	back := make([]byte, 0, 4096)
	kb := make([]byte, 0, MaxEncodedLen(4096))
	var pages, ours, theirs int64
	// libzstd decodes the frames in batches through the zstd command.
	var frames, want []byte
	cli, _ := exec.LookPath("zstd")
	flush := func() {
		if cli != "" && len(frames) > 0 {
			if got := zstdCLI(t, frames); !bytes.Equal(got, want) {
				t.Fatalf("libzstd decodes a batch to %d bytes, want %d (or other bytes)", len(got), len(want))
			}
		}
		frames, want = frames[:0], want[:0]
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		r := io.NewSectionReader(file, int64(p.Off), int64(p.Filesz))
		for off := int64(0); off+4096 <= int64(p.Filesz); off += 4096 {
			if _, err := r.ReadAt(page, off); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(page, zero) {
				continue
			}
			pages++
			data, used, err := e.EncodePage(Zstd, dst, page)
			if err != nil {
				t.Fatal(err)
			}
			ours += int64(len(data))
			kb = kfast.EncodeAll(page, kb[:0])
			theirs += int64(min(len(kb), 4096))
			if used != Zstd {
				continue
			}
			back, err = dec.DecodeAll(data, back[:0])
			if err != nil || !bytes.Equal(back, page) {
				t.Fatalf("%s: page at file offset %#x: round trip: %v", path, int64(p.Off)+off, err)
			}
			frames = append(frames, data...)
			want = append(want, page...)
			if len(want) >= 64<<20 {
				flush()
			}
		}
	}
	flush()
	if pages == 0 {
		t.Skip("no non-zero pages")
	}
	t.Logf("%d non-zero pages: ours %d bytes (%.2f%%), klauspost SpeedFastest %d (%.2f%%); libzstd checked: %v",
		pages, ours, 100*float64(ours)/float64(pages*4096), theirs, 100*float64(theirs)/float64(pages*4096), cli != "")
	if ours > theirs {
		t.Errorf("ours %d bytes, more than klauspost's fastest level (%d)", ours, theirs)
	}
}

// TestZstdPageAllocs: after the first page, compressing pages of every
// kind allocates nothing.
func TestZstdPageAllocs(t *testing.T) {
	var e Encoder
	defer e.Close()
	in := zstdInputs()
	dst := make([]byte, MaxEncodedLen(4096))
	for _, name := range []string{"text4k", "pointers", "highlits", "rand4k", "zero4k", "period3", "far", "allbytes"} {
		src := in[name]
		if _, err := e.Encode(Zstd, dst, src); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := e.Encode(Zstd, dst, src); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per page", name, allocs)
		}
	}
}

// BenchmarkZstdPage: our page encoder against github.com/klauspost/compress
// at SpeedFastest (what encoded -z pages before) on the synthetic and,
// when present, corpus pages of benchPages; ratio% is output per input.
// The -d 31 pages of the 4 GiB corpus are in BenchmarkCorpusEncodePages
// (package dump).
func BenchmarkZstdPage(b *testing.B) {
	sets := benchPages(b)
	for _, kind := range []string{"corpus", "synthetic"} {
		pages := sets[kind]
		if pages == nil {
			continue
		}
		b.Run("ours/"+kind, func(b *testing.B) {
			var e Encoder
			defer e.Close()
			dst := make([]byte, MaxEncodedLen(4096))
			var in, out int64
			b.SetBytes(4096)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p := pages[i%len(pages)]
				n, err := e.Encode(Zstd, dst, p)
				if err != nil {
					b.Fatal(err)
				}
				in += int64(len(p))
				out += int64(n)
			}
			b.ReportMetric(100*float64(out)/float64(in), "ratio%")
		})
		b.Run("klauspost/"+kind, func(b *testing.B) {
			ze, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
				zstd.WithEncoderCRC(false), zstd.WithWindowSize(MaxPageSize), zstd.WithZeroFrames(true))
			if err != nil {
				b.Fatal(err)
			}
			defer ze.Close()
			dst := make([]byte, 0, MaxEncodedLen(4096))
			var in, out int64
			b.SetBytes(4096)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p := pages[i%len(pages)]
				dst = ze.EncodeAll(p, dst[:0])
				in += int64(len(p))
				out += int64(len(dst))
			}
			b.ReportMetric(100*float64(out)/float64(in), "ratio%")
		})
	}
}
