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
	if len(script) > 120 {
		script = script[:60] + " … " + script[len(script)-50:]
	}
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
	cl, gen, err := e.cc.current()
	if err != nil {
		return nil, err
	}
	sess, err := cl.NewSession()
	if err != nil {
		if rerr := e.cc.reconnect(gen, err); rerr != nil {
			return nil, fmt.Errorf("create %s: %w", p, err)
		}
		if cl, _, err = e.cc.current(); err == nil {
			sess, err = cl.NewSession()
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", p, err)
		}
	}
	w, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	r, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	f := &streamFile{path: p, sess: sess, w: w}
	sess.Stderr = &f.stderr
	// One session: create the file exclusively (noclobber), say so on
	// stdout, then dd the stream into it. conv=fsync: dd fsyncs the file
	// before it exits, so its exit status says the data is durable.
	f.script = "umask 077; " + ifExists(p) + "set -C; : > " + shellQuote(p) +
		" || exit; echo created; exec dd bs=65536 conv=notrunc,fsync of=" + shellQuote(p)
	if err := sess.Start(f.script); err != nil {
		sess.Close()
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	// Wait for the file to exist (or the script to fail) before
	// returning, so that a name clash is Create's error.
	line := make([]byte, len("created\n"))
	if _, err := io.ReadFull(r, line); err != nil || string(line) != "created\n" {
		f.done = true
		w.Close()
		werr := sess.Wait()
		sess.Close()
		if werr == nil {
			werr = fmt.Errorf("remote create said %q: %v", line, err)
		}
		return nil, remoteErr(f.script, werr, f.stderr.Bytes())
	}
	go io.Copy(io.Discard, r)
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
// format: a header line, then "filesystem blocks used avail capacity
// mountpoint" in 1024-byte units). Filesystem names and mount points may
// hold blanks, so the columns are found by the capacity field ("42%")
// that follows three numbers.
func parseDFAvail(out []byte) (uint64, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("df output: %d lines, want a header and one line", len(lines))
	}
	last := lines[len(lines)-1]
	f := strings.Fields(last)
	for i := 4; i < len(f); i++ {
		pct, ok := strings.CutSuffix(f[i], "%")
		if !ok || !isDigits(pct) || !isDigits(f[i-1]) || !isDigits(f[i-2]) || !isDigits(f[i-3]) {
			continue
		}
		kb, err := strconv.ParseUint(f[i-1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("df output line %q: available: %w", last, err)
		}
		if kb > (1<<64-1)/1024 {
			return 0, fmt.Errorf("df output line %q: available %d KiB overflows", last, kb)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("df output line %q: no blocks, used, available and capacity columns", last)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
