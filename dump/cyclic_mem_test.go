package dump

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// zeroTail is an io.ReaderAt of b followed by zeros: a core whose RAM
// is mostly zero pages without storing them.
type zeroTail struct{ b []byte }

func (z zeroTail) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(z.b)) {
		n = copy(p, z.b[off:])
	}
	clear(p[n:])
	return len(p), nil
}

// denseDump builds a dump of a machine of chunks×128 MiB whose every
// chunk of the keep map at -d 16 or above mixes kept and excluded pages:
// the fake kernel's 32 MiB, then sections of 4 MiB up to the end, whose
// struct pages all alias the fake's vmemmap leaf (so the struct pages of
// a large machine cost 2 MiB), where every even pfn of sections 8 to 31
// is a free page of order 0. RAM past the fake's is zeros generated on
// read. The caller closes it.
func denseDump(t testing.TB, chunks int) vmcore.Dump {
	return denseDumpWith(t, chunks, denseOptions{})
}

// denseOptions vary denseDump for the edge cases of windows.
type denseOptions struct {
	// SectionBits, if set, is NUMBER(SECTION_SIZE_BITS) instead of the
	// fake's 22 (with 28, a section is two chunks, so windows of one
	// chunk end inside sections). Every section is then in the vmemmap.
	SectionBits int
	// BigOrder, if set, makes pfn 8×1024+1 (and its aliases, one per
	// chunk) the head of a free block of that order, LENGTH(zone.free_area)
	// being raised to allow it: a run across several windows.
	BigOrder uint64
	// BigPFN, if set, is where that block starts instead (in the
	// template sections 8 to 31, so it repeats in every chunk).
	BigPFN uint64
}

