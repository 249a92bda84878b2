package capture

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/codec/stream"
	"github.com/kdumpkit/kdumpkit/targets"
)

// streamFile wraps a flattened vmcore stream in an lz4 or xz container on
// its way to a stream target (kdump.conf stream_compression). Readers
// (vmcore.Open in programs that import codec/stream, kdumpctl's raw
// recovery) detect the container by its magic and unwrap it; our
// makedumpfile -R, like the C tool's, wants it unwrapped first (xz -dc).
type streamFile struct {
	mu    sync.Mutex
	f     targets.File
	out   countWriter // what reaches f: the container's bytes
	sw    io.WriteCloser
	pos   int64 // bytes of the stream taken so far (before compression)
	ended bool
	err   error // from ending the container
}

func newStreamFile(f targets.File, s codec.Stream) (*streamFile, error) {
	sf := &streamFile{f: f, out: countWriter{w: f}}
	sw, err := stream.NewWriter(&sf.out, s)
	if err != nil {
		return nil, err
	}
	sf.sw = sw
	return sf, nil
}

func (s *streamFile) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.write(p)
}

func (s *streamFile) write(p []byte) (int, error) {
	if s.ended {
		return 0, errors.New("write after the end of the stream container")
	}
	n, err := s.sw.Write(p)
	s.pos += int64(n)
	return n, err
}

// WriteAt takes only writes at the end of the stream: a container cannot
// be patched behind its end, just as the stream targets below it cannot.
func (s *streamFile) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off != s.pos {
		return 0, fmt.Errorf("write at %#x, stream is at %#x: %w", off, s.pos, targets.ErrNotSeekable)
	}
	return s.write(p)
}

// end flushes and ends the container without closing the file below. A
// dump that failed is ended too, so that what it wrote stays readable.
func (s *streamFile) end() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.ended = true
		s.err = s.sw.Close()
	}
	return s.err
}

// Sync ends the container, then syncs the file below.
func (s *streamFile) Sync() error {
	if err := s.end(); err != nil {
		return err
	}
	return s.f.Sync()
}

func (s *streamFile) Close() error {
	err := s.end()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// written is the number of container bytes passed to the file.
func (s *streamFile) written() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.n
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
