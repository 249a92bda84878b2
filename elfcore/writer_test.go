package elfcore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/kdumpkit/kdumpkit/mem"
)

const testPS = 4096

// pattern builds a keep function from runs: positive n keeps n pages,
// negative n excludes -n pages, starting at pfn first.
func pattern(first mem.PFN, runs ...int) func(mem.PFN) bool {
	var set []bool
	for _, r := range runs {
		keep := r > 0
		if r < 0 {
			r = -r
		}
		for i := 0; i < r; i++ {
			set = append(set, keep)
		}
	}
	return func(pfn mem.PFN) bool {
		if pfn < first || int(pfn-first) >= len(set) {
			return false
		}
		return set[pfn-first]
	}
}

func sum(runs ...int) uint64 {
	var n uint64
	for _, r := range runs {
		n += uint64(max(r, -r))
	}
	return n
}

// seg is an expected output PT_LOAD relative to the input: start page
// offset (in bytes from the input's p_paddr), memsz, filesz, and whether
// p_offset is 0.
type seg struct {
	rel, memsz, filesz uint64
	zeroOff            bool
}

func TestSplitLoads(t *testing.T) {
	const P = 0x100000 // page-aligned input p_paddr
	ps := uint64(testPS)
	tests := []struct {
		name  string
		paddr uint64
		memsz uint64
		keep  func(mem.PFN) bool
		want  []seg
	}{
		{"all kept", P, 20 * ps, pattern(P/testPS, 20), []seg{{0, 20 * ps, 20 * ps, false}}},
		{"255 excluded in the middle are written", P, sum(10, -255, 10) * ps, pattern(P/testPS, 10, -255, 10),
			[]seg{{0, 275 * ps, 275 * ps, false}}},
		{"256 excluded in the middle split", P, sum(10, -256, 10) * ps, pattern(P/testPS, 10, -256, 10),
			[]seg{{0, 266 * ps, 10 * ps, false}, {266 * ps, 10 * ps, 10 * ps, false}}},
		{"256 excluded at the start", P, sum(-256, 10) * ps, pattern(P/testPS, -256, 10),
			[]seg{{0, 256 * ps, 0, true}, {256 * ps, 10 * ps, 10 * ps, false}}},
		{"255 excluded at the start are written", P, sum(-255, 10) * ps, pattern(P/testPS, -255, 10),
			[]seg{{0, 265 * ps, 265 * ps, false}}},
		{"few excluded at the end", P, sum(10, -5) * ps, pattern(P/testPS, 10, -5),
			[]seg{{0, 15 * ps, 10 * ps, false}}},
		{"many excluded at the end", P, sum(10, -300) * ps, pattern(P/testPS, 10, -300),
			[]seg{{0, 310 * ps, 10 * ps, false}}},
		{"all excluded keeps its running offset", P, 300 * ps, pattern(P / testPS),
			[]seg{{0, 300 * ps, 0, false}}},
		{"two splits", P, sum(1, -256, 1, -1000, 2) * ps, pattern(P/testPS, 1, -256, 1, -1000, 2),
			[]seg{{0, 257 * ps, ps, false}, {257 * ps, 1001 * ps, ps, false}, {1258 * ps, 2 * ps, 2 * ps, false}}},
		// Input [P+0x800, P+0x800+0x800+3 pages+0x400): a half head page
		// (always written), pfns P/ps+1..+3, a 0x400 tail in pfn P/ps+4.
		{"partial head and kept tail", P + 0x800, 0x800 + 3*ps + 0x400, pattern(P/testPS+1, 4),
			[]seg{{0, 0x800 + 3*ps + 0x400, 0x800 + 3*ps + 0x400, false}}},
		{"partial head and excluded tail", P + 0x800, 0x800 + 3*ps + 0x400, pattern(P/testPS+1, 3),
			[]seg{{0, 0x800 + 3*ps + 0x400, 0x800 + 3*ps, false}}},
		{"partial head, split, excluded partial tail", P + 0x800, 0x800 + 300*ps + 0x400, pattern(P/testPS+1, 1, -298, 1),
			[]seg{{0, 0x800 + 299*ps, 0x800 + ps, false}, {0x800 + 299*ps, ps + 0x400, ps, false}}},
		// makedumpfile would count a whole page for the tail here.
		{"partial head, split, kept partial tail", P + 0x800, 0x800 + 300*ps + 0x400, pattern(P/testPS+1, 1, -299, 1),
			[]seg{{0, 0x800 + 300*ps, 0x800 + ps, false}, {0x800 + 300*ps, 0x400, 0x400, false}}},
		{"within one page", P + 0x100, 0x200, pattern(0), []seg{{0, 0x200, 0x200, false}}},
		{"empty", P, 0, pattern(0), []seg{{0, 0, 0, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const srcOff, vaddr = 0x5000, 0xffff888000000000
			in := Prog{Type: PTLoad, Flags: 7, Off: srcOff, PAddr: tt.paddr, VAddr: vaddr + tt.paddr, FileSz: tt.memsz, MemSz: tt.memsz, Align: 0x1000}
			got, fixed := splitLoads([]Prog{in}, ps, tt.keep)
			if len(got) != len(tt.want) {
				t.Fatalf("%d segments, want %d: %+v", len(got), len(tt.want), got)
			}
			var off uint64
			for i, w := range tt.want {
				g := got[i]
				wantOff := off
				if w.zeroOff {
					wantOff = 0
				}
				if g.PAddr != tt.paddr+w.rel || g.VAddr != vaddr+tt.paddr+w.rel || g.MemSz != w.memsz || g.FileSz != w.filesz ||
					g.Off != wantOff || fixed[i] != w.zeroOff || g.Flags != 7 || g.Align != 0x1000 || g.Type != PTLoad {
					t.Errorf("segment %d: %+v fixed=%v, want paddr %#x memsz %#x filesz %#x off %#x", i, g, fixed[i],
						tt.paddr+w.rel, w.memsz, w.filesz, wantOff)
				}
				if g.SrcOff != srcOff+w.rel || g.SrcLen != w.filesz {
					t.Errorf("segment %d: source [%#x +%#x), want [%#x +%#x)", i, g.SrcOff, g.SrcLen, srcOff+w.rel, w.filesz)
				}
				off += g.FileSz
			}
		})
	}
}

// TestSplitSrcLen: an input segment with p_filesz < p_memsz supplies only
// what it has; the rest of a written run is zeros.
func TestSplitSrcLen(t *testing.T) {
	in := Prog{Type: PTLoad, Off: 0x1000, PAddr: 0, FileSz: 5 * testPS, MemSz: 20 * testPS}
	got, _ := splitLoads([]Prog{in}, testPS, pattern(0, 4, -10, 6))
	if len(got) != 1 || got[0].FileSz != 20*testPS || got[0].SrcLen != 5*testPS {
		t.Fatalf("got %+v", got)
	}
}

// memSrc is an input "file" whose byte at offset o is a function of o.
type memSrc struct{}

func (memSrc) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		o := off + int64(i)
		p[i] = byte(o ^ o>>8 ^ o>>16)
	}
	return len(p), nil
}

