package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/kdumpkit/kdumpkit/kexec"
	"github.com/kdumpkit/kdumpkit/targets"
)

// CmdlineReader is implemented by a System that can read the capture
// kernel's command line (/proc/cmdline). It is separate from System so
// that systems without it still capture; they just cannot answer a
// `kdumpctl test`.
type CmdlineReader interface {
	Cmdline() (string, error)
}

// ParseTestID returns the value of the last kdump_test_id= on a kernel
// command line, "" when there is none. The id becomes a directory name
// on the target, so only letters, digits, '-' and '_' are accepted
// (kdumpctl writes decimal nanoseconds).
func ParseTestID(cmdline string) (string, error) {
	id := ""
	for _, w := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(w, kexec.TestIDParam+"="); ok {
			id = v
		}
	}
	if id == "" {
		return "", nil
	}
	if len(id) > 64 {
		return "", fmt.Errorf("%s=%.16s...: longer than 64 characters", kexec.TestIDParam, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return "", fmt.Errorf("%s=%q: character %q at %d is not a letter, digit, '-' or '_'", kexec.TestIDParam, id, c, i)
		}
	}
	return id, nil
}

// TestStatusPath is where the result of test id goes, relative to the
// target's dump path: <path>/kdump-test-<id>/vmcore-creation.status, the
// file `kdumpctl status` reads.
func TestStatusPath(id string) string {
	return path.Join(kexec.TestDirPrefix+id, kexec.TestStatusFile)
}

// TestStatusText is the content of the status file: "success <dump
// dir>/<vmcore>" or "fail <why>", one line; kdumpctl reads the first word.
func TestStatusText(savedAs string, runErr error) string {
	if runErr != nil {
		return "fail " + strings.ReplaceAll(runErr.Error(), "\n", " ") + "\n"
	}
	return "success " + savedAs + "\n"
}

// recordTest writes the result of a `kdumpctl test` panic onto the target
// the dump went to, when the command line carries kdump_test_id=. A dump
// that never reached its target (d nil) has nowhere to record: kdumpctl
// then keeps showing the test as pending. Problems are logged, never
// fatal: the dump matters more than the test's bookkeeping.
func (r *Runner) recordTest(d *targets.Dump, runErr error) {
	cr, ok := r.Sys.(CmdlineReader)
	if !ok {
		return
	}
	cl, err := cr.Cmdline()
	if err != nil {
		r.logf("kdump test: reading the command line: %v", err)
		return
	}
	id, err := ParseTestID(cl)
	if err != nil {
		r.logf("kdump test: %v; no result recorded", err)
		return
	}
	if id == "" {
		return
	}
	if d == nil {
		if runErr == nil {
			r.logf("kdump test %s: a raw target has no directory for the result; none recorded", id)
		} else {
			r.logf("kdump test %s: the target was never reached; no result recorded", id)
		}
		return
	}
	saved := ""
	if runErr == nil {
		saved = d.Dir() + "/" + d.VmcoreName()
	}
	text := TestStatusText(saved, runErr)
	if err := writeTestStatus(d.Target(), id, text); err != nil {
		r.logf("kdump test %s: %v", id, err)
		return
	}
	r.logf("kdump test %s: recorded %q in %s", id, strings.Fields(text)[0], TestStatusPath(id))
}

// writeTestStatus creates kdump-test-<id>/ (it may exist) and the status
// file in it, and syncs it; an existing status file is left alone.
func writeTestStatus(t targets.Target, id, text string) error {
	dir := kexec.TestDirPrefix + id
	if err := t.Mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	name := TestStatusPath(id)
	f, err := t.Create(name)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if _, err := f.Write([]byte(text)); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	return nil
}
