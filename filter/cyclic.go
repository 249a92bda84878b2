package filter

import (
	"context"
	"fmt"
	"slices"

	"github.com/kdumpkit/kdumpkit/mem"
)

// Cycles is a plan too large to hold: makedumpfile's cyclic mode. The
// keep map is never built for the whole machine; Windows classifies
// mem_map again a window of pfns at a time and gives each window's keep
// bits, and the union of the windows is bit for bit the keep map the one
// pass would build. Exclude has walked the windows once already, to
// count: the plan's Counts, the pages kept in each chunk of mem.ChunkPFNs
// pfns (two bytes per 128 MiB of memory, so that the kdump writer can
// size its descriptor table and --split can cut its parts) and nothing
// else.
type Cycles struct {
	k      *kernelView
	ram    *mem.Bitmap
	stored *mem.Bitmap
	level  Level
	maxPFN mem.PFN
	// Window is the number of pfns per window, a multiple of
	// mem.ChunkPFNs; the last window ends at the plan's MaxPFN.
	Window  mem.PFN
	workers int
	kept    []uint16 // kept pages per chunk
	total   uint64
	// pool holds the scanners (translators, struct-page buffers) every
	// window of every pass reuses. Passes run one at a time: an
	// iterator must not be advanced while another one is.
	pool []*scanner
}

// Windows returns how many windows a pass has.
func (c *Cycles) Windows() int {
	return int((uint64(c.maxPFN) + uint64(c.Window) - 1) / uint64(c.Window))
}

// Rank returns the number of pages the plan keeps below pfn, before zero
// pages are dropped. pfn must be a multiple of mem.ChunkPFNs or at least
// MaxPFN: only the counts per chunk are held.
func (c *Cycles) Rank(pfn mem.PFN) (uint64, error) {
	if pfn >= c.maxPFN {
		return c.total, nil
	}
	if pfn%mem.ChunkPFNs != 0 {
		return 0, fmt.Errorf("filter: rank of pfn %#x in a cyclic plan: not a multiple of %#x", uint64(pfn), mem.ChunkPFNs)
	}
	var n uint64
	for _, k := range c.kept[:pfn/mem.ChunkPFNs] {
		n += uint64(k)
	}
	return n, nil
}

// Total returns the number of pages the plan keeps.
func (c *Cycles) Total() uint64 { return c.total }

// Window is the keep map of the pfns [Lo, Hi): Keep's bit i is pfn Lo+i.
// It is frozen (Rank works).
type Window struct {
	Lo, Hi mem.PFN
	Keep   *mem.Bitmap
	Counts Counts // pages excluded by runs that start in the window
}

// WindowIter walks the windows of a cyclic plan in pfn order, classifying
// each one when asked for it. Only the current window's keep map and the
// runs carried into the next window are held. Iterators of one plan share
// its scanners: several may exist, but only one may be advanced at a
// time (the next pass starts when the last one is done with).
type WindowIter struct {
	c      *Cycles
	lo     mem.PFN
	resume mem.PFN
	carry  []excl // excluded runs at or past lo, sorted, disjoint
}

// Iter starts a pass over the windows.
func (c *Cycles) Iter() *WindowIter { return &WindowIter{c: c} }

// Next classifies the next window. It returns false after the last one.
func (it *WindowIter) Next(ctx context.Context) (Window, bool, error) {
	c := it.c
	if it.lo >= c.maxPFN {
		return Window{}, false, nil
	}
	lo := it.lo
	hi := min(lo+c.Window, c.maxPFN)
	keep := c.stored.Slice(lo, hi)
	// Runs of earlier windows that reach into this one (a free block
	// of a high order) are cleared as the one pass clears them.
	k := 0
	for _, e := range it.carry {
		keep.ClearRange(max(e.start, lo)-lo, min(e.end, hi)-lo)
		if e.end > hi {
			it.carry[k] = e
			k++
		}
	}
	it.carry = it.carry[:k]
	r := &rangeScan{k: c.k, ram: c.ram, level: c.level, maxPFN: c.maxPFN, workers: c.workers,
		keep: keep, base: lo, lo: lo, hi: hi, resume: it.resume, pool: &c.pool}
	if err := r.run(ctx); err != nil {
		return Window{}, false, fmt.Errorf("filter: pfns [%#x, %#x): %w", uint64(lo), uint64(hi), err)
	}
	it.carry = mergeRuns(append(it.carry, r.overflow...))
	it.lo, it.resume = hi, r.resume
	keep.Freeze()
	return Window{Lo: lo, Hi: hi, Keep: keep, Counts: r.counts}, true, nil
}

// mergeRuns sorts runs and joins the overlapping ones, so what is carried
// from window to window stays as small as the pfns it covers allow.
func mergeRuns(runs []excl) []excl {
	if len(runs) < 2 {
		return runs
	}
	slices.SortFunc(runs, func(a, b excl) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	out := runs[:1]
	for _, e := range runs[1:] {
		if last := &out[len(out)-1]; e.start <= last.end {
			last.end = max(last.end, e.end)
			continue
		}
		out = append(out, e)
	}
	return out
}

// countPass walks every window once and records the counts.
func (c *Cycles) countPass(ctx context.Context, p *Plan) error {
	nchunks := (uint64(c.maxPFN) + mem.ChunkPFNs - 1) / mem.ChunkPFNs
	c.kept = make([]uint16, nchunks)
	it := c.Iter()
	for {
		w, ok, err := it.Next(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		p.Counts.merge(&w.Counts)
		for q := w.Lo; q < w.Hi; q += mem.ChunkPFNs {
			n := w.Keep.Rank(min(q+mem.ChunkPFNs, w.Hi)-w.Lo) - w.Keep.Rank(q-w.Lo)
			c.kept[q/mem.ChunkPFNs] = uint16(n)
			c.total += n
		}
	}
}
