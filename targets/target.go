package targets

import (
	"errors"
	"io"
	"io/fs"
)

// File is one file being written on a target. Close does not rename: a
// file that is closed without Dump.Finish keeps its -incomplete name.
type File interface {
	io.Writer
	io.WriterAt
	// Sync makes what was written durable on the target (fsync, the
	// fsync@openssh.com extension, or for a stream the end of the remote
	// dd with conv=fsync). A stream accepts no writes after Sync.
	Sync() error
	Close() error
}

// WriteSizer is implemented by files whose every write waits for the
// target's acknowledgement (SFTP): WriteSize is how many bytes one write
// should carry so that a distant server still gets a useful rate.
type WriteSizer interface {
	WriteSize() int
}

// Target is a directory tree that dumps are written into. Names are
// slash-separated and relative to the target's root (the configured dump
// path); "" and "." name the root itself.
type Target interface {
	// Mkdir creates one directory with mode 0700. It fails with an error
	// wrapping fs.ErrExist if the name exists.
	Mkdir(name string) error
	// Create creates a new file with mode 0600. It fails with an error
	// wrapping fs.ErrExist if the name exists: nothing is ever truncated.
	Create(name string) (File, error)
	// Rename renames a file or directory. It fails with an error wrapping
	// fs.ErrExist if the new name exists.
	Rename(from, to string) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// RemoveAll removes a directory tree (retention only).
	RemoveAll(name string) error
	// Free reports the bytes available to us below name.
	Free(name string) (uint64, error)
	// Seekable reports whether files accept writes at any offset. When it
	// is false, files take one sequential stream (WriteAt only at the
	// current end) and the vmcore must be a flattened stream.
	Seekable() bool
	// String names the target for messages, e.g. "ssh root@10.0.0.5:/var/crash".
	String() string
	Close() error
}

// Sentinel errors callers act on; compare with errors.Is.
var (
	// ErrNoSpace: the target is full, or has less free space than the
	// dump needs. The files written so far are kept.
	ErrNoSpace = errors.New("no space left on target")
	// ErrNotSeekable: a write at an offset other than the end of a stream.
	ErrNotSeekable = errors.New("target takes a sequential stream only")
	// ErrHostKey: the SSH server's host key is unknown or does not match
	// known_hosts.
	ErrHostKey = errors.New("ssh host key verification failed")
	// ErrNotFound: a device named by UUID=, LABEL= or path did not appear
	// before the deadline.
	ErrNotFound = errors.New("device not found")
	// ErrNoDump: a raw device holds no flattened dump.
	ErrNoDump = errors.New("no dump on device")
)
