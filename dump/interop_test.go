package dump

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/codec/stream"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// interopCase is one compressed output compared with the C tool's.
type interopCase struct {
	flag  string // makedumpfile's option: -c or -l
	m     codec.Method
	level filter.Level
}

func (c interopCase) name() string { return fmt.Sprintf("%s-d%d", c.flag[1:], c.level) }

// cOutput returns the C makedumpfile's output for c: the corpus holds
// it when the corpus was built with that run (same tool, same input);
// otherwise the C tool runs into dir.
func cOutput(t *testing.T, mdf string, cor *corpus.Corpus, c interopCase, dir string) string {
	t.Helper()
	name := fmt.Sprintf("makedumpfile%s-d%d.kdump", c.flag, c.level)
	if f, ok := cor.File(name); ok && f.Kind == corpus.KindKdump {
		return cor.Path(name)
	}
	out := filepath.Join(dir, "theirs-"+c.name())
	runMakedumpfile(t, mdf, c.flag, "-d", fmt.Sprint(c.level), cor.Path(corpus.SourceName), out)
	return out
}

func runMakedumpfile(t *testing.T, mdf string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(mdf, args...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	return b
}

// bitmapEnd returns the offset where the 2nd bitmap of a kdump file ends
// (the start of the page descriptors) and where it starts.
func bitmapEnd(t *testing.T, b []byte) (start2, end int64) {
	t.Helper()
	if len(b) < kdumpfile.DiskDumpHeaderSize {
		t.Fatalf("kdump file of %d bytes", len(b))
	}
	le := binary.LittleEndian
	B := int64(le.Uint32(b[428:]))
	sub := int64(le.Uint32(b[432:]))
	bm := int64(le.Uint32(b[436:]))
	end = (1 + sub + bm) * B
	return end - bm/2*B, end
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestInteropCorpusCompressedKdump: with -c and -l, at -d 1 and -d 31,
// our headers and bitmaps are byte-identical to the C makedumpfile's,
// every page decodes to the source with our reader and a sample with
// libkdumpfile, and the C tool reads our files (--dump-dmesg, and
// refiltering our -d 1 file to -d 31).
func TestInteropCorpusCompressedKdump(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus and the C makedumpfile; skipped with -short")
	}
	mdf := dumptest.CMakedumpfile(t)
	cor := corpus.Ensure(t)
	srcPath := cor.Path(corpus.SourceName)
	src, err := vmcore.Open(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	haveLKF := oracle.HaveLibkdumpfile()
	if !haveLKF {
		t.Log("python3-libkdumpfile is not installed: skipping its checks")
	}
	dir := t.TempDir()
	ctx := context.Background()

	cases := []interopCase{
		{"-c", codec.Zlib, 1}, {"-c", codec.Zlib, 31},
		{"-l", codec.LZO, 1}, {"-l", codec.LZO, 31},
	}
	ours := map[string]string{}
	theirs := map[string]string{}
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			theirPath := cOutput(t, mdf, cor, c, dir)
			theirs[c.name()] = theirPath
			p, err := filter.Exclude(ctx, src, c.level, filter.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ourPath := filepath.Join(dir, "ours-"+c.name())
			f, err := os.Create(ourPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteKdump(ctx, src, p, c.m, f); err != nil {
				f.Close()
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			ours[c.name()] = ourPath

			a, err := os.ReadFile(theirPath)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(ourPath)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("size: ours %d, makedumpfile %s -d %d %d (%+.3f%%)", len(b), c.flag, c.level, len(a),
				100*(float64(len(b))-float64(len(a)))/float64(len(a)))
			_, endA := bitmapEnd(t, a)
			_, endB := bitmapEnd(t, b)
			if endA != endB {
				t.Fatalf("2nd bitmap ends at %#x, makedumpfile's at %#x", endB, endA)
			}
			if i := firstDifference(a[:endA], b[:endB]); i >= 0 {
				t.Errorf("headers and bitmaps differ first at offset %#x: ours %#x, makedumpfile's %#x", i, b[i], a[i])
			}
			if c.m == codec.LZO && len(a) != len(b) {
				t.Errorf("LZO output is %d bytes, makedumpfile's %d: our LZO1X-1 should match liblzo2's", len(b), len(a))
			}

			checkPages(t, src, ourPath, c.m)
			if haveLKF {
				checkLibkdumpfile(t, src, ourPath, dir)
			}
			checkDmesg(t, mdf, dir, ourPath, theirPath)
		})
	}

	// The C tool refilters our -d 1 files to -d 31: its 2nd bitmap then
	// equals the one of its own direct -d 31 output.
	for _, flag := range []string{"-c", "-l"} {
		name := flag[1:] + "-d1"
		t.Run("refilter-"+name, func(t *testing.T) {
			in, want := ours[name], theirs[flag[1:]+"-d31"]
			if in == "" || want == "" {
				t.Skip("an earlier subtest failed")
			}
			out := filepath.Join(dir, "refiltered-"+name)
			runMakedumpfile(t, mdf, "-d", "31", "-l", in, out)
			a, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			sa, ea := bitmapEnd(t, a)
			sb, eb := bitmapEnd(t, b)
			if ea-sa != eb-sb {
				t.Fatalf("2nd bitmap %d bytes, makedumpfile's -d 31 %d", eb-sb, ea-sa)
			}
			if i := firstDifference(a[sa:ea], b[sb:eb]); i >= 0 {
				t.Errorf("refiltered 2nd bitmap differs from makedumpfile -d 31's at byte %#x", i)
			}
			os.Remove(out)
		})
	}
}

func firstDifference(a, b []byte) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// checkPages reads every page of our file and compares it with the
// source, and checks that compressed pages carry method m.
func checkPages(t *testing.T, src vmcore.Dump, path string, m codec.Method) {
	t.Helper()
	d, err := vmcore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := make([]byte, src.PageSize())
	got := make([]byte, src.PageSize())
	var n, bad int
	st := d.Stored()
	for pfn, ok := st.Next(0); ok && pfn < d.MaxPFN(); pfn, ok = st.Next(pfn + 1) {
		n++
		if err := src.ReadPage(pfn, want); err != nil {
			t.Fatalf("source pfn %#x: %v", uint64(pfn), err)
		}
		if err := d.ReadPage(pfn, got); err != nil {
			t.Fatalf("our pfn %#x: %v", uint64(pfn), err)
		}
		if !bytes.Equal(got, want) {
			if bad++; bad <= 5 {
				t.Errorf("pfn %#x differs from the source", uint64(pfn))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d pages differ from the source", bad, n)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	kf, err := kdumpfile.Open(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := kf.DescStats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pages equal the source; descriptors: %+v", n, ds)
}

// checkLibkdumpfile reads ~150 pages of our file with libkdumpfile: up to
// 50 each of compressed, raw and zero pages, spread over the file.
func checkLibkdumpfile(t *testing.T, src vmcore.Dump, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	kf, err := kdumpfile.Open(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	var classes [3][]mem.PFN // compressed, raw, shared zero
	st := kf.Stored()
	// With -d 1 the shared zero page is the first page data, right
	// after the descriptor table.
	zeroOff := int64(-1)
	if kf.DumpLevel()&1 != 0 {
		h := make([]byte, kdumpfile.DiskDumpHeaderSize)
		if _, err := f.ReadAt(h, 0); err != nil {
			t.Fatal(err)
		}
		_, end := bitmapEnd(t, h)
		zeroOff = end + int64(st.Count())*kdumpfile.PageDescSize
	}
	for pfn, ok := st.Next(0); ok && pfn < kf.MaxPFN(); pfn, ok = st.Next(pfn + 1) {
		pd, err := kf.PageDesc(pfn)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case pd.Flags != 0:
			classes[0] = append(classes[0], pfn)
		case pd.Offset == zeroOff:
			classes[2] = append(classes[2], pfn)
		default:
			classes[1] = append(classes[1], pfn)
		}
	}
	var sample []mem.PFN
	for _, c := range classes {
		step := max(len(c)/50, 1)
		for i := 0; i < len(c) && i/step < 50; i += step {
			sample = append(sample, c[i])
		}
	}
	res, err := oracle.LibkdumpfilePages(dir, src.PageSize(), []string{path}, sample)
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, src.PageSize())
	bad := 0
	for _, pfn := range sample {
		if err := src.ReadPage(pfn, page); err != nil {
			t.Fatal(err)
		}
		r := res[pfn]
		if r.Err != "" || r.SHA256 != sha(page) {
			if bad++; bad <= 5 {
				t.Errorf("libkdumpfile pfn %#x: %+v, want sha256 %s", uint64(pfn), r, sha(page))
			}
		}
	}
	t.Logf("libkdumpfile: %d sampled pages (%d compressed, %d raw, %d zero available), %d wrong",
		len(sample), len(classes[0]), len(classes[1]), len(classes[2]), bad)
}

// checkDmesg: makedumpfile --dump-dmesg on our file succeeds and gives
// the text it gives on its own file.
func checkDmesg(t *testing.T, mdf, dir, ours, theirs string) {
	t.Helper()
	a := filepath.Join(dir, "dmesg-theirs.txt")
	b := filepath.Join(dir, "dmesg-ours.txt")
	os.Remove(a)
	os.Remove(b)
	runMakedumpfile(t, mdf, "--dump-dmesg", theirs, a)
	runMakedumpfile(t, mdf, "--dump-dmesg", ours, b)
	ta, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(tb) == 0 || !bytes.Equal(ta, tb) {
		t.Errorf("--dump-dmesg on our file: %d bytes, on makedumpfile's %d, equal %v", len(tb), len(ta), bytes.Equal(ta, tb))
	}
}

// TestInteropCorpusWrappedStreams: the C tool's -F stream wrapped whole in
// xz or lz4 (as kdump-tools does) unwraps and rearranges through our -R
// path (codec.OpenStream + kdumpfile.Rearrange) to exactly the file the C
// tool writes directly, and vmcore.Open reads the wrapped flattened
// stream, and an lz4-wrapped ELF (-E) file, with every page equal to the
// source.
func TestInteropCorpusWrappedStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	cor := corpus.Ensure(t)
	flat := cor.Path("makedumpfile-F-c-d31.flat")
	direct := cor.Path("makedumpfile-c-d31.kdump")
	elf := cor.Path("makedumpfile-E-d31.elf")
	for _, p := range []string{flat, direct, elf} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("corpus lacks %s: %v", filepath.Base(p), err)
		}
	}
	src, err := vmcore.Open(cor.Path(corpus.SourceName))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want, err := os.ReadFile(direct)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tmpdir := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmpdir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmpdir)

	for _, c := range []struct {
		in string
		s  codec.Stream
	}{
		{flat, codec.StreamXZ},
		{flat, codec.StreamLZ4},
		{elf, codec.StreamLZ4},
	} {
		name := filepath.Base(c.in) + "." + c.s.String()
		t.Run(name, func(t *testing.T) {
			wrapped := filepath.Join(dir, name)
			wrapFile(t, c.in, wrapped, c.s)

			if c.in == flat {
				in, err := os.Open(wrapped)
				if err != nil {
					t.Fatal(err)
				}
				defer in.Close()
				r, kind, err := codec.OpenStream(in)
				if err != nil {
					t.Fatal(err)
				}
				if kind != c.s {
					t.Errorf("OpenStream found %v, want %v", kind, c.s)
				}
				outPath := filepath.Join(dir, name+".kdump")
				out, err := os.Create(outPath)
				if err != nil {
					t.Fatal(err)
				}
				if err := kdumpfile.Rearrange(r, out); err != nil {
					t.Fatal(err)
				}
				out.Close()
				got, err := os.ReadFile(outPath)
				if err != nil {
					t.Fatal(err)
				}
				if i := firstDifference(want, got); i >= 0 {
					t.Errorf("rearranged %v-wrapped stream (%d bytes) differs from makedumpfile -c -d 31 (%d bytes) at %#x",
						c.s, len(got), len(want), i)
				}
				os.Remove(outPath)
			}

			d, err := vmcore.Open(wrapped)
			if err != nil {
				t.Fatal(err)
			}
			if left, _ := filepath.Glob(filepath.Join(tmpdir, "*")); len(left) != 0 {
				t.Errorf("temporary files visible while open: %v", left)
			}
			page := make([]byte, d.PageSize())
			ref := make([]byte, d.PageSize())
			n := 0
			st := d.Stored()
			for pfn, ok := st.Next(0); ok && pfn < d.MaxPFN(); pfn, ok = st.Next(pfn + 1) {
				if err := d.ReadPage(pfn, page); err != nil {
					t.Fatalf("pfn %#x: %v", uint64(pfn), err)
				}
				if err := src.ReadPage(pfn, ref); err != nil {
					t.Fatalf("source pfn %#x: %v", uint64(pfn), err)
				}
				if !bytes.Equal(page, ref) {
					t.Fatalf("pfn %#x differs from the source", uint64(pfn))
				}
				n++
			}
			t.Logf("%s: format %v, %d pages equal the source", name, d.Format(), n)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := filepath.Glob(filepath.Join(tmpdir, "*")); len(left) != 0 {
				t.Errorf("temporary files left after Close: %v", left)
			}
			os.Remove(wrapped)
		})
	}
}

func wrapFile(t *testing.T, in, out string, s codec.Stream) {
	t.Helper()
	r, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := stream.NewWriter(f, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInteropCorpusSnappyZstd: -p and -z output at -d 31 (the C tool here
// is built without snappy and zstd, so there is nothing to compare byte
// for byte): every page reads back with our reader, and a sample with
// libkdumpfile, which decodes zstd pages with ZSTD_decompress and wants
// exactly one page out of each frame, as crash's ZSTD_decompressDCtx does.
func TestInteropCorpusSnappyZstd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	cor := corpus.Ensure(t)
	src, err := vmcore.Open(cor.Path(corpus.SourceName))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	p, err := filter.Exclude(context.Background(), src, 31, filter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []codec.Method{codec.Snappy, codec.Zstd} {
		t.Run(m.String(), func(t *testing.T) {
			path := filepath.Join(dir, "ours-"+m.String())
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteKdump(context.Background(), src, p, m, f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if fi, err := os.Stat(path); err == nil {
				t.Logf("size at -d 31: %d", fi.Size())
			}
			checkPages(t, src, path, m)
			if oracle.HaveLibkdumpfile() {
				checkLibkdumpfile(t, src, path, dir)
			}
		})
	}
}
