package targets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// execTarget writes through commands run by the remote user's shell, for
// servers without the SFTP subsystem. It needs a POSIX shell and mkdir,
// dd, mv, ls, df and rm on the server, as kdump-utils' ssh target does.
// Files are streams: a transfer cut off by a lost connection cannot
// resume, the caller writes the dump again.
type execTarget struct {
	cc *sshConn
}

// existsStatus is the exit status our scripts use for "the name exists".
const existsStatus = 17

func newExecTarget(cc *sshConn) (*execTarget, error) {
	e := &execTarget{cc: cc}
	if _, err := e.run("umask 077 && mkdir -p -- "+shellQuote(cc.cfg.Path), nil); err != nil {
		return nil, fmt.Errorf("%s: create dump path: %w", cc.cfg.String(), err)
	}
	return e, nil
}

func (e *execTarget) String() string { return e.cc.cfg.String() + " (exec)" }

// Seekable is false: a file is one dd stream.
func (e *execTarget) Seekable() bool { return false }

func (e *execTarget) Close() error { return e.cc.close() }

// Reconnects counts the connections made after the first.
func (e *execTarget) Reconnects() int { return e.cc.Reconnects() }

func (e *execTarget) abs(name string) (string, error) {
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	return path.Join(e.cc.cfg.Path, name), nil
}

// run runs script on the server and returns its standard output. A lost
// connection before the command started is retried on a new one; after it
// started the error is returned (the command may have run).
func (e *execTarget) run(script string, stdin io.Reader) ([]byte, error) {
	for {
		cl, gen, err := e.cc.current()
		if err != nil {
			return nil, err
		}
		sess, err := cl.NewSession()
		if err != nil {
			if rerr := e.cc.reconnect(gen, err); rerr != nil {
				return nil, rerr
			}
			continue
		}
		var stdout, stderr bytes.Buffer
		sess.Stdout, sess.Stderr, sess.Stdin = &stdout, &stderr, stdin
		err = sess.Run(script)
		sess.Close()
		if err != nil {
			return stdout.Bytes(), remoteErr(script, err, stderr.Bytes())
		}
		return stdout.Bytes(), nil
	}
}

// remoteErr words a failed remote command with its stderr, mapping our
// "exists" status to fs.ErrExist and a full disk to ErrNoSpace.
func remoteErr(script string, err error, stderr []byte) error {
	msg := strings.TrimSpace(string(stderr))
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		if ee.ExitStatus() == existsStatus {
			return fmt.Errorf("remote %q: %w", script, fs.ErrExist)
		}
		err = fmt.Errorf("exit status %d", ee.ExitStatus())
	}
	if msg != "" {
		err = fmt.Errorf("%w: %s", err, msg)
	}
	if strings.Contains(msg, "No space left on device") || strings.Contains(msg, "Disk quota exceeded") {
		return fmt.Errorf("remote %q: %w: %w", script, ErrNoSpace, err)
	}
	return fmt.Errorf("remote %q: %w", script, err)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func ifExists(p string) string {
	return "if [ -e " + shellQuote(p) + " ] || [ -L " + shellQuote(p) + " ]; then exit " + strconv.Itoa(existsStatus) + "; fi; "
}

func (e *execTarget) Mkdir(name string) error {
	p, err := e.abs(name)
	if err != nil {
		return err
	}
	_, err = e.run(ifExists(p)+"mkdir -m 0700 -- "+shellQuote(p), nil)
	return err
}

func (e *execTarget) Create(name string) (File, error) {
	p, err := e.abs(name)
	if err != nil {
		return nil, err
	}
	// Create the empty file exclusively first, so that a name clash is an
	// error here and not a clobbered file; dd then writes into it.
	if _, err := e.run("umask 077; "+ifExists(p)+"set -C; : > "+shellQuote(p), nil); err != nil {
		return nil, err
	}
	cl, _, err := e.cc.current()
	if err != nil {
		return nil, err
	}
	sess, err := cl.NewSession()
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	w, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	f := &streamFile{path: p, sess: sess, w: w}
	sess.Stderr = &f.stderr
	// conv=fsync: dd fsyncs the file before it exits, so its exit status
	// says the data is durable on the server.
	f.script = "exec dd bs=65536 conv=notrunc,fsync of=" + shellQuote(p)
	if err := sess.Start(f.script); err != nil {
		sess.Close()
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	return f, nil
}

func (e *execTarget) Rename(from, to string) error {
	pf, err := e.abs(from)
	if err != nil {
		return err
	}
	pt, err := e.abs(to)
	if err != nil {
		return err
	}
	_, err = e.run(ifExists(pt)+"mv -- "+shellQuote(pf)+" "+shellQuote(pt), nil)
	return err
}

func (e *execTarget) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := e.abs(name)
	if err != nil {
		return nil, err
	}
	out, err := e.run("cd -- "+shellQuote(p)+" && LC_ALL=C ls -1Ap", nil)
	if err != nil {
		return nil, err
	}
	return parseLs(out), nil
}

