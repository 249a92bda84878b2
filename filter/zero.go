package filter

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// zeroes is what IsZero compares with. It lives outside the function:
// a local array would be cleared on every call, and with the call
// inlined into the dump engine that clearing (rep stos of 4 KiB per
// page) was 4% of a -d 31 -l run's CPU.
var zeroes [4096]byte

// IsZero reports whether page is all zero bytes.
func IsZero(page []byte) bool {
	for len(page) > 0 {
		n := min(len(page), len(zeroes))
		if !bytes.Equal(page[:n], zeroes[:n]) {
			return false
		}
		page = page[n:]
	}
	return true
}

// zeroChunk is how many pfns one worker checks at a time: one chunk of
// the bitmap, which the worker alone changes.
const zeroChunk = mem.ChunkPFNs

// DropZeroPages reads every page p.Keep still holds, clears the all-zero
// ones and counts them in p.Counts.Zero. makedumpfile does this for ELF
// output (-E) and --mem-usage; for kdump output the writer tests each page
// as it copies it instead, reading memory once. A page that cannot be
// read is kept: whoever copies it next meets the error and deals with
// it (the dump engine records it as lost and goes on), rather than one
// bad page stopping the whole dump here.
func DropZeroPages(ctx context.Context, d vmcore.Dump, p *Plan, workers int) error {
	if p.Cyclic != nil {
		return errors.New("filter: zero pages of a cyclic plan: its keep map is not held (plan with Options.Budget 0)")
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Each worker clears bits of its own chunks in place, and nothing
	// grows with the number of zero pages.
	nChunks := (uint64(p.MaxPFN) + zeroChunk - 1) / zeroChunk
	keep := p.Keep
	var zeros atomic.Uint64
	next := make(chan uint64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, d.PageSize())
			var n uint64
			for c := range next {
				start := mem.PFN(c * zeroChunk)
				end := min(start+zeroChunk, p.MaxPFN)
				for pfn, ok := keep.NextIn(start, end); ok; pfn, ok = keep.NextIn(pfn+1, end) {
					if err := d.ReadPage(pfn, buf); err != nil {
						continue
					}
					if IsZero(buf) {
						keep.Clear(pfn)
						n++
					}
				}
				keep.Compact(start, end)
			}
			zeros.Add(n)
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
	p.Counts.Zero += zeros.Load()
	p.Keep.Freeze()
	return nil
}
