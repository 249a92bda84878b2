package kernel_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
)

// tinyMem is a few pages of physical memory: a PGD at 0, a PUD at 0x1000
// mapping the direct map (0xffff888000000000) to physical 0 with one
// 1 GiB leaf, and the fuzzed region from 0x2000. Pages past the end do
// not exist.
type tinyMem struct{ b []byte }

const (
	tinyDirectMap = 0xffff888000000000
	tinyRegion    = 0x2000
	tinyMaxRegion = 64 << 10
)

func newTinyMem(region []byte) tinyMem {
	n := min(len(region), tinyMaxRegion)
	b := make([]byte, tinyRegion+(n+4095)&^4095)
	le := func(off int, v uint64) {
		for i := range 8 {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	le(int(tinyDirectMap>>39&511)*8, 0x1000|1)      // PGD entry -> PUD page
	le(0x1000+int(tinyDirectMap>>30&511)*8, 1|1<<7) // 1 GiB leaf at physical 0
	copy(b[tinyRegion:], region[:n])
	return tinyMem{b}
}

func (m tinyMem) PageSize() int { return 4096 }

func (m tinyMem) ReadPage(pfn mem.PFN, dst []byte) error {
	off := uint64(pfn) * 4096
	if off >= uint64(len(m.b)) {
		return fmt.Errorf("pfn %#x: %w", uint64(pfn), mem.ErrNotRAM)
	}
	copy(dst[:4096], m.b[off:])
	return nil
}

// tinyPaging is the VMCOREINFO that makes NewX86_64 use tinyMem's tables.
const tinyPaging = "OSRELEASE=6.1.0\nSYMBOL(init_top_pgt)=ffffffff80000000\nNUMBER(phys_base)=0\n"

// dmesgSeeds are the three formats built into a fuzz region.
func dmesgSeeds() [][2][]byte {
	newRegion := func() *region {
		return &region{b: make([]byte, 16<<10), va: tinyDirectMap + tinyRegion}
	}
	var seeds [][2][]byte
	r := newRegion()
	p := newPRBRing(r, 4, 9)
	for i := 0; i < 30; i++ {
		p.push(uint64(i)*1e8, uint32(i), fmt.Sprintf("record %d\n\x01\xe9", i), stFinalized, -1)
	}
	p.setClearSeq(25)
	seeds = append(seeds, [2][]byte{[]byte(p.vmcoreinfo(true).String()), r.b})

	r = newRegion()
	l := newPrintkLog(r, 256, true)
	o := l.put(160, 1000, 1, "oldest", "SUBSYSTEM=x")
	l.endMarker(o)
	o = l.put(0, 2000, 2, "wrapped", "")
	l.setIdx(160, o, 0)
	seeds = append(seeds, [2][]byte{[]byte(l.vmcoreinfo(false).String()), r.b})

	r = newRegion()
	pl := newPlainLog(r, 128, 200, "<6>hello\n<4>world\n")
	seeds = append(seeds, [2][]byte{[]byte(pl.vmcoreinfo().String()), r.b})
	return seeds
}

// FuzzReadLog reads kernel logs from fuzzed memory and VMCOREINFO:
// hostile ring indexes, lengths, sizes, offsets and wraps must give an
// error or a bounded log, never a panic or an endless walk.
func FuzzReadLog(f *testing.F) {
	for _, s := range dmesgSeeds() {
		f.Add(s[0], s[1], false)
		f.Add(s[0], s[1], true)
	}
	f.Fuzz(func(t *testing.T, info, region []byte, partial bool) {
		vi, err := kernel.ParseVMCOREINFO(append([]byte(tinyPaging), info...))
		if err != nil {
			return
		}
		m := newTinyMem(region)
		x, err := kernel.NewX86_64(vi, m)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := kernel.ReadLog(vi, x, kernel.LogOptions{Partial: partial})
		if l == nil {
			return
		}
		// The log can only hold what the memory holds.
		total := len(l.Plain)
		for _, r := range l.Records {
			total += len(r.Text)
		}
		if len(l.Plain) > len(m.b) {
			t.Fatalf("plain log of %d bytes from %d bytes of memory", len(l.Plain), len(m.b))
		}
		if len(l.Records) > 1<<20 {
			t.Fatalf("%d records from %d bytes of memory", len(l.Records), len(m.b))
		}
		var b bytes.Buffer
		if werr := l.WriteDmesg(&b, kernel.DmesgOptions{CallerID: true}); werr != nil {
			t.Fatal(werr)
		}
		// A newline in a text is followed by the indent, so lines that
		// start with "[" are exactly the records.
		if l.Format != kernel.LogPlain && len(l.Records) > 0 {
			if n := bytes.Count(b.Bytes(), []byte("\n[")) + 1; n != len(l.Records) || b.Bytes()[0] != '[' {
				t.Fatalf("%d record lines for %d records", n, len(l.Records))
			}
			if b.Len() < total {
				t.Fatalf("%d bytes of output for %d bytes of text", b.Len(), total)
			}
		}
	})
}
