package targets

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// freeBytes is the space available to an unprivileged user below p (what
// df calls Avail), as statfs reports it.
func freeBytes(p string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0, &fs.PathError{Op: "statfs", Path: p, Err: err}
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// renameNoReplace renames from to to unless to exists. renameat2 with
// RENAME_NOREPLACE does that atomically; filesystems without it (NFS, some
// older ones) get a check followed by rename, which is enough here since
// nothing else writes into a dump directory.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		if _, err := os.Lstat(to); err == nil {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return os.Rename(from, to)
	default:
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
}
