package kdumpfile

import (
	"bytes"
	"testing"

	"github.com/kdumpkit/kdumpkit/mem"
)

func openBytes(t *testing.T, b []byte) *File {
	t.Helper()
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// firstDiff fails t at the first differing byte of got and want.
func firstDiff(t *testing.T, got, want []byte) {
	t.Helper()
	for i := 0; i < min(len(got), len(want)); i++ {
		if got[i] != want[i] {
			t.Fatalf("first difference at offset %#x: ours %#x, makedumpfile's %#x (sizes %d, %d)", i, got[i], want[i], len(got), len(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("size %d, makedumpfile's %d", len(got), len(want))
	}
}

// TestRewriteGolden: rewriting each single makedumpfile output through
// Writer (pages copied as stored) gives the same bytes, which checks the
// writer's layout, zero page sharing and flush logic against the C tool.
func TestRewriteGolden(t *testing.T) {
	for _, name := range []string{"raw-d0.gz", "raw-d1.gz", "zlib-d1.gz", "lzo-d0.gz", "lzo-d1.gz"} {
		t.Run(name, func(t *testing.T) {
			want := readGz(t, name)
			var out writerAt
			if err := Reassemble(openBytes(t, want), &out); err != nil {
				t.Fatal(err)
			}
			firstDiff(t, out.b, want)
		})
	}
}

// TestReassembleGoldenSplit: our reassembly of makedumpfile's --split set
// is its single-file output, and writing the members from the single file
// gives makedumpfile's members.
func TestReassembleGoldenSplit(t *testing.T) {
	c := goldenCases[6]
	var members [][]byte
	var ms []*File
	for _, name := range c.files() {
		b := readGz(t, name)
		members = append(members, b)
		ms = append(ms, openBytes(t, b))
	}
	set, err := OpenSet(ms)
	if err != nil {
		t.Fatal(err)
	}
	single := readGz(t, "lzo-d1.gz")
	var out writerAt
	if err := Reassemble(set, &out); err != nil {
		t.Fatal(err)
	}
	firstDiff(t, out.b, single)

	sf := openBytes(t, single)
	for i, m := range ms {
		sub, _ := m.SubHeader()
		cfg, err := ConfigOf(sf)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Split, cfg.Start, cfg.End = true, mem.PFN(sub.StartPFN64), mem.PFN(sub.EndPFN64)
		var mo writerAt
		w, err := NewWriter(&mo, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := copyPages(sf, w); err != nil {
			t.Fatal(err)
		}
		t.Logf("member %d: pfns [%#x, %#x), %d pages", i, cfg.Start, cfg.End, w.Total())
		firstDiff(t, mo.b, members[i])
	}
}

func TestWriterSplitRange(t *testing.T) {
	sf := openBytes(t, readGz(t, "lzo-d1.gz"))
	cfg, err := ConfigOf(sf)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := cfg.Keep.Next(0)
	second, _ := cfg.Keep.Next(first + 1)
	cfg.Split, cfg.Start, cfg.End = true, second, cfg.MaxPFN
	w, err := NewWriter(&writerAt{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteZero(first); err == nil {
		t.Fatal("page before the split range accepted")
	}
	cfg.Start, cfg.End = 5, 4
	if _, err := NewWriter(&writerAt{}, cfg); err == nil {
		t.Fatal("reversed split range accepted")
	}
}
