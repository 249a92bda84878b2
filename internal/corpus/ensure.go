package corpus

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ensure returns the default corpus (1 GiB guest, newest 6.1 cloud kernel),
// building it first if it does not exist (about a minute here, a few
// minutes on slow machines). Parallel test binaries wait for a single build.
//
// It skips the test if the corpus cannot be built on this machine (a
// program is missing) or is absent under -short, except with CI=true, where
// it fails instead: CI must run the real-kernel tests. A failed build
// always fails the test.
func Ensure(tb testing.TB) *Corpus {
	tb.Helper()
	return EnsureWith(tb, Options{})
}

// EnsureWith is Ensure for another corpus, e.g. Options{MemoryMiB: 4096}
// or Options{Kernel: Kernel612} (Debian's 6.12 cloud kernel, filtered by
// sid's makedumpfile). opt.Log is ignored: progress goes to tb.Log.
func EnsureWith(tb testing.TB, opt Options) *Corpus {
	tb.Helper()
	if c, err := Find(opt); err == nil {
		return c
	}
	ci := os.Getenv("CI") == "true"
	if missing := MissingToolsFor(opt); len(missing) > 0 {
		if ci {
			tb.Fatalf("corpus: cannot build the real-kernel corpus, missing programs: %s", strings.Join(missing, ", "))
		}
		tb.Skipf("corpus: cannot build the real-kernel corpus, missing programs: %s (see docs/corpus.md)", strings.Join(missing, ", "))
	}
	if testing.Short() && !ci {
		tb.Skip("corpus: not built yet and -short is set; run `make corpus`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			// Leave time for the test to report instead of the harness
			// panicking on its timeout.
			var cancel2 context.CancelFunc
			ctx, cancel2 = context.WithDeadline(ctx, dl.Add(-20*time.Second))
			defer cancel2()
		}
	}
	opt.Log = &tbWriter{tb: tb}
	tb.Logf("corpus: building the real-kernel corpus (QEMU, a minute or more)")
	c, err := Build(ctx, opt, false)
	if err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	return c
}

// tbWriter sends each written line to tb.Log.
type tbWriter struct {
	tb  testing.TB
	mu  sync.Mutex
	buf []byte
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.tb.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
