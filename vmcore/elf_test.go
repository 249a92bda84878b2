package vmcore

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/mem"
)

func randBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// TestELFReadPage checks the page rules of makedumpfile's readpage_elf and
// bitmap construction on a core with awkward segments.
func TestELFReadPage(t *testing.T) {
	const ps = 4096
	segA := randBytes(1, 3*ps)   // pfn 0..2, whole pages
	segB := randBytes(2, ps+100) // starts mid-page at pfn 5
	segC := randBytes(3, 2*ps)   // pfn 10..11 in file, memsz to pfn 16
	notes := []elfcore.Note{{Name: "VMCOREINFO", Desc: []byte("OSRELEASE=6.1.0\nPAGESIZE=4096\n")}}
	img := elfcore.Build(0, notes, []elfcore.Segment{
		{PAddr: 0, Data: segA},
		{PAddr: 5*ps + 0x800, Data: segB},
		{PAddr: 10 * ps, Data: segC, MemSz: 6 * ps},
	})
	d, err := OpenReaderAt(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Format() != FormatELF || d.PageSize() != ps || d.MaxPFN() != 16 {
		t.Fatalf("format %s page size %d max pfn %d", d.Format(), d.PageSize(), d.MaxPFN())
	}
	page := make([]byte, ps)
	want := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		pfn  mem.PFN
		data []byte
		err  error
	}{
		{0, segA[:ps], nil},
		{2, segA[2*ps:], nil},
		{3, nil, mem.ErrNotRAM},
		// pfn 5 starts 0x800 into the page: zero head, then data.
		{5, want(make([]byte, 0x800), segB[:ps-0x800]), nil},
		// pfn 6 holds the rest of segB's first page-worth... segB ends at
		// 5*ps+0x800+ps+100 = 6*ps+0x800+100, a partial last page: not RAM.
		{6, nil, mem.ErrNotRAM},
		{10, segC[:ps], nil},
		{11, segC[ps:], nil},
		{12, nil, mem.ErrExcluded},
		{15, nil, mem.ErrExcluded},
		{16, nil, mem.ErrNotRAM},
	}
	for _, tc := range tests {
		err := d.ReadPage(tc.pfn, page)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("pfn %d: err = %v, want %v", tc.pfn, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("pfn %d: %v", tc.pfn, err)
			continue
		}
		if !bytes.Equal(page, tc.data) {
			t.Errorf("pfn %d: wrong contents", tc.pfn)
		}
	}
	if got, want := d.RAM().Count(), uint64(3+1+6); got != want {
		t.Errorf("RAM pages = %d, want %d", got, want)
	}
	if got, want := d.Stored().Count(), uint64(3+1+2); got != want {
		t.Errorf("stored pages = %d, want %d", got, want)
	}
	in, err := Describe(d)
	if err != nil {
		t.Fatal(err)
	}
	if in.Release != "6.1.0" || in.Machine != "x86_64" || !in.Complete || in.DumpLevel != -1 || in.Codecs["raw"] != 6 {
		t.Errorf("Describe = %+v", in)
	}
	if res, err := Verify(d, nil); err != nil || res.Pages != 6 || res.Lost != 0 {
		t.Errorf("Verify = %+v, %v; want 6 pages, nil", res, err)
	}
}

func TestOpenUnknownFormat(t *testing.T) {
	_, err := OpenReaderAt(bytes.NewReader([]byte("hello world, not a dump")), 23)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("unknown dump format")) {
		t.Fatalf("err = %v", err)
	}
	_, err = OpenReaderAt(bytes.NewReader(nil), 0)
	if err == nil {
		t.Fatal("empty input: want error")
	}
}
