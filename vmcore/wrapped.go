package vmcore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
)

// openWrapped opens a dump wrapped whole in an xz or lz4 stream (e.g.
// `makedumpfile -F | xz`). Such a stream has no random access, so it is
// unwrapped into a temporary file in $TMPDIR (a flattened stream is
// rearranged on the way, as makedumpfile -R would) and the result opened
// from there. The temporary file is gone once the Dump is closed.
func openWrapped(r io.ReaderAt, size int64, c io.Closer) (Dump, error) {
	ur, kind, err := codec.OpenStream(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp("", "kdumpkit-unwrapped-*")
	if err != nil {
		return nil, fmt.Errorf("unwrap %v stream: %w", kind, err)
	}
	tc := &tempFile{f: tmp}
	// Unlink at once where the system allows it, so that nothing is
	// left behind even if we never get to Close.
	tc.removed = os.Remove(tmp.Name()) == nil
	fail := func(err error) (Dump, error) {
		tc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(ur, 1<<20)
	head, err := br.Peek(magicLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("unwrap %v stream: %w", kind, err))
	}
	switch {
	case codec.DetectStream(head) != codec.StreamNone:
		return fail(fmt.Errorf("%v stream holds another wrapped stream (% x); unwrap it first", kind, head))
	case kdumpfile.IsFlattened(head):
		if err := kdumpfile.Rearrange(br, tmp); err != nil {
			return fail(fmt.Errorf("%v-wrapped flattened stream: %w", kind, err))
		}
	default:
		if _, err := io.Copy(tmp, br); err != nil {
			return fail(fmt.Errorf("unwrap %v stream: %w", kind, err))
		}
	}
	st, err := tmp.Stat()
	if err != nil {
		return fail(err)
	}
	closers := multiCloser{tc}
	if c != nil {
		closers = append(closers, c)
	}
	d, err := open(tmp, st.Size(), closers)
	if err != nil {
		return fail(fmt.Errorf("%v-wrapped: %w", kind, err))
	}
	return d, nil
}

// tempFile is an unwrapped copy of a dump, removed when closed.
type tempFile struct {
	f       *os.File
	removed bool
}

func (t *tempFile) Close() error {
	err := t.f.Close()
	if !t.removed {
		if rerr := os.Remove(t.f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		t.removed = true
	}
	return err
}
