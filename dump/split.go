package dump

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// DefaultSplitBlockSize is makedumpfile's default --splitblock-size: 1 GiB
// (the option itself takes KiB).
const DefaultSplitBlockSize = 1 << 30

// SplitRanges divides [0, maxPFN) into n ranges holding about equal
// numbers of the pages keep has, the way makedumpfile --split does
// (setup_splitting, calculate_end_pfn_by_splitblock): memory is cut into
// blocks of blockPFNs pages, and each of the first n-1 files takes whole
// blocks until it has at least total/n pages; the last file takes the
// rest. Files after the pages run out get empty ranges at maxPFN, and with
// large blocks on a small machine the first file may get everything (a
// 1 GiB guest at the default 1 GiB block size).
func SplitRanges(keep *mem.Bitmap, maxPFN mem.PFN, n int, blockPFNs uint64) ([]mem.PFNRange, error) {
	if keep.Len() < maxPFN {
		return nil, errors.New("split: bitmap shorter than max pfn")
	}
	ranges, _, err := splitRanges(func(p mem.PFN) (uint64, error) { return keep.Rank(p), nil }, maxPFN, n, blockPFNs)
	return ranges, err
}

// splitRanges is SplitRanges with the kept pages below a pfn given by
// rank, which it asks for pfns in ascending order. It also returns the
// pages each range holds.
func splitRanges(rank func(mem.PFN) (uint64, error), maxPFN mem.PFN, n int, blockPFNs uint64) ([]mem.PFNRange, []uint64, error) {
	if n < 1 {
		return nil, nil, fmt.Errorf("split: %d files", n)
	}
	if blockPFNs == 0 {
		return nil, nil, errors.New("split: block size of 0 pages")
	}
	total, err := rank(maxPFN)
	if err != nil {
		return nil, nil, err
	}
	blocks := (uint64(maxPFN) + blockPFNs - 1) / blockPFNs
	blockEnd := func(b uint64) mem.PFN { return mem.PFN(min(b*blockPFNs, uint64(maxPFN))) }

	ranges := make([]mem.PFNRange, n)
	counts := make([]uint64, n)
	var start mem.PFN
	var below uint64 // rank(start)
	cur := uint64(0) // next block
	for i := 0; i < n-1; i++ {
		end, at := maxPFN, total
		if start < maxPFN {
			// makedumpfile's pfn_needed is signed; it only shrinks.
			needed := int64(total / uint64(n))
			at = below
			for cur < blocks && needed > 0 {
				r, err := rank(blockEnd(cur + 1))
				if err != nil {
					return nil, nil, err
				}
				needed -= int64(r - at)
				at = r
				cur++
			}
			end = blockEnd(cur)
		}
		ranges[i] = mem.PFNRange{Start: start, End: end}
		counts[i] = at - below
		start, below = end, at
	}
	ranges[n-1] = mem.PFNRange{Start: start, End: maxPFN}
	counts[n-1] = total - below
	return ranges, counts, nil
}

// cyclicRank returns the rank function of a cyclic plan for splitRanges:
// from its counts per chunk when the blocks are whole chunks (the
// default block of 1 GiB is eight), else from one more pass over its
// windows (pfns must then come in ascending order, as splitRanges asks).
func cyclicRank(ctx context.Context, c *filter.Cycles, blockPFNs uint64) func(mem.PFN) (uint64, error) {
	if blockPFNs%mem.ChunkPFNs == 0 {
		return c.Rank
	}
	it := c.Iter()
	var (
		w    filter.Window
		base uint64 // pages kept below w.Lo
		more = true
	)
	return func(p mem.PFN) (uint64, error) {
		if r, err := c.Rank(p); err == nil {
			return r, nil
		}
		for more && (w.Keep == nil || p >= w.Hi) {
			if w.Keep != nil {
				base += w.Keep.Count()
			}
			var err error
			if w, more, err = it.Next(ctx); err != nil {
				return 0, err
			}
		}
		if !more || p < w.Lo {
			return 0, fmt.Errorf("split: rank of pfn %#x out of order", uint64(p))
		}
		return base + w.Keep.Rank(p-w.Lo), nil
	}
}

