package e2e

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// WriteTable prints one line per result: the measured table.
func WriteTable(w io.Writer, rs []*Result) {
	fmt.Fprintf(w, "%-6s %-6s %6s %6s %-4s %9s %8s %9s %8s %10s %10s  %s\n",
		"kernel", "target", "mem", "ck", "ok", "panic→ci", "dump", "panic→sv", "peakMiB", "initrdKiB", "dumpKiB", "checks")
	for _, r := range rs {
		ok := "yes"
		if r.Err != nil {
			ok = "NO"
		}
		fmt.Fprintf(w, "%-6s %-6s %5dM %6s %-4s %9s %8s %9s %8.1f %10d %10d  %s\n",
			r.Case.Kernel, r.Case.Target, r.Case.MemoryMiB, r.Case.CrashKernel, ok,
			secs(r.PanicToStart), secs(r.DumpDuration), secs(r.PanicToSaved),
			float64(r.PeakKiB)/1024, r.InitramfsBytes>>10, r.DumpBytes>>10, checks(r))
	}
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func checks(r *Result) string {
	names := make([]string, 0, len(r.Checks))
	for n := range r.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		v := "ok"
		if r.Checks[n] != "ok" {
			v = "FAIL"
		}
		parts = append(parts, strings.Fields(n)[0]+":"+v)
	}
	return strings.Join(parts, " ")
}

// WriteDemoReport prints the short report of make demo.
func WriteDemoReport(w io.Writer, r *Result) {
	c := r.Case
	fmt.Fprintf(w, "\n== kdumpkit demo: %s kernel (%s), %d MiB guest, crashkernel=%s, %s target\n", c.Kernel, r.Release, c.MemoryMiB, c.CrashKernel, c.Target)
	if r.Err != nil {
		fmt.Fprintf(w, "FAILED: %v\n", r.Err)
		if r.Console != "" {
			fmt.Fprintf(w, "console log: %s\n", r.Console)
		}
		return
	}
	ram := int64(c.MemoryMiB) << 20
	fmt.Fprintf(w, "panic → capture-init running: %s\n", secs(r.PanicToStart))
	fmt.Fprintf(w, "dump written in:             %s\n", secs(r.DumpDuration))
	fmt.Fprintf(w, "panic → dump saved:          %s\n", secs(r.PanicToSaved))
	fmt.Fprintf(w, "dump size:                   %.1f MiB of %d MiB RAM (%.1f%%), collector %q\n",
		float64(r.DumpBytes)/(1<<20), c.MemoryMiB, 100*float64(r.DumpBytes)/float64(ram), r.collector())
	fmt.Fprintf(w, "capture initramfs:           %.1f MiB; capture-init peak memory %.1f MiB\n", float64(r.InitramfsBytes)/(1<<20), float64(r.PeakKiB)/1024)
	fmt.Fprintf(w, "files:                       %s in %s\n", strings.Join(r.Files, ", "), r.Dir)
	fmt.Fprintf(w, "read back with crash:\n  %s\n", r.PanicLine)
	for i, l := range r.Backtrace {
		if i == 8 {
			fmt.Fprintf(w, "  ...\n")
			break
		}
		fmt.Fprintf(w, "  %s\n", l)
	}
	fmt.Fprintf(w, "checks: %s\n", checks(r))
}

func (r *Result) collector() string {
	if r.Case.Collector != "" {
		return r.Case.Collector
	}
	return DefaultCollector
}

// DefaultCollector is the core_collector line of a case that names none
// (RHEL's default).
const DefaultCollector = "makedumpfile -l --message-level 7 -d 31"

// MinCrashKernel bisects the smallest crashkernel= (in MiB, a multiple
// of 8) at which case c saves a dump that passes the checks, between 32
// and 512 MiB. It prints each try to w.
func (h *Harness) MinCrashKernel(ctx context.Context, c Case, w io.Writer) (int, error) {
	return h.MinCrashKernelIn(ctx, c, w, 32, 512)
}

// MinCrashKernelIn bisects between lo (assumed to fail) and hi (which
// must work), both in MiB. Each try also prints what `kdumpctl estimate`
// recommended in the guest and its inputs.
func (h *Harness) MinCrashKernelIn(ctx context.Context, c Case, w io.Writer, lo, hi int) (int, error) {
	try := func(mib int) bool {
		c.CrashKernel = fmt.Sprintf("%dM", mib)
		r := h.Run(ctx, c)
		verdict := "works"
		if r.Err != nil {
			verdict = "fails: " + firstLine(r.Err.Error())
		}
		fmt.Fprintf(w, "crashkernel=%dM: %s\n", mib, verdict)
		if r.EstimateMiB != 0 {
			fmt.Fprintf(w, "  estimate in the guest: %dM; inputs: %s\n", r.EstimateMiB, r.EstimateInputs)
		}
		return r.Err == nil
	}
	// A capture kernel short of memory mostly panics at once (QEMU then
	// exits: -no-reboot), but may also hang; do not wait the full timeout.
	if h.Timeout > 8*time.Minute {
		defer func(t time.Duration) { h.Timeout = t }(h.Timeout)
		h.Timeout = 8 * time.Minute
	}
	if !try(hi) {
		return 0, fmt.Errorf("crashkernel=%dM does not work either", hi)
	}
	for hi-lo > 8 {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		mid := (lo + hi) / 2 / 8 * 8
		if try(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
