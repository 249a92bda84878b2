package filter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// checkCyclic plans d at level in one pass and cyclically with budget,
// and checks that the windows' keep bits, joined, are the one pass's
// keep map bit for bit, that the counts are the same, that the counts
// per chunk give the same ranks, and that a second pass gives the same
// windows again. It returns the number of windows.
func checkCyclic(t *testing.T, d vmcore.Dump, level Level, budget int64, workers int) int {
	t.Helper()
	ctx := context.Background()
	one, err := Exclude(ctx, d, level, Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	cyc, err := Exclude(ctx, d, level, Options{Workers: workers, Budget: budget, ForceCyclic: true})
	if err != nil {
		t.Fatal(err)
	}
	if !one.Scanned {
		if cyc.Cyclic != nil {
			t.Fatalf("d%d: a plan without a mem_map walk went cyclic", level)
		}
		return 0
	}
	c := cyc.Cyclic
	if c == nil || cyc.Keep != nil {
		t.Fatalf("d%d: plan is not cyclic (Cyclic %v, Keep %v)", level, c, cyc.Keep)
	}
	if cyc.Counts != one.Counts {
		t.Errorf("d%d: cyclic counts %+v\none pass      %+v", level, cyc.Counts, one.Counts)
	}
	if cyc.MaxPFN != one.MaxPFN || cyc.Original != one.Original {
		t.Errorf("d%d: cyclic MaxPFN %#x Original %d, one pass %#x %d", level, cyc.MaxPFN, cyc.Original, one.MaxPFN, one.Original)
	}
	if got, want := cyc.Kept(), one.Kept(); got != want {
		t.Errorf("d%d: cyclic plan keeps %d pages, one pass %d", level, got, want)
	}
	wantWin := max(mem.PFN(budget*8)/mem.ChunkPFNs*mem.ChunkPFNs, mem.ChunkPFNs)
	if c.Window != wantWin {
		t.Errorf("budget %d: window of %#x pfns, want %#x", budget, c.Window, wantWin)
	}
	for q := mem.PFN(0); q < cyc.MaxPFN; q += mem.ChunkPFNs {
		got, err := c.Rank(q)
		if err != nil {
			t.Fatal(err)
		}
		if want := one.Keep.Rank(q); got != want {
			t.Fatalf("d%d: rank of %#x: %d, one pass %d", level, q, got, want)
		}
	}
	if _, err := c.Rank(mem.ChunkPFNs + 1); err == nil && cyc.MaxPFN > mem.ChunkPFNs+1 {
		t.Errorf("rank inside a chunk of a cyclic plan: no error")
	}
	var sum Counts
	for pass := 0; pass < 2; pass++ {
		it := c.Iter()
		next := mem.PFN(0)
		n := 0
		for {
			w, ok, err := it.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			n++
			if w.Lo != next || w.Hi <= w.Lo || w.Hi > cyc.MaxPFN || w.Keep.Len() != w.Hi-w.Lo {
				t.Fatalf("window %d: [%#x, %#x) of %#x bits after %#x", n, w.Lo, w.Hi, w.Keep.Len(), next)
			}
			if w.Hi-w.Lo > c.Window {
				t.Fatalf("window %d: %#x pfns, more than %#x", n, w.Hi-w.Lo, c.Window)
			}
			if fp := w.Keep.Footprint(); fp > budgetBytes(c.Window) {
				t.Errorf("window %d holds %d bytes, more than its bits", n, fp)
			}
			if !w.Keep.Equal(one.Keep.Slice(w.Lo, w.Hi)) {
				for q := w.Lo; q < w.Hi; q++ {
					if w.Keep.Test(q-w.Lo) != one.Keep.Test(q) {
						t.Fatalf("d%d window %d [%#x, %#x): pfn %#x: keep %v, one pass %v", level, n, w.Lo, w.Hi, q, w.Keep.Test(q-w.Lo), one.Keep.Test(q))
					}
				}
				t.Fatalf("window %d differs, but no bit does", n)
			}
			if pass == 0 {
				sum.merge(&w.Counts)
			}
			next = w.Hi
		}
		if next != cyc.MaxPFN {
			t.Fatalf("windows end at %#x, MaxPFN %#x", next, cyc.MaxPFN)
		}
		if n != c.Windows() {
			t.Fatalf("%d windows, Windows() says %d", n, c.Windows())
		}
	}
	if sum != one.Counts {
		t.Errorf("d%d: windows' counts add up to %+v\none pass                %+v", level, sum, one.Counts)
	}
	return c.Windows()
}

// budgetBytes is the most a window of n pfns can hold: its bits, its
// chunk table and its rank table.
func budgetBytes(n mem.PFN) int64 {
	chunks := int64((n + mem.ChunkPFNs - 1) / mem.ChunkPFNs)
	return chunks * (mem.ChunkPFNs/8 + 8 + 24)
}

// TestCorpusCyclicEqualsOnePass: on the real 6.1 dumps of 1 GiB and
// 4 GiB and the 6.12 one, at several levels and with windows of one,
// three and eight chunks (tiny budgets, so there are many windows, one
// of them short), the cyclic plan's windows are the one-pass plan.
func TestCorpusCyclicEqualsOnePass(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpora; skipped with -short")
	}
	type src struct {
		name string
		opt  corpus.Options
		find bool // do not build it
	}
	for _, s := range []src{
		{"6.1-1G", corpus.Options{}, false},
		{"6.12-1G", corpus.Options{Kernel: corpus.Kernel612}, false},
		{"6.1-4G", corpus.Options{MemoryMiB: 4096}, true},
	} {
		t.Run(s.name, func(t *testing.T) {
			var c *corpus.Corpus
			if s.find {
				var err error
				if c, err = corpus.Find(s.opt); err != nil {
					t.Skipf("no such corpus (go run ./internal/cmd/mkcorpus -mem 4096): %v", err)
				}
			} else {
				c = corpus.EnsureWith(t, s.opt)
			}
			d, err := vmcore.Open(c.Path(corpus.SourceName))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			// Without ForceCyclic: a budget of one chunk is outgrown at
			// -d 31 (its mixed chunks are tens), the flat map's fits.
			ctx := context.Background()
			ref, err := Exclude(ctx, d, 31, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []struct {
				budget int64
				cyclic bool
			}{{4 << 10, true}, {int64(d.MaxPFN()+7) / 8, false}, {0, false}} {
				p, err := Exclude(ctx, d, 31, Options{Budget: b.budget})
				if err != nil {
					t.Fatal(err)
				}
				if (p.Cyclic != nil) != b.cyclic {
					t.Errorf("-d 31, budget %d: cyclic %v, want %v", b.budget, p.Cyclic != nil, b.cyclic)
				}
				// The one pass given up for the cyclic plan leaves
				// nothing in its counts.
				if p.Counts != ref.Counts || p.Kept() != ref.Kept() {
					t.Errorf("-d 31, budget %d: counts %+v (%d kept), want %+v (%d)", b.budget, p.Counts, p.Kept(), ref.Counts, ref.Kept())
				}
			}
			for _, tc := range []struct {
				level   Level
				budget  int64
				workers int
			}{
				{1, 4 << 10, 1}, {31, 4 << 10, 2}, {31, 12 << 10, 1}, {31, 1, 2},
				{2, 32 << 10, 2}, {8, 4 << 10, 1}, {16, 12 << 10, 2}, {6, 4 << 10, 1},
			} {
				t.Run(fmt.Sprintf("d%d-b%d-w%d", tc.level, tc.budget, tc.workers), func(t *testing.T) {
					n := checkCyclic(t, d, tc.level, tc.budget, tc.workers)
					t.Logf("%d windows", n)
				})
			}
		})
	}
}

// TestExcludeBudgetChoosesMode: no budget, or a budget the flat keep map
// fits, is one pass; so is a budget below one chunk (it counts as one
// chunk) when the fake's one chunk is all the keep map holds. The corpus
// test sees the mixed chunks outgrow a budget.
func TestExcludeBudgetChoosesMode(t *testing.T) {
	k := fakekernel.New(fakekernel.Config{Era: fakekernel.EraByName("6.1")})
	d := openFake(t, k)
	ctx := context.Background()
	for _, tc := range []struct {
		budget int64
		cyclic bool
	}{
		{0, false},
		{int64(fakekernel.ClampedMaxPFN / 8), false}, // the flat map fits
		{1, false}, // clamped to a chunk: the fake's one mixed chunk fits
	} {
		p, err := Exclude(ctx, d, MaxLevel, Options{Budget: tc.budget})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Cyclic != nil; got != tc.cyclic {
			t.Errorf("budget %d: cyclic %v, want %v", tc.budget, got, tc.cyclic)
		}
		if tc.cyclic {
			checkCyclic(t, d, MaxLevel, tc.budget, 1)
		} else {
			checkPlan(t, k, p, expect(k, MaxLevel))
		}
	}
}

// TestCyclicFakeEras: on every fake era, at every test level, the
// cyclic plan's one window equals the one pass (the fake is smaller than
// a chunk; the corpus test covers many windows).
func TestCyclicFakeEras(t *testing.T) {
	for _, e := range fakekernel.Eras {
		k := fakekernel.New(fakekernel.Config{Era: e})
		d := openFake(t, k)
		for _, level := range testLevels {
			t.Run(fmt.Sprintf("%s/d%d", e.Name, level), func(t *testing.T) {
				checkCyclic(t, d, level, 1, 2)
			})
		}
	}
}

func TestAutoBudget(t *testing.T) {
	for _, tc := range []struct {
		meminfo string
		want    int64
	}{
		{"MemTotal:  1000000 kB\nMemFree:  500000 kB\nMemAvailable:  800000 kB\n", MaxAutoBudget},
		{"MemTotal:  100000 kB\nMemFree:  5000 kB\nMemAvailable:  4000 kB\n", 4000 << 10 / 10 * 6},
		{"MemTotal:  100000 kB\nMemFree:  5000 kB\n", 5000 << 10 / 10 * 6},
		{"MemAvailable:  0 kB\n", 1},
		{"", MaxAutoBudget},
		{"MemAvailable: lots kB\n", MaxAutoBudget},
	} {
		if got := AutoBudget(strings.NewReader(tc.meminfo)); got != tc.want {
			t.Errorf("AutoBudget(%q) = %d, want %d", tc.meminfo, got, tc.want)
		}
	}
}
