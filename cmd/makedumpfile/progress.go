package main

import (
	"fmt"
	"io"
	"time"

	"github.com/kdumpkit/kdumpkit/dump"
	"github.com/kdumpkit/kdumpkit/filter"
)

// Step names as makedumpfile prints them (print_info.h).
const (
	stepHoles   = "Checking for memory holes  "
	stepExclude = "Excluding unnecessary pages"
	stepCopy    = "Copying data               "
)

// progress prints makedumpfile's progress line on standard error when
// --message-level has the progress bit: "\r", the step name padded to
// 50 columns, ": [ 12.3 %] ", a spinner and an estimate of the time left,
// at most once a second while a step runs and once at its end. A newline
// ends the copy step.
type progress struct {
	w     io.Writer // nil: progress is off
	now   func() time.Time
	last  int64 // the second of the last line, as the C tool's time(NULL)
	lapse int
	start time.Time
	full  bool // the last line was at 100 %
}

func newProgress(w io.Writer, on bool) *progress {
	p := &progress{now: time.Now}
	if on {
		p.w = w
	}
	return p
}

// begin starts timing a step, for its estimate.
func (p *progress) begin() { p.start = p.now() }

// report prints step's progress: done of total.
func (p *progress) report(step string, done, total uint64) {
	if p.w == nil {
		return
	}
	var promille uint64 = 1000
	if done < total {
		t := p.now().Unix()
		if t-p.last < 1 {
			return
		}
		p.last = t
		promille = done * 1000 / total
	}
	eta := " "
	if !p.start.IsZero() && promille != 0 {
		el := p.now().Sub(p.start)
		ms := uint64(el.Milliseconds())
		eta = etaShort(ms/promille - uint64(el/time.Second))
	}
	p.full = promille == 1000
	fmt.Fprintf(p.w, "\r%-50s: [%3d.%d %%] %c  %16s", step, promille/10, promille%10, "/|\\-"[p.lapse%4], eta)
	p.lapse++
}

// finish prints step at 100 % unless its last line was, and with newline
// ends the line.
func (p *progress) finish(step string, newline bool) {
	if p.w == nil {
		return
	}
	if !p.full {
		p.report(step, 1, 1)
	}
	p.full = false
	if newline {
		fmt.Fprint(p.w, "\n")
	}
}

// etaShort is the C tool's eta_to_human_short.
func etaShort(secs uint64) string {
	m, h := secs/60, secs/3600
	d := h / 24
	switch {
	case secs < 100:
		return fmt.Sprintf("eta: %ds", secs)
	case m < 100:
		return fmt.Sprintf("eta: %dm%ds", m, secs%60)
	case h < 48:
		return fmt.Sprintf("eta: %dh%dm", h, m%60)
	case d < 100:
		return fmt.Sprintf("eta: %dd%dh", d, h%24)
	}
	return "eta: >100day"
}

// engineOptions are the dump engine's options from the command line:
// --num-threads, --work-dir, and the copy step's progress line.
// (--cyclic-buffer is the filter's: filterOptions.)
func (r *runner) engineOptions() dump.Options {
	return dump.Options{
		Workers: r.cfg.NumThreads,
		WorkDir: r.cfg.WorkDir,
		Progress: func(done, total uint64) {
			r.progress.report(stepCopy, done, total)
		},
	}
}

// filterOptions are the filter's options from the command line: the keep
// map's budget is --cyclic-buffer (KiB), or makedumpfile's automatic one
// (60% of MemAvailable, at most 4 MiB) when it is not given. A plan over
// budget is cyclic: mem_map is walked twice, the second time a window at
// a time while the pages are written. ELF output (-E) needs the whole
// keep map, so it is always planned in one pass.
func (r *runner) filterOptions() filter.Options {
	if r.cfg.ELF {
		return filter.Options{}
	}
	b := r.cfg.CyclicBufferKiB << 10
	if b <= 0 {
		b = filter.DefaultBudget()
	}
	return filter.Options{Budget: b}
}
