package fuzzseed_test

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/internal/fuzzseed"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

var write = flag.Bool("write", false, "write the committed fuzz seeds (testdata/fuzz/FuzzXxx of elfcore, kdumpfile, kernel, codec, vmcore) from the corpus")

func readGz(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "kdumpfile", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSmallKdumpGolden shrinks the makedumpfile fixtures of package
// kdumpfile and checks that the result opens and that every kept page
// reads back as in the original.
func TestSmallKdumpGolden(t *testing.T) {
	for _, name := range []string{"raw-d0.gz", "raw-d1.gz", "lzo-d1.gz", "zlib-d1.gz", "lzo-d0-incomplete.gz",
		"lzo-d1-split.0.gz", "lzo-d1-split.1.gz", "lzo-d1-split.2.gz"} {
		t.Run(name, func(t *testing.T) {
			orig := readGz(t, name)
			k, err := fuzzseed.SmallKdump(bytes.NewReader(orig), int64(len(orig)), 6)
			if err != nil {
				t.Fatal(err)
			}
			small, err := kdumpfile.Open(bytes.NewReader(k.File), int64(len(k.File)))
			if err != nil {
				t.Fatal(err)
			}
			big, err := kdumpfile.Open(bytes.NewReader(orig), int64(len(orig)))
			if err != nil {
				t.Fatal(err)
			}
			a, b := make([]byte, small.PageSize()), make([]byte, big.PageSize())
			n := 0
			start := mem.PFN(0)
			if sub, ok := small.SubHeader(); ok && sub.Split != 0 {
				start = mem.PFN(sub.StartPFN64)
			}
			for pfn, ok := small.Stored().Next(start); ok; pfn, ok = small.Stored().Next(pfn + 1) {
				if err := small.ReadPage(pfn, a); err != nil {
					t.Fatalf("pfn %#x: %v", pfn, err)
				}
				if err := big.ReadPage(pfn, b); err != nil {
					t.Fatalf("pfn %#x in the original: %v", pfn, err)
				}
				if !bytes.Equal(a, b) {
					t.Fatalf("pfn %#x differs", pfn)
				}
				n++
			}
			if n == 0 {
				t.Fatal("no page read")
			}
			flat := fuzzseed.Flatten(k.File, k.DescOff, k.DescEnd)
			fi, err := kdumpfile.OpenFlattened(bytes.NewReader(flat), int64(len(flat)))
			if err != nil {
				t.Fatal(err)
			}
			img := make([]byte, fi.Size())
			if _, err := fi.ReadAt(img, 0); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(img, k.File) {
				t.Fatal("flattened copy does not rearrange to the seed")
			}
			t.Logf("%d bytes -> %d bytes, %d pages", len(orig), len(k.File), n)
		})
	}
}

func TestFlattenedPrefixGolden(t *testing.T) {
	orig := readGz(t, "lzo-d1-flat.gz")
	b, err := fuzzseed.FlattenedPrefix(bytes.NewReader(orig), 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kdumpfile.OpenFlattened(bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

func TestSmallELF(t *testing.T) {
	notes := []elfcore.Note{{Name: "VMCOREINFO", Desc: []byte("OSRELEASE=6.1.0\nPAGESIZE=4096\n")}}
	var segs []elfcore.Segment
	for i := range 6 {
		segs = append(segs, elfcore.Segment{PAddr: uint64(i) << 20, Data: bytes.Repeat([]byte{byte(i)}, 3*4096), MemSz: 4 << 12})
	}
	orig := elfcore.Build(0, notes, segs)
	b, gotNotes, err := fuzzseed.SmallELF(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := elfcore.Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Loads) != 4 || len(gotNotes) != 1 || len(f.Notes) != 1 || string(f.Notes[0].Desc) != string(notes[0].Desc) {
		t.Fatalf("loads %d, notes %d/%d", len(f.Loads), len(gotNotes), len(f.Notes))
	}
	if f.Loads[3].PAddr != 3<<20 || f.Loads[3].FileSz != 4096 || f.Loads[3].MemSz != 4<<12 {
		t.Fatalf("load 3: %+v", f.Loads[3])
	}
}

// TestSeedsOpen checks that the seeds derived from the corpus (when there
// is one) open, and writes the committed ones with -write.
func TestSeedsOpen(t *testing.T) {
	s := fuzzseed.Load(t)
	if s == nil {
		t.Skip("no corpus")
	}
	for _, sd := range append(append(s.ELF, s.Kdump...), s.Flattened...) {
		d, err := vmcore.OpenReaderAt(bytes.NewReader(sd.Data), int64(len(sd.Data)))
		t.Logf("%s: %d bytes: %v", sd.Name, len(sd.Data), err)
		if err == nil {
			d.Close()
		}
	}
	if *write {
		writeCommitted(t, s)
	}
}

// committed lists the seeds written by -write: a few per target, chosen
// to cover every producer and codec while keeping each corpus file under
// about 100 KB (binary seeds quote to up to four times their size).
var committed = []struct {
	dir  string // package/testdata/fuzz/FuzzXxx, from the module root
	kind string // which Seeds field
	name string // corpus file name (with the suffix fuzzseed adds), a path.Match pattern
}{
	{"kernel/testdata/fuzz/FuzzParseVMCOREINFO", "vmcoreinfo", "vmcoreinfo.txt"},
	{"elfcore/testdata/fuzz/FuzzOpen", "elf", "qemu.elf"},
	{"elfcore/testdata/fuzz/FuzzOpen", "elf", "makedumpfile-E-d31.elf"},
	{"elfcore/testdata/fuzz/FuzzParseNotes", "notes", "qemu.elf.note0"},
	{"kdumpfile/testdata/fuzz/FuzzOpen", "kdump", "qemu-kdump-zlib.flat"},
	{"kdumpfile/testdata/fuzz/FuzzOpen", "kdump", "makedumpfile-l-d1.kdump"},
	{"kdumpfile/testdata/fuzz/FuzzOpen", "kdump", "makedumpfile-split-c-d31.1"},
	{"kdumpfile/testdata/fuzz/FuzzOpen", "kdump", "makedumpfile-c-d1-L*.kdump.cut"},
	{"kdumpfile/testdata/fuzz/FuzzFlattened", "flattened", "makedumpfile-F-l-d1.flat.flat"},
	{"codec/testdata/fuzz/FuzzDecode", "page", "makedumpfile-c-d1.kdump.flags0x1"},
	{"codec/testdata/fuzz/FuzzDecode", "page", "makedumpfile-l-d1.kdump.flags0x2"},
	{"vmcore/testdata/fuzz/FuzzOpen", "elf", "qemu.elf"},
	{"vmcore/testdata/fuzz/FuzzOpen", "kdump", "makedumpfile-c-d31.kdump"},
	{"vmcore/testdata/fuzz/FuzzOpen", "flattened", "qemu-kdump-zlib.flat.flat"},
}

// methodIndex is codec's FuzzDecode argument for descriptor flags (its
// fuzzMethods order: raw, zlib, lzo, snappy, zstd).
func methodIndex(flags uint32) uint8 {
	for i, bit := range []uint32{0x1, 0x2, 0x4, 0x20} {
		if flags&bit != 0 {
			return uint8(i + 1)
		}
	}
	return 0
}

func writeCommitted(t *testing.T, s *fuzzseed.Seeds) {
	find := func(seeds []fuzzseed.Seed, name string) []byte {
		for _, sd := range seeds {
			if ok, _ := path.Match(name, sd.Name); ok {
				return sd.Data
			}
		}
		return nil
	}
	total := 0
	for _, c := range committed {
		var vals []any
		switch c.kind {
		case "vmcoreinfo":
			vals = []any{find(s.VMCOREINFO, c.name)}
		case "elf":
			vals = []any{find(s.ELF, c.name)}
		case "notes":
			vals = []any{find(s.Notes, c.name)}
		case "kdump":
			vals = []any{find(s.Kdump, c.name)}
		case "flattened":
			vals = []any{find(s.Flattened, c.name)}
		case "page":
			for _, p := range s.Pages {
				if ok, _ := path.Match(c.name, p.Name); ok {
					vals = []any{methodIndex(p.Flags), p.Data}
				}
			}
		}
		if len(vals) == 0 || vals[len(vals)-1].([]byte) == nil {
			t.Errorf("%s: no seed %s", c.dir, c.name)
			continue
		}
		b := fuzzseed.CorpusFile(vals...)
		if len(b) > 110<<10 {
			t.Errorf("%s: seed %s is %d bytes as a corpus file", c.dir, c.name, len(b))
			continue
		}
		name := "corpus-" + strings.ReplaceAll(c.name, "*", "")
		if err := fuzzseed.WriteCorpusFile(filepath.Join("..", "..", c.dir), name, vals...); err != nil {
			t.Fatal(err)
		}
		total += len(b)
		t.Logf("wrote %s/%s (%d bytes)", c.dir, name, len(b))
	}
	t.Logf("%d bytes in all", total)
}