func denseDumpWith(t testing.TB, chunks int, opt denseOptions) vmcore.Dump {
	t.Helper()
	e := fakekernel.EraByName("6.1")
	k := fakekernel.New(fakekernel.Config{Era: e})
	const spSize = fakekernel.StructPageSize
	pps := uint64(fakekernel.PagesPerSection)
	totalPFNs := uint64(chunks) * mem.ChunkPFNs
	for pfn := 8 * pps; pfn < 32*pps; pfn += 2 {
		k.SetPage(pfn, fakekernel.Page{Mapcount: e.Buddy})
	}
	if opt.BigOrder > 0 {
		k.Set("LENGTH(zone.free_area)", "40")
		head := opt.BigPFN
		if head == 0 {
			head = 8*pps + 1
		}
		k.SetPage(head, fakekernel.Page{Mapcount: e.Buddy, Private: opt.BigOrder})
	}
	first := uint64(8) // first section to add
	if opt.SectionBits > 0 {
		k.Set("NUMBER(SECTION_SIZE_BITS)", fmt.Sprint(opt.SectionBits))
		k.Set("LENGTH(mem_section)", "1024") // the roots of 2^(46-28) sections
		pps = 1 << (opt.SectionBits - 12)
		first = 0
	}
	nsec := totalPFNs / pps
	leaf, ok := k.VtoP(k.Vmemmap)
	if !ok {
		t.Fatal("fake vmemmap not mapped")
	}
	for va := k.Vmemmap + 2<<20; va < k.Vmemmap+totalPFNs*spSize; va += 2 << 20 {
		k.Map(va, leaf, 2<<20)
	}
	if e.PointerMemSection {
		t.Fatal("era with a mem_section pointer")
	}
	roots := k.MemSection - k.PageOffset
	const perRoot = fakekernel.PageSize / 16 // SIZE(mem_section) 16
	free := uint64(20 << 20)                 // RAM pages of section 5 whose contents nothing reads
	for s := first; s < nsec; s++ {
		ri := s / perRoot
		root := k.U64(roots + ri*8)
		if root == 0 {
			root = k.PageOffset + free
			free += fakekernel.PageSize
			k.PutU64(roots+ri*8, root)
		}
		// present, has a mem_map, online, early: as the fake's own
		k.PutU64(root-k.PageOffset+s%perRoot*16, k.Vmemmap|0xf)
	}
	// init_uts_ns, which the kdump header copies, on two pages of its own.
	vi, err := kernel.ParseVMCOREINFO([]byte(k.VMCOREINFO()))
	if err != nil {
		t.Fatal(err)
	}
	if uts, ok := vi.Symbol("init_uts_ns"); ok {
		page := uts &^ (fakekernel.PageSize - 1)
		for i := uint64(0); i < 2; i++ {
			k.Map(page+i*fakekernel.PageSize, 21<<20+i*fakekernel.PageSize, fakekernel.PageSize)
		}
		off, _ := vi.Offset("uts_namespace.name")
		copy(k.Phys[21<<20+uts-page+uint64(off):], "Linux")
	}
	var segs []elfcore.Segment
	for _, l := range fakekernel.Loads {
		segs = append(segs, elfcore.Segment{PAddr: l.Start, VAddr: k.PageOffset + l.Start,
			Data: k.Phys[l.Start:l.FileEnd], MemSz: l.End - l.Start})
	}
	const top = fakekernel.PhysSize
	span := totalPFNs*fakekernel.PageSize - top
	segs = append(segs, elfcore.Segment{PAddr: top, VAddr: k.PageOffset + top, MemSz: span})
	img := elfcore.Build(0, []elfcore.Note{{Name: elfcore.NameVMCOREINFO, Desc: []byte(k.VMCOREINFO())}}, segs)
	// The last PT_LOAD holds its whole span: zeros past the image.
	le := binary.LittleEndian
	phoff, phnum := le.Uint64(img[32:]), uint64(le.Uint16(img[56:]))
	ph := img[phoff+(phnum-1)*56:]
	if le.Uint64(ph[24:]) != top {
		t.Fatalf("last program header is at %#x, want %#x", le.Uint64(ph[24:]), top)
	}
	le.PutUint64(ph[32:], span)
	size := int64(le.Uint64(ph[8:]) + span)
	d, err := vmcore.OpenReaderAt(zeroTail{img}, size)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestCyclicMemoryBound: on synthetic machines of 2 GiB and 8 GiB whose
// every 128 MiB chunk mixes kept and free pages, the one-pass keep map
// grows with the machine (4 KiB per chunk), while a dump under a budget
// of four chunks goes cyclic by itself and holds one window's keep map
// at a time: at most the budget plus the window's tables, at both sizes,
// and the live heap while windows are written grows by little more than
// the per-chunk tables (a few bytes per 128 MiB) from one size to the
// other. The cyclic dump is byte for byte the one-pass dump.
func TestCyclicMemoryBound(t *testing.T) {
	if raceEnabled {
		t.Skip("heap sizes are meaningless under the race detector")
	}
	const budget = 16 << 10 // four chunks
	type result struct {
		oneFP, winFP int64
		heap         uint64
		windows      int
	}
	run := func(chunks int) result {
		d := denseDump(t, chunks)
		defer d.Close() // not at cleanup: the next size's heap must not hold it
		ctx := context.Background()
		one, err := filter.Exclude(ctx, d, filter.MaxLevel, filter.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		if one.MaxPFN != mem.PFN(chunks)*mem.ChunkPFNs {
			t.Fatalf("%d chunks: MaxPFN %#x", chunks, one.MaxPFN)
		}
		if got := one.Keep.Private(); got != chunks {
			t.Fatalf("%d chunks: the one-pass keep map has %d mixed chunks, want all", chunks, got)
		}
		r := result{oneFP: one.Keep.Footprint()}
		dir := t.TempDir()
		ref := filepath.Join(dir, "one")
		writeWith(t, d, one, codec.LZO, ref, Options{Workers: 1})
		one = nil

		cyc, err := filter.Exclude(ctx, d, filter.MaxLevel, filter.Options{Workers: 1, Budget: budget})
		if err != nil {
			t.Fatal(err)
		}
		if cyc.Cyclic == nil {
			t.Fatalf("%d chunks: budget %d: plan is not cyclic", chunks, budget)
		}
		r.windows = cyc.Cyclic.Windows()
		testWindowHook = func(w filter.Window) {
			r.winFP = max(r.winFP, w.Keep.Footprint())
			r.heap = max(r.heap, liveHeap())
		}
		defer func() { testWindowHook = nil }()
		name := filepath.Join(dir, "cyclic")
		writeWith(t, d, cyc, codec.LZO, name, Options{Workers: 1})
		sameFiles(t, name, ref)
		return r
	}
	small, large := run(16), run(64)
	t.Logf("2 GiB: one-pass keep map %d KiB; cyclic: %d windows, largest %d KiB, live heap at most %d KiB",
		small.oneFP>>10, small.windows, small.winFP>>10, small.heap>>10)
	t.Logf("8 GiB: one-pass keep map %d KiB; cyclic: %d windows, largest %d KiB, live heap at most %d KiB",
		large.oneFP>>10, large.windows, large.winFP>>10, large.heap>>10)
	// A window of four chunks: its bits, chunk table and rank table.
	bound := int64(budget + 4*(8+24))
	for _, r := range []result{small, large} {
		if r.winFP > bound || r.winFP == 0 {
			t.Errorf("a window holds %d bytes, want 1 to %d", r.winFP, bound)
		}
	}
	if large.oneFP < 3*small.oneFP {
		t.Errorf("one-pass keep map: %d bytes at 8 GiB, %d at 2 GiB: should grow with the machine", large.oneFP, small.oneFP)
	}
	// 48 more chunks cost the input's RAM and stored maps and the
	// plan's counts a few dozen bytes each; the one-pass keep map would
	// grow by 192 KiB.
	if grow := int64(large.heap) - int64(small.heap); grow > 64<<10 {
		t.Errorf("live heap while writing windows grew by %d bytes from 2 GiB to 8 GiB", grow)
	}
}

// TestCyclicEdges: the cyclic plan equals the one pass, window by window,
// and its dump is byte for byte the one-pass dump, where windows are
// awkward: a free block of order 17 (four chunks) starting in every chunk,
// so runs reach across several windows and overlap; sections of two
// chunks, so windows of one or three chunks end inside sections (and the
// order-17 runs skip past window ends inside a section); a machine that
// is not a whole number of windows; a budget below one chunk.
func TestCyclicEdges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks int
		opt    denseOptions
		budget int64
	}{
		{"order17", 12, denseOptions{BigOrder: 17}, 4 << 10},
		{"order17-windows3", 12, denseOptions{BigOrder: 17}, 12 << 10},
		{"sections2chunks", 10, denseOptions{SectionBits: 28}, 4 << 10},
		{"sections2chunks-order17-windows3", 10, denseOptions{SectionBits: 28, BigOrder: 17}, 12 << 10},
		{"sections2chunks-order17-budget1", 10, denseOptions{SectionBits: 28, BigOrder: 17}, 1},
		{"budget-below-chunk", 5, denseOptions{}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := denseDumpWith(t, tc.chunks, tc.opt)
			defer d.Close()
			ctx := context.Background()
			one, err := filter.Exclude(ctx, d, filter.MaxLevel, filter.Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			cyc, err := filter.Exclude(ctx, d, filter.MaxLevel, filter.Options{Workers: 2, Budget: tc.budget, ForceCyclic: true})
			if err != nil {
				t.Fatal(err)
			}
			if cyc.Cyclic == nil {
				t.Fatal("plan is not cyclic")
			}
			if cyc.Counts != one.Counts || cyc.Kept() != one.Kept() {
				t.Fatalf("cyclic counts %+v (%d kept)\none pass      %+v (%d kept)", cyc.Counts, cyc.Kept(), one.Counts, one.Kept())
			}
			if tc.opt.BigOrder > 0 && one.Counts.Free < uint64(tc.chunks-1)<<tc.opt.BigOrder/2 {
				t.Fatalf("free pages %d: the order-%d blocks were not excluded", one.Counts.Free, tc.opt.BigOrder)
			}
			it := cyc.Cyclic.Iter()
			n := 0
			for {
				w, ok, err := it.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				n++
				if !w.Keep.Equal(one.Keep.Slice(w.Lo, w.Hi)) {
					t.Fatalf("window [%#x, %#x) differs from the one pass", w.Lo, w.Hi)
				}
			}
			want := (uint64(one.MaxPFN) + uint64(cyc.Cyclic.Window) - 1) / uint64(cyc.Cyclic.Window)
			if uint64(n) != want || cyc.Cyclic.Window%mem.ChunkPFNs != 0 || cyc.Cyclic.Window == 0 {
				t.Fatalf("%d windows of %#x pfns over %#x pfns", n, cyc.Cyclic.Window, one.MaxPFN)
			}
			t.Logf("%d windows of %#x pfns; %d free pages", n, cyc.Cyclic.Window, one.Counts.Free)
			dir := t.TempDir()
			a, b := filepath.Join(dir, "one"), filepath.Join(dir, "cyclic")
			writeWith(t, d, one, codec.LZO, a, Options{Workers: 2})
			writeWith(t, d, cyc, codec.LZO, b, Options{Workers: 1})
			sameFiles(t, b, a)
		})
	}
}

