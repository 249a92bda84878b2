package kdumpfile

import (
	"bytes"
	"encoding/binary"
	"math/rand"

	"github.com/kdumpkit/kdumpkit/mem"
)

// A synthetic x86_64 ELF core: the input makedumpfile turns into our
// golden fixtures. Its contents are a pure function of the code below, so
// tests regenerate it instead of storing it.

type testLoad struct {
	start, pages, filePages uint64 // pfns; filePages < pages gives a p_filesz < p_memsz tail
}

var testLoads = []testLoad{
	{0x0, 40, 40},
	{0x100, 64, 64},
	{0x400, 24, 16}, // the last 8 pages are "nodata": excluded even at -d 0
}

const testPageSize = 4096

// testMaxPFN is max_mapnr for testLoads.
const testMaxPFN = 0x418

// testPageData returns the contents of pfn in the synthetic core.
func testPageData(pfn uint64) []byte {
	p := make([]byte, testPageSize)
	rng := rand.New(rand.NewSource(int64(pfn)))
	switch {
	case pfn%64 == 2: // incompressible
		rng.Read(p)
	case pfn%4 == 0 || pfn%7 == 0: // zero page
	case pfn%4 == 1: // text
		words := []string{"kdump ", "vmcore ", "page ", "swapper ", "init_task ", "\n", "oops: ", "RIP: "}
		var b bytes.Buffer
		for b.Len() < testPageSize {
			b.WriteString(words[rng.Intn(len(words))])
		}
		copy(p, b.Bytes())
	default: // struct-like kernel data
		for i := 0; i+8 <= len(p); i += 8 {
			switch rng.Intn(16) {
			case 0:
				binary.LittleEndian.PutUint64(p[i:], 0xffff888000000000|uint64(rng.Intn(1<<24))<<6)
			case 1:
				binary.LittleEndian.PutUint64(p[i:], uint64(rng.Intn(256)))
			}
		}
		binary.LittleEndian.PutUint64(p, pfn) // every page unique
	}
	return p
}

// testExpect says what a reader must return for pfn of the synthetic core:
// the data, or the error class.
func testExpect(pfn uint64) ([]byte, error) {
	for _, l := range testLoads {
		if pfn >= l.start && pfn < l.start+l.pages {
			if pfn >= l.start+l.filePages {
				return nil, mem.ErrExcluded
			}
			return testPageData(pfn), nil
		}
	}
	return nil, mem.ErrNotRAM
}

func note(name string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	binary.Write(&b, le, uint32(len(name)+1))
	binary.Write(&b, le, uint32(len(desc)))
	binary.Write(&b, le, typ)
	b.WriteString(name)
	b.WriteByte(0)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	b.Write(desc)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// testVmcoreinfo is the VMCOREINFO note text of the synthetic core.
const testVmcoreinfo = "OSRELEASE=6.1.0-kdumpkit-test\nPAGESIZE=4096\nCRASHTIME=1700000000\n"

// testNotes is the PT_NOTE segment: two NT_PRSTATUS and VMCOREINFO.
func testNotes(withVmcoreinfo bool) []byte {
	var b []byte
	for cpu := 0; cpu < 2; cpu++ {
		desc := make([]byte, 336)                                 // sizeof(struct elf_prstatus) on x86_64
		binary.LittleEndian.PutUint32(desc[32:], uint32(100+cpu)) // pr_pid
		b = append(b, note("CORE", 1, desc)...)
	}
	if withVmcoreinfo {
		b = append(b, note("VMCOREINFO", 0, []byte(testVmcoreinfo))...)
	}
	return b
}

// buildTestELF returns the synthetic ELF64 core.
func buildTestELF(withVmcoreinfo bool) []byte {
	le := binary.LittleEndian
	notes := testNotes(withVmcoreinfo)
	phnum := 1 + len(testLoads)
	hdrEnd := 64 + 56*phnum
	noteOff := hdrEnd
	dataOff := (noteOff + len(notes) + testPageSize - 1) / testPageSize * testPageSize

	var b bytes.Buffer
	ident := []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	b.Write(ident)
	binary.Write(&b, le, uint16(4))     // ET_CORE
	binary.Write(&b, le, uint16(62))    // EM_X86_64
	binary.Write(&b, le, uint32(1))     // EV_CURRENT
	binary.Write(&b, le, uint64(0))     // entry
	binary.Write(&b, le, uint64(64))    // phoff
	binary.Write(&b, le, uint64(0))     // shoff
	binary.Write(&b, le, uint32(0))     // flags
	binary.Write(&b, le, uint16(64))    // ehsize
	binary.Write(&b, le, uint16(56))    // phentsize
	binary.Write(&b, le, uint16(phnum)) // phnum
	binary.Write(&b, le, uint16(0))     // shentsize
	binary.Write(&b, le, uint16(0))     // shnum
	binary.Write(&b, le, uint16(0))     // shstrndx
	phdr := func(typ, flags uint32, off, vaddr, paddr, filesz, memsz, align uint64) {
		binary.Write(&b, le, typ)
		binary.Write(&b, le, flags)
		for _, v := range []uint64{off, vaddr, paddr, filesz, memsz, align} {
			binary.Write(&b, le, v)
		}
	}
	phdr(4, 0, uint64(noteOff), 0, 0, uint64(len(notes)), uint64(len(notes)), 0) // PT_NOTE
	off := uint64(dataOff)
	for _, l := range testLoads {
		pa := l.start * testPageSize
		phdr(1, 7, off, 0xffff888000000000+pa, pa, l.filePages*testPageSize, l.pages*testPageSize, 0)
		off += l.filePages * testPageSize
	}
	b.Write(notes)
	b.Write(make([]byte, dataOff-b.Len()))
	for _, l := range testLoads {
		for pfn := l.start; pfn < l.start+l.filePages; pfn++ {
			b.Write(testPageData(pfn))
		}
	}
	return b.Bytes()
}
