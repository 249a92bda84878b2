package filter

import (
	"bytes"
	"context"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

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
// as it copies it instead, reading memory once. A page that cannot be
// read is kept: whoever copies it next meets the error and deals with
// it (the dump engine records it as lost and goes on), rather than one
// bad page stopping the whole dump here.
func DropZeroPages(ctx context.Context, d vmcore.Dump, p *Plan, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Each chunk is a whole number of bitmap bytes, so workers clear
	// bits of their own chunk in place, and nothing grows with the
	// number of zero pages.
	nChunks := (uint64(p.MaxPFN) + zeroChunk - 1) / zeroChunk
	keep := p.Keep.Bytes()
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
				end := min(mem.PFN((c+1)*zeroChunk), p.MaxPFN)
				for pfn, ok := nextSet(keep, mem.PFN(c*zeroChunk), end); ok; pfn, ok = nextSet(keep, pfn+1, end) {
					if err := d.ReadPage(pfn, buf); err != nil {
						continue
					}
					if IsZero(buf) {
						keep[pfn>>3] &^= 1 << (pfn & 7)
						n++
					}
				}
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

// nextSet returns the first set bit of b in [p, end), reading no byte
// past the one holding end-1: the bytes after it are another worker's.
func nextSet(b []byte, p, end mem.PFN) (mem.PFN, bool) {
	for p < end {
		by := b[p>>3] >> (p & 7)
		if by == 0 {
			p = (p | 7) + 1
			continue
		}
		p += mem.PFN(bits.TrailingZeros8(by))
		return p, p < end
	}
	return 0, false
}
