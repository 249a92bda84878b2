package kdumpfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// synth builds small kdump files in memory: 4 KiB blocks, header v6, one
// sub header block, 2 bitmap blocks, max_mapnr 64, pfns 0..15 RAM, pages
// given by pages (pfn → descriptor + data) in the 2nd bitmap.
type synthPage struct {
	pfn   uint64
	flags uint32
	data  []byte // stored bytes
	size  int    // descriptor size; -1 = len(data)
	off   int64  // descriptor offset; -1 = where data was put
}

const (
	sB        = 4096
	sMaxMapnr = 64
)

func buildSynth(pages []synthPage, mod func(b []byte)) []byte {
	le := binary.LittleEndian
	pdOff := int64((1 + 1 + 2) * sB)
	dataOff := pdOff + int64(len(pages))*PageDescSize
	total := dataOff
	for _, p := range pages {
		total += int64(len(p.data))
	}
	b := make([]byte, total)
	copy(b, SignatureKdump)
	le.PutUint32(b[8:], 6)
	copy(b[12+2*65:], "6.1.0-synth")
	copy(b[12+4*65:], "x86_64")
	le.PutUint64(b[408:], 1700000000)
	le.PutUint32(b[424:], StatusCompressedLZO)
	le.PutUint32(b[428:], sB)
	le.PutUint32(b[432:], 1)
	le.PutUint32(b[436:], 2)
	le.PutUint32(b[440:], sMaxMapnr)
	le.PutUint32(b[460:], 1)
	sub := b[sB:]
	le.PutUint64(sub[0:], 0x1000000)
	le.PutUint32(sub[8:], 1)
	vi := "OSRELEASE=6.1.0-synth\n"
	copy(b[sB+200:], vi)
	le.PutUint64(sub[32:], sB+200)
	le.PutUint64(sub[40:], uint64(len(vi)))
	le.PutUint64(sub[96:], sMaxMapnr)
	for pfn := 0; pfn < 16; pfn++ {
		b[2*sB+pfn/8] |= 1 << (pfn % 8)
	}
	off := dataOff
	for i, p := range pages {
		b[3*sB+p.pfn/8] |= 1 << (p.pfn % 8)
		pd := b[pdOff+int64(i)*PageDescSize:]
		copy(b[off:], p.data)
		o, sz := off, len(p.data)
		if p.off != -1 {
			o = p.off
		}
		if p.size != -1 {
			sz = p.size
		}
		le.PutUint64(pd[0:], uint64(o))
		le.PutUint32(pd[8:], uint32(sz))
		le.PutUint32(pd[12:], p.flags)
		off += int64(len(p.data))
	}
	if mod != nil {
		mod(b)
	}
	return b
}

func page(c byte) []byte { return bytes.Repeat([]byte{c, c + 1, 0, 0}, sB/4) }

func zstdPage(p []byte) []byte {
	e, _ := zstd.NewWriter(nil)
	defer e.Close()
	return e.EncodeAll(p, nil)
}

func synthDefault() []synthPage {
	return []synthPage{
		{pfn: 1, flags: 0, data: page(1), size: -1, off: -1},
		{pfn: 2, flags: uint32(codec.Snappy), data: snappy.Encode(nil, page(2)), size: -1, off: -1},
		{pfn: 3, flags: uint32(codec.Zstd), data: zstdPage(page(3)), size: -1, off: -1},
		{pfn: 4, flags: 0x40, data: page(4)[:100], size: -1, off: -1},                   // unknown flag
		{pfn: 5, flags: 0, data: page(5)[:100], size: -1, off: -1},                      // raw but short
		{pfn: 6, flags: 0, data: nil, size: sB, off: 0},                                 // lost
		{pfn: 7, flags: 0, data: page(7), size: sB + 1, off: -1},                        // size > block
		{pfn: 8, flags: 0, data: nil, size: sB, off: 100},                               // points into header
		{pfn: 9, flags: uint32(codec.Snappy), data: []byte{1, 2, 3}, size: -1, off: -1}, // corrupt
		{pfn: 10, flags: 0, data: nil, size: sB, off: 1 << 40},                          // past EOF
	}
}

