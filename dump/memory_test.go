package dump

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// sparseDumpAlloc opens an ELF core describing span bytes of RAM, of
// which the first 4 MiB are in the file (the rest lies past p_filesz),
// plans it at -d 1 and writes it as an LZO kdump file with one worker.
// It returns the bytes allocated from the open to the end of the write
// (an upper bound on the heap the dump needed) and the plan.
func sparseDumpAlloc(t *testing.T, span uint64) (uint64, *filter.Plan) {
	t.Helper()
	const stored = 1024
	img := elfcore.Build(0, []elfcore.Note{{Name: elfcore.NameCore, Type: elfcore.NTPRStatus, Desc: make([]byte, 16)}},
		[]elfcore.Segment{{PAddr: 0, Data: mixedPages(stored, 7), MemSz: span}})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	src, err := vmcore.OpenReaderAt(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := filter.Exclude(context.Background(), src, filter.ExcludeZero, filter.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out discardWriterAt
	if err := WriteKdumpWith(context.Background(), src, p, codec.LZO, &out, Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got, want := p.Keep.Count(), uint64(stored); got != want {
		t.Fatalf("span %#x: plan keeps %d pages, want the %d stored", span, got, want)
	}
	bitmaps := 2 * int64(span/4096/8) // the 1st and 2nd bitmap in the file
	if out.n < bitmaps {
		t.Fatalf("span %#x: wrote %d bytes, less than the bitmaps' %d", span, out.n, bitmaps)
	}
	return after.TotalAlloc - before.TotalAlloc, p
}

// TestSparseMachineMemory: the memory a dump needs does not grow with the
// size of the machine when the extra memory is not in the dump. A core
// describing 1 TiB (4 MiB stored) allocates, over the whole run, less
// than one flat bitmap of 1 TiB (32 MiB), and within 2 MiB of what the
// same core describing 1 GiB allocates: only the bitmaps' chunk and rank
// tables grow (64 KiB and 192 KiB per TiB for each bitmap).
func TestSparseMachineMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation sizes are meaningless under the race detector")
	}
	small, _ := sparseDumpAlloc(t, 1<<30)
	large, p := sparseDumpAlloc(t, 1<<40)
	t.Logf("allocated: %.1f MiB for a core describing 1 GiB, %.1f MiB for 1 TiB; keep map %d KiB",
		float64(small)/(1<<20), float64(large)/(1<<20), p.Keep.Footprint()>>10)
	if large > 16<<20 {
		t.Errorf("1 TiB core: %d bytes allocated, want at most 16 MiB (a flat bitmap alone is 32 MiB)", large)
	}
	if large > small+2<<20 {
		t.Errorf("1 TiB core allocated %d bytes, the 1 GiB one %d: grows with the machine", large, small)
	}
	if fp := p.Keep.Footprint(); fp > 1<<20 {
		t.Errorf("keep map of the 1 TiB core holds %d bytes", fp)
	}
	if p.MaxPFN != mem.PFN(1<<40/4096) {
		t.Errorf("MaxPFN %#x, want %#x", uint64(p.MaxPFN), 1<<40/4096)
	}
}
