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
	if n < 1 {
		return nil, fmt.Errorf("split: %d files", n)
	}
	if blockPFNs == 0 {
		return nil, errors.New("split: block size of 0 pages")
	}
	if keep.Len() < maxPFN {
		return nil, errors.New("split: bitmap shorter than max pfn")
	}
	total := keep.Rank(maxPFN)
	blocks := (uint64(maxPFN) + blockPFNs - 1) / blockPFNs
	blockEnd := func(b uint64) mem.PFN { return mem.PFN(min(b*blockPFNs, uint64(maxPFN))) }

	ranges := make([]mem.PFNRange, n)
	var start mem.PFN
	cur := uint64(0) // next block
	for i := 0; i < n-1; i++ {
		end := maxPFN
		if start < maxPFN {
			// makedumpfile's pfn_needed is signed; it only shrinks.
			needed := int64(total / uint64(n))
			for cur < blocks && needed > 0 {
				needed -= int64(keep.Rank(blockEnd(cur+1)) - keep.Rank(blockEnd(cur)))
				cur++
			}
			end = blockEnd(cur)
		}
		ranges[i] = mem.PFNRange{Start: start, End: end}
		start = end
	}
	ranges[n-1] = mem.PFNRange{Start: start, End: maxPFN}
	return ranges, nil
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
	ranges, err := SplitRanges(p.Keep, p.MaxPFN, len(outs), uint64(bs/int64(cfg.PageSize)))
	if err != nil {
		return err
	}
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