// parseLs reads `ls -1Ap` output: one name a line, directories with a
// trailing slash. Names with newlines cannot be told apart and are not
// names this package makes.
func parseLs(out []byte) []fs.DirEntry {
	var ents []fs.DirEntry
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || line == "/" {
			continue
		}
		dir := strings.HasSuffix(line, "/")
		ents = append(ents, lsEntry{name: strings.TrimSuffix(line, "/"), dir: dir})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	return ents
}

type lsEntry struct {
	name string
	dir  bool
}

func (e lsEntry) Name() string { return e.name }
func (e lsEntry) IsDir() bool  { return e.dir }
func (e lsEntry) Type() fs.FileMode {
	if e.dir {
		return fs.ModeDir
	}
	return 0
}
func (e lsEntry) Info() (fs.FileInfo, error) { return lsInfo(e), nil }

// lsInfo is the little ls -p tells: name and kind.
type lsInfo lsEntry

func (i lsInfo) Name() string       { return i.name }
func (i lsInfo) Size() int64        { return 0 }
func (i lsInfo) Mode() fs.FileMode  { return lsEntry(i).Type() }
func (i lsInfo) ModTime() time.Time { return time.Time{} }
func (i lsInfo) IsDir() bool        { return i.dir }
func (i lsInfo) Sys() any           { return nil }

func (e *execTarget) RemoveAll(name string) error {
	p, err := e.abs(name)
	if err != nil {
		return err
	}
	if p == e.cc.cfg.Path {
		return &fs.PathError{Op: "removeall", Path: name, Err: fs.ErrInvalid}
	}
	_, err = e.run("rm -rf -- "+shellQuote(p), nil)
	return err
}

func (e *execTarget) Free(name string) (uint64, error) {
	p, err := e.abs(name)
	if err != nil {
		return 0, err
	}
	out, err := e.run("LC_ALL=C df -Pk -- "+shellQuote(p), nil)
	if err != nil {
		return 0, err
	}
	return parseDFAvail(out)
}

// parseDFAvail reads the available space from `df -Pk` output (POSIX
// format: a header line, then "fs blocks used avail capacity mount" in
// 1024-byte units; the filesystem name may contain spaces, so fields are
// counted from the end).
func parseDFAvail(out []byte) (uint64, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("df output: %d lines, want a header and one line", len(lines))
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 6 {
		return 0, fmt.Errorf("df output line %q: %d fields, want 6", lines[len(lines)-1], len(f))
	}
	kb, err := strconv.ParseUint(f[len(f)-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("df output line %q: available: %w", lines[len(lines)-1], err)
	}
	if kb > (1<<64-1)/1024 {
		return 0, fmt.Errorf("df output line %q: available %d KiB overflows", lines[len(lines)-1], kb)
	}
	return kb * 1024, nil
}

// streamFile is a remote dd fed through the session's stdin.
type streamFile struct {
	path   string
	script string
	sess   *ssh.Session
	w      io.WriteCloser
	stderr bytes.Buffer

	mu   sync.Mutex
	pos  int64
	done bool
	err  error
}

func (f *streamFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.write(p)
}

func (f *streamFile) write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("write %s: %w", f.path, os.ErrClosed)
	}
	n, err := f.w.Write(p)
	f.pos += int64(n)
	if err != nil {
		// The remote dd is gone: its exit status says why.
		werr := f.finish()
		if werr == nil {
			werr = err
		}
		return n, fmt.Errorf("write %s at %#x: %w", f.path, f.pos, werr)
	}
	return n, nil
}

// WriteAt accepts only writes at the end of the stream.
func (f *streamFile) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off != f.pos {
		return 0, fmt.Errorf("write %s at %#x, stream is at %#x: %w", f.path, off, f.pos, ErrNotSeekable)
	}
	return f.write(p)
}

// finish closes stdin and waits for dd; its status is the file's fate.
func (f *streamFile) finish() error {
	if f.done {
		return f.err
	}
	f.done = true
	f.w.Close()
	err := f.sess.Wait()
	f.sess.Close()
	if err != nil {
		f.err = remoteErr(f.script, err, f.stderr.Bytes())
	}
	return f.err
}

// Sync ends the stream: dd writes what it has, fsyncs and exits; its exit
// status is returned. No writes are accepted afterwards.
func (f *streamFile) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.finish()
}

// Close ends the stream if Sync did not.
func (f *streamFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return nil
	}
	return f.finish()
}
