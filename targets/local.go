package targets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/kdumpkit/kdumpkit/internal/writeback"
)

// Local is a directory on a mounted filesystem (local disk, or an NFS
// mount made by MountNFS): the simplest target and the model for the
// others.
type Local struct {
	root string
}

// NewLocal returns the target rooted at dir, creating dir (mode 0700 for
// the parts it creates) if it does not exist.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("local target: empty path")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	return &Local{root: dir}, nil
}

// Root is the directory the target writes under.
func (l *Local) Root() string { return l.root }

func (l *Local) String() string { return "local " + l.root }

// Seekable is true: local files take writes at any offset.
func (l *Local) Seekable() bool { return true }

// Close does nothing; unmounting is the mount's business.
func (l *Local) Close() error { return nil }

// path turns a target-relative name into a host path, refusing names that
// would leave the root.
func (l *Local) path(op, name string) (string, error) {
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return filepath.Join(l.root, filepath.FromSlash(name)), nil
}

func (l *Local) Mkdir(name string) error {
	p, err := l.path("mkdir", name)
	if err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o700); err != nil {
		return wrapNoSpace(err)
	}
	// The umask may have taken bits away, never added: set 0700 exactly.
	if err := os.Chmod(p, 0o700); err != nil {
		return err
	}
	return syncDir(filepath.Dir(p))
}

func (l *Local) Create(name string) (File, error) {
	p, err := l.path("create", name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, wrapNoSpace(err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return &localFile{f: writeback.New(f, 0)}, nil
}

func (l *Local) Rename(from, to string) error {
	pf, err := l.path("rename", from)
	if err != nil {
		return err
	}
	pt, err := l.path("rename", to)
	if err != nil {
		return err
	}
	if err := renameNoReplace(pf, pt); err != nil {
		return err
	}
	return syncDir(filepath.Dir(pt))
}

func (l *Local) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := l.path("readdir", name)
	if err != nil {
		return nil, err
	}
	return os.ReadDir(p)
}

func (l *Local) RemoveAll(name string) error {
	p, err := l.path("removeall", name)
	if err != nil {
		return err
	}
	if p == filepath.Clean(l.root) {
		return &fs.PathError{Op: "removeall", Path: name, Err: fs.ErrInvalid}
	}
	return os.RemoveAll(p)
}

func (l *Local) Free(name string) (uint64, error) {
	p, err := l.path("statfs", name)
	if err != nil {
		return 0, err
	}
	return freeBytes(p)
}

// localFile wraps *os.File so that a full filesystem reads as ErrNoSpace.
// Its write-back starts as it is written (package writeback): the dump
// reaches the disk or the NFS server while pages are still being
// compressed, and the capture kernel's small memory does not fill with
// dirty pages waiting for the final fsync.
type localFile struct {
	f *writeback.File
}

func (f *localFile) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	return n, wrapNoSpace(err)
}

func (f *localFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.f.WriteAt(p, off)
	return n, wrapNoSpace(err)
}

func (f *localFile) Sync() error  { return wrapNoSpace(f.f.Sync()) }
func (f *localFile) Close() error { return wrapNoSpace(f.f.Close()) }

// wrapNoSpace makes ENOSPC and EDQUOT match ErrNoSpace as well as the
// original error.
func wrapNoSpace(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// syncDir fsyncs a directory so that a create or rename in it survives a
// crash of the machine that follows (the capture kernel reboots right
// after the dump).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
