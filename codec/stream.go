package codec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Stream is a whole-stream compression container around a dump: not a
// page method of the kdump-compressed format (no reader knows an lz4 or
// xz page flag) but a wrapper of a whole flattened (-F) or ELF stream, as
// Debian's kdump-tools writes with `makedumpfile -F | xz`. crash and
// libkdumpfile cannot open such files; they must be unwrapped (and for
// flattened streams rearranged) first.
//
// This package only detects the containers. Their readers and writers
// are in package codec/stream, whose import registers the readers with
// OpenStream (as image/png registers its decoder with image.Decode):
// the xz and lz4 libraries add about 250 KB to a binary, which a
// makedumpfile run in the capture kernel then carries in its resident
// set without ever reading a wrapped stream.
type Stream int

// The stream wrappers we detect and write.
const (
	StreamNone Stream = iota // not wrapped
	StreamXZ                 // an .xz container (LZMA2)
	StreamLZ4                // an LZ4 frame stream
)

func (s Stream) String() string {
	switch s {
	case StreamNone:
		return "none"
	case StreamXZ:
		return "xz"
	case StreamLZ4:
		return "lz4"
	}
	return fmt.Sprintf("stream(%d)", int(s))
}

// Magic numbers of the stream containers.
var (
	xzMagic  = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	lz4Magic = []byte{0x04, 0x22, 0x4d, 0x18} // frame magic 0x184D2204, little-endian
)

// StreamMagicLen is how many leading bytes DetectStream needs.
const StreamMagicLen = 6

// DetectStream tells from the first bytes of a file which stream
// container wraps it, if any.
func DetectStream(head []byte) Stream {
	switch {
	case bytes.HasPrefix(head, xzMagic):
		return StreamXZ
	case bytes.HasPrefix(head, lz4Magic):
		return StreamLZ4
	}
	return StreamNone
}

// ErrNoStreamReader is wrapped by OpenStream's error for a wrapped
// stream when no reader for its container is registered (the program
// does not import codec/stream).
var ErrNoStreamReader = errors.New("no reader for this stream container in this program")

var (
	streamMu      sync.RWMutex
	streamReaders = map[Stream]func(io.Reader) (io.Reader, error){}
)

// RegisterStreamReader makes OpenStream unwrap container s with open.
// Package codec/stream registers xz and lz4 when imported.
func RegisterStreamReader(s Stream, open func(io.Reader) (io.Reader, error)) {
	streamMu.Lock()
	defer streamMu.Unlock()
	streamReaders[s] = open
}

// OpenStream sniffs r and returns a reader of its unwrapped contents and
// the container it found. An unwrapped stream comes back as is (through
// a buffer), with StreamNone. Errors from the returned reader name the
// container, e.g. "xz stream: ...". A wrapped stream whose reader is not
// registered (see RegisterStreamReader) is an error wrapping
// ErrNoStreamReader.
func OpenStream(r io.Reader) (io.Reader, Stream, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(StreamMagicLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, StreamNone, fmt.Errorf("read stream magic: %w", err)
	}
	s := DetectStream(head)
	if s == StreamNone {
		return br, StreamNone, nil
	}
	streamMu.RLock()
	open := streamReaders[s]
	streamMu.RUnlock()
	if open == nil {
		return nil, s, fmt.Errorf("%v stream: %w (unwrap it first, e.g. with %v -dc)", s, ErrNoStreamReader, s)
	}
	ur, err := open(br)
	if err != nil {
		return nil, s, fmt.Errorf("%v stream: %w", s, err)
	}
	return &streamReader{r: ur, s: s}, s, nil
}

// streamReader adds the container's name to read errors.
type streamReader struct {
	r io.Reader
	s Stream
}

func (r *streamReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%v stream: %w", r.s, err)
	}
	return n, err
}
