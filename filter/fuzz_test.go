package filter

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// fuzzBase is a fake kernel's ELF core with room for any VMCOREINFO up to
// fuzzNoteCap bytes, and where in the file the fuzzer may rewrite memory.
type fuzzBase struct {
	img     []byte
	vi      string // the fake's own VMCOREINFO
	noteOff int    // file offset of the VMCOREINFO descriptor
	// regions are file ranges of the page tables, mem_section and
	// struct pages; the patch's offsets index their concatenation.
	regions [][2]int
	total   int
}

const (
	fuzzNoteCap  = 16 << 10
	fuzzPatchCap = 4 << 10
)

// fuzzConfigs are the fakes FuzzFilter starts from: every compound-order
// style, the pointer mem_section, 5-level paging and SME.
var fuzzConfigs = []fakekernel.Config{
	{Era: fakekernel.EraByName("3.10")},
	{Era: fakekernel.EraByName("4.14"), MemSectionSize: 2048},
	{Era: fakekernel.EraByName("6.4")},
	{Era: fakekernel.EraByName("6.7"), SMEMask: 1 << 47},
	{Era: fakekernel.EraByName("6.12"), FiveLevel: true},
	{Era: fakekernel.EraByName("7.1")},
}

var (
	fuzzMu    sync.Mutex
	fuzzBases = make([]*fuzzBase, len(fuzzConfigs))
)

func getFuzzBase(tb testing.TB, i int) *fuzzBase {
	if b := fuzzBases[i]; b != nil {
		return b
	}
	k := fakekernel.New(fuzzConfigs[i])
	marker := bytes.Repeat([]byte{'Z'}, fuzzNoteCap)
	img := k.ELFWithNotes([]elfcore.Note{{Name: elfcore.NameVMCOREINFO, Desc: marker}})
	b := &fuzzBase{img: img, vi: k.VMCOREINFO(), noteOff: bytes.Index(img, marker)}
	clear(img[b.noteOff : b.noteOff+fuzzNoteCap])
	f, err := elfcore.Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		tb.Fatal(err)
	}
	// Physical [24 MiB, 26.5 MiB): page tables, mem_section roots and
	// sections, section 4's mem_map, then the vmemmap's struct pages.
	start, end := uint64(24<<20), uint64(26<<20+512<<10)
	for _, p := range f.Loads {
		if p.PAddr <= start && end <= p.PAddr+p.FileSz {
			o := int(p.Off + start - p.PAddr)
			b.regions = append(b.regions, [2]int{o, o + int(end-start)})
			b.total += int(end - start)
		}
	}
	if b.total == 0 || b.noteOff < 0 {
		tb.Fatal("fuzz setup: regions not found")
	}
	fuzzBases[i] = b
	return b
}

// patch applies records [off:3][len:1][data:len] to the regions and
// returns what to undo.
func (b *fuzzBase) patch(p []byte) (undo []func()) {
	for len(p) >= 4 {
		off := (int(p[0]) | int(p[1])<<8 | int(p[2])<<16) % b.total
		n := min(int(p[3]), len(p)-4)
		data := p[4 : 4+n]
		p = p[4+n:]
		for _, r := range b.regions {
			if off >= r[1]-r[0] {
				off -= r[1] - r[0]
				continue
			}
			at := r[0] + off
			data = data[:min(len(data), r[1]-at)]
			saved := append([]byte(nil), b.img[at:at+len(data)]...)
			copy(b.img[at:], data)
			undo = append(undo, func() { copy(b.img[at:], saved) })
			break
		}
	}
	return undo
}

// FuzzFilter runs Exclude at level 31 over a fake kernel whose VMCOREINFO
// the fuzzer replaces and whose page tables, mem_section and struct pages
// it overwrites. Exclude may fail but must not panic, hang or keep a page
// the dump does not hold.
func FuzzFilter(f *testing.F) {
	for i := range fuzzConfigs {
		vi := getFuzzBase(f, i).vi
		f.Add(uint8(i), []byte(vi), []byte(nil))
		drop := func(key string) []byte {
			var out []string
			for _, l := range strings.Split(vi, "\n") {
				if !strings.HasPrefix(l, key) {
					out = append(out, l)
				}
			}
			return []byte(strings.Join(out, "\n"))
		}
		f.Add(uint8(i), drop("LENGTH(zone.free_area)"), []byte(nil))
		f.Add(uint8(i), []byte(strings.Replace(vi, "NUMBER(SECTION_SIZE_BITS)=22", "NUMBER(SECTION_SIZE_BITS)=13", 1)), []byte(nil))
		// Struct page patches: a buddy order of 200 and all flags set on
		// pfn 1's struct page.
		f.Add(uint8(i), drop("LENGTH(zone.free_area)"), []byte{0x40, 0x00, 0x20, 16,
			0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0})
	}
	f.Fuzz(func(t *testing.T, era uint8, vi, patch []byte) {
		if len(vi) >= fuzzNoteCap || len(patch) > fuzzPatchCap {
			return
		}
		fuzzMu.Lock()
		defer fuzzMu.Unlock()
		b := getFuzzBase(t, int(era)%len(fuzzConfigs))
		copy(b.img[b.noteOff:], vi)
		defer clear(b.img[b.noteOff : b.noteOff+fuzzNoteCap])
		for _, u := range b.patch(patch) {
			defer u()
		}
		d, err := vmcore.OpenReaderAt(bytes.NewReader(b.img), int64(len(b.img)))
		if err != nil {
			return // e.g. a PAGESIZE the ELF reader refuses
		}
		// A hang is a crash: the fuzzer keeps the input.
		watchdog := time.AfterFunc(30*time.Second, func() {
			panic(fmt.Sprintf("Exclude still running after 30s on era %d, vmcoreinfo %q", era, vi))
		})
		defer watchdog.Stop()
		p, err := Exclude(context.Background(), d, MaxLevel, Options{Workers: 1})
		if err != nil {
			return
		}
		if p.Keep.Len() > d.MaxPFN() {
			t.Fatalf("Keep covers %d pfns, the dump %d", p.Keep.Len(), d.MaxPFN())
		}
		keep, stored := byteForm(p.Keep), byteForm(d.Stored())
		var cleared uint64
		for i, k := range keep {
			if k&^stored[i] != 0 {
				t.Fatalf("Keep has pfns %#x..%#x (byte %#x) the dump does not hold", i*8, i*8+7, k&^stored[i])
			}
			cleared += uint64(bits.OnesCount8(stored[i] &^ k))
		}
		// Every page Keep dropped was in some counted range (stored bits
		// past MaxPFN count as dropped but were not classified).
		for pfn := p.MaxPFN; pfn < min(d.MaxPFN(), (p.Keep.Len()+7)&^7); pfn++ {
			if d.Stored().Test(pfn) {
				cleared--
			}
		}
		if p.Counts.Excluded() < cleared {
			t.Fatalf("Counts %+v total %d, but %d stored pages were dropped", p.Counts, p.Counts.Excluded(), cleared)
		}
	})
}

// byteForm returns the bitmap's bytes in the kdump layout.
func byteForm(m *mem.Bitmap) []byte {
	b := make([]byte, m.ByteLen())
	m.ReadAt(b, 0)
	return b
}