func TestSynthPages(t *testing.T) {
	b := buildSynth(synthDefault(), nil)
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Header().Release() != "6.1.0-synth" || f.Header().Machine() != "x86_64" || f.PhysBase() != 0x1000000 {
		t.Errorf("header: %q %q %#x", f.Header().Release(), f.Header().Machine(), f.PhysBase())
	}
	if f.Header().CrashTime().Unix() != 1700000000 {
		t.Errorf("crash time %v", f.Header().CrashTime())
	}
	if vi, err := f.VMCOREINFO(); err != nil || string(vi) != "OSRELEASE=6.1.0-synth\n" {
		t.Errorf("VMCOREINFO %q %v", vi, err)
	}
	tests := []struct {
		pfn     mem.PFN
		want    []byte
		wantErr error  // errors.Is target
		msg     string // substring
	}{
		{1, page(1), nil, ""},
		{2, page(2), nil, ""},
		{3, page(3), nil, ""},
		{4, nil, nil, "flags 0x40 name no known compression"},
		{5, nil, codec.ErrCorrupt, "raw: stored 100 bytes"},
		{6, nil, mem.ErrLost, ""},
		{7, nil, nil, "size 4097 is not in 1..4096"},
		{8, nil, nil, "points before the page data area"},
		{9, nil, codec.ErrCorrupt, "snappy"},
		{10, nil, nil, "past the end"},
		{11, nil, mem.ErrExcluded, "pfn 0xb"},
		{16, nil, mem.ErrNotRAM, ""},
		{63, nil, mem.ErrNotRAM, ""},
		{64, nil, mem.ErrNotRAM, ""},
		{1 << 60, nil, mem.ErrNotRAM, ""},
	}
	dst := make([]byte, sB)
	for _, tc := range tests {
		err := f.ReadPage(tc.pfn, dst)
		if tc.want != nil {
			if err != nil || !bytes.Equal(dst, tc.want) {
				t.Errorf("pfn %#x: err %v or data differs", tc.pfn, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("pfn %#x: no error", tc.pfn)
			continue
		}
		if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Errorf("pfn %#x: err %v, want %v", tc.pfn, err, tc.wantErr)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("pfn %#x: err %q lacks %q", tc.pfn, err, tc.msg)
		}
	}
	if err := f.ReadPage(1, make([]byte, 100)); err == nil {
		t.Error("short dst: no error")
	}
}

func TestSynthHeaderErrors(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name string
		mod  func(b []byte)
		msg  string
		is   error
	}{
		{"signature", func(b []byte) { copy(b, "ELF     ") }, "signature", ErrNotKdump},
		{"version", func(b []byte) { le.PutUint32(b[8:], 7) }, "header_version 7", ErrNotSupported},
		{"block size not pow2", func(b []byte) { le.PutUint32(b[428:], 3000) }, "kdump header at 0x1ac: block_size 3000 is not a power of two", nil},
		{"block size big", func(b []byte) { le.PutUint32(b[428:], 1<<20) }, "block_size 1048576 is not in", nil},
		{"32-bit layout", func(b []byte) { le.PutUint32(b[420:], 4096); le.PutUint32(b[428:], 0) }, "32-bit", ErrNotSupported},
		{"sub_hdr_size 0", func(b []byte) { le.PutUint32(b[432:], 0) }, "sub_hdr_size is 0", nil},
		{"bitmap_blocks 0", func(b []byte) { le.PutUint32(b[436:], 0) }, "bitmap_blocks is 0", nil},
		{"bitmaps past EOF", func(b []byte) { le.PutUint32(b[436:], 1000) }, "end past the end", nil},
		{"max_mapnr mismatch", func(b []byte) { le.PutUint32(b[440:], 65) }, "disagrees", nil},
		{"bitmap too small", func(b []byte) {
			le.PutUint32(b[440:], 1<<20)
			le.PutUint64(b[sB+96:], 1<<20)
		}, "cannot cover", nil},
		{"huge max_mapnr", func(b []byte) {
			le.PutUint32(b[440:], 0xffffffff)
			le.PutUint64(b[sB+96:], 1<<62)
		}, "beyond any possible pfn", nil},
		{"vmcoreinfo past EOF", func(b []byte) { le.PutUint64(b[sB+40:], 1<<40) }, "vmcoreinfo", nil},
		{"dump level", func(b []byte) { le.PutUint32(b[sB+8:], 99) }, "dump_level 99", nil},
		{"split range", func(b []byte) {
			le.PutUint32(b[sB+12:], 1)
			le.PutUint64(b[sB+80:], 10)
			le.PutUint64(b[sB+88:], 5)
		}, "split range", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := buildSynth(synthDefault()[:1], tc.mod)
			_, err := Open(bytes.NewReader(b), int64(len(b)))
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %q lacks %q", err, tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err %v is not %v", err, tc.is)
			}
			var fe *FormatError
			if tc.msg != "" && !errors.As(err, &fe) {
				t.Errorf("err %T is not a *FormatError", err)
			}
		})
	}
	// Descriptors cut off: an error unless the dump says it is incomplete.
	b := buildSynth(synthDefault()[:2], nil)
	if _, err := Open(bytes.NewReader(b[:4*sB+30]), 4*sB+30); err == nil || !strings.Contains(err.Error(), "page descriptors at 0x4000: 2 descriptors end at 0x4030") {
		t.Errorf("truncated descriptors: %v", err)
	}
	b[424] |= StatusIncomplete
	f, err := Open(bytes.NewReader(b[:4*sB+30]), 4*sB+30)
	if err != nil {
		t.Fatalf("truncated incomplete dump: %v", err)
	}
	if err := f.ReadPage(2, make([]byte, sB)); !errors.Is(err, mem.ErrLost) {
		t.Errorf("descriptor past EOF of incomplete dump: %v", err)
	}
	// A descriptor cut at a block boundary (offset written, size not):
	// lost in an incomplete dump, an error in a complete one.
	cut := synthDefault()[:2]
	cut[1].size = 0
	for _, incomplete := range []bool{false, true} {
		b := buildSynth(cut, func(b []byte) {
			if incomplete {
				b[424] |= StatusIncomplete
			}
		})
		f, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		err = f.ReadPage(2, make([]byte, sB))
		if incomplete && !errors.Is(err, mem.ErrLost) {
			t.Errorf("size-0 descriptor in an incomplete dump: %v, want lost", err)
		}
		if !incomplete && (err == nil || errors.Is(err, mem.ErrLost) || !strings.Contains(err.Error(), "size 0 is not in 1..4096")) {
			t.Errorf("size-0 descriptor in a complete dump: %v", err)
		}
		if err := f.ReadPage(1, make([]byte, sB)); err != nil {
			t.Errorf("pfn 1 beside the cut descriptor: %v", err)
		}
	}
	for n := 0; n < 600; n += 7 {
		b := buildSynth(synthDefault()[:1], nil)
		if _, err := Open(bytes.NewReader(b[:n]), int64(n)); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
}

