package capture

import (
	"context"
	"io"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// recFile is a targets.File in memory that records its largest write;
// with size > 0 it also says how large its writes should be, as an
// SFTP file does.
type recFile struct {
	b       []byte
	largest int
	size    int
}

func (f *recFile) WriteAt(p []byte, off int64) (int, error) {
	f.largest = max(f.largest, len(p))
	if end := off + int64(len(p)); end > int64(len(f.b)) {
		f.b = append(f.b, make([]byte, end-int64(len(f.b)))...)
	}
	copy(f.b[off:], p)
	return len(p), nil
}

func (f *recFile) Write(p []byte) (int, error) { return f.WriteAt(p, int64(len(f.b))) }
func (f *recFile) Sync() error                 { return nil }
func (f *recFile) Close() error                { return nil }

type sizedFile struct{ *recFile }

func (f sizedFile) WriteSize() int { return f.size }

// TestCorpusDumpWriteSize runs the capture dump step on the 1 GiB corpus
// vmcore (standing in for /proc/vmcore): page data reaches the target in
// writes of captureWriteBuffer, or of what the file asks for, and the
// dump reads back whole.
func TestCorpusDumpWriteSize(t *testing.T) {
	c, err := corpus.Find(corpus.Options{MemoryMiB: 1024})
	if err != nil {
		t.Skipf("no 1 GiB corpus: %v", err)
	}
	l := &Linux{VmcorePath: c.Path(corpus.SourceName)}
	cfg := &Config{Level: 31, Method: codec.LZO}
	for _, tc := range []struct {
		name string
		rec  *recFile
		want int
	}{
		{"plain", &recFile{}, captureWriteBuffer},
		{"sized", &recFile{size: 1 << 20}, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.rec.size > 0 {
				_, err = l.Dump(context.Background(), cfg, sizedFile{tc.rec}, false, t.Logf)
			} else {
				_, err = l.Dump(context.Background(), cfg, tc.rec, false, t.Logf)
			}
			if err != nil {
				t.Fatal(err)
			}
			// The last write of page data may be short; the largest is
			// the buffer plus at most one page.
			if tc.rec.largest < tc.want || tc.rec.largest > tc.want+4096 {
				t.Errorf("largest write %d bytes, want %d (+ a page at most)", tc.rec.largest, tc.want)
			}
			d, err := vmcore.OpenReaderAt(bytesReaderAt(tc.rec.b), int64(len(tc.rec.b)))
			if err != nil {
				t.Fatalf("the dump does not open: %v", err)
			}
			if d.VMCOREINFO() == nil {
				t.Error("the dump has no VMCOREINFO")
			}
		})
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
