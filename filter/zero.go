package filter

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// IsZero reports whether page is all zero bytes.
func IsZero(page []byte) bool {
	var zero [4096]byte
	for len(page) > 0 {
		n := min(len(page), len(zero))
		if !bytes.Equal(page[:n], zero[:n]) {
			return false
		}
		page = page[n:]
	}
	return true
}

// zeroChunk is how many pfns one worker checks at a time.
const zeroChunk = 1 << 14

// DropZeroPages reads every page p.Keep still holds, clears the all-zero
// ones and counts them in p.Counts.Zero. makedumpfile does this for ELF
// output (-E) and --mem-usage; for kdump output the writer tests each page
// as it copies it instead, reading memory once.
func DropZeroPages(ctx context.Context, d vmcore.Dump, p *Plan, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nChunks := (uint64(p.MaxPFN) + zeroChunk - 1) / zeroChunk
	zeros := make([][]mem.PFN, nChunks)
	errs := make([]error, nChunks)
	next := make(chan uint64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, d.PageSize())
			for c := range next {
				end := min(mem.PFN((c+1)*zeroChunk), p.MaxPFN)
				for pfn, ok := p.Keep.Next(mem.PFN(c * zeroChunk)); ok && pfn < end; pfn, ok = p.Keep.Next(pfn + 1) {
					if err := d.ReadPage(pfn, buf); err != nil {
						errs[c] = fmt.Errorf("filter: zero check: %w", err)
						break
					}
					if IsZero(buf) {
						zeros[c] = append(zeros[c], pfn)
					}
				}
			}
		}()
	}
	for c := uint64(0); c < nChunks && ctx.Err() == nil; c++ {
		next <- c
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for c := range zeros {
		if errs[c] != nil {
			return errs[c]
		}
		for _, pfn := range zeros[c] {
			p.Keep.Clear(pfn)
		}
		p.Counts.Zero += uint64(len(zeros[c]))
	}
	p.Keep.Freeze()
	return nil
}
