package kdumpfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fuzzseed"
	"github.com/kdumpkit/kdumpkit/mem"
)

// fuzzPages caps the pages each exec reads, so that an input with a large
// RAM bitmap costs no more than a small one.
const fuzzPages = 64

// FuzzOpen opens a fuzzed file and reads its first pages; nothing may
// panic, and page errors must be one of the documented kinds. Seeds: a
// synthetic file, the makedumpfile fixtures in testdata, the committed
// seeds in testdata/fuzz/FuzzOpen and, when the real-kernel corpus is
// built, small files derived from each of its kdump files.
func FuzzOpen(f *testing.F) {
	f.Add(buildSynth(synthDefault(), nil))
	for _, name := range []string{"lzo-d1.gz", "zlib-d1.gz", "lzo-d0-incomplete.gz", "lzo-d1-split.1.gz"} {
		f.Add(readGz(f, name))
	}
	if s := fuzzseed.Load(f); s != nil {
		for _, sd := range s.Kdump {
			f.Add(sd.Data)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		file.VMCOREINFO()
		file.Notes()
		file.Eraseinfo()
		file.DescStats()
		dst := make([]byte, file.PageSize())
		n := 0
		for pfn, ok := file.RAM().Next(0); ok && n < fuzzPages; pfn, ok = file.RAM().Next(pfn + 1) {
			n++
			err := file.ReadPage(pfn, dst)
			if err != nil && errors.Is(err, mem.ErrNotRAM) {
				t.Fatalf("pfn %#x is in the RAM bitmap but read as not RAM: %v", pfn, err)
			}
		}
		file.ReadPage(file.MaxPFN(), dst)
		OpenSet([]*File{file})
	})
}

// splitRange sets the pfn range of the --split member b (header version
// 6, 4 KiB blocks) to [start, end).
func splitRange(b []byte, start, end uint64) {
	const sub = 4096
	binary.LittleEndian.PutUint64(b[sub+16:], start)
	binary.LittleEndian.PutUint64(b[sub+24:], end)
	binary.LittleEndian.PutUint64(b[sub+80:], start)
	binary.LittleEndian.PutUint64(b[sub+88:], end)
}

// TestOpenEmptySplitMember: makedumpfile --split gives a member an empty
// pfn range when the pages run out before it (the corpus's
// makedumpfile-split-c-d31.2 is [0x40000, 0x40000)); such a member opens
// and covers no page.
func TestOpenEmptySplitMember(t *testing.T) {
	b := readGz(t, "lzo-d1-split.2.gz")
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	max := uint64(f.MaxPFN())
	splitRange(b, max, max)
	f, err = Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("empty split member: %v", err)
	}
	dst := make([]byte, f.PageSize())
	for pfn, ok := f.Stored().Next(0); ok; pfn, ok = f.Stored().Next(pfn + 1) {
		if err := f.ReadPage(pfn, dst); err == nil {
			t.Fatalf("pfn %#x read from a member that covers no page", pfn)
		}
	}
	splitRange(b, max, max-1)
	if _, err := Open(bytes.NewReader(b), int64(len(b))); err == nil {
		t.Fatal("reversed split range: want error")
	}
}

// TestSplitMemberOutsideRange: a lone --split member must not look up
// descriptors for stored pages outside its own range (the rank below the
// range start used to wrap around and read a wrong or "lost" descriptor).
func TestSplitMemberOutsideRange(t *testing.T) {
	b := readGz(t, "lzo-d1-split.1.gz")
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := f.SubHeader()
	start, end := mem.PFN(sub.StartPFN64), mem.PFN(sub.EndPFN64)
	dst := make([]byte, f.PageSize())
	outside := 0
	for pfn, ok := f.Stored().Next(0); ok; pfn, ok = f.Stored().Next(pfn + 1) {
		err := f.ReadPage(pfn, dst)
		if pfn >= start && pfn < end {
			if err != nil {
				t.Fatalf("pfn %#x in [%#x, %#x): %v", pfn, start, end, err)
			}
			continue
		}
		outside++
		if err == nil || errors.Is(err, mem.ErrLost) {
			t.Fatalf("pfn %#x outside [%#x, %#x): err %v, want not covered", pfn, start, end, err)
		}
	}
	if outside == 0 {
		t.Fatal("fixture has no stored page outside the member's range")
	}
}
