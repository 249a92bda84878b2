package vmcore

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/internal/fuzzseed"
	"github.com/kdumpkit/kdumpkit/mem"
)

// fuzzSeeds returns small dumps of every format: a synthetic ELF core and
// the makedumpfile-made kdump, flattened and split fixtures of package
// kdumpfile.
func fuzzSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{
		elfcore.Build(0, []elfcore.Note{
			{Name: "CORE", Type: 1, Desc: make([]byte, 336)},
			{Name: "VMCOREINFO", Desc: []byte("OSRELEASE=6.1.0\nPAGESIZE=4096\nCRASHTIME=1700000000\n")},
		}, []elfcore.Segment{
			{PAddr: 0, Data: randBytes(1, 2*4096)},
			{PAddr: 0x5800, Data: randBytes(2, 4096+100), MemSz: 4 * 4096},
		}),
	}
	for _, name := range []string{"raw-d1.gz", "lzo-d1.gz", "zlib-d1.gz", "lzo-d1-flat.gz", "lzo-d0-incomplete.gz"} {
		b, err := readGz(filepath.Join("..", "kdumpfile", "testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

func readGz(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// FuzzOpen feeds any bytes to format detection and every reader behind
// it. Whatever opens must answer every Dump method without panicking, and
// page reads must agree with the bitmaps. Seeds: fuzzSeeds, the committed
// seeds in testdata/fuzz/FuzzOpen and, when the real-kernel corpus is
// built, small ELF, kdump and flattened files derived from each of its
// dumps (internal/fuzzseed).
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	if s := fuzzseed.Load(f); s != nil {
		for _, sd := range append(append(s.ELF, s.Kdump...), s.Flattened...) {
			f.Add(sd.Data)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := OpenReaderAt(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		defer d.Close()
		if d.PageSize() <= 0 {
			t.Fatalf("page size %d", d.PageSize())
		}
		Describe(d)
		buf := make([]byte, d.PageSize())
		n := 0
		for p, ok := d.RAM().Next(0); ok && n < 256; p, ok = d.RAM().Next(p + 1) {
			n++
			err := d.ReadPage(p, buf)
			if errors.Is(err, mem.ErrNotRAM) {
				t.Fatalf("pfn %#x: in the RAM bitmap but read as not RAM: %v", p, err)
			}
			if err == nil && !d.Stored().Test(p) {
				t.Fatalf("pfn %#x: read succeeded but the page is not stored", p)
			}
		}
		if err := d.ReadPage(d.MaxPFN(), buf); err == nil {
			t.Fatalf("read of pfn MaxPFN %#x succeeded", d.MaxPFN())
		}
	})
}

// TestOpenReaderAtFlattened: format detection used to read 16 bytes, too
// few for kdumpfile.IsFlattened (signature and type, 24 bytes), so no
// flattened stream opened through OpenReaderAt.
func TestOpenReaderAtFlattened(t *testing.T) {
	b, err := readGz(filepath.Join("..", "kdumpfile", "testdata", "lzo-d1-flat.gz"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenReaderAt(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Format() != FormatFlattenedKdmp {
		t.Errorf("format %q, want %q", d.Format(), FormatFlattenedKdmp)
	}
}

// TestTruncatedNamesOffset: a dump cut anywhere fails to open with an
// error that names a file offset (or, for too few bytes to detect a format,
// shows them), never a panic.
func TestTruncatedNamesOffset(t *testing.T) {
	seeds := fuzzSeeds(t)
	if s := fuzzseed.Load(t); s != nil {
		for _, sd := range append(append(s.ELF, s.Kdump...), s.Flattened...) {
			seeds = append(seeds, sd.Data)
		}
	}
	offset := regexp.MustCompile(`0x[0-9a-f]+|offset [0-9]+|first bytes`)
	for i, b := range seeds {
		step := max(61, len(b)/1000)
		for n := 0; n < len(b); n += step {
			d, err := OpenReaderAt(bytes.NewReader(b[:n]), int64(n))
			if err == nil {
				d.Close()
				continue
			}
			if !offset.MatchString(err.Error()) {
				t.Errorf("seed %d cut at %d: error names no offset: %v", i, n, err)
			}
		}
	}
}
