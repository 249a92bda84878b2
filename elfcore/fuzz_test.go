package elfcore

import (
	"bytes"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fuzzseed"
)

// FuzzOpen parses fuzzed ELF cores. Seeds: synthetic cores, the committed
// seeds in testdata/fuzz/FuzzOpen and, when the real-kernel corpus is
// built, each of its ELF dumps (QEMU, makedumpfile -E) cut down to its
// real headers and notes and a page per PT_LOAD.
func FuzzOpen(f *testing.F) {
	f.Add(Build(0, testNotes(), []Segment{{PAddr: 0x1000, Data: make([]byte, 64)}}))
	f.Add(Build(FlagIncomplete, nil, []Segment{
		{PAddr: 0x2000, VAddr: 0xffffffff81000000, Data: []byte("text")},
		{PAddr: 0, Data: []byte("ram"), MemSz: 0x4000},
	}))
	if s := fuzzseed.Load(f); s != nil {
		for _, sd := range s.ELF {
			f.Add(sd.Data)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		// Whatever parsed must be consistent with the file it came from.
		for _, p := range file.Loads {
			if p.Off+p.FileSz > uint64(len(b)) || p.FileSz > p.MemSz {
				t.Fatalf("accepted PT_LOAD %+v outside a %d-byte file", p, len(b))
			}
			if got, _, ok := file.LoadAt(p.PAddr); p.MemSz > 0 && !ok {
				t.Fatalf("LoadAt(%#x) found nothing for %+v (got %+v)", p.PAddr, p, got)
			}
		}
		for _, n := range file.Notes {
			if n.DescOff < 0 || n.DescOff+int64(len(n.Desc)) > int64(len(b)) {
				t.Fatalf("note %q desc at %#x outside the file", n.Name, n.DescOff)
			}
		}
		file.MaxPAddr()
		CountCPUs(file.Notes)
	})
}

// FuzzParseNotes parses fuzzed PT_NOTE contents; seeds include the real
// notes (prstatus, VMCOREINFO) of the corpus's ELF dumps.
func FuzzParseNotes(f *testing.F) {
	f.Add(EncodeNotes(testNotes()))
	if s := fuzzseed.Load(f); s != nil {
		for _, sd := range s.Notes {
			f.Add(sd.Data)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		notes, _ := ParseNotes(b, 0)
		for _, n := range notes {
			if n.DescOff+int64(len(n.Desc)) > int64(len(b)) {
				t.Fatalf("desc past end")
			}
		}
	})
}
