package codec

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

func wrap(t testing.TB, s Stream, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewStreamWriter(&b, s)
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

func TestStreamRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	data := append([]byte("makedumpfile\x00\x00\x00\x00"), lzoRecords(rng, 1<<20)...)
	data = append(data, lzoRandom(rng, 100<<10)...)
	for _, s := range []Stream{StreamNone, StreamXZ, StreamLZ4} {
		t.Run(s.String(), func(t *testing.T) {
			w := wrap(t, s, data)
			if got := DetectStream(w); got != s {
				t.Errorf("DetectStream = %v, want %v", got, s)
			}
			r, got, err := OpenStream(bytes.NewReader(w))
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

func TestDetectStream(t *testing.T) {
	for _, c := range []struct {
		head []byte
		want Stream
	}{
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, StreamXZ},
		{[]byte{0xfd, '7', 'z', 'X', 'Z'}, StreamNone}, // too short
		{[]byte{0x04, 0x22, 0x4d, 0x18, 0x64}, StreamLZ4},
		{[]byte{0x02, 0x21, 0x4c, 0x18}, StreamNone}, // legacy lz4 is not written by anyone we read
		{[]byte("\x7fELF\x02\x01"), StreamNone},
		{[]byte("KDUMP   "), StreamNone},
		{nil, StreamNone},
	} {
		if got := DetectStream(c.head); got != c.want {
			t.Errorf("DetectStream(% x) = %v, want %v", c.head, got, c.want)
		}
	}
}

// TestOpenStreamTruncated: a cut wrapped stream is an error, not a short
// success.
func TestOpenStreamTruncated(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	data := lzoRecords(rng, 256<<10)
	for _, s := range []Stream{StreamXZ, StreamLZ4} {
		w := wrap(t, s, data)
		r, _, err := OpenStream(bytes.NewReader(w[:len(w)/2]))
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
	data := lzoRecords(rng, 8192)
	for _, s := range []Stream{StreamNone, StreamXZ, StreamLZ4} {
		w := wrap(f, s, data)
		f.Add(w)
		f.Add(w[:len(w)/2])
	}
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	f.Add([]byte{0x04, 0x22, 0x4d, 0x18})
	buf := make([]byte, 32<<10)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := OpenStream(bytes.NewReader(b))
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
