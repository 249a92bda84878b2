package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// TestCorpusELFByteIdentical: -E output of the real 6.1 dump at -d 0,
// -d 1 and -d 31 is byte for byte the C makedumpfile's.
func TestCorpusELFByteIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	mdf := dumptest.CMakedumpfile(t)
	c := corpus.Ensure(t)
	for _, level := range []filter.Level{0, 1, 31} {
		t.Run(fmt.Sprintf("d%d", level), func(t *testing.T) {
			src, err := vmcore.Open(c.Path(corpus.SourceName))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			dir := t.TempDir()
			theirs := filepath.Join(dir, "theirs")
			cmd := exec.Command(mdf, "-E", "-d", fmt.Sprint(level), c.Path(corpus.SourceName), theirs)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
			}
			p, err := filter.Exclude(context.Background(), src, level, filter.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ours := filepath.Join(dir, "ours")
			f, err := os.Create(ours)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteELF(context.Background(), src, p, f); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			compareFiles(t, ours, theirs)
		})
	}
}

// compareFiles fails at the first byte where ours differs from theirs,
// naming the program header it falls in when that helps.
func compareFiles(t *testing.T, ours, theirs string) {
	t.Helper()
	a, err := os.ReadFile(theirs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(ours)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("size %d, makedumpfile's %d", len(b), len(a))
	if bytes.Equal(a, b) {
		return
	}
	if len(a) != len(b) {
		t.Errorf("size %d, makedumpfile's %d", len(b), len(a))
	}
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			ea, _ := elfcore.Open(bytes.NewReader(a), int64(len(a)))
			eb, _ := elfcore.Open(bytes.NewReader(b), int64(len(b)))
			if ea != nil && eb != nil {
				t.Logf("ours: %d program headers, makedumpfile's: %d", len(eb.Progs), len(ea.Progs))
				for k := 0; k < max(len(ea.Progs), len(eb.Progs)); k++ {
					var pa, pb elfcore.Prog
					if k < len(ea.Progs) {
						pa = ea.Progs[k]
					}
					if k < len(eb.Progs) {
						pb = eb.Progs[k]
					}
					if pa != pb {
						t.Logf("phdr %d: ours %+v\n\t\tmakedumpfile's %+v", k, pb, pa)
					}
				}
			}
			t.Fatalf("first difference at offset %#x: ours %#x, makedumpfile's %#x", i, b[i], a[i])
		}
	}
	t.Fatal("files differ")
}

// TestCorpusELFRoundTrip: our -d 31 output read back through vmcore holds
// exactly the kept pages with the source's contents; excluded pages
// read as excluded.
func TestCorpusELFRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	c := corpus.Ensure(t)
	src, err := vmcore.Open(c.Path(corpus.SourceName))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p, err := filter.Exclude(context.Background(), src, 31, filter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ours")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteELF(context.Background(), src, p, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	l, err := ELFLayout(context.Background(), src, p, ELFOptions{}) // zero pages already dropped
	if err != nil {
		t.Fatal(err)
	}
	got, err := vmcore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	checkRoundTrip(t, src, got, l)
}

// checkRoundTrip checks every RAM page of src against got: pages the
// layout puts in the file read back equal, the others read as excluded.
func checkRoundTrip(t *testing.T, src, got vmcore.Dump, l *elfcore.Layout) {
	t.Helper()
	ps := uint64(src.PageSize())
	inFile := mem.NewBitmap(src.MaxPFN())
	for _, ld := range l.Loads {
		// A page counts as in the file if any of it is (vmcore's rule).
		for a := ld.PAddr &^ (ps - 1); a < ld.PAddr+ld.FileSz; a += ps {
			inFile.Set(mem.PFN(a / ps))
		}
	}
	want := make([]byte, ps)
	have := make([]byte, ps)
	var kept, excluded int
	for pfn, ok := src.RAM().Next(0); ok; pfn, ok = src.RAM().Next(pfn + 1) {
		err := got.ReadPage(pfn, have)
		if !inFile.Test(pfn) {
			if !errors.Is(err, vmcore.ErrExcluded) {
				t.Fatalf("pfn %#x: not in the output, read gave %v, want ErrExcluded", uint64(pfn), err)
			}
			excluded++
			continue
		}
		if err != nil {
			t.Fatalf("pfn %#x: %v", uint64(pfn), err)
		}
		if err := src.ReadPage(pfn, want); err != nil {
			t.Fatalf("source pfn %#x: %v", uint64(pfn), err)
		}
		if !bytes.Equal(have, want) {
			t.Fatalf("pfn %#x: contents differ", uint64(pfn))
		}
		kept++
	}
	t.Logf("%d pages in the output, %d excluded", kept, excluded)
}

// wbuf is an in-memory io.WriterAt.
type wbuf struct{ b []byte }

func (w *wbuf) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	copy(w.b[off:], p)
	return len(p), nil
}

// synthPages returns n pages whose bytes name their pfn, zero where
// zero says so.
func synthPages(firstPFN, n int, zero func(i int) bool) []byte {
	b := make([]byte, n*4096)
	for i := 0; i < n; i++ {
		if zero != nil && zero(i) {
			continue
		}
		pg := b[i*4096 : (i+1)*4096]
		for j := range pg {
			pg[j] = byte(firstPFN + i + j*7)
		}
	}
	return b
}

