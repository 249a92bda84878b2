package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// File type bits of the cpio mode field (the same values as the st_mode bits
// in <sys/stat.h>).
const (
	TypeMask    = 0o170000
	TypeReg     = 0o100000
	TypeDir     = 0o040000
	TypeSymlink = 0o120000
	TypeChar    = 0o020000
	TypeBlock   = 0o060000
)

const (
	magic       = "070701"
	headerSize  = 110
	trailerName = "TRAILER!!!"
	// maxField is the largest value an 8-digit hex header field can hold.
	maxField = 0xffffffff
)

// Header describes one archive member. Mode holds both the type bits
// (TypeReg, TypeDir, ...) and the permission bits.
type Header struct {
	Name      string // path inside the archive, without a leading "/"
	Mode      uint32
	UID, GID  uint32
	NLink     uint32 // 0 means 1 (2 for directories)
	MTime     int64  // seconds since the epoch
	Size      int64  // bytes of data that follow the header
	DevMajor  uint32
	DevMinor  uint32
	RDevMajor uint32 // device number of a character or block device node
	RDevMinor uint32
}

// Writer writes a newc archive member by member. Call WriteHeader, then
// write exactly Header.Size bytes with Write, then the next header. Close
// writes the trailer; it does not close the underlying writer.
type Writer struct {
	w       io.Writer
	off     int64  // bytes written so far, for padding
	remain  int64  // data bytes still owed to the current member
	ino     uint32 // next inode number
	err     error  // sticky error
	closed  bool
	current string
}

// NewWriter returns a Writer that writes an archive to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, ino: 1}
}

// WriteHeader starts a new member. The previous member's data must be
// complete.
func (w *Writer) WriteHeader(h *Header) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("cpio: write header after close")
	}
	if w.remain != 0 {
		return fmt.Errorf("cpio: %s: %d bytes of data missing", w.current, w.remain)
	}
	name := strings.TrimPrefix(h.Name, "/")
	if name == "" {
		return errors.New("cpio: empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("cpio: name %q contains a NUL byte", name)
	}
	if h.Size < 0 || h.Size > maxField {
		return fmt.Errorf("cpio: %s: size %d out of range for newc", name, h.Size)
	}
	if h.MTime < 0 || h.MTime > maxField {
		return fmt.Errorf("cpio: %s: mtime %d out of range for newc", name, h.MTime)
	}
	nlink := h.NLink
	if nlink == 0 {
		nlink = 1
		if h.Mode&TypeMask == TypeDir {
			nlink = 2
		}
	}
	if err := w.writeRecord(w.ino, h.Mode, h.UID, h.GID, nlink, uint32(h.MTime), uint32(h.Size),
		h.DevMajor, h.DevMinor, h.RDevMajor, h.RDevMinor, name); err != nil {
		return err
	}
	w.ino++
	w.remain = h.Size
	w.current = name
	return nil
}

// writeRecord writes a header and the padded name.
func (w *Writer) writeRecord(ino, mode, uid, gid, nlink, mtime, size, devMajor, devMinor, rdevMajor, rdevMinor uint32, name string) error {
	var b strings.Builder
	b.Grow(headerSize + len(name) + 4)
	b.WriteString(magic)
	// The last field is the checksum, always 0 for the 070701 format.
	for _, v := range []uint32{ino, mode, uid, gid, nlink, mtime, size,
		devMajor, devMinor, rdevMajor, rdevMinor, uint32(len(name) + 1), 0} {
		fmt.Fprintf(&b, "%08x", v)
	}
	b.WriteString(name)
	b.WriteByte(0)
	for (w.off+int64(b.Len()))%4 != 0 {
		b.WriteByte(0)
	}
	return w.write([]byte(b.String()))
}

// Write writes data of the current member.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if int64(len(p)) > w.remain {
		return 0, fmt.Errorf("cpio: %s: write of %d bytes exceeds the %d bytes left", w.current, len(p), w.remain)
	}
	if err := w.write(p); err != nil {
		return 0, err
	}
	w.remain -= int64(len(p))
	if w.remain == 0 {
		return len(p), w.pad()
	}
	return len(p), nil
}

func (w *Writer) write(p []byte) error {
	n, err := w.w.Write(p)
	w.off += int64(n)
	if err != nil {
		w.err = fmt.Errorf("cpio: %w", err)
		return w.err
	}
	return nil
}

// pad aligns the stream to 4 bytes after a member's data.
func (w *Writer) pad() error {
	var zero [3]byte
	if n := (4 - w.off%4) % 4; n > 0 {
		return w.write(zero[:n])
	}
	return nil
}

// Close finishes the archive with the trailer member.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	if w.err == nil && w.remain != 0 {
		w.err = fmt.Errorf("cpio: %s: %d bytes of data missing", w.current, w.remain)
	}
	if w.err != nil {
		w.closed = true
		return w.err
	}
	err := w.writeRecord(0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, trailerName)
	w.closed = true
	return err
}

// WriteDir adds a directory.
func (w *Writer) WriteDir(name string, perm fs.FileMode) error {
	return w.WriteHeader(&Header{Name: name, Mode: TypeDir | uint32(perm.Perm())})
}

// WriteFile adds a regular file holding data.
func (w *Writer) WriteFile(name string, perm fs.FileMode, data []byte) error {
	if err := w.WriteHeader(&Header{Name: name, Mode: TypeReg | uint32(perm.Perm()), Size: int64(len(data))}); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	_, err := w.Write(data)
	return err
}

// WriteSymlink adds a symbolic link to target.
func (w *Writer) WriteSymlink(name, target string) error {
	if err := w.WriteHeader(&Header{Name: name, Mode: TypeSymlink | 0o777, Size: int64(len(target))}); err != nil {
		return err
	}
	_, err := w.Write([]byte(target))
	return err
}

// WriteCharDev adds a character device node.
func (w *Writer) WriteCharDev(name string, perm fs.FileMode, major, minor uint32) error {
	return w.WriteHeader(&Header{Name: name, Mode: TypeChar | uint32(perm.Perm()), RDevMajor: major, RDevMinor: minor})
}

// CopyFile adds the regular file at hostPath as name, keeping its
// permission bits.
func (w *Writer) CopyFile(name, hostPath string) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return fmt.Errorf("cpio: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cpio: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("cpio: %s is not a regular file", hostPath)
	}
	if err := w.WriteHeader(&Header{Name: name, Mode: TypeReg | uint32(st.Mode().Perm()), Size: st.Size()}); err != nil {
		return err
	}
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("cpio: copy %s: %w", hostPath, err)
	}
	if n != st.Size() {
		return fmt.Errorf("cpio: %s changed size while copying (%d of %d bytes)", hostPath, n, st.Size())
	}
	return nil
}
