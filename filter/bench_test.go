package filter

import (
	"context"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// BenchmarkExclude4GiB classifies the mem_map of the 4 GiB corpus vmcore
// at -d 31 with one worker (a capture kernel usually has one CPU) and
// with all CPUs. The page cache should be warm: the first iteration reads
// the struct pages from disk.
func BenchmarkExclude4GiB(b *testing.B) {
	c, err := corpus.Find(corpus.Options{MemoryMiB: 4096})
	if err != nil {
		b.Skipf("no 4 GiB corpus (build it with: go run ./internal/cmd/mkcorpus -mem 4096): %v", err)
	}
	d, err := vmcore.Open(c.Path(corpus.SourceName))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for _, bc := range []struct {
		name    string
		workers int
	}{{"1cpu", 1}, {"allcpus", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			var pages uint64
			for i := 0; i < b.N; i++ {
				p, err := Exclude(context.Background(), d, MaxLevel, Options{Workers: bc.workers})
				if err != nil {
					b.Fatal(err)
				}
				pages = uint64(p.MaxPFN)
			}
			b.ReportMetric(float64(pages), "pages")
		})
	}
	// The counting pass of a cyclic plan, windows of one chunk.
	b.Run("cyclic-count-1cpu", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p, err := Exclude(context.Background(), d, MaxLevel, Options{Workers: 1, Budget: 4 << 10, ForceCyclic: true})
			if err != nil || p.Cyclic == nil {
				b.Fatal(err, p.Cyclic)
			}
		}
	})
}
