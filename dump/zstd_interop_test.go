package dump

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/debkernel"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// TestCorpusZstdSid compares our -z files with Debian sid's makedumpfile
// 1.7.8 (built with libzstd, which compresses each page at level 1) on the
// 1 GiB corpus and, when it exists, the 4 GiB one, at -d 31 and -d 1:
//   - ours is no larger than the C tool's file;
//   - every stored page reads back equal to the source with our reader
//     (github.com/klauspost/compress decodes the frames) and, sampled, with
//     libkdumpfile;
//   - the C tool decodes our frames with libzstd: it refilters our file to
//     -d 31 -l, whose every page then equals the source, and its
//     --dump-dmesg on our file gives the text it gives on its own.
func TestCorpusZstdSid(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus and a sid chroot; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the sid makedumpfile chroot (CI runs it as root)")
	}
	sid, err := oracle.SidMakedumpfile(context.Background(), debkernel.CacheDir(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	cors := []*corpus.Corpus{corpus.Ensure(t)}
	if big, err := corpus.Find(corpus.Options{MemoryMiB: 4096}); err == nil {
		cors = append(cors, big)
	} else {
		t.Logf("no 4 GiB corpus, only the 1 GiB one: %v", err)
	}
	for _, c := range cors {
		for _, level := range []filter.Level{31, 1} {
			t.Run(fmt.Sprintf("%s/d%d", filepath.Base(c.Dir), level), func(t *testing.T) {
				zstdSidCase(t, sid, c, level)
			})
		}
	}
}

func zstdSidCase(t *testing.T, sid *oracle.Makedumpfile, c *corpus.Corpus, level filter.Level) {
	src, err := vmcore.Open(c.Path(corpus.SourceName))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	// The chroot sees only dir: the source is linked (or copied) in.
	in := filepath.Join(dir, "vmcore")
	if err := os.Link(c.Path(corpus.SourceName), in); err != nil {
		if err := exec.Command("cp", "--reflink=auto", c.Path(corpus.SourceName), in).Run(); err != nil {
			t.Fatalf("copy the source: %v", err)
		}
	}
	sidRun := func(args ...string) {
		t.Helper()
		cmd, err := sid.Command(context.Background(), dir, args...)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", sid, args, err, out)
		}
	}
	sidRun("-z", "-d", fmt.Sprint(level), "vmcore", "theirs.kd")
	ours := filepath.Join(dir, "ours.kd")
	writeFile(t, src, excludePlan(t, src, level), codec.Zstd, ours)
	a, err := os.Stat(filepath.Join(dir, "theirs.kd"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(ours)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("-z -d %d: ours %d bytes, %s %d (%.4f)", level, b.Size(), sid.Version, a.Size(), float64(b.Size())/float64(a.Size()))
	if b.Size() > a.Size() {
		t.Errorf("-z -d %d: ours %d bytes, larger than the C tool's %d", level, b.Size(), a.Size())
	}
	checkPages(t, src, ours, codec.Zstd)
	if oracle.HaveLibkdumpfile() {
		checkLibkdumpfile(t, src, ours, dir)
	}
	// libzstd decodes every stored page of ours when the C tool
	// refilters it.
	sidRun("-d", "31", "-l", "ours.kd", "refiltered.kd")
	checkPages(t, src, filepath.Join(dir, "refiltered.kd"), codec.LZO)
	os.Remove(filepath.Join(dir, "refiltered.kd"))
	sidRun("--dump-dmesg", "theirs.kd", "dmesg-theirs.txt")
	sidRun("--dump-dmesg", "ours.kd", "dmesg-ours.txt")
	x, err := os.ReadFile(filepath.Join(dir, "dmesg-theirs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join(dir, "dmesg-ours.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(x) == 0 || !bytes.Equal(x, y) {
		t.Errorf("--dump-dmesg on our file: %d bytes, on the C tool's: %d bytes, not equal", len(y), len(x))
	}
}
