package kdumpfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/mem"
)

// TestLimitGolden: -L through LimitWriterAt gives makedumpfile's -L file
// byte for byte (same size, same pages kept, status 0x8 added).
func TestLimitGolden(t *testing.T) {
	full := readGz(t, "lzo-d0.gz")
	want := readGz(t, "lzo-d0-incomplete.gz")
	var out writerAt
	err := Reassemble(openBytes(t, full), LimitWriterAt(&out, 60<<10))
	if !errors.Is(err, ErrLimit) || !errors.Is(err, mem.ErrLost) {
		t.Fatalf("error %v does not wrap ErrLimit and mem.ErrLost", err)
	}
	firstDiff(t, out.b, want)
	f := openBytes(t, out.b)
	st, err := f.DescStats()
	if err != nil {
		t.Fatal(err)
	}
	if !f.Incomplete() || st.Lost == 0 || st.Lost == st.Pages {
		t.Fatalf("incomplete %v, %d of %d pages lost", f.Incomplete(), st.Lost, st.Pages)
	}
}

// fullFS is an io.WriterAt on a filesystem of capacity bytes: writes into
// blocks not yet allocated take space, and a write that runs out writes
// what fits and fails with ENOSPC, as pwrite does. Overwriting allocated
// blocks always works.
type fullFS struct {
	writerAt
	capacity int64
	blocks   map[int64]bool
}

const fsBlock = 4096

func (f *fullFS) WriteAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		blk := (off + int64(n)) / fsBlock
		k := min(len(p)-n, int((blk+1)*fsBlock-(off+int64(n))))
		if !f.blocks[blk] {
			if int64(len(f.blocks)+1)*fsBlock > f.capacity {
				return n, &fsError{off + int64(n)}
			}
			f.blocks[blk] = true
		}
		f.writerAt.WriteAt(p[n:n+k], off+int64(n))
		n += k
	}
	return n, nil
}

type fsError struct{ off int64 }

func (e *fsError) Error() string { return fmt.Sprintf("write at %#x: no space left on device", e.off) }
func (e *fsError) Unwrap() error { return syscall.ENOSPC }

// synthContent is the content of page pfn of the synthetic dump: zero for
// every third pfn, else a pattern that LZO shrinks for even pfns and
// noise otherwise.
func synthContent(pfn mem.PFN, b []byte) {
	clear(b)
	if pfn%3 == 0 {
		return
	}
	x := uint64(pfn)*0x9e3779b97f4a7c15 + 1
	for i := 0; i < len(b); i += 8 {
		if pfn%2 == 0 && i%64 != 0 {
			continue
		}
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := 0; j < 8; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
}

// writeSynth writes a dump of maxPFN pages (every pfn RAM, every fourth
// excluded) to out with LZO and zero page sharing.
func writeSynth(t *testing.T, out io.WriterAt, maxPFN mem.PFN) error {
	ram, keep := mem.NewBitmap(maxPFN), mem.NewBitmap(maxPFN)
	ram.SetRange(0, maxPFN)
	for p := mem.PFN(0); p < maxPFN; p++ {
		if p%4 != 1 {
			keep.Set(p)
		}
	}
	ram.Freeze()
	keep.Freeze()
	w, err := NewWriter(out, WriterConfig{PageSize: 4096, MaxPFN: maxPFN, RAM: ram, Keep: keep,
		Compression: codec.LZO, DumpLevel: 1, ZeroPage: true})
	if err != nil {
		t.Fatal(err)
	}
	var enc codec.Encoder
	defer enc.Close()
	page := make([]byte, 4096)
	buf := make([]byte, codec.MaxEncodedLen(4096))
	for p, ok := keep.Next(0); ok; p, ok = keep.Next(p + 1) {
		synthContent(p, page)
		if p%3 == 0 {
			err = w.WriteZero(p)
		} else {
			data, m, eerr := enc.EncodePage(codec.LZO, buf, page)
			if eerr != nil {
				t.Fatal(eerr)
			}
			err = w.WritePage(p, data, m)
		}
		if err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// checkIncomplete opens b and checks that every stored page is intact or
// lost, and returns the counts.
func checkIncomplete(t *testing.T, b []byte) (intact, lost uint64) {
	t.Helper()
	f := openBytes(t, b)
	if !f.Incomplete() {
		t.Fatal("file not marked incomplete")
	}
	got, want := make([]byte, 4096), make([]byte, 4096)
	for p, ok := f.Stored().Next(0); ok; p, ok = f.Stored().Next(p + 1) {
		err := f.ReadPage(p, got)
		if errors.Is(err, mem.ErrLost) {
			lost++
			continue
		}
		if err != nil {
			t.Fatalf("pfn %#x: %v", p, err)
		}
		synthContent(p, want)
		if !bytes.Equal(got, want) {
			t.Fatalf("pfn %#x: wrong contents", p)
		}
		intact++
	}
	return intact, lost
}

// TestWriterENOSPC: a dump that fills the filesystem keeps every page
// whose data landed, is marked incomplete and says so in its error.
func TestWriterENOSPC(t *testing.T) {
	const maxPFN = 6000
	var full writerAt
	if err := writeSynth(t, &full, maxPFN); err != nil {
		t.Fatal(err)
	}
	for _, capacity := range []int64{40 << 10, 100 << 10, 1 << 20, 5 << 20, int64(len(full.b)) - 4096} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			fs := &fullFS{capacity: capacity, blocks: map[int64]bool{}}
			err := writeSynth(t, fs, maxPFN)
			if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, mem.ErrLost) {
				t.Fatalf("error %v does not wrap ENOSPC and mem.ErrLost", err)
			}
			intact, lost := checkIncomplete(t, fs.b)
			t.Logf("%d bytes of %d: %d pages intact, %d lost", len(fs.b), len(full.b), intact, lost)
			if capacity >= 1<<20 && intact == 0 {
				t.Error("no page kept")
			}
		})
	}
}

