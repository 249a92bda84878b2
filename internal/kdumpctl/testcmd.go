package kdumpctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/kdumpkit/kdumpkit/kdumpconf"
	"github.com/kdumpkit/kdumpkit/kexec"
)

// testStatusName is kdump-utils' file for the state of the last test.
const testStatusName = "vmcore-creation.status"

// ErrAborted: the user did not confirm.
var ErrAborted = errors.New("aborted")

// Test crashes the system on purpose to check the whole chain: it
// records a pending test, reloads the capture kernel with a test id on
// its command line and triggers a panic through /proc/sysrq-trigger. The
// next Status or Start reads the result the capture side left in the
// target. Without force it asks first.
func (e *Env) Test(ctx context.Context, force bool) error {
	st, err := e.state()
	if err != nil {
		return err
	}
	if !st.Loaded {
		return errors.New("no capture kernel is loaded: run `kdumpctl start` first")
	}
	if !force && !e.confirm("This panics the kernel and reboots through the capture kernel; unsaved work is lost. Continue?") {
		return ErrAborted
	}
	id := strconv.FormatInt(e.Now().UnixNano(), 10)
	if err := os.MkdirAll(e.path(e.stateDir()), 0o755); err != nil {
		return err
	}
	status := fmt.Sprintf("pending %s=%s\n", kexec.TestIDParam, id)
	if err := writeSync(e.path(path.Join(e.stateDir(), testStatusName)), []byte(status)); err != nil {
		return err
	}
	if err := e.reload(ctx, id); err != nil {
		return err
	}
	e.printf("kdump: test %s: triggering a kernel panic now\n", id)
	// The status file must be on disk before the panic.
	f, err := os.OpenFile(e.path("/proc/sysrq-trigger"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("trigger the panic: %w", err)
	}
	defer f.Close()
	_, err = f.Write([]byte("c"))
	return err
}

func writeSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestResult is the state of the last `kdumpctl test`.
type TestResult struct {
	ID     string
	State  string // "pending", "success", "fail" or "" (no test run)
	Detail string // where the result was read, or where to look
}

// LastTest reads the last test's state and, while it is pending, looks
// for the capture side's status file on a target mounted here.
func (e *Env) LastTest(ctx context.Context, cfg *kdumpconf.Config) TestResult {
	local := e.path(path.Join(e.stateDir(), testStatusName))
	b, err := os.ReadFile(local)
	if err != nil {
		return TestResult{}
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return TestResult{State: "unknown", Detail: local + " is malformed"}
	}
	res := TestResult{State: f[0], ID: strings.TrimPrefix(f[1], kexec.TestIDParam+"=")}
	if res.State != "pending" {
		return res
	}
	rel := path.Join(cfg.Path, kexec.TestDirPrefix+res.ID, kexec.TestStatusFile)
	r, err := e.resolve(ctx, cfg)
	if err != nil || r.dumpDir == "" {
		res.Detail = fmt.Sprintf("look for %s on the dump target", rel)
		return res
	}
	where := path.Join(r.dumpDir, kexec.TestDirPrefix+res.ID, kexec.TestStatusFile)
	got, err := os.ReadFile(where)
	if err != nil {
		res.Detail = fmt.Sprintf("no result yet at %s", where)
		return res
	}
	word := strings.Fields(string(got))
	if len(word) == 0 || (word[0] != "success" && word[0] != "fail") {
		res.Detail = fmt.Sprintf("%s does not start with success or fail", where)
		return res
	}
	res.State, res.Detail = word[0], where
	if err := writeSync(local, []byte(fmt.Sprintf("%s %s=%s\n", res.State, kexec.TestIDParam, res.ID))); err != nil {
		e.warnf("warning: %v", err)
	}
	return res
}

func (e *Env) reportTest(ctx context.Context, cfg *kdumpconf.Config) {
	r := e.LastTest(ctx, cfg)
	if r.State == "" {
		return
	}
	e.printf("Last kdump test %s: %s", r.ID, r.State)
	if r.Detail != "" {
		e.printf(" (%s)", r.Detail)
	}
	e.printf("\n")
}
