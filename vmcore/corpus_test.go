package vmcore

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/mem"
)

// elfSource reads pages of the corpus' ELF source through the standard
// library's debug/elf, independently of our elfcore package, so the
// comparison below does not check our reader against itself.
type elfSource struct {
	f     *os.File
	loads []*elf.Prog
	ps    uint64
}

func openELFSource(t *testing.T, path string, pageSize int) *elfSource {
	t.Helper()
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &elfSource{ps: uint64(pageSize)}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			s.loads = append(s.loads, p)
		}
	}
	s.f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.f.Close(); ef.Close() })
	return s
}

// page reads pfn when one PT_LOAD holds it whole in the file; QEMU's
// segments are page aligned, so that is every RAM page of the source.
func (s *elfSource) page(pfn mem.PFN, dst []byte) error {
	pa := uint64(pfn) * s.ps
	for _, p := range s.loads {
		if pa >= p.Paddr && pa+s.ps <= p.Paddr+p.Filesz {
			_, err := s.f.ReadAt(dst[:s.ps], int64(p.Off+pa-p.Paddr))
			return err
		}
	}
	return fmt.Errorf("pfn %#x not in the source", uint64(pfn))
}

// dumpSets lists every dump of the corpus except the source, as file
// name lists (a split set is one entry).
func dumpSets(c *corpus.Corpus) [][]string {
	var sets [][]string
	for _, f := range c.Manifest.Files {
		if !f.IsDump() || f.Name == corpus.SourceName || f.Kind == corpus.KindSplit {
			continue
		}
		sets = append(sets, []string{f.Name})
	}
	return append(sets, c.SplitSets()...)
}

func openSet(t *testing.T, c *corpus.Corpus, names []string) Dump {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, c.Path(n))
	}
	d, err := OpenFiles(paths...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestCorpusPagesEqualSource: every page each corpus dump stores, read
// through Open, equals the same page of the ELF it was made from; pages
// it leaves out read as excluded (or lost, in the incomplete dump).
func TestCorpusPagesEqualSource(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	c := corpus.Ensure(t)
	ps := c.Manifest.PageSize
	src := openELFSource(t, c.Path(corpus.SourceName), ps)
	srcDump := openSet(t, c, []string{corpus.SourceName})
	sets := dumpSets(c)
	if len(sets) < 10 {
		t.Fatalf("corpus has only %d dumps besides the source", len(sets))
	}
	for _, names := range sets {
		t.Run(names[0], func(t *testing.T) {
			t.Parallel()
			d := openSet(t, c, names)
			if d.PageSize() != ps {
				t.Fatalf("page size %d, want %d", d.PageSize(), ps)
			}
			// makedumpfile clamps max_mapnr to the last pfn with a
			// mem_map (it drops QEMU's BIOS ROM segment at 0xfffc0000);
			// below that the RAM bitmaps must agree bit for bit.
			if d.MaxPFN() > srcDump.MaxPFN() {
				t.Fatalf("max pfn %#x beyond the source's %#x", d.MaxPFN(), srcDump.MaxPFN())
			}
			for p := mem.PFN(0); p < d.MaxPFN(); p++ {
				if d.RAM().Test(p) != srcDump.RAM().Test(p) {
					t.Fatalf("pfn %#x: RAM bit %v, source %v", p, d.RAM().Test(p), srcDump.RAM().Test(p))
				}
			}
			got, want := make([]byte, ps), make([]byte, ps)
			var stored, excluded, lost uint64
			incomplete := false
			if x, ok := d.(interface{ Incomplete() bool }); ok {
				incomplete = x.Incomplete()
			}
			for p, ok := d.RAM().Next(0); ok; p, ok = d.RAM().Next(p + 1) {
				err := d.ReadPage(p, got)
				switch {
				case err == nil:
					if !d.Stored().Test(p) {
						t.Fatalf("pfn %#x read but not in the stored bitmap", p)
					}
					if err := src.page(p, want); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("pfn %#x differs from the source", p)
					}
					stored++
				case errors.Is(err, ErrExcluded) && !d.Stored().Test(p):
					excluded++
				case errors.Is(err, ErrLost) && incomplete:
					lost++
				default:
					t.Fatalf("pfn %#x: %v", p, err)
				}
			}
			if stored == 0 {
				t.Fatal("no page read")
			}
			if incomplete != (lost > 0) {
				t.Errorf("incomplete=%v but %d pages lost", incomplete, lost)
			}
			t.Logf("%s: %d pages equal the source, %d excluded, %d lost", d.Format(), stored, excluded, lost)
		})
	}
}

