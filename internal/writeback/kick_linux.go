package writeback

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing every dirty page of f
// (offset 0, length 0: the whole file). SYNC_FILE_RANGE_WRITE alone does
// not wait for pages already under write-back nor for the new ones; it
// blocks only if the device's request queue is full, which is the
// back-pressure a writer should feel anyway.
func startWriteback(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var kerr error
	if err := rc.Control(func(fd uintptr) {
		kerr = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}); err != nil {
		return err
	}
	return kerr
}
