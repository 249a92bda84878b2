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
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// TestCorpusKdumpByteIdentical: uncompressed kdump output at -d 0 and
// -d 1 of the real 6.1 dump is byte for byte the C makedumpfile's.
func TestCorpusKdumpByteIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	mdf := dumptest.CMakedumpfile(t)
	c := corpus.Ensure(t)
	src, err := vmcore.Open(c.Path(corpus.SourceName))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, level := range []filter.Level{0, 1} {
		t.Run(fmt.Sprintf("d%d", level), func(t *testing.T) {
			dir := t.TempDir()
			theirs := filepath.Join(dir, "theirs")
			cmd := exec.Command(mdf, "-d", fmt.Sprint(level), c.Path(corpus.SourceName), theirs)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
			}
			p, err := filter.Exclude(context.Background(), src, level, filter.Options{})
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(filepath.Join(dir, "ours"))
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteKdump(context.Background(), src, p, codec.Raw, f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			a, _ := os.ReadFile(theirs)
			b, _ := os.ReadFile(filepath.Join(dir, "ours"))
			if len(a) != len(b) {
				t.Errorf("size %d, makedumpfile's %d", len(b), len(a))
			}
			for i := 0; i < min(len(a), len(b)); i++ {
				if a[i] != b[i] {
					t.Fatalf("first difference at offset %#x: ours %#x, makedumpfile's %#x", i, b[i], a[i])
				}
			}
			if !bytes.Equal(a, b) {
				t.Fatal("files differ")
			}
		})
	}
}
