package dump

import (
	"context"
	"fmt"

	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
)

// keepSource gives the engine the pfns to write in order: from the
// plan's keep map, or, for a cyclic plan, from its windows, each
// classified when the engine reaches it (the second mem_map pass) and
// written into the 2nd bitmap of every output as it comes. Only the
// current window's keep map is held; the batches in flight hold pfns,
// not bits, so moving on to the next window while they are written is
// safe.
type keepSource struct {
	keep *mem.Bitmap // bit i is pfn base+i, valid below end
	base mem.PFN
	end  mem.PFN

	ctx  context.Context
	it   *filter.WindowIter // nil for a one-pass plan
	outs []*kdumpfile.Writer
	err  error
	// onWindow, if set, sees each window (tests measure what is held).
	onWindow func(filter.Window)
}

func newKeepSource(ctx context.Context, p *filter.Plan, outs []*kdumpfile.Writer) *keepSource {
	if p.Cyclic == nil {
		return &keepSource{keep: p.Keep, end: p.MaxPFN}
	}
	return &keepSource{ctx: ctx, it: p.Cyclic.Iter(), outs: outs, onWindow: testWindowHook}
}

// testWindowHook, set by tests, sees each window a cyclic dump walks.
var testWindowHook func(filter.Window)

// next returns the first kept pfn in [pfn, end), moving on through the
// windows as needed. pfn never goes back below the current window.
func (k *keepSource) next(pfn, end mem.PFN) (mem.PFN, bool) {
	for pfn < end {
		if pfn >= k.end {
			if !k.advance() {
				return 0, false
			}
			continue
		}
		stop := min(end, k.end)
		if q, ok := k.keep.NextIn(pfn-k.base, stop-k.base); ok {
			return q + k.base, true
		}
		pfn = stop
	}
	return 0, false
}

// advance classifies the next window and writes its 2nd-bitmap bits.
func (k *keepSource) advance() bool {
	if k.it == nil || k.err != nil {
		return false
	}
	w, ok, err := k.it.Next(k.ctx)
	if err != nil {
		k.err = err
		return false
	}
	if !ok {
		return false
	}
	for i, o := range k.outs {
		if err := o.WriteKeep(w.Lo, w.Keep); err != nil {
			if len(k.outs) > 1 {
				err = fmt.Errorf("split file %d: %w", i+1, err)
			}
			k.err = err
			return false
		}
	}
	if k.onWindow != nil {
		k.onWindow(w)
	}
	k.keep, k.base, k.end = w.Keep, w.Lo, w.Hi
	return true
}

// finish walks the windows the pages did not reach, so every output
// gets its whole 2nd bitmap.
func (k *keepSource) finish() error {
	for k.advance() {
		k.keep = nil // let the window go: nothing reads it now
	}
	return k.err
}
