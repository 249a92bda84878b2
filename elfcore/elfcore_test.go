package elfcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func testNotes() []Note {
	return []Note{
		{Name: NameCore, Type: NTPRStatus, Desc: make([]byte, 336)},
		{Name: NameCore, Type: NTPRStatus, Desc: make([]byte, 336)},
		{Name: NameVMCOREINFO, Type: 0, Desc: []byte("OSRELEASE=6.1.0-test\nPAGESIZE=4096\n")},
	}
}

func TestOpenRoundTrip(t *testing.T) {
	segs := []Segment{
		{PAddr: 0x100000, Data: bytes.Repeat([]byte{1}, 0x2000)},
		{PAddr: 0x0, Data: bytes.Repeat([]byte{2}, 0x1000), MemSz: 0x3000}, // unsorted, filesz < memsz
	}
	img := Build(0, testNotes(), segs)
	f, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Loads) != 2 || len(f.Notes) != 3 {
		t.Fatalf("got %d loads, %d notes; want 2, 3", len(f.Loads), len(f.Notes))
	}
	if got := CountCPUs(f.Notes); got != 2 {
		t.Errorf("CountCPUs = %d, want 2", got)
	}
	vi := VMCOREINFO(f.Notes)
	if !strings.HasPrefix(string(vi), "OSRELEASE=6.1.0-test") {
		t.Errorf("VMCOREINFO = %q", vi)
	}
	// DescOff must point at the descriptor bytes in the file.
	n, _ := Find(f.Notes, NameVMCOREINFO, 0)
	if !bytes.Equal(img[n.DescOff:n.DescOff+int64(len(n.Desc))], n.Desc) {
		t.Error("DescOff does not point at the VMCOREINFO descriptor")
	}
	if f.MaxPAddr() != 0x102000 {
		t.Errorf("MaxPAddr = %#x, want 0x102000", f.MaxPAddr())
	}
	for _, c := range []struct {
		addr  uint64
		paddr uint64
		end   uint64
		ok    bool
	}{
		{0x0, 0x0, 0x3000, true},
		{0x2fff, 0x0, 0x3000, true},
		{0x3000, 0, 0, false},
		{0x100fff, 0x100000, 0x102000, true},
		{0x102000, 0, 0, false},
	} {
		p, end, ok := f.LoadAt(c.addr)
		if ok != c.ok || (ok && (p.PAddr != c.paddr || end != c.end)) {
			t.Errorf("LoadAt(%#x) = %#x,%#x,%v; want %#x,%#x,%v", c.addr, p.PAddr, end, ok, c.paddr, c.end, c.ok)
		}
	}
}

func TestOverlappingLoadsFirstInFileOrderWins(t *testing.T) {
	segs := []Segment{
		{PAddr: 0x2000, VAddr: 0xffffffff81000000, Data: make([]byte, 0x1000)}, // kernel text
		{PAddr: 0x0, Data: make([]byte, 0x8000)},
	}
	img := Build(0, nil, segs)
	f, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr, want, end uint64
	}{
		{0x1000, 0x0, 0x2000},
		{0x2000, 0x2000, 0x3000},
		{0x3000, 0x0, 0x8000},
	} {
		p, end, ok := f.LoadAt(c.addr)
		if !ok || p.PAddr != c.want || end != c.end {
			t.Errorf("LoadAt(%#x) = %#x,%#x,%v; want %#x,%#x", c.addr, p.PAddr, end, ok, c.want, c.end)
		}
	}
}

func TestExtendedNumbering(t *testing.T) {
	segs := make([]Segment, PNXNum)
	for i := range segs {
		segs[i] = Segment{PAddr: uint64(i) * 0x2000, Data: []byte{byte(i)}}
	}
	img := Build(0, nil, segs)
	f, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Header.ExtNumber || f.Header.Phnum != PNXNum+1 || len(f.Loads) != PNXNum {
		t.Fatalf("ext=%v phnum=%d loads=%d", f.Header.ExtNumber, f.Header.Phnum, len(f.Loads))
	}
}

func TestBadInput(t *testing.T) {
	good := Build(0, testNotes(), []Segment{{PAddr: 0, Data: make([]byte, 4096)}})
	le := binary.LittleEndian
	mod := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	tests := []struct {
		name    string
		img     []byte
		wantOff int64
		want    string
	}{
		{"empty", nil, 0, "too short"},
		{"magic", mod(func(b []byte) []byte { b[1] = 'X'; return b }), 0, "bad magic"},
		{"class32", mod(func(b []byte) []byte { b[4] = 1; return b }), 4, "ELFCLASS64"},
		{"bigendian", mod(func(b []byte) []byte { b[5] = 2; return b }), 5, "little endian"},
		{"not core", mod(func(b []byte) []byte { le.PutUint16(b[16:], 2); return b }), 16, "ET_CORE"},
		{"phentsize", mod(func(b []byte) []byte { le.PutUint16(b[54:], 32); return b }), 54, "e_phentsize"},
		{"phoff past end", mod(func(b []byte) []byte { le.PutUint64(b[32:], 1<<40); return b }), 32, "past the end"},
		{"xnum without shdr", mod(func(b []byte) []byte { le.PutUint16(b[56:], PNXNum); return b }), 40, "PN_XNUM"},
		{"load past end", mod(func(b []byte) []byte { le.PutUint64(b[64+56+32:], 1<<50); le.PutUint64(b[64+56+40:], 1<<50); return b }), 64 + 56 + 8, "past the end"},
		{"filesz > memsz", mod(func(b []byte) []byte { le.PutUint64(b[64+56+40:], 1); return b }), 64 + 56 + 32, "larger than p_memsz"},
		{"note too big", mod(func(b []byte) []byte { le.PutUint32(b[64+2*56+4:], 1<<30); return b }), 64 + 2*56 + 4, "descriptor"},
		{"truncated", good[:len(good)-10], 64 + 56 + 8, "past the end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(bytes.NewReader(tc.img), int64(len(tc.img)))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FormatError", err)
			}
			if fe.Off != tc.wantOff || !strings.Contains(fe.Msg, tc.want) {
				t.Fatalf("err = %v, want offset %#x and %q", err, tc.wantOff, tc.want)
			}
		})
	}
}

func TestParseNotesPaddingAndTruncation(t *testing.T) {
	b := EncodeNotes(testNotes())
	padded := append(append([]byte(nil), b...), make([]byte, 100)...)
	notes, err := ParseNotes(padded, 0x1000)
	if err != nil || len(notes) != 3 {
		t.Fatalf("padded: %d notes, err %v", len(notes), err)
	}
	if _, err := ParseNotes(b[:len(b)-5], 0x1000); err == nil {
		t.Fatal("truncated note: want error")
	}
}
