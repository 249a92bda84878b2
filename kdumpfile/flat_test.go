package kdumpfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fuzzseed"
)

type rec struct {
	off  int64
	data []byte
}

func buildFlat(recs []rec, end bool) []byte {
	b := make([]byte, FlatHeaderSize)
	copy(b, FlatSignature)
	binary.BigEndian.PutUint64(b[16:], 1)
	binary.BigEndian.PutUint64(b[24:], 1)
	var h [16]byte
	for _, r := range recs {
		binary.BigEndian.PutUint64(h[0:], uint64(r.off))
		binary.BigEndian.PutUint64(h[8:], uint64(len(r.data)))
		b = append(b, h[:]...)
		b = append(b, r.data...)
	}
	if end {
		binary.BigEndian.PutUint64(h[0:], ^uint64(0))
		binary.BigEndian.PutUint64(h[8:], ^uint64(0))
		b = append(b, h[:]...)
	}
	return b
}

// TestFlatOverlap: later records win, holes read as zero, and ReadAt and
// Rearrange agree.
func TestFlatOverlap(t *testing.T) {
	recs := []rec{
		{10, []byte("AAAAAAAAAA")}, // [10,20)
		{0, []byte("bbbb")},        // [0,4)
		{15, []byte("CCCCCCCCCC")}, // [15,25) overrides 15..19
		{12, []byte("dd")},         // [12,14) overrides
		{30, []byte("e")},
		{16, []byte("F")},
	}
	want := []byte("bbbb\x00\x00\x00\x00\x00\x00AAddACFCCCCCCCC\x00\x00\x00\x00\x00e")
	b := buildFlat(recs, true)
	fi, err := OpenFlattened(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(want)) {
		t.Fatalf("size %d want %d", fi.Size(), len(want))
	}
	for off := 0; off < len(want); off++ {
		for n := 0; off+n <= len(want)+2; n++ {
			p := make([]byte, n)
			got, err := fi.ReadAt(p, int64(off))
			exp := want[off:min(off+n, len(want))]
			if got != len(exp) || !bytes.Equal(p[:got], exp) {
				t.Fatalf("ReadAt(%d, %d) = %q, %v; want %q", n, off, p[:got], err, exp)
			}
			if off+n > len(want) && err != io.EOF {
				t.Fatalf("ReadAt past end: err %v", err)
			}
		}
	}
	var w writerAt
	if err := Rearrange(bytes.NewReader(b), &w); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.b, want) {
		t.Fatalf("Rearrange = %q want %q", w.b, want)
	}
}

func TestFlatErrors(t *testing.T) {
	good := []rec{{0, []byte("hello")}}
	bad := func(off, size int64) []byte {
		b := buildFlat(good, false)
		var h [16]byte
		binary.BigEndian.PutUint64(h[0:], uint64(off))
		binary.BigEndian.PutUint64(h[8:], uint64(size))
		return append(b, h[:]...)
	}
	tests := []struct {
		name string
		b    []byte
		msg  string
	}{
		{"no end marker", buildFlat(good, false), "without the end marker"},
		{"truncated data", buildFlat(good, true)[:FlatHeaderSize+16+3], "without the end marker"},
		{"negative offset", bad(-5, 10), "offset -5 is negative"},
		{"zero size", bad(0, 0), "size 0 is not positive"},
		{"half end marker", bad(-1, 5), "offset -1 is negative"},
		{"huge size", bad(0, 1<<40), "exceeds"},
		{"overflow", bad(1<<62, 1<<31+(1<<62)), "exceeds"},
		{"short header", []byte("makedumpfile"), "header"},
		{"bad type", func() []byte { b := buildFlat(good, true); b[23] = 2; return b }(), "type 2"},
		{"bad signature", func() []byte { b := buildFlat(good, true); b[0] = 'M'; return b }(), "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err1 := OpenFlattened(bytes.NewReader(tc.b), int64(len(tc.b)))
			err2 := Rearrange(bytes.NewReader(tc.b), &writerAt{})
			for _, err := range []error{err1, err2} {
				if err == nil {
					t.Fatal("no error")
				}
				if !strings.Contains(err.Error(), tc.msg) && !(tc.name == "truncated data" && strings.Contains(err.Error(), "past the end")) {
					t.Errorf("err %q lacks %q", err, tc.msg)
				}
			}
		})
	}
	// The premature-EOF message names the stream offset.
	b := buildFlat(good, false)
	err := Rearrange(bytes.NewReader(b), &writerAt{})
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "flattened stream ended at offset 4117 without the end marker") {
		t.Errorf("err %v", err)
	}
}

// fuzzFlatLimit caps the image FuzzFlattened rebuilds in memory, so that
// one record at a large offset does not cost a large allocation per exec.
const fuzzFlatLimit = 1 << 20

// FuzzFlattened: the index and Rearrange never panic and agree. Seeds: a
// synthetic stream, a prefix of the makedumpfile -F fixture, the committed
// seeds in testdata/fuzz/FuzzFlattened and, when the real-kernel corpus is
// built, -F stream prefixes and small kdump files flattened.
func FuzzFlattened(f *testing.F) {
	f.Add(buildFlat([]rec{{10, []byte("AAAA")}, {0, []byte("bb")}, {11, []byte("c")}}, true))
	if b, err := os.ReadFile(filepath.Join("testdata", "lzo-d1-flat.gz")); err == nil && len(b) > 0 {
		f.Add(readGz(f, "lzo-d1-flat.gz")[:8192])
	}
	if s := fuzzseed.Load(f); s != nil {
		for _, sd := range s.Flattened {
			f.Add(sd.Data)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 24 { // keep the fuzzer past the header check
			copy(b, FlatSignature)
			binary.BigEndian.PutUint64(b[16:], 1)
		}
		fi, err1 := OpenFlattened(bytes.NewReader(b), int64(len(b)))
		var w writerAt
		err2 := Rearrange(bytes.NewReader(b), &capWriter{w: &w, limit: fuzzFlatLimit})
		if (err1 == nil) != (err2 == nil) && !errors.Is(err2, errTooBig) {
			t.Fatalf("OpenFlattened %v, Rearrange %v", err1, err2)
		}
		if err1 != nil || err2 != nil || fi.Size() > fuzzFlatLimit {
			return
		}
		img := make([]byte, fi.Size())
		if n, err := fi.ReadAt(img, 0); n != len(img) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt: %d %v", n, err)
		}
		if !bytes.Equal(img, w.b) {
			t.Fatal("index and Rearrange disagree")
		}
		if _, err := Open(fi, fi.Size()); err == nil {
			_ = err // a valid dump inside is fine too
		}
	})
}

var errTooBig = errors.New("too big")

type capWriter struct {
	w     *writerAt
	limit int64
}

func (c *capWriter) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > c.limit {
		return 0, errTooBig
	}
	return c.w.WriteAt(p, off)
}