// FuzzCyclicWindows: for any machine size, section size, free block and
// window size, the windows of the cyclic plan are the one-pass plan.
func FuzzCyclicWindows(f *testing.F) {
	f.Add(uint8(6), false, uint8(17), uint16(1), uint8(1))
	f.Add(uint8(5), true, uint8(16), uint16(7000), uint8(3))
	f.Add(uint8(3), true, uint8(0), uint16(0), uint8(2))
	f.Fuzz(func(t *testing.T, chunks uint8, bigSections bool, order uint8, at uint16, window uint8) {
		n := 1 + int(chunks)%8
		opt := denseOptions{BigOrder: uint64(order) % 20}
		pps := uint64(fakekernel.PagesPerSection)
		opt.BigPFN = 8*pps + uint64(at)%(24*pps)
		if bigSections {
			opt.SectionBits = 28
		}
		d := denseDumpWith(t, n, opt)
		defer d.Close()
		ctx := context.Background()
		one, err := filter.Exclude(ctx, d, filter.MaxLevel, filter.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		budget := int64(1+int(window)%4) * mem.ChunkPFNs / 8
		cyc, err := filter.Exclude(ctx, d, filter.MaxLevel, filter.Options{Workers: 2, Budget: budget, ForceCyclic: true})
		if err != nil {
			t.Fatal(err)
		}
		if cyc.Counts != one.Counts || cyc.Kept() != one.Kept() {
			t.Fatalf("cyclic counts %+v, one pass %+v", cyc.Counts, one.Counts)
		}
		it := cyc.Cyclic.Iter()
		end := mem.PFN(0)
		for {
			w, ok, err := it.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if w.Lo != end || !w.Keep.Equal(one.Keep.Slice(w.Lo, w.Hi)) {
				t.Fatalf("window [%#x, %#x) after %#x differs from the one pass", w.Lo, w.Hi, end)
			}
			end = w.Hi
		}
		if end != one.MaxPFN {
			t.Fatalf("windows end at %#x, MaxPFN %#x", end, one.MaxPFN)
		}
	})
}
