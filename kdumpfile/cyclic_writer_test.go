package kdumpfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/mem"
)

// window copies the bits of m for [lo, hi) into a bitmap of hi-lo pages.
func window(m *mem.Bitmap, lo, hi mem.PFN) *mem.Bitmap {
	w := mem.NewBitmap(hi - lo)
	for p := lo; p < hi; p++ {
		if m.Test(p) {
			w.Set(p - lo)
		}
	}
	return w
}

// TestWriteKeepWindows: a writer given the number of kept pages instead
// of the 2nd bitmap, and the bitmap a window at a time in any order,
// writes makedumpfile's file byte for byte; a window left out makes the
// file incomplete; windows that do not fill whole bytes are refused.
func TestWriteKeepWindows(t *testing.T) {
	want := readGz(t, "lzo-d1.gz")
	f := openBytes(t, want)
	cfg, err := ConfigOf(f)
	if err != nil {
		t.Fatal(err)
	}
	keep := cfg.Keep
	n := cfg.MaxPFN
	cfg.Keep, cfg.Kept = nil, keep.Count()
	// Windows of 24 pfns, the last one short (n is not a multiple).
	var wins [][2]mem.PFN
	for lo := mem.PFN(0); lo < n; lo += 24 {
		wins = append(wins, [2]mem.PFN{lo, min(lo+24, n)})
	}
	if n%24 == 0 || len(wins) < 3 {
		t.Fatalf("golden file of %d pfns does not make a short last window", n)
	}
	for _, skip := range []int{-1, 1} {
		var out writerAt
		w, err := NewWriter(&out, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(wins) - 1; i >= 0; i-- {
			if i == skip {
				continue
			}
			if err := w.WriteKeep(wins[i][0], window(keep, wins[i][0], wins[i][1])); err != nil {
				t.Fatal(err)
			}
		}
		err = copyPages(f, w)
		if skip < 0 {
			if err != nil {
				t.Fatal(err)
			}
			firstDiff(t, out.b, want)
			continue
		}
		if !errors.Is(err, mem.ErrLost) || !strings.Contains(err.Error(), "2nd bitmap") {
			t.Fatalf("window %d left out: err %v", skip, err)
		}
		got := openBytes(t, out.b)
		if h := got.Header(); h.Status&StatusIncomplete == 0 {
			t.Errorf("window %d left out: status %#x not incomplete", skip, h.Status)
		}
	}

	w, err := NewWriter(&writerAt{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]mem.PFN{{4, 12}, {0, 12}, {n - n%8 - 8, n + 8}} {
		if err := w.WriteKeep(bad[0], mem.NewBitmap(bad[1]-bad[0])); err == nil {
			t.Errorf("window [%#x, %#x) accepted", bad[0], bad[1])
		}
	}
	cfg.Keep = keep
	w, err = NewWriter(&writerAt{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteKeep(0, window(keep, 0, 8)); err == nil {
		t.Error("WriteKeep with a whole 2nd bitmap accepted")
	}
	cfg.Keep, cfg.Kept = nil, uint64(n)+1
	if _, err := NewWriter(&writerAt{}, cfg); err == nil {
		t.Error("more pages kept than max_mapnr accepted")
	}
}
