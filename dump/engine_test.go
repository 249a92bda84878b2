package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// mixedPages returns n pages of the kinds a real dump has: zero pages,
// compressible text-like pages and incompressible random ones, chosen by
// a seeded generator so every run sees the same bytes.
func mixedPages(n int, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	b := make([]byte, n*4096)
	for i := 0; i < n; i++ {
		pg := b[i*4096 : (i+1)*4096]
		switch rng.Intn(4) {
		case 0: // zero
		case 1:
			rng.Read(pg)
		default:
			words := []string{"kmalloc", "task_struct ", "\x00\x00\x00\x00", "ffff8880", "slab"}
			for j := 0; j < len(pg); {
				j += copy(pg[j:], words[rng.Intn(len(words))])
			}
		}
	}
	return b
}

// engineSource is a synthetic ELF core of two segments with a hole
// between them, and a level-1 plan that also excludes every 7th page.
func engineSource(t testing.TB, n int) (vmcore.Dump, *filter.Plan, []byte) {
	t.Helper()
	data := mixedPages(n, 1)
	half := n / 2 * 4096
	img := elfcore.Build(0, []elfcore.Note{{Name: elfcore.NameCore, Type: elfcore.NTPRStatus, Desc: make([]byte, 16)}},
		[]elfcore.Segment{
			{PAddr: 0, Data: data[:half]},
			{PAddr: 0x10000000, Data: data[half:]},
		})
	src, err := vmcore.OpenReaderAt(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	p := planFrom(src, filter.ExcludeZero, src.MaxPFN(), func(pfn mem.PFN) bool { return pfn%7 == 3 })
	return src, p, img
}

// readBack opens a kdump file and checks every kept page against src:
// zero pages and lost pages as want says, the rest equal.
func readBack(t *testing.T, src vmcore.Dump, p *filter.Plan, out []byte, lost func(mem.PFN) bool) {
	t.Helper()
	d, err := vmcore.OpenReaderAt(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatalf("open output: %v", err)
	}
	defer d.Close()
	want := make([]byte, src.PageSize())
	got := make([]byte, src.PageSize())
	var pages int
	for pfn, ok := p.Keep.Next(0); ok; pfn, ok = p.Keep.Next(pfn + 1) {
		pages++
		err := d.ReadPage(pfn, got)
		if lost != nil && lost(pfn) {
			if !errors.Is(err, mem.ErrLost) {
				t.Fatalf("pfn %#x: read %v, want a lost page", uint64(pfn), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("pfn %#x: %v", uint64(pfn), err)
		}
		if err := src.ReadPage(pfn, want); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pfn %#x: page differs", uint64(pfn))
		}
	}
	if pages == 0 {
		t.Fatal("plan keeps no pages")
	}
}

// TestEngineWorkersSameBytes: every worker count writes the file the
// inline engine writes, for every codec, and the file reads back.
func TestEngineWorkersSameBytes(t *testing.T) {
	src, p, _ := engineSource(t, 600)
	for _, m := range []codec.Method{codec.Raw, codec.Zlib, codec.LZO, codec.Snappy, codec.Zstd} {
		t.Run(m.String(), func(t *testing.T) {
			var ref []byte
			var refZero uint64
			for _, workers := range []int{1, 2, 3, 8} {
				p.Counts.Zero = 0
				var out wbuf
				var calls int
				var last uint64
				opt := Options{Workers: workers, batches: 1, Progress: func(done, total uint64) {
					calls++
					if done < last || done > total {
						t.Errorf("progress %d of %d after %d", done, total, last)
					}
					last = done
				}}
				if err := WriteKdumpWith(context.Background(), src, p, m, &out, opt); err != nil {
					t.Fatalf("workers %d: %v", workers, err)
				}
				if calls == 0 || last != p.Keep.Count() {
					t.Errorf("workers %d: %d progress calls ending at %d, want the end at %d", workers, calls, last, p.Keep.Count())
				}
				if ref == nil {
					ref, refZero = out.b, p.Counts.Zero
					readBack(t, src, p, out.b, nil)
					if refZero == 0 {
						t.Fatal("no zero page shared")
					}
					continue
				}
				if !bytes.Equal(out.b, ref) {
					t.Fatalf("workers %d: output differs from the inline engine's at byte %d", workers, firstDifference(out.b, ref))
				}
				if p.Counts.Zero != refZero {
					t.Fatalf("workers %d: %d zero pages, inline %d", workers, p.Counts.Zero, refZero)
				}
			}
		})
	}
}

// eioReaderAt fails reads that touch a page whose pfn bad selects, as a
// disk or /proc/vmcore read of memory the kernel cannot provide does.
type eioReaderAt struct {
	r     io.ReaderAt
	loads []elfcore.Prog
	bad   func(mem.PFN) bool
}

func (e *eioReaderAt) ReadAt(b []byte, off int64) (int, error) {
	for _, l := range e.loads {
		lo, hi := int64(l.Off), int64(l.Off+l.FileSz)
		if off+int64(len(b)) <= lo || off >= hi {
			continue
		}
		first := (l.PAddr + uint64(max(off, lo)-lo)) / 4096
		last := (l.PAddr + uint64(min(off+int64(len(b)), hi)-1-lo)) / 4096
		for pfn := first; pfn <= last; pfn++ {
			if e.bad(mem.PFN(pfn)) {
				return 0, &os.PathError{Op: "read", Path: "/proc/vmcore", Err: syscall.EIO}
			}
		}
	}
	return e.r.ReadAt(b, off)
}

// TestEngineReadErrors: pages the input fails to read (EIO) are written
// as lost, each run of them is reported once, every other page is
// saved, and the file is marked incomplete.
func TestEngineReadErrors(t *testing.T) {
	_, p, img := engineSource(t, 600)
	f, err := elfcore.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	bad := func(pfn mem.PFN) bool {
		return pfn >= 10 && pfn < 14 || pfn == 40 || pfn >= 100 && pfn < 104 || pfn == 0x10000+5
	}
	src, err := vmcore.OpenReaderAt(&eioReaderAt{r: bytes.NewReader(img), loads: f.Loads, bad: bad}, int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	// The plan drops pfn 10 (10%7 == 3), so the first run starts at
	// 11; it drops 102 too, which does not break the run 100..103.
	p.Keep.Clear(102)
	p.Keep.Freeze()
	if p.Keep.Test(10) || !p.Keep.Test(11) || !p.Keep.Test(103) {
		t.Fatal("test plan changed")
	}
	want := []mem.PFNRange{{Start: 11, End: 14}, {Start: 40, End: 41}, {Start: 100, End: 104}, {Start: 0x10000 + 5, End: 0x10000 + 6}}
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprint("workers", workers), func(t *testing.T) {
			var got []mem.PFNRange
			var out wbuf
			opt := Options{Workers: workers, ReadError: func(r mem.PFNRange, err error) {
				if !errors.Is(err, syscall.EIO) {
					t.Errorf("run %v: error %v does not wrap EIO", r, err)
				}
				got = append(got, r)
			}}
			err := WriteKdumpWith(context.Background(), src, p, codec.LZO, &out, opt)
			if !errors.Is(err, ErrUnreadable) || !errors.Is(err, mem.ErrLost) {
				t.Fatalf("error %v does not wrap ErrUnreadable and mem.ErrLost", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("reported runs %v, want %v", got, want)
			}
			readBack(t, src, p, out.b, bad)
			kf, err := kdumpfile.Open(bytes.NewReader(out.b), int64(len(out.b)))
			if err != nil {
				t.Fatal(err)
			}
			if !kf.Incomplete() {
				t.Fatal("output not marked incomplete")
			}
		})
	}
}

// TestEngineMmapFault: a real fault. The input is read through the mmap
// window and truncated under the reader: the pages past the new end
// fault (SIGBUS), become lost pages reported as one run, and the pages
// before them are saved.
func TestEngineMmapFault(t *testing.T) {
	const n = 3000 // two segments of 6 MB: more than one 4 MiB window each
	_, _, img := engineSource(t, n)
	path := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := vmcore.OpenWith(path, vmcore.Options{Mmap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := planFrom(src, 0, src.MaxPFN(), func(mem.PFN) bool { return false })
	f := src.(interface{ ELF() *elfcore.File }).ELF()
	last := f.Loads[len(f.Loads)-1]
	cut := last.Off + last.FileSz/2 // page aligned: the segment holds whole pages
	if err := os.Truncate(path, int64(cut)); err != nil {
		t.Fatal(err)
	}
	firstLost := mem.PFN((last.PAddr + (cut - last.Off)) / 4096)
	endLost := mem.PFN((last.PAddr + last.FileSz) / 4096)
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprint("workers", workers), func(t *testing.T) {
			var got []mem.PFNRange
			var out wbuf
			opt := Options{Workers: workers, ReadError: func(r mem.PFNRange, err error) {
				var fe *vmcore.FaultError
				if !errors.As(err, &fe) {
					t.Errorf("run %v: error %v is not a FaultError", r, err)
				}
				got = append(got, r)
			}}
			err := WriteKdumpWith(context.Background(), src, p, codec.Zlib, &out, opt)
			if !errors.Is(err, ErrUnreadable) {
				t.Fatalf("error %v does not wrap ErrUnreadable", err)
			}
			want := []mem.PFNRange{{Start: firstLost, End: endLost}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("reported runs %v, want %v", got, want)
			}
			intact, err := vmcore.OpenReaderAt(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			readBack(t, intact, p, out.b, func(pfn mem.PFN) bool { return pfn >= firstLost && pfn < endLost })
		})
	}
}

// fixedWriterAt is an io.WriterAt over a preallocated buffer, so that
// allocation counts see the engine's allocations only.
type fixedWriterAt struct{ b []byte }

func (w *fixedWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(w.b)) {
		return 0, io.ErrShortWrite
	}
	return copy(w.b[off:], p), nil
}

// TestEngineNoAllocPerPage: the allocations of a whole dump do not grow
// with the number of pages, inline or with workers. Encoders allocate
// some tables on first use, depending on the data they see; both runs
// are long enough for that warm-up to be done.
func TestEngineNoAllocPerPage(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	const small, large = 1500, 6000
	srcS, pS, _ := engineSource(t, small)
	srcL, pL, _ := engineSource(t, large)
	for _, m := range []codec.Method{codec.LZO, codec.Zlib, codec.Zstd, codec.Raw} {
		for _, workers := range []int{1, 2} {
			allocs := func(src vmcore.Dump, p *filter.Plan) float64 {
				out := &fixedWriterAt{b: make([]byte, 32<<20)}
				opt := Options{Workers: workers}
				return testing.AllocsPerRun(5, func() {
					if err := WriteKdumpWith(context.Background(), src, p, m, out, opt); err != nil {
						t.Fatal(err)
					}
				})
			}
			a, b := allocs(srcS, pS), allocs(srcL, pL)
			pages := float64(pL.Keep.Count() - pS.Keep.Count())
			perPage := (b - a) / pages
			t.Logf("%v workers %d: %.0f allocs for %d pages, %.0f for %d: %.4f per page",
				m, workers, a, pS.Keep.Count(), b, pL.Keep.Count(), perPage)
			// The zstd encoders allocate about 20 tables each (25 allowed)
			// on first use, as the data calls for them; with several
			// workers, which pages reach which encoder varies from
			// run to run, so the smaller run may not have warmed them
			// all up (up to 45 fewer allocations seen with 2 workers,
			// 0.012 per page). One allocation per batch of 16 pages
			// would be 0.06 per page.
			if b-a > float64(8+25*workers) || perPage > 0.02 {
				t.Errorf("%v workers %d: %.0f more allocations for %.0f more pages", m, workers, b-a, pages)
			}
		}
	}
}

// TestCorpusZlibNotLarger: our zlib pages (-c) make a file no larger
// than the C makedumpfile's on the real corpus, at -d 31 and -d 1, and
// it reads back page for page.
func TestCorpusZlibNotLarger(t *testing.T) {
	c, src, _ := corpusSource(t)
	for _, level := range []filter.Level{31, 1} {
		theirs := c.Path(fmt.Sprintf("makedumpfile-c-d%d.kdump", level))
		st, err := os.Stat(theirs)
		if err != nil {
			t.Skipf("corpus has no %s", filepath.Base(theirs))
		}
		p := excludePlan(t, src, level)
		ours := filepath.Join(t.TempDir(), "ours")
		writeFile(t, src, p, codec.Zlib, ours)
		ost, err := os.Stat(ours)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("-c -d %d: ours %d bytes, makedumpfile %d (%.4f)", level, ost.Size(), st.Size(), float64(ost.Size())/float64(st.Size()))
		if ost.Size() > st.Size() {
			t.Errorf("-c -d %d: ours %d bytes, larger than makedumpfile's %d", level, ost.Size(), st.Size())
		}
		checkPages(t, src, ours, codec.Zlib)
	}
}

// benchCorpus opens the 4 GiB corpus vmcore, or skips: benchmarks do
// not build corpora.
func benchCorpus(b *testing.B) vmcore.Dump {
	c, err := corpus.Find(corpus.Options{MemoryMiB: 4096})
	if err != nil {
		b.Skipf("no 4 GiB corpus (build it with: go run ./internal/cmd/mkcorpus -mem 4096): %v", err)
	}
	src, err := vmcore.Open(c.Path(corpus.SourceName))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	return src
}

// BenchmarkCorpusEncodePages compresses the pages -d 31 keeps from the
// real 4 GiB corpus with each method, one page at a time as the engine
// does, and reports the output size in percent of the input.
func BenchmarkCorpusEncodePages(b *testing.B) {
	src := benchCorpus(b)
	p, err := filter.Exclude(context.Background(), src, 31, filter.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var pages []byte
	pg := make([]byte, src.PageSize())
	for pfn, ok := p.Keep.Next(0); ok && len(pages) < 64<<20; pfn, ok = p.Keep.Next(pfn + 1) {
		if err := src.ReadPage(pfn, pg); err != nil {
			b.Fatal(err)
		}
		if !filter.IsZero(pg) {
			pages = append(pages, pg...)
		}
	}
	for _, m := range []codec.Method{codec.Zlib, codec.LZO, codec.Zstd, codec.Snappy} {
		b.Run(m.String(), func(b *testing.B) {
			var e codec.Encoder
			defer e.Close()
			dst := make([]byte, codec.MaxEncodedLen(len(pg)))
			b.SetBytes(int64(len(pages)))
			b.ReportAllocs()
			var out int
			for i := 0; i < b.N; i++ {
				out = 0
				for off := 0; off < len(pages); off += len(pg) {
					data, _, err := e.EncodePage(m, dst, pages[off:off+len(pg)])
					if err != nil {
						b.Fatal(err)
					}
					out += len(data)
				}
			}
			b.ReportMetric(100*float64(out)/float64(len(pages)), "%size")
		})
	}
}

// discardWriterAt counts what it is given.
type discardWriterAt struct{ n int64 }

func (d *discardWriterAt) WriteAt(p []byte, off int64) (int, error) {
	d.n = max(d.n, off+int64(len(p)))
	return len(p), nil
}

// BenchmarkCorpusEngine runs the whole copy step of -d 31 on the 4 GiB
// corpus (the plan is made once) with one worker and with all CPUs,
// for LZO and zlib.
func BenchmarkCorpusEngine(b *testing.B) {
	src := benchCorpus(b)
	p, err := filter.Exclude(context.Background(), src, 31, filter.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []codec.Method{codec.LZO, codec.Zlib} {
		for _, workers := range []int{1, 0} {
			name := fmt.Sprintf("%v/workers=%d", m, workers)
			if workers == 0 {
				name = fmt.Sprintf("%v/allcpus", m)
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				var out discardWriterAt
				for i := 0; i < b.N; i++ {
					out = discardWriterAt{}
					if err := WriteKdumpWith(context.Background(), src, p, m, &out, Options{Workers: workers}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(out.n), "bytes")
			})
		}
	}
}

// BenchmarkCorpusCyclic is a whole -d 31 -l dump of the 4 GiB corpus
// (plan and copy, one worker, as in a capture kernel) in one pass and in
// cycles: with windows of one chunk (a 4 KiB budget, 40 windows) and of
// sixteen (a 64 KiB budget, 3 windows). The cyclic runs walk mem_map
// twice; the difference is the cost of the second walk and the windows.
func BenchmarkCorpusCyclic(b *testing.B) {
	src := benchCorpus(b)
	for _, bc := range []struct {
		name   string
		budget int64
		force  bool
	}{{"onepass", 0, false}, {"cyclic-4KiB", 4 << 10, true}, {"cyclic-64KiB", 64 << 10, true}} {
		b.Run(bc.name, func(b *testing.B) {
			var out discardWriterAt
			for i := 0; i < b.N; i++ {
				p, err := filter.Exclude(context.Background(), src, 31, filter.Options{Workers: 1, Budget: bc.budget, ForceCyclic: bc.force})
				if err != nil {
					b.Fatal(err)
				}
				if (p.Cyclic != nil) != bc.force {
					b.Fatalf("cyclic: %v", p.Cyclic != nil)
				}
				out = discardWriterAt{}
				if err := WriteKdumpWith(context.Background(), src, p, codec.LZO, &out, Options{Workers: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.n), "bytes")
		})
	}
}
