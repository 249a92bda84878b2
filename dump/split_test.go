package dump

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
)

func TestSplitRanges(t *testing.T) {
	// 40 pfns, blocks of 8: dumpable counts per block 8, 0, 8, 4, 2.
	keep := mem.NewBitmap(40)
	keep.SetRange(0, 8)
	keep.SetRange(16, 24)
	keep.SetRange(24, 28)
	keep.SetRange(32, 34)
	keep.Freeze()
	r := func(s, e mem.PFN) mem.PFNRange { return mem.PFNRange{Start: s, End: e} }
	tests := []struct {
		n     int
		block uint64
		want  []mem.PFNRange
	}{
		// 22 pages: 11 each; the first file takes blocks until it has
		// at least 11 (8+0+8).
		{2, 8, []mem.PFNRange{r(0, 24), r(24, 40)}},
		// 7 each: block 0 already has 8; then blocks 1..2 (0+8).
		{3, 8, []mem.PFNRange{r(0, 8), r(8, 24), r(24, 40)}},
		// 5 each: the third file needs blocks 3 and 4 (4+2), so the
		// pages run out before the last file.
		{4, 8, []mem.PFNRange{r(0, 8), r(8, 24), r(24, 40), r(40, 40)}},
		{8, 8, []mem.PFNRange{r(0, 8), r(8, 24), r(24, 32), r(32, 40), r(40, 40), r(40, 40), r(40, 40), r(40, 40)}},
		// One block holds everything: the first file gets it all.
		{2, 64, []mem.PFNRange{r(0, 40), r(40, 40)}},
		{1, 8, []mem.PFNRange{r(0, 40)}},
	}
	for _, tc := range tests {
		got, err := SplitRanges(keep, 40, tc.n, tc.block)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("n=%d block=%d: %v, want %v", tc.n, tc.block, got, tc.want)
		}
	}
	if _, err := SplitRanges(keep, 40, 0, 8); err == nil {
		t.Error("0 files accepted")
	}
	if _, err := SplitRanges(keep, 40, 2, 0); err == nil {
		t.Error("block of 0 pages accepted")
	}
}

// TestCorpusSplit: our --split set reassembled by the C --reassemble and
// by ours equals a single-file run byte for byte; with LZO, whose output
// is the C tool's, the members themselves equal the C tool's members; and
// our ranges for the C tool's corpus set (zlib) are the ones it chose.
func TestCorpusSplit(t *testing.T) {
	c, src, mdf := corpusSource(t)
	p := excludePlan(t, src, 31)
	const blockSize = 1 << 20 // --splitblock-size 1024 (KiB)

	t.Run("corpus ranges", func(t *testing.T) {
		ranges, err := SplitRanges(p.Keep, p.MaxPFN, 2, blockSize/4096)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"makedumpfile-split-c-d31.1", "makedumpfile-split-c-d31.2"} {
			f, err := os.Open(c.Path(name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			kf, err := kdumpfile.Open(f, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			sub, _ := kf.SubHeader()
			if got := (mem.PFNRange{Start: mem.PFN(sub.StartPFN64), End: mem.PFN(sub.EndPFN64)}); got != ranges[i] {
				t.Errorf("%s covers %v, we chose %v", name, got, ranges[i])
			}
		}
	})

	for _, m := range []codec.Method{codec.LZO, codec.Raw} {
		dir := t.TempDir()
		single := filepath.Join(dir, "single")
		writeFile(t, src, p, m, single)
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprintf("%v-%d", m, n), func(t *testing.T) {
				var names []string
				var outs []io.WriterAt
				for i := 0; i < n; i++ {
					name := filepath.Join(dir, fmt.Sprintf("ours.%d.%d", n, i))
					f, err := os.Create(name)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					names = append(names, name)
					outs = append(outs, f)
				}
				if err := WriteKdumpSplit(context.Background(), src, p, m, outs, SplitOptions{BlockSize: blockSize}); err != nil {
					t.Fatal(err)
				}

				theirs := filepath.Join(dir, fmt.Sprintf("reassembled-by-c.%d", n))
				runMDF(t, mdf, nil, append(append([]string{"--reassemble"}, names...), theirs)...)
				sameFiles(t, theirs, single)

				ours := filepath.Join(dir, fmt.Sprintf("reassembled.%d", n))
				reassemble(t, names, ours)
				sameFiles(t, ours, single)

				if m == codec.LZO {
					var cnames []string
					for i := 0; i < n; i++ {
						cnames = append(cnames, filepath.Join(dir, fmt.Sprintf("theirs.%d.%d", n, i)))
					}
					runMDF(t, mdf, nil, append([]string{"-l", "-d", "31", "--splitblock-size", "1024", "--split", c.Path("vmcore.elf")}, cnames...)...)
					for i := range names {
						sameFiles(t, names[i], cnames[i])
					}
				}
			})
		}
	}
}

// reassemble runs our Reassemble over the split files names into out.
func reassemble(t *testing.T, names []string, out string) {
	t.Helper()
	var ms []*kdumpfile.File
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		kf, err := kdumpfile.Open(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, kf)
	}
	set, err := kdumpfile.OpenSet(ms)
	if err != nil {
		t.Fatal(err)
	}
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := kdumpfile.Reassemble(set, o); err != nil {
		t.Fatal(err)
	}
}
