package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// writeLimited writes a kdump file of at most limit bytes.
func writeLimited(t *testing.T, src vmcore.Dump, p *filter.Plan, m codec.Method, name string, limit int64) error {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return WriteKdump(context.Background(), src, p, m, kdumpfile.LimitWriterAt(f, limit))
}

// TestCorpusLimit: -L cuts the dump at the limit, keeps the pages below
// it and marks the file incomplete; compared with the C tool at the same
// limit (uncompressed, where the files can be equal, and zlib against the
// corpus file, where the cut falls elsewhere because our zlib bytes
// differ).
func TestCorpusLimit(t *testing.T) {
	c, src, mdf := corpusSource(t)
	p := excludePlan(t, src, 1)
	const limit = 160676748 // the corpus -c -d 1 -L run's
	dir := t.TempDir()

	t.Run("raw", func(t *testing.T) {
		ours := filepath.Join(dir, "ours-raw")
		err := writeLimited(t, src, p, codec.Raw, ours, limit)
		if !errors.Is(err, kdumpfile.ErrLimit) || !errors.Is(err, mem.ErrLost) {
			t.Fatalf("error %v does not wrap ErrLimit and mem.ErrLost", err)
		}
		if st, _ := os.Stat(ours); st.Size() != limit {
			t.Errorf("file of %d bytes, limit %d", st.Size(), limit)
		}
		intact, lost := dumptest.CheckIncomplete(t, src, ours)

		theirs := filepath.Join(dir, "theirs-raw")
		cmd := exec.Command(mdf, "-d", "1", "-L", fmt.Sprint(limit), c.Path("vmcore.elf"), theirs)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("%v: %v (want exit status 1)\n%s", cmd.Args, err, out)
		}
		tIntact, tLost := dumptest.CheckIncomplete(t, src, theirs)
		t.Logf("limit %d, -d 1 uncompressed: ours %d pages intact, %d lost; makedumpfile %d intact, %d lost", limit, intact, lost, tIntact, tLost)
		if intact < tIntact {
			t.Errorf("we keep fewer pages than makedumpfile")
		}
		compareIncomplete(t, ours, theirs)
	})

	t.Run("zlib", func(t *testing.T) {
		ours := filepath.Join(dir, "ours-zlib")
		err := writeLimited(t, src, p, codec.Zlib, ours, limit)
		if !errors.Is(err, kdumpfile.ErrLimit) || !errors.Is(err, mem.ErrLost) {
			t.Fatalf("error %v does not wrap ErrLimit and mem.ErrLost", err)
		}
		intact, lost := dumptest.CheckIncomplete(t, src, ours)
		name := c.Path(fmt.Sprintf("makedumpfile-c-d1-L%d.kdump", limit))
		if _, err := os.Stat(name); err != nil {
			t.Skipf("corpus has no %s", filepath.Base(name))
		}
		tIntact, tLost := dumptest.CheckIncomplete(t, src, name)
		t.Logf("limit %d, -c -d 1: ours %d pages intact, %d lost; makedumpfile %d intact, %d lost", limit, intact, lost, tIntact, tLost)
	})
}

// compareIncomplete logs how two incomplete files differ: where the
// first difference is, and whether only descriptors differ.
func compareIncomplete(t *testing.T, ours, theirs string) {
	a, _ := os.ReadFile(ours)
	b, _ := os.ReadFile(theirs)
	if bytes.Equal(a, b) {
		t.Log("the files are byte-identical")
		return
	}
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			t.Logf("files differ first at %#x (sizes %d, %d)", i, len(a), len(b))
			return
		}
	}
	t.Logf("sizes %d, %d", len(a), len(b))
}

// TestCorpusENOSPCRoot: a -d 1 dump of the 1 GiB corpus guest (about
// 750 MB uncompressed) into a 64 MiB tmpfs fills it mid-dump: the file
// stays readable, is marked incomplete, keeps every page that landed and
// the writer reports ENOSPC wrapped with mem.ErrLost. makedumpfile's
// --dump-dmesg reads it when the log buffer survived.
func TestCorpusENOSPCRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs it as root)")
	}
	_, src, mdf := corpusSource(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	p := excludePlan(t, src, 1)
	name := filepath.Join(mnt, "dump")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	err = WriteKdump(context.Background(), src, p, codec.Raw, f)
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, mem.ErrLost) {
		t.Fatalf("error %v does not wrap ENOSPC and mem.ErrLost", err)
	}
	t.Logf("writer: %v", err)
	intact, lost := dumptest.CheckIncomplete(t, src, name)
	st, _ := os.Stat(name)
	t.Logf("%d bytes on a 64 MiB tmpfs: %d pages intact, %d lost", st.Size(), intact, lost)
	if intact < 10000 {
		t.Errorf("only %d pages kept", intact)
	}

	// The C tool's reader accepts the file too. The dmesg may sit in a
	// lost page; then it must say so, not crash.
	dmesg := filepath.Join(dir, "dmesg")
	out, err := exec.Command(mdf, "--dump-dmesg", name, dmesg).CombinedOutput()
	if err == nil {
		b, _ := os.ReadFile(dmesg)
		if !bytes.Contains(b, []byte("Linux version")) {
			t.Errorf("dmesg from the incomplete dump lacks the banner:\n%.300s", b)
		}
		t.Logf("makedumpfile --dump-dmesg: %d bytes of log", len(b))
	} else {
		t.Logf("makedumpfile --dump-dmesg: %v\n%s", err, strings.TrimSpace(string(out)))
	}
}

// TestCorpusRefilterIncomplete: re-filtering the C tool's incomplete dump
// (-L) keeps every page it holds and records the rest as lost, instead of
// stopping at the first lost page.
func TestCorpusRefilterIncomplete(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	c := corpus.Ensure(t)
	inc := c.Files(corpus.KindIncomplete)
	if len(inc) == 0 {
		t.Fatal("corpus has no incomplete dump")
	}
	src, err := vmcore.Open(c.Path(inc[0].Name))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p, err := filter.Exclude(context.Background(), src, filter.ExcludeZero, filter.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "refiltered")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	werr := WriteKdump(context.Background(), src, p, codec.LZO, f)
	f.Close()
	if !errors.Is(werr, mem.ErrLost) {
		t.Fatalf("WriteKdump: %v, want an error wrapping mem.ErrLost", werr)
	}
	got, err := vmcore.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	a, b := make([]byte, src.PageSize()), make([]byte, src.PageSize())
	var same, lost uint64
	for pfn, ok := got.Stored().Next(0); ok; pfn, ok = got.Stored().Next(pfn + 1) {
		errA, errB := src.ReadPage(pfn, a), got.ReadPage(pfn, b)
		switch {
		case errors.Is(errA, mem.ErrLost) && errors.Is(errB, mem.ErrLost):
			lost++
		case errA == nil && errB == nil && bytes.Equal(a, b):
			same++
		default:
			t.Fatalf("pfn %#x: source %v, refiltered %v", pfn, errA, errB)
		}
	}
	if same == 0 || lost == 0 {
		t.Fatalf("%d pages kept, %d lost; want both", same, lost)
	}
	t.Logf("%d pages kept, %d still lost", same, lost)
}
