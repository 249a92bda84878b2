package stream

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
)

// records mimics an array of kernel structs (list pointers, flags,
// counters, a name), roughly what a flattened dump stream holds.
func records(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i, k := 0, 0; i+64 <= len(b); i, k = i+64, k+1 {
		binary.LittleEndian.PutUint64(b[i:], 0xffff888100000000+uint64(k)*64)
		binary.LittleEndian.PutUint32(b[i+16:], uint32(rng.Intn(4)))
		copy(b[i+32:], "kworker/")
		if rng.Intn(3) == 0 {
			binary.LittleEndian.PutUint64(b[i+56:], rng.Uint64())
		}
	}
	return b
}

func wrap(t testing.TB, s codec.Stream, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewWriter(&b, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var streams = []codec.Stream{codec.StreamNone, codec.StreamXZ, codec.StreamLZ4}

// TestRoundTrip: what NewWriter wraps, codec.OpenStream (with this
// package's readers registered) detects and unwraps.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	data := append([]byte("makedumpfile\x00\x00\x00\x00"), records(rng, 1<<20)...)
	random := make([]byte, 100<<10)
	rng.Read(random)
	data = append(data, random...)
	for _, s := range streams {
		t.Run(s.String(), func(t *testing.T) {
			w := wrap(t, s, data)
			if got := codec.DetectStream(w); got != s {
				t.Errorf("DetectStream = %v, want %v", got, s)
			}
			r, got, err := codec.OpenStream(bytes.NewReader(w))
			if err != nil {
				t.Fatal(err)
			}
			if got != s {
				t.Errorf("OpenStream found %v, want %v", got, s)
			}
			out, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, data) {
				t.Fatalf("unwrapped %d bytes, want the %d written", len(out), len(data))
			}
		})
	}
}

// TestTruncated: a cut wrapped stream is an error, not a short success.
func TestTruncated(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	data := records(rng, 256<<10)
	for _, s := range []codec.Stream{codec.StreamXZ, codec.StreamLZ4} {
		w := wrap(t, s, data)
		r, _, err := codec.OpenStream(bytes.NewReader(w[:len(w)/2]))
		if err != nil {
			continue
		}
		if _, err := io.ReadAll(r); err == nil {
			t.Errorf("%v: half a stream read without error", s)
		}
	}
}

// FuzzOpenStream: detection and unwrapping of arbitrary bytes must not
// panic; the output is read up to a cap (a small input may legitimately
// expand a lot).
func FuzzOpenStream(f *testing.F) {
	rng := rand.New(rand.NewSource(9))
	data := records(rng, 8192)
	for _, s := range streams {
		w := wrap(f, s, data)
		f.Add(w)
		f.Add(w[:len(w)/2])
	}
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	f.Add([]byte{0x04, 0x22, 0x4d, 0x18})
	buf := make([]byte, 32<<10)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := codec.OpenStream(bytes.NewReader(b))
		if err != nil {
			return
		}
		var total int
		for total < 4<<20 {
			n, err := r.Read(buf)
			total += n
			if err != nil {
				return
			}
		}
	})
}
