package targets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/kdumpkit/kdumpkit/codec"
	_ "github.com/kdumpkit/kdumpkit/codec/stream" // RecoverRaw unwraps xz and lz4
	"github.com/kdumpkit/kdumpkit/kdumpfile"
)

// A raw target is a block device that holds one flattened dump
// (makedumpfile -F) from offset 0, kdump-utils' "raw" target: the capture
// writes the stream, and on the next boot kdumpctl start finds the
// flattened signature, rearranges the stream into a vmcore file
// (makedumpfile -R, here RecoverRaw) and clears the signature (ClearRaw).
// Only the vmcore goes there; dmesg and logs have no place on a raw device.

// rawProbeSize is how much of a device RawHasDump reads: the flattened
// header's signature and version.
const rawProbeSize = 24

// RawHasDump reports whether the device (or an image of it) starts with a
// flattened dump, plain or wrapped whole in an lz4 or xz container
// (stream_compression).
func RawHasDump(r io.ReaderAt) (bool, error) {
	b := make([]byte, rawProbeSize)
	n, err := r.ReadAt(b, 0)
	if n < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, fmt.Errorf("read raw device header: %w", err)
	}
	if kdumpfile.IsFlattened(b) {
		return true, nil
	}
	if codec.DetectStream(b) == codec.StreamNone {
		return false, nil
	}
	// A container: a dump only if what it holds starts flattened. Old
	// data that merely looks like a container header is not one.
	sr, _, err := codec.OpenStream(io.NewSectionReader(r, 0, 1<<62))
	if err != nil {
		return false, nil
	}
	if _, err := io.ReadFull(sr, b); err != nil {
		return false, nil
	}
	return kdumpfile.IsFlattened(b), nil
}

// CreateRaw opens the block device (or file) at path for a flattened
// stream starting at offset 0. It refuses, with an error wrapping
// fs.ErrExist, when the device already holds a flattened dump: that is
// an earlier crash nobody recovered yet, and overwriting it would lose
// it. Recover and clear it first, or clear it by hand. A block device in
// use (mounted) is refused with EBUSY.
func CreateRaw(path string) (File, error) {
	flags := os.O_RDWR
	if st, err := os.Stat(path); err == nil && st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0 {
		// On a block device O_EXCL means "not in use": a mounted
		// filesystem (a raw target pointing at the wrong disk) fails
		// with EBUSY instead of being overwritten.
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("raw target: %w", err)
	}
	has, err := RawHasDump(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raw target %s: %w", path, err)
	}
	if has {
		f.Close()
		return nil, fmt.Errorf("raw target %s holds a dump that was not recovered yet: %w", path, fs.ErrExist)
	}
	return &rawFile{f: f, path: path}, nil
}

// rawFile is a sequential stream onto a device.
type rawFile struct {
	mu   sync.Mutex
	f    *os.File
	path string
	pos  int64
}

func (r *rawFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.write(p)
}

func (r *rawFile) write(p []byte) (int, error) {
	n, err := r.f.WriteAt(p, r.pos)
	r.pos += int64(n)
	if err != nil {
		// Past the end of a block device pwrite fails with ENOSPC.
		return n, fmt.Errorf("write %s at %#x: %w", r.path, r.pos, wrapNoSpace(err))
	}
	return n, nil
}

// WriteAt accepts only writes at the end of the stream.
func (r *rawFile) WriteAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off != r.pos {
		return 0, fmt.Errorf("write %s at %#x, stream is at %#x: %w", r.path, off, r.pos, ErrNotSeekable)
	}
	return r.write(p)
}

// Rewind starts the stream again at offset 0, for a retry at the next -d
// level after the device turned out too small: the new stream overwrites
// the failed one's header, and what lies beyond its end marker is never
// read.
func (r *rawFile) Rewind() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pos = 0
	return nil
}

func (r *rawFile) Sync() error  { return wrapNoSpace(r.f.Sync()) }
func (r *rawFile) Close() error { return r.f.Close() }

// RecoverRaw rearranges the flattened dump at the start of dev into dst
// (what makedumpfile -R does with the device as standard input), first
// unwrapping an lz4 or xz container (stream_compression). It fails with
// ErrNoDump when the device holds none.
func RecoverRaw(dev io.ReaderAt, dst io.WriterAt) error {
	has, err := RawHasDump(dev)
	if err != nil {
		return err
	}
	if !has {
		return ErrNoDump
	}
	// The stream ends at its end marker (and a container at its end); the
	// rest of the device is old data Rearrange never reads.
	src, s, err := codec.OpenStream(io.NewSectionReader(dev, 0, 1<<62))
	if err != nil {
		return fmt.Errorf("recover raw dump: %w", err)
	}
	if err := kdumpfile.Rearrange(src, dst); err != nil {
		if s != codec.StreamNone {
			return fmt.Errorf("recover raw dump (%s stream): %w", s, err)
		}
		return fmt.Errorf("recover raw dump: %w", err)
	}
	return nil
}

// ClearRaw overwrites the flattened header at the start of the device
// with zeros, so that the dump is not recovered twice and the next crash
// may write there (kdumpctl zeroes the first block the same way).
func ClearRaw(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("clear raw dump: %w", err)
	}
	if _, err := f.WriteAt(make([]byte, kdumpfile.FlatHeaderSize), 0); err != nil {
		f.Close()
		return fmt.Errorf("clear raw dump on %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("clear raw dump on %s: %w", path, err)
	}
	return f.Close()
}
