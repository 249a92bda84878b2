package dump

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// Options tune the page engine. The zero value is the default: one
// worker per CPU (GOMAXPROCS), default buffering, no callbacks.
type Options struct {
	// Workers is how many goroutines read, zero-check and compress
	// pages (makedumpfile --num-threads). 0 means GOMAXPROCS. With 1
	// the engine runs inline on the caller's goroutine, with no other
	// goroutines or channels: the capture kernel usually has one CPU.
	Workers int
	// batches is the number of batches in flight with several
	// workers; 0 means two per worker (128 KiB each with 4 KiB pages).
	// It is raised to what the workers need to have one batch each in
	// flight and one being written. The inline engine (one worker)
	// always uses one batch. (makedumpfile's --cyclic-buffer is the
	// bitmap budget: filter.Options.Budget.)
	batches int
	// WriteBuffer is how many bytes of page data the kdump writer
	// gathers into one WriteAt (0: 64 KiB, as makedumpfile). capture-init
	// raises it for targets where each write waits for a network round
	// trip (SFTP), so a distant server still gets a useful rate.
	WriteBuffer int
	// WorkDir is makedumpfile --work-dir: a directory for scratch
	// files. The kdump engine keeps its bounded state in memory and
	// does not need one; it is accepted for the command line's sake.
	WorkDir string
	// Progress, if set, is called after each batch of pages is handed
	// to the format writer, with the pages done and the total the
	// output holds. With several workers it is called from whichever
	// worker wrote the batch, never by two at once.
	Progress func(done, total uint64)
	// ReadError, if set, is called once per run of pages the input
	// could not provide (kept pages in a row, excluded ones between
	// them do not break the run) (an I/O error, a fault on a mapped
	// page), with the first error of the run. Those pages are written
	// as lost and the dump goes on; it ends marked incomplete.
	ReadError func(r mem.PFNRange, err error)
}

// batchPages is how many pages one unit of work holds. Hand-offs between
// goroutines cost about a microsecond; a batch of 16 pages costs 50 µs
// to 1 ms to compress, so the hand-off is noise and a batch is only
// 64 KiB of page memory.
const batchPages = 16

// ErrUnreadable is wrapped by the error a dump returns when pages of the
// input could not be read: they are recorded as lost, the dump is
// complete otherwise and marked incomplete in its header.
var ErrUnreadable = errors.New("pages of the input could not be read")

// pageKind is what became of one page.
type pageKind uint8

const (
	kindData pageKind = iota // slot holds n bytes in method m
	kindZero                 // an all-zero page, shared
	kindLost                 // the input says the page is lost
	kindBad                  // the input failed to provide the page
)

type pageResult struct {
	kind pageKind
	m    codec.Method
	n    int
	err  error // kindBad only
}

// batch is a unit of work: up to batchPages pages, read into slots of
// one buffer and compressed in place.
type batch struct {
	n    int
	pfns [batchPages]mem.PFN
	res  [batchPages]pageResult
	buf  []byte // batchPages page slots
	// seq and ready belong to the parallel engine: the batch's place
	// in fill order, and whether its worker is done with it.
	seq   uint64
	ready bool
}

// worker is the per-goroutine state: an encoder and its scratch output.
type worker struct {
	src     vmcore.Dump
	m       codec.Method
	zero    bool
	ps      int
	enc     codec.Encoder
	scratch []byte
}

func newWorker(src vmcore.Dump, m codec.Method, zero bool) *worker {
	ps := src.PageSize()
	return &worker{src: src, m: m, zero: zero, ps: ps, scratch: make([]byte, codec.MaxEncodedLen(ps))}
}

// pagesReader is implemented by dumps that read runs of consecutive
// pages at once (vmcore's ELF dumps: one pread for a run in one
// segment, instead of one per page).
type pagesReader interface {
	ReadPages(pfn mem.PFN, dst []byte) error
}

// process reads, zero-checks and compresses the pages of b. A
// compressed page replaces the raw page at the start of its slot (it is
// strictly smaller, so it fits).
func (wk *worker) process(b *batch) {
	wk.read(b)
	for i := 0; i < b.n; i++ {
		r := &b.res[i]
		if r.kind != kindData {
			continue
		}
		slot := b.buf[i*wk.ps : (i+1)*wk.ps]
		if wk.zero && filter.IsZero(slot) {
			r.kind = kindZero
			continue
		}
		data, used, err := wk.enc.EncodePage(wk.m, wk.scratch, slot)
		if err != nil {
			// Encoders fail only on programming errors (short
			// buffers); store the page raw rather than lose it.
			data, used = slot, codec.Raw
		}
		if used != codec.Raw {
			copy(slot, data)
		}
		r.m, r.n = used, len(data)
	}
}

