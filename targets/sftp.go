package targets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sort"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sftpChunk is the most one SFTP write call sends before waiting for the
// server's acknowledgements: the most that is sent twice after a lost
// connection. 32 requests of 32 KiB keep a link busy.
const sftpChunk = 1 << 20

// errNoSFTP: the server refused the sftp subsystem.
var errNoSFTP = errors.New("server has no sftp subsystem")

// sftpTarget writes through SFTP. Every operation runs on the current
// connection; when the connection is lost it reconnects (within the
// context given to DialSSH) and repeats the operation. Writes are by
// offset, so repeating the one that was cut off continues the file
// exactly where it stopped.
type sftpTarget struct {
	cc *sshConn
	// client is the SFTP session of connection cc.gen; guarded by cc.mu.
	client *sftp.Client
}

func newSFTPTarget(cc *sshConn) (*sftpTarget, error) {
	s := &sftpTarget{cc: cc}
	cc.mu.Lock()
	err := s.open(cc.client)
	if err == nil {
		cc.onConnect = s.open
	}
	cc.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.do(func(c *sftp.Client) error { return mkdirAll(c, cc.cfg.Path) }); err != nil {
		return nil, fmt.Errorf("%s: create dump path: %w", cc.cfg.String(), err)
	}
	return s, nil
}

// open starts the SFTP subsystem on cl; called with cc.mu held.
func (s *sftpTarget) open(cl *ssh.Client) error {
	c, err := sftp.NewClient(cl, sftp.UseConcurrentWrites(true))
	if err != nil {
		var oe *ssh.OpenChannelError
		if errors.As(err, &oe) || isSubsystemRefused(err) {
			return fmt.Errorf("%s: %w: %v", s.cc.cfg.String(), errNoSFTP, err)
		}
		return fmt.Errorf("%s: sftp: %w", s.cc.cfg.String(), err)
	}
	if s.client != nil {
		s.client.Close()
	}
	s.client = c
	return nil
}

func isSubsystemRefused(err error) bool {
	// x/crypto/ssh reports a refused subsystem request with this text and
	// no typed error.
	return err != nil && err.Error() == "ssh: subsystem request failed"
}

func (s *sftpTarget) current() (*sftp.Client, int, error) {
	s.cc.mu.Lock()
	defer s.cc.mu.Unlock()
	if s.cc.closed {
		return nil, 0, net.ErrClosed
	}
	return s.client, s.cc.gen, nil
}

// do runs op, reconnecting and repeating it while it fails because the
// connection was lost.
func (s *sftpTarget) do(op func(*sftp.Client) error) error {
	for {
		c, gen, err := s.current()
		if err != nil {
			return err
		}
		err = op(c)
		if err == nil || !connLost(err) {
			return err
		}
		if rerr := s.cc.reconnect(gen, err); rerr != nil {
			return rerr
		}
	}
}

// connLost tells a broken connection (worth a reconnect) from an answer
// of the server (which a reconnect would not change).
func connLost(err error) bool {
	var se *sftp.StatusError
	if errors.As(err, &se) {
		return false
	}
	var ne net.Error
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}

func (s *sftpTarget) abs(name string) (string, error) {
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return path.Join(s.cc.cfg.Path, name), nil
}

func (s *sftpTarget) String() string { return s.cc.cfg.String() }

// Seekable is true: SFTP writes go to any offset.
func (s *sftpTarget) Seekable() bool { return true }

// Reconnects counts the connections made after the first (tests, logs).
func (s *sftpTarget) Reconnects() int { return s.cc.Reconnects() }

func (s *sftpTarget) Close() error {
	s.cc.mu.Lock()
	if s.client != nil {
		s.client.Close()
	}
	s.cc.mu.Unlock()
	return s.cc.close()
}

// exists checks whether p exists; SFTP version 3 reports EEXIST only as a
// generic failure, so callers ask after a failure.
func exists(c *sftp.Client, p string) bool {
	_, err := c.Lstat(p)
	return err == nil
}

func mkdirAll(c *sftp.Client, p string) error {
	if st, err := c.Stat(p); err == nil {
		if !st.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if parent := path.Dir(p); parent != p {
		if err := mkdirAll(c, parent); err != nil {
			return err
		}
	}
	if err := c.Mkdir(p); err != nil {
		if st, serr := c.Stat(p); serr == nil && st.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: p, Err: err}
	}
	return c.Chmod(p, 0o700)
}