// SplitOptions tune WriteKdumpSplit.
type SplitOptions struct {
	// BlockSize is --splitblock-size in bytes, a multiple of the page
	// size; DefaultSplitBlockSize if zero.
	BlockSize int64
	// Options run the engine; the members are written one after the
	// other, each with all the workers.
	Options
}

// WriteKdumpSplit writes the pages p keeps as a --split set, one
// kdump-compressed file per element of outs, like makedumpfile --split.
// Every member has the full header (split = 1 and its pfn range), both
// full-range bitmaps, a descriptor table sized for all the pages (only
// its own descriptors are written, from index 0) and its own shared zero
// page. Pages are compressed with m as in WriteKdump. The members are
// written one after the other; the first error stops the set (the member
// being written is marked incomplete).
func WriteKdumpSplit(ctx context.Context, src vmcore.Dump, p *filter.Plan, m codec.Method, outs []io.WriterAt, opt SplitOptions) error {
	if len(outs) < 2 {
		return fmt.Errorf("split: %d output files; --split needs at least 2", len(outs))
	}
	cfg, err := KdumpConfig(src, p, m)
	if err != nil {
		return err
	}
	bs := opt.BlockSize
	if bs == 0 {
		bs = DefaultSplitBlockSize
	}
	if bs < 0 || bs%int64(cfg.PageSize) != 0 {
		return fmt.Errorf("split: block size %d is not a positive multiple of the %d-byte page", bs, cfg.PageSize)
	}
	var rank func(mem.PFN) (uint64, error)
	if p.Cyclic != nil {
		rank = cyclicRank(ctx, p.Cyclic, uint64(bs/int64(cfg.PageSize)))
	} else {
		if p.Keep.Len() < p.MaxPFN {
			return errors.New("split: bitmap shorter than max pfn")
		}
		rank = func(q mem.PFN) (uint64, error) { return p.Keep.Rank(q), nil }
	}
	ranges, counts, err := splitRanges(rank, p.MaxPFN, len(outs), uint64(bs/int64(cfg.PageSize)))
	if err != nil {
		return err
	}
	if p.Cyclic == nil {
		for i, r := range ranges {
			c := cfg
			c.Split, c.Start, c.End = true, r.Start, r.End
			w, err := kdumpfile.NewWriter(outs[i], c)
			if err != nil {
				return fmt.Errorf("split file %d: %w", i+1, err)
			}
			if err := writeKdumpPages(ctx, src, p, m, w, opt.Options); err != nil {
				return fmt.Errorf("split file %d (pfns %v): %w", i+1, r, err)
			}
		}
		return nil
	}
	// A cyclic plan is walked once for the whole set: every member
	// needs every window's 2nd bitmap, so all members are opened first
	// and each window goes to all of them as the pass reaches it; the
	// pages go to the member whose range holds them, in order.
	ws := make([]*kdumpfile.Writer, len(outs))
	for i, r := range ranges {
		c := cfg
		c.Split, c.Start, c.End, c.KeptInRange = true, r.Start, r.End, counts[i]
		w, err := kdumpfile.NewWriter(outs[i], c)
		if err != nil {
			for _, o := range ws[:i] {
				o.Close()
			}
			return fmt.Errorf("split file %d: %w", i+1, err)
		}
		ws[i] = w
	}
	ks := newKeepSource(ctx, p, ws)
	for i, r := range ranges {
		e := &engine{src: src, p: p, m: m, w: ws[i], opt: opt.Options, ks: ks, total: ws[i].Total()}
		if err = e.run(ctx); err == nil && e.bad > 0 {
			err = fmt.Errorf("%d pages in %d regions: %w; they are recorded as lost: %w", e.bad, e.regions, ErrUnreadable, mem.ErrLost)
		}
		if err != nil {
			err = fmt.Errorf("split file %d (pfns %v): %w", i+1, r, err)
			break
		}
	}
	if err == nil {
		err = ks.finish()
	}
	// The members close last: until the pass ends, each lacks the 2nd
	// bitmap of the windows after its range. After a failure they are
	// all marked incomplete (the writer counts the bitmap bytes).
	for i, w := range ws {
		if cerr := w.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("split file %d (pfns %v): %w", i+1, ranges[i], cerr)
		}
	}
	return err
}