// read fills the slots of b: runs of consecutive pfns with one read
// where the dump can, then page by page (also to find which page of a
// run failed). Each result says whether its page was read.
func (wk *worker) read(b *batch) {
	pr, _ := wk.src.(pagesReader)
	for i := 0; i < b.n; {
		j := i + 1
		for j < b.n && b.pfns[j] == b.pfns[j-1]+1 {
			j++
		}
		if pr != nil && j-i > 1 && pr.ReadPages(b.pfns[i], b.buf[i*wk.ps:j*wk.ps]) == nil {
			for k := i; k < j; k++ {
				b.res[k] = pageResult{kind: kindData}
			}
			i = j
			continue
		}
		for ; i < j; i++ {
			b.res[i] = pageResult{kind: kindData}
			err := wk.src.ReadPage(b.pfns[i], b.buf[i*wk.ps:(i+1)*wk.ps])
			switch {
			case err == nil:
			case errors.Is(err, mem.ErrLost):
				// Refiltering an incomplete dump: the page stays
				// lost and the readable pages after it are saved.
				b.res[i].kind = kindLost
			default:
				b.res[i] = pageResult{kind: kindBad, err: err}
			}
		}
	}
}

// engine writes the pages of one writer.
type engine struct {
	src vmcore.Dump
	p   *filter.Plan
	m   codec.Method
	w   *kdumpfile.Writer
	opt Options
	ks  *keepSource

	// read failures, coalesced into runs for ReadError
	bad      uint64
	regions  uint64
	runStart mem.PFN
	runEnd   mem.PFN
	runErr   error
	done     uint64
	total    uint64
}

// writeKdumpPages writes the pages of p within w's range to w, encoded
// with m by makedumpfile's rules (zero pages shared at -d 1, compressed
// only when strictly smaller), and closes w. On a write error or when
// ctx ends it closes w too, which marks the file incomplete, and returns
// the error. Zero pages it shares are added to p.Counts.Zero. Pages the
// input cannot provide are written as lost (see Options.ReadError) and
// the returned error then wraps ErrUnreadable and mem.ErrLost.
// WriteKdump and the split writer both use it.
func writeKdumpPages(ctx context.Context, src vmcore.Dump, p *filter.Plan, m codec.Method, w *kdumpfile.Writer, opt Options) error {
	ks := newKeepSource(ctx, p, []*kdumpfile.Writer{w})
	e := &engine{src: src, p: p, m: m, w: w, opt: opt, ks: ks, total: w.Total()}
	err := e.run(ctx)
	if err == nil {
		err = ks.finish()
	}
	return e.close(err)
}

// run runs the engine over the writer's range, taking the kept pfns from
// e.ks, and leaves the writer open.
func (e *engine) run(ctx context.Context) error {
	workers := e.opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var err error
	if workers == 1 {
		err = e.runInline(ctx)
	} else {
		err = e.runParallel(ctx, workers)
	}
	e.flushRun()
	if err == nil {
		err = e.ks.err
	}
	return err
}

// close closes the writer after run and returns the dump's error: err
// (from run), or the writer's, wrapped with ErrUnreadable when pages
// could not be read.
func (e *engine) close(err error) error {
	cerr := e.w.Close()
	if err != nil {
		return err
	}
	if e.bad > 0 {
		return fmt.Errorf("%d pages in %d regions: %w; they are recorded as lost: %w", e.bad, e.regions, ErrUnreadable, cerr)
	}
	return cerr
}

// fill puts the next pages of the writer's range from pfn on into b and
// returns where to continue.
func (e *engine) fill(b *batch, pfn mem.PFN, end mem.PFN) mem.PFN {
	b.n = 0
	for b.n < batchPages {
		next, ok := e.ks.next(pfn, end)
		if !ok {
			return end
		}
		b.pfns[b.n] = next
		b.n++
		pfn = next + 1
	}
	return pfn
}

func newBatch(ps int) *batch {
	return &batch{buf: make([]byte, batchPages*ps)}
}

func (e *engine) runInline(ctx context.Context) error {
	wk := newWorker(e.src, e.m, e.p.Level&filter.ExcludeZero != 0)
	defer wk.enc.Close()
	b := newBatch(wk.ps)
	r := e.w.Range()
	for pfn := r.Start; pfn < r.End; {
		if err := ctx.Err(); err != nil {
			return err
		}
		pfn = e.fill(b, pfn, r.End)
		if b.n == 0 {
			break
		}
		wk.process(b)
		if err := e.write(b); err != nil {
			return err
		}
	}
	return nil
}