// TestSynthLegacySingleBitmap: a DISKDUMP file whose bitmap area holds
// only one bitmap uses it for both RAM and stored pages (crash's
// dump_is_partial).
func TestSynthLegacySingleBitmap(t *testing.T) {
	le := binary.LittleEndian
	b := buildSynth(synthDefault()[:1], func(b []byte) {
		copy(b, SignatureDiskdump)
		le.PutUint32(b[8:], 0)
		le.PutUint32(b[440:], 8*sB*2-8) // two bitmaps of this no longer fit in 2 blocks
	})
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.SubHeader(); ok {
		t.Error("DISKDUMP file has a kdump sub header")
	}
	if f.RAM() != f.Stored() {
		t.Error("single bitmap not shared")
	}
	if f.MaxPFN() != 8*sB*2-8 {
		t.Errorf("MaxPFN %#x", f.MaxPFN())
	}
}

// TestReadPageAllocs: a warm reader decodes raw and LZO pages without
// allocating.
func TestReadPageAllocs(t *testing.T) {
	for _, name := range []string{"raw-d0.gz", "lzo-d0.gz"} {
		b := readGz(t, name)
		f, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, testPageSize)
		pfns := []mem.PFN{1, 3, 5, 0x101, 0x105, 0x402}
		for _, p := range pfns {
			if err := f.ReadPage(p, dst); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(50, func() {
			for _, p := range pfns {
				if err := f.ReadPage(p, dst); err != nil {
					t.Fatal(err)
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per run", name, allocs)
		}
	}
}
