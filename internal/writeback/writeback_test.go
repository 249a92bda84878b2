package writeback

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestKicksEveryWindow checks that write-back is started once per
// window of bytes written, whichever way the bytes arrive, and that the
// file holds exactly what was written.
func TestKicksEveryWindow(t *testing.T) {
	tests := []struct {
		name   string
		window int64
		writes []int // sizes, written back to back
		kicks  int
	}{
		{"none below a window", 100, []int{40, 59}, 0},
		{"exactly one window", 100, []int{60, 40}, 1},
		{"one large write", 100, []int{350}, 1},
		{"many small writes", 100, []int{30, 30, 30, 30, 30, 30, 30}, 2},
		{"empty writes", 100, []int{0, 0, 100, 0}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "dump"))
			if err != nil {
				t.Fatal(err)
			}
			w := New(f, tc.window)
			calls := 0
			w.kick = func(*os.File) error { calls++; return nil }
			var want []byte
			r := rand.New(rand.NewPCG(1, 2))
			for _, n := range tc.writes {
				p := make([]byte, n)
				for i := range p {
					p[i] = byte(r.Uint32())
				}
				if _, err := w.WriteAt(p, int64(len(want))); err != nil {
					t.Fatal(err)
				}
				want = append(want, p...)
			}
			if calls != tc.kicks || w.Kicks() != tc.kicks {
				t.Errorf("kicks: called %d, counted %d, want %d", calls, w.Kicks(), tc.kicks)
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("file holds %d bytes, not the %d written", len(got), len(want))
			}
		})
	}
}

// TestRefusedKickStops checks that a file system refusing the call is
// asked once, and the writes go on.
func TestRefusedKickStops(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "dump"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := New(f, 10)
	calls := 0
	w.kick = func(*os.File) error { calls++; return errors.ErrUnsupported }
	for i := 0; i < 5; i++ {
		if _, err := w.Write(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 || w.Kicks() != 0 {
		t.Errorf("refused kick: called %d times, counted %d; want 1 and 0", calls, w.Kicks())
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 50 {
		t.Errorf("size %v (%v), want 50", fi.Size(), err)
	}
}

// TestRealKick runs the real sync_file_range on a file in the test's
// temporary directory: it must succeed on an ordinary local file system,
// so a broken call (wrong flags, wrong fd) shows here.
func TestRealKick(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "dump"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := startWriteback(f); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip("no sync_file_range on this system")
		}
		t.Fatalf("sync_file_range on %s: %v", f.Name(), err)
	}
	w := New(f, 1<<20)
	if _, err := w.WriteAt(make([]byte, 1<<20), 1<<20); err != nil {
		t.Fatal(err)
	}
	if w.Kicks() != 1 {
		t.Errorf("kicks %d after one window, want 1", w.Kicks())
	}
}
