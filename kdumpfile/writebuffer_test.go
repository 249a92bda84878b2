package kdumpfile

import (
	"bytes"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/mem"
)

// sizeRecorder is an in-memory io.WriterAt that remembers its largest
// write and how many writes it took.
type sizeRecorder struct {
	writerAt
	largest, writes int
}

func (r *sizeRecorder) WriteAt(p []byte, off int64) (int, error) {
	r.largest = max(r.largest, len(p))
	r.writes++
	return r.writerAt.WriteAt(p, off)
}

// TestWriteBuffer: WriterConfig.WriteBuffer changes how the page data is
// cut into writes, never the bytes of the file.
func TestWriteBuffer(t *testing.T) {
	const maxPFN = 2048
	ram, keep := mem.NewBitmap(maxPFN), mem.NewBitmap(maxPFN)
	ram.SetRange(0, maxPFN)
	keep.SetRange(0, maxPFN)
	ram.Freeze()
	keep.Freeze()
	write := func(buffer int) *sizeRecorder {
		out := &sizeRecorder{}
		w, err := NewWriter(out, WriterConfig{PageSize: 4096, MaxPFN: maxPFN, RAM: ram, Keep: keep,
			Compression: codec.Raw, WriteBuffer: buffer})
		if err != nil {
			t.Fatal(err)
		}
		page := make([]byte, 4096)
		for p := mem.PFN(0); p < maxPFN; p++ {
			synthContent(p, page)
			if err := w.WritePage(p, page, codec.Raw); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	def, big := write(0), write(1<<20)
	if !bytes.Equal(def.b, big.b) {
		t.Fatalf("a 1 MiB write buffer changed the file (%d bytes against %d)", len(big.b), len(def.b))
	}
	// 8 MiB of pages: 64 KiB writes by default, 1 MiB ones when asked.
	if def.largest > writeChunk+4096 || def.largest < writeChunk {
		t.Errorf("default: largest write %d bytes, want about %d", def.largest, writeChunk)
	}
	if big.largest < 1<<20 || big.writes*4 > def.writes {
		t.Errorf("1 MiB buffer: largest write %d bytes in %d writes (default: %d writes)", big.largest, big.writes, def.writes)
	}
}