// TestCorpusInteropLibkdumpfile: a sample of pages of every kdump-format
// corpus file reads the same through libkdumpfile as through our reader,
// and pages we call excluded or lost libkdumpfile cannot read either.
func TestCorpusInteropLibkdumpfile(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	if !haveLibkdumpfile(t) {
		return
	}
	c := corpus.Ensure(t)
	for _, names := range dumpSets(c) {
		f, _ := c.File(names[0])
		if f.Format != "kdump" {
			continue // ELF: read by our elfcore and checked against debug/elf above
		}
		t.Run(names[0], func(t *testing.T) {
			d := openSet(t, c, names)
			pfns := samplePFNs(d, 150, 30)
			dir := t.TempDir()
			path := cToolSingleFile(t, c, f, names, dir)
			res, err := libkdumpfilePages(dir, d.PageSize(), []string{path}, pfns)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, d.PageSize())
			var same, bothFail int
			for _, p := range pfns {
				lk := res[p]
				err := d.ReadPage(p, buf)
				if err != nil {
					if lk.Err == "" {
						t.Errorf("pfn %#x: we fail (%v), libkdumpfile reads it", p, err)
					}
					bothFail++
					continue
				}
				if lk.Err != "" {
					t.Errorf("pfn %#x: we read it, libkdumpfile fails: %s", p, lk.Err)
					continue
				}
				if sha(buf) != lk.SHA256 {
					t.Errorf("pfn %#x: contents differ from libkdumpfile's", p)
					continue
				}
				same++
			}
			if same == 0 {
				t.Fatal("no page compared")
			}
			t.Logf("%d pages equal libkdumpfile's reads, %d unreadable by both", same, bothFail)
		})
	}
}

// cToolSingleFile returns a single kdump-compressed file libkdumpfile
// 0.5.1 can open for the dump named by names: the file itself, or, for a
// flattened stream or a split set (which its Python binding cannot open),
// the file the C makedumpfile rearranges (-R) or reassembles from them.
func cToolSingleFile(t *testing.T, c *corpus.Corpus, f corpus.File, names []string, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "single.kdump")
	var cmd *exec.Cmd
	switch {
	case f.Kind == corpus.KindFlattened:
		in, err := os.Open(c.Path(f.Name))
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		cmd = exec.Command(makedumpfile(t), "-R", out)
		cmd.Stdin = in
	case len(names) > 1:
		args := []string{"--reassemble"}
		for _, n := range names {
			args = append(args, c.Path(n))
		}
		cmd = exec.Command(makedumpfile(t), append(args, out)...)
	default:
		return c.Path(f.Name)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	return out
}

func makedumpfile(t *testing.T) string {
	p, err := oracle.LookPath("makedumpfile")
	if err != nil {
		t.Fatal("the C makedumpfile is not installed (apt-get install makedumpfile)")
	}
	return p
}

// samplePFNs picks up to nStored stored pages spread over the dump plus
// up to nOther RAM pages that are not stored.
func samplePFNs(d Dump, nStored, nOther int) []mem.PFN {
	pick := func(bm func(mem.PFN) bool, n int) []mem.PFN {
		var all []mem.PFN
		for p, ok := d.RAM().Next(0); ok; p, ok = d.RAM().Next(p + 1) {
			if bm(p) {
				all = append(all, p)
			}
		}
		if len(all) <= n {
			return all
		}
		out := make([]mem.PFN, 0, n)
		for i := 0; i < n; i++ {
			out = append(out, all[i*len(all)/n])
		}
		return out
	}
	s := pick(d.Stored().Test, nStored)
	s = append(s, pick(func(p mem.PFN) bool { return !d.Stored().Test(p) }, nOther)...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

func haveLibkdumpfile(t *testing.T) bool {
	if oracle.HaveLibkdumpfile() {
		return true
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("python3-libkdumpfile is not importable by %s; CI must install it", oracle.Python)
	}
	t.Skipf("python3-libkdumpfile is not importable by %s (apt-get install python3-libkdumpfile)", oracle.Python)
	return false
}

func libkdumpfilePages(dir string, pageSize int, files []string, pfns []mem.PFN) (map[mem.PFN]oracle.PageResult, error) {
	return oracle.LibkdumpfilePages(dir, pageSize, files, pfns)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