// TestWriterLimit: the same through LimitWriterAt at several limits.
func TestWriterLimit(t *testing.T) {
	const maxPFN = 6000
	var full writerAt
	if err := writeSynth(t, &full, maxPFN); err != nil {
		t.Fatal(err)
	}
	prev := uint64(0)
	for _, limit := range []int64{1 << 20, 3 << 20, 5 << 20, int64(len(full.b)) - 1} {
		var out writerAt
		err := writeSynth(t, LimitWriterAt(&out, limit), maxPFN)
		if !errors.Is(err, ErrLimit) || !errors.Is(err, mem.ErrLost) {
			t.Fatalf("limit %d: error %v does not wrap ErrLimit and mem.ErrLost", limit, err)
		}
		if int64(len(out.b)) != limit {
			t.Errorf("limit %d: file of %d bytes", limit, len(out.b))
		}
		intact, lost := checkIncomplete(t, out.b)
		t.Logf("limit %d: %d pages intact, %d lost", limit, intact, lost)
		if intact <= prev {
			t.Errorf("limit %d keeps %d pages, a smaller one kept %d", limit, intact, prev)
		}
		prev = intact
	}
	// At the exact size nothing is lost.
	var out writerAt
	if err := writeSynth(t, LimitWriterAt(&out, int64(len(full.b))), maxPFN); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.b, full.b) {
		t.Fatal("a limit of the full size changed the file")
	}
}

// TestWriterMissingPages: closing early or recording lost pages marks the
// file incomplete.
func TestWriterMissingPages(t *testing.T) {
	ram := mem.NewBitmap(64)
	ram.SetRange(0, 64)
	ram.Freeze()
	cfg := WriterConfig{PageSize: 4096, MaxPFN: 64, RAM: ram, Keep: ram}
	page := make([]byte, 4096)
	for _, lostAt := range []mem.PFN{10, 64} {
		var out writerAt
		w, err := NewWriter(&out, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for p := mem.PFN(0); p < 20; p++ {
			if p == lostAt {
				err = w.WriteLost(p)
			} else {
				err = w.WritePage(p, page, codec.Raw)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); !errors.Is(err, mem.ErrLost) {
			t.Fatalf("Close: %v", err)
		}
		f := openBytes(t, out.b)
		st, _ := f.DescStats()
		wantLost := uint64(44)
		if lostAt < 20 {
			wantLost++
		}
		if !f.Incomplete() || st.Lost != wantLost {
			t.Fatalf("lost at %d: incomplete %v, %d lost, want %d", lostAt, f.Incomplete(), st.Lost, wantLost)
		}
	}
}

// discardAt is an io.WriterAt that drops everything.
type discardAt struct{}

func (discardAt) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// TestWriterAllocs: once its buffers have grown, writing a page does not
// allocate.
func TestWriterAllocs(t *testing.T) {
	const maxPFN = 1 << 16
	ram := mem.NewBitmap(maxPFN)
	ram.SetRange(0, maxPFN)
	ram.Freeze()
	w, err := NewWriter(discardAt{}, WriterConfig{PageSize: 4096, MaxPFN: maxPFN, RAM: ram, Keep: ram, ZeroPage: true})
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, 4096)
	pfn := mem.PFN(0)
	write := func() {
		if pfn%2 == 0 {
			err = w.WriteZero(pfn)
		} else {
			err = w.WritePage(pfn, page, codec.Raw)
		}
		if err != nil {
			t.Fatal(err)
		}
		pfn++
	}
	for i := 0; i < 1024; i++ {
		write()
	}
	if a := testing.AllocsPerRun(1000, write); a != 0 {
		t.Errorf("%v allocations per page", a)
	}
}

// TestWriterENOSPCEveryBlock: the filesystem may fill at any 4 KiB block,
// also in the middle of a page descriptor (24 bytes do not divide 4096),
// leaving its offset written and its size zero. Whatever block the space
// ends at, every page reads back intact or lost, never as corrupt.
func TestWriterENOSPCEveryBlock(t *testing.T) {
	const maxPFN = 3000
	var full writerAt
	if err := writeSynth(t, &full, maxPFN); err != nil {
		t.Fatal(err)
	}
	// The header and bitmaps take the first blocks; the sweep starts past
	// them.
	for capacity := int64(32 << 10); capacity < int64(len(full.b)); capacity += fsBlock {
		fs := &fullFS{capacity: capacity, blocks: map[int64]bool{}}
		err := writeSynth(t, fs, maxPFN)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("capacity %d: error %v does not wrap ENOSPC", capacity, err)
		}
		if len(fs.b) < 4096 {
			continue // not even the header landed
		}
		checkIncomplete(t, fs.b)
	}
}
