package dump

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// corpusSource opens the real 6.1 corpus dump and the C makedumpfile, or
// skips the test with -short.
func corpusSource(t *testing.T) (*corpus.Corpus, vmcore.Dump, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	mdf := dumptest.CMakedumpfile(t)
	c := corpus.Ensure(t)
	src, err := vmcore.Open(c.Path(corpus.SourceName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return c, src, mdf
}

func excludePlan(t *testing.T, src vmcore.Dump, level filter.Level) *filter.Plan {
	t.Helper()
	p, err := filter.Exclude(context.Background(), src, level, filter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFile writes a kdump file with WriteKdump.
func writeFile(t *testing.T, src vmcore.Dump, p *filter.Plan, m codec.Method, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteKdump(context.Background(), src, p, m, f); err != nil {
		t.Fatal(err)
	}
}

// sameFiles fails t unless the files at a (ours) and b (the reference)
// are equal byte for byte.
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(x, y) {
		return
	}
	for i := 0; i < min(len(x), len(y)); i++ {
		if x[i] != y[i] {
			t.Fatalf("%s and %s: first difference at offset %#x (sizes %d, %d)", a, b, i, len(x), len(y))
		}
	}
	t.Fatalf("%s has %d bytes, %s %d", a, len(x), b, len(y))
}

func runMDF(t *testing.T, mdf string, stdin io.Reader, args ...string) {
	t.Helper()
	cmd := exec.Command(mdf, args...)
	cmd.Stdin = stdin
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
}

// TestCorpusFlat: our -F stream piped into the C makedumpfile -R gives
// our direct file, and the C tool's -F stream through our Rearrange gives
// its direct file.
func TestCorpusFlat(t *testing.T) {
	c, src, mdf := corpusSource(t)
	t.Run("theirs", func(t *testing.T) {
		in, err := os.Open(c.Path("makedumpfile-F-c-d31.flat"))
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		name := filepath.Join(t.TempDir(), "rearranged")
		out, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if err := kdumpfile.Rearrange(in, out); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, name, c.Path("makedumpfile-c-d31.kdump"))
	})
	for _, tc := range []struct {
		level filter.Level
		m     codec.Method
	}{{31, codec.Raw}, {31, codec.LZO}, {31, codec.Zlib}, {1, codec.LZO}} {
		t.Run(fmt.Sprintf("ours-%v-d%d", tc.m, tc.level), func(t *testing.T) {
			p := excludePlan(t, src, tc.level)
			dir := t.TempDir()
			direct := filepath.Join(dir, "direct")
			writeFile(t, src, p, tc.m, direct)
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				err := WriteKdumpFlat(context.Background(), src, p, tc.m, pw)
				pw.CloseWithError(err)
				done <- err
			}()
			rearranged := filepath.Join(dir, "rearranged")
			runMDF(t, mdf, pr, "-R", rearranged)
			pr.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			sameFiles(t, rearranged, direct)
		})
	}
}