func openSynth(t *testing.T, segs []elfcore.Segment) vmcore.Dump {
	t.Helper()
	img := elfcore.Build(0, []elfcore.Note{{Name: elfcore.NameCore, Type: elfcore.NTPRStatus, Desc: make([]byte, 16)}}, segs)
	d, err := vmcore.OpenReaderAt(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func planFrom(d vmcore.Dump, level filter.Level, maxPFN mem.PFN, excluded func(mem.PFN) bool) *filter.Plan {
	keep := mem.NewBitmap(maxPFN)
	for pfn, ok := d.Stored().Next(0); ok && pfn < maxPFN; pfn, ok = d.Stored().Next(pfn + 1) {
		if !excluded(pfn) {
			keep.Set(pfn)
		}
	}
	keep.Freeze()
	return &filter.Plan{Level: level, MaxPFN: maxPFN, Keep: keep}
}

// TestELFRoundTrip: a synthetic core with an unaligned segment, written
// with runs of excluded pages of every kind, reads back through vmcore
// with the kept pages (and short excluded runs) intact and the rest
// excluded.
func TestELFRoundTrip(t *testing.T) {
	src := openSynth(t, []elfcore.Segment{
		{PAddr: 0, Data: synthPages(0, 1200, nil)},
		{PAddr: 0x1000000 + 0x800, Data: synthPages(0x1000, 1200, nil)[0x800 : 1200*4096-0x400]},
	})
	excl := func(pfn mem.PFN) bool {
		switch {
		case pfn < 300: // leading run, split
			return true
		case pfn < 310:
			return false
		case pfn < 400: // short run, written
			return true
		case pfn < 500:
			return false
		case pfn < 1200: // trailing run
			return true
		case pfn < 0x1000+20:
			return false
		}
		return pfn%512 < 256
	}
	p := planFrom(src, 0, src.MaxPFN(), excl)
	var w wbuf
	if err := WriteELF(context.Background(), src, p, &w); err != nil {
		t.Fatal(err)
	}
	l, err := ELFLayout(context.Background(), src, p, ELFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Loads) < 4 {
		t.Fatalf("only %d loads", len(l.Loads))
	}
	got, err := vmcore.OpenReaderAt(bytes.NewReader(w.b), int64(len(w.b)))
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, src, got, l)
	// makedumpfile's floor rule: a partial head page is RAM, a partial
	// tail page is not.
	if !got.RAM().Test(0x1000) || got.RAM().Test(0x1000+1199) {
		t.Error("partial pages: wrong RAM bits")
	}
}

// TestELFAboveMaxPFN: pages above the plan's MaxPFN (QEMU's BIOS ROM)
// follow makedumpfile's stale bitmap block by default, and are kept
// unless zero with PlainAboveMaxPFN.
func TestELFAboveMaxPFN(t *testing.T) {
	const romPFN = 0x8000 + 0x40 // in bitmap block 1; the file has block 0 only
	zeroROM := func(i int) bool { return i < 8 }
	src := openSynth(t, []elfcore.Segment{
		{PAddr: 0, Data: synthPages(0, 0x100, func(i int) bool { return i >= 0x48 && i < 0x50 })},
		{PAddr: romPFN * 4096, Data: synthPages(romPFN, 16, zeroROM)},
	})
	defer src.Close()
	for _, tt := range []struct {
		name   string
		opt    ELFOptions
		level  filter.Level
		filesz uint64 // of the ROM segment
	}{
		{"stale d0", ELFOptions{}, 0, 16 * 4096},
		// Block 0's bits for pfns 0x40-0x4f decide: 0x48-0x4f are zero
		// in RAM, so the ROM's last 8 pages go.
		{"stale d1", ELFOptions{}, 1, 8 * 4096},
		{"plain d0", ELFOptions{PlainAboveMaxPFN: true}, 0, 16 * 4096},
		// The ROM's own zero pages are a leading run shorter than 256:
		// written anyway.
		{"plain d1", ELFOptions{PlainAboveMaxPFN: true}, 1, 16 * 4096},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := planFrom(src, tt.level, 0x100, func(mem.PFN) bool { return false })
			bf := newBitmapFile(p.Keep, p.MaxPFN, 4096)
			if bf == nil || bf.nblocks != 1 {
				t.Fatalf("bitmap file %+v", bf)
			}
			l, err := ELFLayout(context.Background(), src, p, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			rom := l.Loads[len(l.Loads)-1]
			if rom.PAddr != romPFN*4096 || rom.MemSz != 16*4096 {
				t.Fatalf("ROM load %+v", rom)
			}
			if rom.FileSz != tt.filesz {
				t.Errorf("ROM filesz %#x, want %#x", rom.FileSz, tt.filesz)
			}
		})
	}
	// Direct look at the stale block: after a read of block 0, pfns of
	// block 32 take block 0's bits; pfns of block 0 past MaxPFN are 0.
	p := planFrom(src, 0, 0x100, func(pfn mem.PFN) bool { return pfn%3 == 0 })
	bf := newBitmapFile(p.Keep, p.MaxPFN, 4096)
	for _, c := range []struct {
		pfn  mem.PFN
		want bool
	}{{1, true}, {3, false}, {0x101, false}, {32*0x8000 + 1, true}, {32*0x8000 + 3, false}, {32*0x8000 + 0x101, false}} {
		if got := bf.test(c.pfn); got != c.want {
			t.Errorf("pfn %#x: %v, want %v", uint64(c.pfn), got, c.want)
		}
	}
}

func TestELFNeedsELFInput(t *testing.T) {
	var d vmcore.Dump = fakeDump{}
	if _, err := ELFLayout(context.Background(), d, &filter.Plan{}, ELFOptions{}); !errors.Is(err, ErrNeedELFInput) {
		t.Fatalf("err = %v", err)
	}
}

type fakeDump struct{ vmcore.Dump }

func (fakeDump) Format() vmcore.Format { return vmcore.FormatKdump }
