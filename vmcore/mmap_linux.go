package vmcore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

	"golang.org/x/sys/unix"
)

// windowSize is how much of /proc/vmcore one mmap covers. The kernel
// remaps old memory per mmap call, so larger windows amortise that cost;
// 4 MiB is what makedumpfile settled on and keeps the mapping small in a
// capture kernel with little memory.
const windowSize = 4 << 20

// mmapReader reads a file through a sliding read-only mmap window, falling
// back to pread for good if mapping fails (some kernels or files do not
// support mmap). A fault on the mapping (memory the old kernel could not
// provide) becomes an error, not a crash.
type mmapReader struct {
	f    *os.File
	size int64

	mu     sync.Mutex
	win    []byte
	winOff int64
	pread  bool
}

func newMmapReader(f *os.File, size int64) *mmapReader {
	return &mmapReader{f: f, size: size}
}

// FaultError reports a memory fault while copying from the mapping.
type FaultError struct {
	Off int64
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("memory fault reading mapped dump at offset %#x", e.Off)
}

func (m *mmapReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= m.size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := m.size - off; int64(want) > rest {
		p = p[:rest]
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for n < len(p) {
		if m.pread {
			k, err := m.f.ReadAt(p[n:], off+int64(n))
			n += k
			if err != nil {
				return n, err
			}
			continue
		}
		cur := off + int64(n)
		if m.win == nil || cur < m.winOff || cur >= m.winOff+int64(len(m.win)) {
			if err := m.remap(cur); err != nil {
				m.pread = true
				continue
			}
		}
		k, err := copyMapped(p[n:], m.win[cur-m.winOff:], cur)
		n += k
		if err != nil {
			return n, err
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

func (m *mmapReader) remap(off int64) error {
	if m.win != nil {
		unix.Munmap(m.win)
		m.win = nil
	}
	start := off &^ (windowSize - 1)
	length := int64(windowSize)
	if start+length > m.size {
		length = m.size - start
	}
	// Round the length to whole pages; the mapping of a partial last page
	// is fine, bytes past EOF are never copied.
	b, err := unix.Mmap(int(m.f.Fd()), start, int(length), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	m.win, m.winOff = b, start
	return nil
}

// copyMapped copies from mapped memory, turning a fault into an error.
func copyMapped(dst, src []byte, off int64) (n int, err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = &FaultError{Off: off}
		}
	}()
	return copy(dst, src), nil
}

func (m *mmapReader) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var err error
	if m.win != nil {
		err = unix.Munmap(m.win)
		m.win = nil
	}
	return errors.Join(err, m.f.Close())
}
