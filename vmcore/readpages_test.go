package vmcore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/mem"
)

// TestELFReadPagesMatchesReadPage: reading a run of pages at once gives
// the bytes and errors of reading them one by one, across segment ends,
// an unaligned segment, pages past p_filesz and holes.
func TestELFReadPagesMatchesReadPage(t *testing.T) {
	img := elfcore.Build(0, nil, []elfcore.Segment{
		{PAddr: 0, Data: randBytes(1, 40*4096)},
		{PAddr: 40 * 4096, Data: randBytes(2, 10*4096), MemSz: 20 * 4096},
		{PAddr: 100*4096 + 0x800, Data: randBytes(3, 8*4096)},
	})
	d, err := OpenReaderAt(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	ed := d.(*elfDump)
	for _, c := range []struct{ pfn, n mem.PFN }{
		{0, 40}, {3, 16}, {35, 10}, {38, 2}, {45, 10}, {50, 3}, {98, 4}, {100, 5}, {101, 8}, {0, 1},
	} {
		got := make([]byte, c.n*4096)
		gerr := ed.ReadPages(c.pfn, got)
		want := make([]byte, c.n*4096)
		var werr error
		for i := mem.PFN(0); i < c.n && werr == nil; i++ {
			werr = d.ReadPage(c.pfn+i, want[i*4096:(i+1)*4096])
		}
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("pfns %d+%d: ReadPages error %v, ReadPage error %v", c.pfn, c.n, gerr, werr)
		}
		for _, e := range []error{ErrNotRAM, ErrExcluded} {
			if errors.Is(werr, e) != errors.Is(gerr, e) {
				t.Fatalf("pfns %d+%d: ReadPages error %v, ReadPage error %v", c.pfn, c.n, gerr, werr)
			}
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("pfns %d+%d: bytes differ", c.pfn, c.n)
		}
	}
}