// wbuf is an in-memory io.WriterAt, optionally failing past limit bytes.
type wbuf struct {
	b     []byte
	limit int64
}

var errFull = errors.New("no space left on device")

func (w *wbuf) WriteAt(p []byte, off int64) (int, error) {
	n := len(p)
	var err error
	if w.limit > 0 && off+int64(n) > w.limit {
		n = int(max(0, w.limit-off))
		err = errFull
	}
	if end := int(off) + n; end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	copy(w.b[off:], p[:n])
	return n, err
}

func testEhdr(shoff uint64) [EhdrSize]byte {
	var h [EhdrSize]byte
	copy(h[:], []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	le := binary.LittleEndian
	le.PutUint16(h[16:], ETCore)
	le.PutUint16(h[18:], EMX86_64)
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], 0x1234) // a wrong e_phoff must not survive
	le.PutUint64(h[40:], shoff)
	le.PutUint16(h[52:], EhdrSize)
	le.PutUint16(h[54:], PhdrSize)
	return h
}

// TestLayoutWrite: headers, notes and data land where the layout says,
// the file parses, and the streaming and in-place writers agree.
func TestLayoutWrite(t *testing.T) {
	notes := EncodeNotes([]Note{{Name: "VMCOREINFO", Desc: []byte("PAGESIZE=4096\n")}})
	loads := []Prog{
		{Type: PTLoad, Off: 0x10000, PAddr: 0, VAddr: 0, FileSz: 600 * testPS, MemSz: 600 * testPS},
		{Type: PTLoad, Off: 0x10000 + 600*testPS, PAddr: 0x1000000 + 0x800, FileSz: 10*testPS - 0x800, MemSz: 10*testPS - 0x800},
	}
	keep := pattern(0, 5, -300, 5, -290)
	note := Prog{Type: PTNote, Off: 0x40, FileSz: 99, MemSz: 0x77}
	l, err := NewLayout(testEhdr(0x999), note, notes, loads, testPS, keep)
	if err != nil {
		t.Fatal(err)
	}
	if l.Phnum() != 4 || l.ExtNumber() {
		t.Fatalf("phnum %d ext %v", l.Phnum(), l.ExtNumber())
	}
	if l.Note.Off != EhdrSize+4*PhdrSize || l.Note.FileSz != uint64(len(notes)) || l.Note.MemSz != 0x77 {
		t.Errorf("note %+v", l.Note)
	}
	if l.Loads[0].Off != l.DataOff() || l.Loads[1].Off != l.DataOff()+5*testPS || l.Loads[2].Off != l.DataOff()+10*testPS {
		t.Errorf("offsets %#x %#x %#x, data at %#x", l.Loads[0].Off, l.Loads[1].Off, l.Loads[2].Off, l.DataOff())
	}
	var w wbuf
	if err := l.WriteAt(context.Background(), &w, memSrc{}); err != nil {
		t.Fatal(err)
	}
	if uint64(len(w.b)) != l.Size() {
		t.Errorf("wrote %d bytes, layout says %d", len(w.b), l.Size())
	}
	var s bytes.Buffer
	n, err := l.WriteTo(context.Background(), &s, memSrc{})
	if err != nil || n != int64(s.Len()) || !bytes.Equal(s.Bytes(), w.b) {
		t.Fatalf("WriteTo: %d bytes, err %v; equal to WriteAt: %v", n, err, bytes.Equal(s.Bytes(), w.b))
	}
	if got := l.Encode(); !bytes.Equal(got, w.b[:len(got)]) {
		t.Error("Encode differs from the written headers")
	}
	f, err := Open(bytes.NewReader(w.b), int64(len(w.b)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Phoff != EhdrSize || f.Header.Shoff != 0 || f.Header.Phnum != 4 {
		t.Errorf("header %+v", f.Header)
	}
	if !bytes.Equal(f.NoteData, notes) {
		t.Error("notes differ")
	}
	for i, ld := range l.Loads {
		if f.Progs[i+1] != ld.Prog {
			t.Errorf("phdr %d: %+v, want %+v", i+1, f.Progs[i+1], ld.Prog)
		}
		want := make([]byte, ld.FileSz)
		memSrc{}.ReadAt(want, int64(ld.SrcOff))
		if !bytes.Equal(w.b[ld.Off:ld.Off+ld.FileSz], want) {
			t.Errorf("segment %d data differs", i)
		}
	}
}

// TestLayoutExtendedNumbering: 65534 PT_LOADs plus the PT_NOTE make
// 65535 = PN_XNUM program headers, which need section header 0.
func TestLayoutExtendedNumbering(t *testing.T) {
	for _, nseg := range []int{PNXNum - 2, PNXNum - 1} {
		t.Run(fmt.Sprint(nseg), func(t *testing.T) {
			// Page size 512 keeps the file small: one kept page, then 256
			// excluded, nseg times, in one input segment.
			const ps = 512
			runs := make([]int, 0, 2*nseg)
			for i := 0; i < nseg; i++ {
				runs = append(runs, 1, -MinExcludedRun)
			}
			in := Prog{Type: PTLoad, PAddr: 0, FileSz: sum(runs...) * ps, MemSz: sum(runs...) * ps}
			notes := EncodeNotes([]Note{{Name: "CORE", Type: NTPRStatus, Desc: make([]byte, 8)}})
			l, err := NewLayout(testEhdr(0), Prog{Type: PTNote}, notes, []Prog{in}, ps, pattern(0, runs...))
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Loads) != nseg {
				t.Fatalf("%d loads, want %d", len(l.Loads), nseg)
			}
			var w wbuf
			if err := l.WriteAt(context.Background(), &w, memSrc{}); err != nil {
				t.Fatal(err)
			}
			le := binary.LittleEndian
			ext := nseg+1 >= PNXNum
			phnum := le.Uint16(w.b[56:])
			if ext != (phnum == PNXNum) || (!ext && int(phnum) != nseg+1) {
				t.Fatalf("e_phnum %#x for %d headers", phnum, nseg+1)
			}
			if ext {
				shoff := le.Uint64(w.b[40:])
				if shoff != EhdrSize+uint64(nseg+1)*PhdrSize || le.Uint16(w.b[58:]) != ShdrSize || le.Uint16(w.b[60:]) != 1 || le.Uint16(w.b[62:]) != 0 {
					t.Fatalf("e_shoff %#x e_shentsize %d e_shnum %d e_shstrndx %d", shoff, le.Uint16(w.b[58:]), le.Uint16(w.b[60:]), le.Uint16(w.b[62:]))
				}
				sh := w.b[shoff : shoff+ShdrSize]
				if le.Uint32(sh[4:]) != 0 || le.Uint64(sh[32:]) != 1 || le.Uint32(sh[44:]) != uint32(nseg+1) {
					t.Fatalf("section header 0: % x", sh)
				}
				if l.Note.Off != shoff+ShdrSize {
					t.Fatalf("notes at %#x, want right after section header 0 at %#x", l.Note.Off, shoff)
				}
			}
			f, err := Open(bytes.NewReader(w.b), int64(len(w.b)))
			if err != nil {
				t.Fatal(err)
			}
			if f.Header.Phnum != nseg+1 || f.Header.ExtNumber != ext || len(f.Loads) != nseg {
				t.Fatalf("read back %d headers (ext %v), %d loads", f.Header.Phnum, f.Header.ExtNumber, len(f.Loads))
			}
			last := f.Loads[nseg-1]
			if last.PAddr != uint64(nseg-1)*(MinExcludedRun+1)*ps || last.FileSz != ps || last.MemSz != (MinExcludedRun+1)*ps {
				t.Fatalf("last load %+v", last)
			}
		})
	}
}

// TestLayoutSectionHeadersDropped: an input with section headers (and
// an odd e_phoff) gets a clean header; e_flags and the ident survive.
func TestLayoutSectionHeadersDropped(t *testing.T) {
	h := testEhdr(0x5000)
	le := binary.LittleEndian
	le.PutUint16(h[58:], ShdrSize)
	le.PutUint16(h[60:], 3)
	le.PutUint16(h[62:], 2)
	le.PutUint32(h[48:], 0x80)
	h[7] = 3 // EI_OSABI
	l, err := NewLayout(h, Prog{Type: PTNote}, nil, nil, testPS, pattern(0))
	if err != nil {
		t.Fatal(err)
	}
	b := l.Encode()
	if le.Uint64(b[32:]) != EhdrSize || le.Uint64(b[40:]) != 0 || le.Uint16(b[58:]) != 0 || le.Uint16(b[60:]) != 0 || le.Uint16(b[62:]) != 0 {
		t.Errorf("header % x", b[:EhdrSize])
	}
	if le.Uint32(b[48:]) != 0x80 || b[7] != 3 || le.Uint16(b[56:]) != 1 {
		t.Errorf("flags %#x osabi %d phnum %d", le.Uint32(b[48:]), b[7], le.Uint16(b[56:]))
	}
}

// TestLayoutIncomplete: a disk that fills up in the middle of the data
// leaves a file marked incomplete whose headers only claim what was
// written, and an error wrapping mem.ErrLost.
func TestLayoutIncomplete(t *testing.T) {
	loads := []Prog{
		{Type: PTLoad, PAddr: 0, FileSz: 10 * testPS, MemSz: 10 * testPS},
		{Type: PTLoad, PAddr: 0x100000, FileSz: 10 * testPS, MemSz: 10 * testPS},
	}
	l, err := NewLayout(testEhdr(0), Prog{Type: PTNote}, nil, loads, testPS, func(mem.PFN) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	// Room for the headers and 3.5 pages of data.
	w := wbuf{limit: int64(l.DataOff()) + 3*testPS + testPS/2}
	err = l.WriteAt(context.Background(), &w, memSrc{})
	if !errors.Is(err, mem.ErrLost) || !errors.Is(err, errFull) {
		t.Fatalf("err = %v, want ErrLost and the write error", err)
	}
	f, err := Open(bytes.NewReader(w.b), int64(len(w.b)))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Incomplete() {
		t.Error("not marked incomplete")
	}
	if f.Loads[0].FileSz != 3*testPS || f.Loads[0].MemSz != 10*testPS || f.Loads[1].FileSz != 0 || f.Loads[1].Off != 0 {
		t.Errorf("loads %+v", f.Loads)
	}
	// Failing inside the headers leaves nothing to mark.
	w = wbuf{limit: 10}
	if err := l.WriteAt(context.Background(), &w, memSrc{}); !errors.Is(err, errFull) || errors.Is(err, mem.ErrLost) {
		t.Errorf("header failure: %v", err)
	}
}

// TestLayoutCancel: a cancelled context stops the copy.
func TestLayoutCancel(t *testing.T) {
	loads := []Prog{{Type: PTLoad, FileSz: 4 * copyChunk, MemSz: 4 * copyChunk}}
	l, err := NewLayout(testEhdr(0), Prog{Type: PTNote}, nil, loads, testPS, func(mem.PFN) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.WriteTo(ctx, io.Discard, memSrc{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewLayoutBadPageSize(t *testing.T) {
	if _, err := NewLayout(testEhdr(0), Prog{}, nil, nil, 3000, pattern(0)); err == nil {
		t.Fatal("no error for page size 3000")
	}
}
