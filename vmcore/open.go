package vmcore

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
)

// Options tune how Open reads its input.
type Options struct {
	// NoMmap reads /proc/vmcore with pread only (makedumpfile --non-mmap).
	NoMmap bool
	// Mmap reads any file through the mmap window used for
	// /proc/vmcore, so that a page the file cannot provide (a file
	// truncated under the reader) surfaces as a *FaultError, as a
	// page the old kernel cannot provide does. Regular files are read
	// with pread otherwise: the window would count in the resident
	// set and the page cache makes pread as fast.
	Mmap bool
}

// ProcVMCORE is where the capture kernel exposes the crashed kernel's memory.
const ProcVMCORE = "/proc/vmcore"

// Open opens one dump file and detects its format.
func Open(path string) (Dump, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, opt Options) (Dump, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var r io.ReaderAt = f
	var c io.Closer = f
	// /proc/vmcore is slow through read(2): each call maps old memory
	// anew. Map it in windows instead.
	if (path == ProcVMCORE || opt.Mmap) && !opt.NoMmap {
		m := newMmapReader(f, st.Size())
		r, c = m, m
	}
	d, err := open(r, st.Size(), c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// OpenFiles opens a dump made of one file, or a --split set of several
// kdump-compressed files (in any order).
func OpenFiles(paths ...string) (Dump, error) {
	switch len(paths) {
	case 0:
		return nil, errors.New("no dump file given")
	case 1:
		return Open(paths[0])
	}
	return openSplit(paths)
}

// OpenReaderAt detects the format of r (size bytes) and opens it. Close
// on the result does not close r.
func OpenReaderAt(r io.ReaderAt, size int64) (Dump, error) {
	return open(r, size, nil)
}

// magicLen is enough bytes to tell every supported format apart: the
// flattened signature is 16 bytes plus the 8-byte type after it.
const magicLen = 24

func open(r io.ReaderAt, size int64, c io.Closer) (Dump, error) {
	head := make([]byte, magicLen)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read format magic: %w", err)
	}
	head = head[:n]
	switch {
	case elfcore.IsELF(head):
		return openELF(r, size, FormatELF, c)
	case kdumpfile.IsKdump(head):
		return openKdump(r, size, c)
	case kdumpfile.IsFlattened(head):
		return openFlattened(r, size, c)
	case codec.DetectStream(head) != codec.StreamNone:
		return openWrapped(r, size, c)
	}
	return nil, fmt.Errorf("unknown dump format: first bytes % x are not ELF, kdump-compressed (\"KDUMP   \"/\"DISKDUMP\"), flattened (\"makedumpfile\") or an xz/lz4-wrapped stream", head)
}
