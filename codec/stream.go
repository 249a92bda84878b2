package codec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
)

// Stream is a whole-stream compression container around a dump: not a
// page method of the kdump-compressed format (no reader knows an lz4 or
// xz page flag) but a wrapper of a whole flattened (-F) or ELF stream, as
// Debian's kdump-tools writes with `makedumpfile -F | xz`. crash and
// libkdumpfile cannot open such files; they must be unwrapped (and for
// flattened streams rearranged) first.
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

// OpenStream sniffs r and returns a reader of its unwrapped contents and
// the container it found. An unwrapped stream comes back as is (through
// a buffer), with StreamNone. Errors from the returned reader name the
// container, e.g. "xz stream: ...".
func OpenStream(r io.Reader) (io.Reader, Stream, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(StreamMagicLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, StreamNone, fmt.Errorf("read stream magic: %w", err)
	}
	s := DetectStream(head)
	switch s {
	case StreamXZ:
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, s, fmt.Errorf("xz stream: %w", err)
		}
		return &streamReader{r: xr, s: s}, s, nil
	case StreamLZ4:
		return &streamReader{r: lz4.NewReader(br), s: s}, s, nil
	}
	return br, StreamNone, nil
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

// NewStreamWriter returns a writer that wraps what is written to it in
// container s and writes it to w. Close ends the container; it does not
// close w. StreamNone passes the bytes through.
func NewStreamWriter(w io.Writer, s Stream) (io.WriteCloser, error) {
	switch s {
	case StreamNone:
		return nopCloser{w}, nil
	case StreamXZ:
		// A 1 MiB dictionary, as `xz -1` uses: the pure-Go encoder
		// with its default 8 MiB is about 2.5 times slower, for little
		// gain on dump streams (much of which is page-compressed).
		xw, err := xz.WriterConfig{DictCap: 1 << 20}.NewWriter(w)
		if err != nil {
			return nil, fmt.Errorf("xz stream: %w", err)
		}
		return xw, nil
	case StreamLZ4:
		return lz4.NewWriter(w), nil
	}
	return nil, fmt.Errorf("%v: unknown stream container", s)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