func (s *sftpTarget) Mkdir(name string) error {
	p, err := s.abs(name)
	if err != nil {
		return err
	}
	tries := 0
	return s.do(func(c *sftp.Client) error {
		tries++
		if err := c.Mkdir(p); err != nil {
			if connLost(err) {
				return err
			}
			if exists(c, p) {
				// A repeat after a lost connection finds the empty
				// directory the first try made: it is ours.
				if ents, rerr := c.ReadDir(p); tries > 1 && rerr == nil && len(ents) == 0 {
					return c.Chmod(p, 0o700)
				}
				return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
			}
			return &fs.PathError{Op: "mkdir", Path: p, Err: err}
		}
		// The server creates it with its umask applied; make it 0700
		// before anything goes in.
		return c.Chmod(p, 0o700)
	})
}

func (s *sftpTarget) Create(name string) (File, error) {
	p, err := s.abs(name)
	if err != nil {
		return nil, err
	}
	var f *sftp.File
	var gen int
	tries := 0
	err = s.do(func(c *sftp.Client) error {
		tries++
		_, gen, _ = s.current()
		nf, err := c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			if connLost(err) {
				return err
			}
			if st, serr := c.Lstat(p); serr == nil {
				// A repeat after a lost connection finds the empty file
				// the first try made: it is ours.
				if tries > 1 && st.Mode().IsRegular() && st.Size() == 0 {
					nf, err = c.OpenFile(p, os.O_WRONLY)
					if err != nil {
						return err
					}
				} else {
					return &fs.PathError{Op: "create", Path: p, Err: fs.ErrExist}
				}
			} else {
				return &fs.PathError{Op: "create", Path: p, Err: err}
			}
		}
		if err := nf.Chmod(0o600); err != nil {
			nf.Close()
			return err
		}
		f = nf
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sftpFile{s: s, path: p, f: f, gen: gen}, nil
}

func (s *sftpTarget) Rename(from, to string) error {
	pf, err := s.abs(from)
	if err != nil {
		return err
	}
	pt, err := s.abs(to)
	if err != nil {
		return err
	}
	tries := 0
	return s.do(func(c *sftp.Client) error {
		tries++
		// Plain SSH_FXP_RENAME, not posix-rename@openssh.com: the plain
		// request must fail when the new name exists (OpenSSH uses
		// link+unlink for files), while posix-rename replaces it.
		err := c.Rename(pf, pt)
		if err == nil || connLost(err) {
			return err
		}
		if tries > 1 && !exists(c, pf) && exists(c, pt) {
			return nil // the try cut off by the lost connection did it
		}
		if exists(c, pt) {
			return &os.LinkError{Op: "rename", Old: pf, New: pt, Err: fs.ErrExist}
		}
		return &os.LinkError{Op: "rename", Old: pf, New: pt, Err: err}
	})
}

func (s *sftpTarget) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := s.abs(name)
	if err != nil {
		return nil, err
	}
	var out []fs.DirEntry
	err = s.do(func(c *sftp.Client) error {
		infos, err := c.ReadDir(p)
		if err != nil {
			return &fs.PathError{Op: "readdir", Path: p, Err: err}
		}
		out = out[:0]
		for _, fi := range infos {
			out = append(out, fs.FileInfoToDirEntry(fi))
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, err
}

func (s *sftpTarget) RemoveAll(name string) error {
	p, err := s.abs(name)
	if err != nil {
		return err
	}
	if p == s.cc.cfg.Path {
		return &fs.PathError{Op: "removeall", Path: name, Err: fs.ErrInvalid}
	}
	return s.do(func(c *sftp.Client) error { return c.RemoveAll(p) })
}

func (s *sftpTarget) Free(name string) (uint64, error) {
	p, err := s.abs(name)
	if err != nil {
		return 0, err
	}
	var free uint64
	err = s.do(func(c *sftp.Client) error {
		if _, ok := c.HasExtension("statvfs@openssh.com"); !ok {
			return fmt.Errorf("statvfs %s: the server has no statvfs@openssh.com: %w", p, errors.ErrUnsupported)
		}
		st, err := c.StatVFS(p)
		if err != nil {
			return fmt.Errorf("statvfs %s: %w", p, err)
		}
		free = st.Bavail * st.Frsize
		return nil
	})
	return free, err
}

// sftpFile is a remote file that survives reconnects: it remembers the
// connection generation its handle belongs to and reopens the file (no
// create, no truncate) on a new connection.
type sftpFile struct {
	s    *sftpTarget
	path string

	mu     sync.Mutex
	f      *sftp.File
	gen    int
	pos    int64 // end of the last Write, for Write
	closed bool
	// resent counts bytes sent again after a reconnect (tests).
	resent int64
}

// handle returns a handle valid on the current connection.
func (f *sftpFile) handle() (*sftp.File, int, error) {
	c, gen, err := f.s.current()
	if err != nil {
		return nil, 0, err
	}
	if f.f != nil && f.gen == gen {
		return f.f, gen, nil
	}
	nf, err := c.OpenFile(f.path, os.O_WRONLY)
	if err != nil {
		return nil, gen, fmt.Errorf("reopen %s: %w", f.path, err)
	}
	f.f, f.gen = nf, gen
	return nf, gen, nil
}

// retry runs op on a valid handle, reconnecting after lost connections.
func (f *sftpFile) retry(op func(*sftp.File) error) error {
	if f.closed {
		return os.ErrClosed
	}
	for {
		h, gen, err := f.handle()
		if err == nil {
			err = op(h)
		}
		if err == nil || !connLost(err) {
			return err
		}
		if rerr := f.s.cc.reconnect(gen, err); rerr != nil {
			return rerr
		}
	}
}

// WriteSize is one acknowledged chunk: each WriteAt waits for the
// server's replies, so the writer should hand over this much at a time
// (64 KiB per round trip is 64 MB/s at 1 ms, 6 MB/s at 10 ms).
func (f *sftpFile) WriteSize() int { return sftpChunk }

func (f *sftpFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeAt(p, off)
}

func (f *sftpFile) writeAt(p []byte, off int64) (int, error) {
	// Large writes go in chunks, each acknowledged by the server before
	// the next: after a lost connection only the chunk in flight is sent
	// again, not the whole call.
	done := 0
	for done < len(p) {
		chunk := p[done:min(len(p), done+sftpChunk)]
		at := off + int64(done)
		first := true
		err := f.retry(func(h *sftp.File) error {
			if !first {
				// The chunk goes again whole: the server may have applied
				// part of it, and the same bytes at the same offsets
				// twice are harmless.
				f.resent += int64(len(chunk))
			}
			first = false
			_, err := h.WriteAt(chunk, at)
			return err
		})
		if err != nil {
			return done, f.s.writeErr(f.path, at, len(chunk), err)
		}
		done += len(chunk)
	}
	return done, nil
}

func (f *sftpFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.writeAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

// Sync asks the server to fsync (fsync@openssh.com). Servers without the
// extension keep the data in their page cache, which survives our crash
// but not theirs; that is all SFTP offers there.
func (f *sftpFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.retry(func(h *sftp.File) error {
		err := h.Sync()
		var se *sftp.StatusError
		if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", f.path, err)
		}
		return nil
	})
}

func (f *sftpFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	if f.f == nil {
		return nil
	}
	_, gen, _ := f.s.current()
	if gen != f.gen {
		return nil // the handle died with its connection
	}
	err := f.f.Close()
	if err != nil && !connLost(err) {
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	return nil
}

// writeErr words a failed write. SFTP version 3 has no "disk full" status
// (OpenSSH sends a generic failure for ENOSPC), so a failure is checked
// against the free space the server reports.
func (s *sftpTarget) writeErr(p string, off int64, n int, err error) error {
	err = fmt.Errorf("write %s at %#x (%d bytes): %w", p, off, n, err)
	var se *sftp.StatusError
	if !errors.As(err, &se) {
		return err
	}
	c, _, cerr := s.current()
	if cerr != nil {
		return err
	}
	if st, serr := c.StatVFS(path.Dir(p)); serr == nil && st.Bavail*st.Frsize < uint64(n) {
		return fmt.Errorf("%w: %w (%d bytes free on the server)", ErrNoSpace, err, st.Bavail*st.Frsize)
	}
	return err
}
