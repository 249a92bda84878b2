package codec

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

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

// TestOpenStreamUnregistered: without codec/stream (this package's tests
// cannot import it) a wrapped stream is a clear error, and an unwrapped
// one reads through.
func TestOpenStreamUnregistered(t *testing.T) {
	for _, c := range []struct {
		head []byte
		want Stream
	}{
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0, 0, 4}, StreamXZ},
		{[]byte{0x04, 0x22, 0x4d, 0x18, 0x64, 0x40}, StreamLZ4},
	} {
		_, s, err := OpenStream(bytes.NewReader(c.head))
		if s != c.want || !errors.Is(err, ErrNoStreamReader) {
			t.Errorf("OpenStream(% x) = %v, %v; want %v and ErrNoStreamReader", c.head, s, err, c.want)
		}
	}
	data := []byte("makedumpfile\x00\x00\x00\x00 and more")
	r, s, err := OpenStream(bytes.NewReader(data))
	if err != nil || s != StreamNone {
		t.Fatalf("OpenStream = %v, %v", s, err)
	}
	if out, err := io.ReadAll(r); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("read %q, %v", out, err)
	}
}