// runParallel runs workers goroutines that each take the next batch,
// process it and, when it is the oldest one not yet written, write it and
// every finished batch after it. There is no writer goroutine: with one
// goroutine per CPU and a third that wrote, the writer waited in the run
// queue behind the workers, the workers then ran out of batches and
// parked, and every cycle cost wake-ups. Now a worker waits only when it
// is nb batches ahead of the oldest unwritten one.
//
// The batches form a ring: batch s (in fill order) uses slot s%nb, and a
// slot is refilled only after its batch is written, so at most nb
// batches are held. Writing stays in pfn order, so the output is the
// inline engine's byte for byte.
func (e *engine) runParallel(ctx context.Context, workers int) error {
	ps := e.src.PageSize()
	nb := 2 * workers
	if e.opt.batches > 0 {
		nb = e.opt.batches
	}
	nb = max(nb, workers+1)
	zero := e.p.Level&filter.ExcludeZero != 0
	r := e.w.Range()

	ring := make([]*batch, nb)
	for i := range ring {
		ring[i] = newBatch(ps)
	}
	var (
		mu       sync.Mutex
		slotFree = sync.NewCond(&mu) // a batch was written
		pfn      = r.Start           // where filling goes on
		filled   bool                // no pages left to fill
		fillSeq  uint64              // the next batch to fill
		writeSeq uint64              // the oldest batch not yet written
		writing  bool                // a worker is writing batches
		failed   error               // the first write error or ctx's
		// wmu serialises the format writer between the batch writes
		// and, for a cyclic plan, filling: moving to the next window
		// writes that window's 2nd bitmap through the same writers.
		wmu sync.Mutex
	)
	cyclic := e.ks.it != nil

	// commit writes the finished batches from writeSeq on. Called with
	// mu held, it returns with mu held.
	commit := func() {
		for !writing && failed == nil {
			b := ring[writeSeq%uint64(nb)]
			if !b.ready || b.seq != writeSeq {
				return
			}
			writing = true
			mu.Unlock()
			wmu.Lock()
			err := e.write(b)
			wmu.Unlock()
			mu.Lock()
			writing = false
			b.ready = false
			writeSeq++
			if err != nil && failed == nil {
				failed = err
			}
			slotFree.Broadcast()
		}
	}

	work := func() {
		wk := newWorker(e.src, e.m, zero)
		defer wk.enc.Close()
		mu.Lock()
		defer mu.Unlock()
		for {
			for !filled && failed == nil && fillSeq-writeSeq >= uint64(nb) {
				slotFree.Wait()
			}
			if filled || failed != nil {
				return
			}
			if err := ctx.Err(); err != nil {
				failed = err
				slotFree.Broadcast()
				return
			}
			b := ring[fillSeq%uint64(nb)]
			if cyclic {
				wmu.Lock()
			}
			pfn = e.fill(b, pfn, r.End)
			if cyclic {
				wmu.Unlock()
			}
			if b.n == 0 {
				filled = true
				slotFree.Broadcast()
				return
			}
			b.seq = fillSeq
			fillSeq++
			mu.Unlock()
			wk.process(b)
			mu.Lock()
			b.ready = true
			commit()
		}
	}

	var wg sync.WaitGroup
	for i := 1; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
	return failed
}

// write hands one processed batch to the format writer.
func (e *engine) write(b *batch) error {
	ps := e.src.PageSize()
	for i := 0; i < b.n; i++ {
		pfn := b.pfns[i]
		r := &b.res[i]
		var err error
		switch r.kind {
		case kindData:
			e.flushRun()
			err = e.w.WritePage(pfn, b.buf[i*ps:i*ps+r.n], r.m)
		case kindZero:
			e.flushRun()
			e.p.Counts.Zero++
			err = e.w.WriteZero(pfn)
		case kindLost:
			e.flushRun()
			err = e.w.WriteLost(pfn)
		case kindBad:
			e.noteBad(pfn, r.err)
			r.err = nil
			err = e.w.WriteLost(pfn)
		}
		if err != nil {
			return err
		}
	}
	e.done += uint64(b.n)
	if e.opt.Progress != nil {
		e.opt.Progress(e.done, e.total)
	}
	return nil
}

// noteBad extends the current run of unreadable pages (pages written
// one after the other with no readable page between, excluded pages
// do not break a run) or starts a new one.
func (e *engine) noteBad(pfn mem.PFN, err error) {
	e.bad++
	if e.runErr != nil {
		e.runEnd = pfn + 1
		return
	}
	e.regions++
	e.runStart, e.runEnd, e.runErr = pfn, pfn+1, err
}

// flushRun reports the current run of unreadable pages, if any.
func (e *engine) flushRun() {
	if e.runErr == nil {
		return
	}
	if e.opt.ReadError != nil {
		e.opt.ReadError(mem.PFNRange{Start: e.runStart, End: e.runEnd}, e.runErr)
	}
	e.runErr = nil
}
