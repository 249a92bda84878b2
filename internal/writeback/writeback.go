package writeback

import (
	"os"
	"sync"
)

// DefaultWindow is how many bytes are written between two kicks. Large
// enough that the kicks cost nothing next to the writes (a few hundred
// per 2 GB), small enough that the disk starts early and the dirty pages
// stay a few MiB.
const DefaultWindow = 8 << 20

// File is an *os.File whose write-back starts while it is written. It is
// safe for concurrent use as *os.File is.
type File struct {
	f      *os.File
	window int64
	kick   func(*os.File) error // starts write-back; replaced in tests

	mu      sync.Mutex
	pending int64 // bytes written since the last kick
	kicks   int
	off     bool // the file system refused a kick: stop trying
}

// New wraps f, kicking write-back every window bytes (DefaultWindow when
// window is 0 or less).
func New(f *os.File, window int64) *File {
	if window <= 0 {
		window = DefaultWindow
	}
	return &File{f: f, window: window, kick: startWriteback}
}

// WriteAt writes p at off and starts write-back when a window is full.
func (w *File) WriteAt(p []byte, off int64) (int, error) {
	n, err := w.f.WriteAt(p, off)
	w.wrote(n)
	return n, err
}

// Write writes p at the file offset and starts write-back when a window
// is full.
func (w *File) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.wrote(n)
	return n, err
}

func (w *File) wrote(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending += int64(n)
	if w.pending < w.window || w.off {
		return
	}
	w.pending %= w.window // one kick starts all that is dirty
	if err := w.kick(w.f); err != nil {
		// A kick is advice; the fsync at the end is what counts.
		w.off = true
		return
	}
	w.kicks++
}

// Kicks is how many times write-back was started.
func (w *File) Kicks() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kicks
}

// Sync fsyncs the file.
func (w *File) Sync() error { return w.f.Sync() }

// Close closes the file.
func (w *File) Close() error { return w.f.Close() }

// Name is the file's name.
func (w *File) Name() string { return w.f.Name() }
