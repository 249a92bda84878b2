package dump

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// cyclicPlan plans src at level cyclically, with windows of budget*8
// pfns, whatever the keep map would cost.
func cyclicPlan(t *testing.T, src vmcore.Dump, level filter.Level, budget int64) *filter.Plan {
	t.Helper()
	p, err := filter.Exclude(context.Background(), src, level, filter.Options{Budget: budget, ForceCyclic: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Cyclic == nil {
		t.Fatalf("-d %d: plan is not cyclic", level)
	}
	return p
}

func writeWith(t *testing.T, src vmcore.Dump, p *filter.Plan, m codec.Method, name string, opt Options) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteKdumpWith(context.Background(), src, p, m, f, opt); err != nil {
		t.Fatal(err)
	}
}

func writeSplit(t *testing.T, src vmcore.Dump, p *filter.Plan, m codec.Method, prefix string, n int, block int64) []string {
	t.Helper()
	var names []string
	var outs []io.WriterAt
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s.%d", prefix, i)
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		names = append(names, name)
		outs = append(outs, f)
	}
	if err := WriteKdumpSplit(context.Background(), src, p, m, outs, SplitOptions{BlockSize: block}); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestCorpusCyclicByteIdentical: a dump written from a cyclic plan with a
// tiny budget (windows of one or three chunks of 32 Ki pages, so tens of
// windows, the last one short) is byte for byte the dump written from
// the one-pass plan: single file (LZO and zlib, one and two workers),
// flattened stream rearranged by us and by the C makedumpfile -R, and
// --split sets cut at chunk boundaries (from the counts per chunk) and
// inside chunks (from one more pass). Our reader, python3-libkdumpfile
// and the C tool's --dump-dmesg read the cyclic files. Corpora: the 6.1
// dumps of 1 GiB and 4 GiB (if built) and the 6.12 one.
func TestCorpusCyclicByteIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpora; skipped with -short")
	}
	mdf := dumptest.CMakedumpfile(t)
	haveLKF := oracle.HaveLibkdumpfile()
	for _, s := range []struct {
		name   string
		opt    corpus.Options
		find   bool
		levels []filter.Level
		budget []int64
	}{
		// 6.1 -d 1 walks no mem_map (the kernel exports no PG_hwpoison):
		// its plan is the input's map, never cyclic.
		{"6.1-1G", corpus.Options{}, false, []filter.Level{31, 2, 1}, []int64{4 << 10, 12 << 10, 4 << 10}},
		{"6.12-1G", corpus.Options{Kernel: corpus.Kernel612}, false, []filter.Level{31, 1}, []int64{12 << 10, 4 << 10}},
		{"6.1-4G", corpus.Options{MemoryMiB: 4096}, true, []filter.Level{31, 31}, []int64{4 << 10, 12 << 10}},
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
			src, err := vmcore.Open(c.Path(corpus.SourceName))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			for i, level := range s.levels {
				one := excludePlan(t, src, level)
				budget := s.budget[i]
				if !one.Scanned {
					p, err := filter.Exclude(context.Background(), src, level, filter.Options{Budget: budget, ForceCyclic: true})
					if err != nil {
						t.Fatal(err)
					}
					if p.Cyclic != nil || p.Keep == nil {
						t.Errorf("-d %d walks no mem_map, yet its plan is cyclic", level)
					}
					continue
				}
				cyc := cyclicPlan(t, src, level, budget)
				methods := []codec.Method{codec.LZO, codec.Zlib}
				if level == 1 {
					methods = methods[:1] // a few hundred MB per file
				}
				for _, m := range methods {
					t.Run(fmt.Sprintf("d%d-b%d-%v", level, budget, m), func(t *testing.T) {
						t.Logf("%d windows of %d pfns", cyc.Cyclic.Windows(), cyc.Cyclic.Window)
						dir := t.TempDir()
						ref := filepath.Join(dir, "one-pass")
						writeWith(t, src, one, m, ref, Options{Workers: 1})
						for _, w := range []int{1, 2} {
							name := filepath.Join(dir, fmt.Sprintf("cyclic-w%d", w))
							writeWith(t, src, cyc, m, name, Options{Workers: w})
							sameFiles(t, name, ref)
							if w == 2 {
								os.Remove(name)
							}
						}
						cycFile := filepath.Join(dir, "cyclic-w1")

						// Flattened: rearranged by us and by the C tool.
						flat := filepath.Join(dir, "cyclic.flat")
						f, err := os.Create(flat)
						if err != nil {
							t.Fatal(err)
						}
						if err := WriteKdumpFlatWith(context.Background(), src, cyc, m, f, Options{Workers: 2}); err != nil {
							t.Fatal(err)
						}
						f.Close()
						ra := filepath.Join(dir, "rearranged-ours")
						in, _ := os.Open(flat)
						out, _ := os.Create(ra)
						if err := kdumpfile.Rearrange(in, out); err != nil {
							t.Fatal(err)
						}
						in.Close()
						out.Close()
						sameFiles(t, ra, ref)
						os.Remove(ra)
						in, _ = os.Open(flat)
						rc := filepath.Join(dir, "rearranged-c")
						runMDF(t, mdf, in, "-R", rc)
						in.Close()
						sameFiles(t, rc, ref)
						os.Remove(rc)
						os.Remove(flat)

						// Readers of the cyclic file.
						checkPages(t, src, cycFile, m)
						if haveLKF && level != 1 {
							checkLibkdumpfile(t, src, cycFile, dir)
						}
						if level == 31 {
							checkDmesg(t, mdf, dir, cycFile, ref)
						}

						// --split: 3 members, blocks of 128 MiB (whole
						// chunks) and of 64 MiB (inside chunks).
						if level == 1 {
							return
						}
						for _, block := range []int64{128 << 20, 64 << 20} {
							a := writeSplit(t, src, one, m, filepath.Join(dir, fmt.Sprintf("split-one-%d", block)), 3, block)
							b := writeSplit(t, src, cyc, m, filepath.Join(dir, fmt.Sprintf("split-cyc-%d", block)), 3, block)
							for i := range a {
								sameFiles(t, b[i], a[i])
								os.Remove(a[i])
							}
							if block == 64<<20 {
								// Reassembled, the set is the single file.
								whole := filepath.Join(dir, "reassembled")
								reassemble(t, b, whole)
								sameFiles(t, whole, ref)
								os.Remove(whole)
							}
						}
					})
				}
			}
		})
	}
}
