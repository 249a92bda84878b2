package vmcore

import (
	"bytes"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

func TestMmapReaderMatchesFile(t *testing.T) {
	data := make([]byte, 2*windowSize+12345)
	rand.New(rand.NewSource(1)).Read(data)
	path := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, pread := range []bool{false, true} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		m := newMmapReader(f, int64(len(data)))
		m.pread = pread
		for _, c := range []struct{ off, n int }{
			{0, 4096}, {windowSize - 100, 300}, {windowSize * 2, 12345}, {len(data) - 10, 10}, {5, 3 * windowSize / 2},
		} {
			buf := make([]byte, c.n)
			if _, err := m.ReadAt(buf, int64(c.off)); err != nil {
				t.Fatalf("pread=%v ReadAt(%d, %d): %v", pread, c.off, c.n, err)
			}
			if !bytes.Equal(buf, data[c.off:c.off+c.n]) {
				t.Fatalf("pread=%v ReadAt(%d, %d): wrong bytes", pread, c.off, c.n)
			}
		}
		buf := make([]byte, 20)
		n, err := m.ReadAt(buf, int64(len(data)-10))
		if n != 10 || err != io.EOF {
			t.Fatalf("read across EOF = %d, %v; want 10, EOF", n, err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
