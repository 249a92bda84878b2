package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"
)

// File is a dump file being written on a target.
type File interface {
	io.Writer
	io.WriterAt
	Sync() error
	Close() error
}

// Dest is a reached target: a directory tree dump files are written into.
// Names are slash-separated paths below the target's root.
type Dest interface {
	MkdirAll(dir string) error
	Create(name string) (File, error)
	Rename(from, to string) error
	// Close unmounts or disconnects; data written before must already be
	// synced.
	Close() error
}

// DumpStats is what the engine reports about a finished dump.
type DumpStats struct {
	Bytes int64 // bytes in the dump file
	Pages uint64
}

// System is everything capture-init does to the machine. NewLinux returns
// the real one; tests use fakes.
type System interface {
	// MountPseudo mounts /proc, /sys and /dev (devtmpfs).
	MountPseudo() error
	// LoadModule loads the kernel module file at path.
	LoadModule(path string) error
	// SetupNetwork brings up networking as Config.Network says, waiting
	// until ctx ends.
	SetupNetwork(ctx context.Context, cfg *Config) error
	// OpenTarget reaches t (waiting for its device or server until ctx
	// ends) and returns it.
	OpenTarget(ctx context.Context, t Target) (Dest, error)
	// HostID names this machine in the dump directory: its IP address,
	// or 127.0.0.1 for a local target, as RHEL's kdump does.
	HostID(t Target) string
	// Dmesg returns the crashed kernel's log read from /proc/vmcore, or
	// ErrDmesgUnsupported.
	Dmesg(ctx context.Context) ([]byte, error)
	// Dump writes /proc/vmcore filtered and compressed as cfg says.
	Dump(ctx context.Context, cfg *Config, w File) (DumpStats, error)
	// RunHook runs a kdump_pre/post/emergency program with args and
	// returns an error if it fails or exits non-zero.
	RunHook(ctx context.Context, prog string, args ...string) error
	// Shell runs an interactive shell on the console and returns when it
	// exits; ErrNoShell if the initramfs has none.
	Shell() error
	// PeakMemoryKiB is this process's peak resident memory (VmHWM).
	PeakMemoryKiB() int64
	// Finish ends the system: sync, then reboot, halt or power off. It
	// returns only if that fails.
	Finish(a Action) error
	Now() time.Time
}

// ErrNoShell is returned by System.Shell when no shell is available.
var ErrNoShell = errors.New("no shell in the initramfs")

// ErrDmesgUnsupported is returned by System.Dmesg while reading the log
// from a dump is not implemented; capture-init then skips the file.
var ErrDmesgUnsupported = errors.New("reading dmesg from the dump is not supported yet")

// File names in the dump directory, as RHEL's kdump writes them.
const (
	VmcoreName           = "vmcore"
	VmcoreIncompleteName = "vmcore-incomplete"
	VmcoreFlatName       = "vmcore.flat"
	DmesgName            = "vmcore-dmesg.txt"
	DmesgIncompleteName  = "vmcore-dmesg-incomplete.txt"
	LogName              = "kexec-dmesg.log"
)

// Result says what a Run did.
type Result struct {
	Dir     string // the dump directory below the target root, if made
	Saved   bool   // the vmcore was renamed into place
	Stats   DumpStats
	Failed  string // the step that failed, empty on success
	Err     error
	Action  Action // the action taken at the end
	Elapsed time.Duration
}

// Runner runs one capture.
type Runner struct {
	Sys    System
	Config *Config
	// Console receives the progress lines (one line per event, no
	// carriage returns, so serial consoles and logs stay readable).
	Console io.Writer

	mu    sync.Mutex
	log   bytes.Buffer // everything logged, saved as kexec-dmesg.log
	start time.Time
}

// logf writes a progress line to the console and the saved log.
func (r *Runner) logf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var el time.Duration
	if !r.start.IsZero() {
		el = r.Sys.Now().Sub(r.start)
	}
	line := fmt.Sprintf("capture-init: [%7.2fs] %s\n", el.Seconds(), fmt.Sprintf(format, a...))
	r.log.WriteString(line)
	if r.Console != nil {
		io.WriteString(r.Console, line)
	}
}

// Log returns what has been logged so far.
func (r *Runner) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// stepError names the step that failed.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// Run performs the capture and ends with System.Finish; it returns only
// if that fails (or in tests, whose fake Finish returns).
func (r *Runner) Run(ctx context.Context) Result {
	r.start = r.Sys.Now()
	cfg := r.Config
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	r.logf("start: target %s, level %d, %v, deadline %v", describeTarget(cfg.Target), cfg.Level, cfg.Method, cfg.Deadline)

	res := Result{}
	var dest Dest
	err := r.capture(ctx, &res, &dest)
	res.Elapsed = r.Sys.Now().Sub(r.start)
	if err == nil {
		res.Action = cfg.FinalAction
		r.logf("saved %s/%s (%d bytes) in %.2fs; peak memory %d KiB", res.Dir, VmcoreName, res.Stats.Bytes, res.Elapsed.Seconds(), r.Sys.PeakMemoryKiB())
		r.saveLog(dest, res.Dir)
		r.closeDest(dest)
		r.finish(res.Action)
		return res
	}
	res.Err = err
	var se *stepError
	if errors.As(err, &se) {
		res.Failed = se.step
	}
	r.logf("FAILED in step %s: %v", res.Failed, err)
	if res.Failed == "kdump_pre" {
		// RHEL: a failing kdump_pre skips the dump and takes the final
		// action, not the failure action.
		res.Action = cfg.FinalAction
		r.logf("peak memory %d KiB", r.Sys.PeakMemoryKiB())
		r.finish(res.Action)
		return res
	}
	res.Action = r.failure(ctx, &res, dest)
	r.finish(res.Action)
	return res
}

// capture runs the steps up to and including kdump_post.
func (r *Runner) capture(ctx context.Context, res *Result, destp *Dest) error {
	cfg := r.Config
	step := func(name string, f func() error) error {
		t := r.Sys.Now()
		if err := f(); err != nil {
			return &stepError{step: name, err: err}
		}
		r.logf("%s: done in %.2fs", name, r.Sys.Now().Sub(t).Seconds())
		return nil
	}
	if err := step("mount", r.Sys.MountPseudo); err != nil {
		return err
	}
	if err := step("modules", func() error {
		for _, m := range cfg.Modules {
			if err := r.Sys.LoadModule(m); err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if cfg.Pre != "" {
		if err := step("kdump_pre", func() error { return r.Sys.RunHook(ctx, cfg.Pre) }); err != nil {
			return err
		}
	}
	if cfg.Network != "" {
		if err := step("network", func() error {
			wctx, cancel := context.WithTimeout(ctx, cfg.WaitTimeout)
			defer cancel()
			return r.Sys.SetupNetwork(wctx, cfg)
		}); err != nil {
			return err
		}
	}
	dumpErr := r.dumpTo(ctx, cfg.Target, res, destp, step)
	if cfg.Post != "" {
		status := "0"
		if dumpErr != nil {
			status = "1"
		}
		if err := step("kdump_post", func() error { return r.Sys.RunHook(ctx, cfg.Post, status) }); err != nil && dumpErr == nil {
			return err
		} else if err != nil {
			r.logf("%v", err)
		}
	}
	return dumpErr
}

// dumpTo reaches t and writes the dump files into a new directory on it.
func (r *Runner) dumpTo(ctx context.Context, t Target, res *Result, destp *Dest, step func(string, func() error) error) error {
	cfg := r.Config
	var dest Dest
	if err := step("target", func() error {
		wctx, cancel := context.WithTimeout(ctx, cfg.WaitTimeout)
		defer cancel()
		d, err := r.Sys.OpenTarget(wctx, t)
		dest = d
		return err
	}); err != nil {
		return err
	}
	*destp = dest
	dir := path.Join(strings.TrimPrefix(cfg.Path, "/"), r.Sys.HostID(t)+"-"+r.start.Format("2006-01-02-15:04:05"))
	if err := step("mkdir", func() error { return dest.MkdirAll(dir) }); err != nil {
		return err
	}
	res.Dir = dir
	r.logf("dump directory %s", dir)
	// The kernel log first: it is small and tells most of the story even
	// when the full dump does not make it.
	if err := step("dmesg", func() error {
		text, err := r.Sys.Dmesg(ctx)
		if errors.Is(err, ErrDmesgUnsupported) {
			r.logf("dmesg: skipped: %v", err)
			return nil
		}
		if err != nil {
			// The dump matters more than its log: go on without it.
			r.logf("dmesg: %v; going on with the dump", err)
			return nil
		}
		return r.writeFile(dest, dir, DmesgIncompleteName, DmesgName, func(f File) error {
			_, err := f.Write(text)
			return err
		})
	}); err != nil {
		return err
	}
	final := VmcoreName
	if cfg.Flatten {
		final = VmcoreFlatName
	}
	err := step("dump", func() error {
		return r.writeFile(dest, dir, VmcoreIncompleteName, final, func(f File) error {
			st, err := r.Sys.Dump(ctx, cfg, f)
			res.Stats = st
			if err == nil {
				r.logf("dump: %d pages, %d bytes", st.Pages, st.Bytes)
			}
			return err
		})
	})
	res.Saved = err == nil
	return err
}

// writeFile writes dir/tmp with fill, syncs it and renames it to dir/final.
// On failure the tmp file stays: it is the marker of an incomplete dump.
func (r *Runner) writeFile(dest Dest, dir, tmp, final string, fill func(File) error) error {
	f, err := dest.Create(path.Join(dir, tmp))
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return dest.Rename(path.Join(dir, tmp), path.Join(dir, final))
}

// failure runs kdump_emergency and the failure action; it returns the
// action to finish with.
func (r *Runner) failure(ctx context.Context, res *Result, dest Dest) Action {
	cfg := r.Config
	if cfg.Emergency != "" {
		// The deadline may be what failed: give the hook its own minute.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err := r.Sys.RunHook(hctx, cfg.Emergency)
		cancel()
		if err != nil {
			r.logf("kdump_emergency: %v", err)
		} else {
			r.logf("kdump_emergency: done")
		}
	}
	r.logf("peak memory %d KiB", r.Sys.PeakMemoryKiB())
	if dest != nil && res.Dir != "" {
		r.saveLog(dest, res.Dir)
	}
	r.closeDest(dest)
	switch cfg.FailureAction {
	case ActionShell:
		r.logf("failure_action shell: starting a shell; exit it to %s", cfg.FinalAction)
		if err := r.Sys.Shell(); err != nil {
			r.logf("shell: %v", err)
		}
		return cfg.FinalAction
	case ActionDumpToRootfs:
		if cfg.Rootfs.Kind == "" {
			r.logf("failure_action dump_to_rootfs: no root file system target is configured; %s", cfg.FinalAction)
			return cfg.FinalAction
		}
		r.logf("failure_action dump_to_rootfs: dumping to %s", describeTarget(cfg.Rootfs))
		// A fresh deadline: the first attempt may have used up the old one.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Deadline)
		defer cancel()
		var rdest Dest
		step := func(name string, f func() error) error {
			if err := f(); err != nil {
				return &stepError{step: "dump_to_rootfs " + name, err: err}
			}
			r.logf("dump_to_rootfs %s: done", name)
			return nil
		}
		res2 := Result{}
		err := r.dumpTo(rctx, cfg.Rootfs, &res2, &rdest, step)
		if err != nil {
			r.logf("FAILED: %v", err)
		} else {
			res.Dir, res.Saved, res.Stats = res2.Dir, true, res2.Stats
			r.logf("saved %s/%s on the root file system (%d bytes)", res2.Dir, VmcoreName, res2.Stats.Bytes)
		}
		if rdest != nil && res2.Dir != "" {
			r.saveLog(rdest, res2.Dir)
		}
		r.closeDest(rdest)
		return cfg.FinalAction
	default:
		return cfg.FailureAction
	}
}

func (r *Runner) saveLog(dest Dest, dir string) {
	if dest == nil {
		return
	}
	r.logf("saving %s", LogName)
	log := r.Log()
	err := r.writeFile(dest, dir, LogName+".tmp", LogName, func(f File) error {
		_, err := io.WriteString(f, log)
		return err
	})
	if err != nil {
		r.logf("saving %s: %v", LogName, err)
	}
}

func (r *Runner) closeDest(dest Dest) {
	if dest == nil {
		return
	}
	if err := dest.Close(); err != nil {
		r.logf("closing the target: %v", err)
	}
}

func (r *Runner) finish(a Action) {
	r.logf("%s", a)
	if err := r.Sys.Finish(a); err != nil {
		r.logf("%s: %v", a, err)
	}
}

func describeTarget(t Target) string {
	switch t.Kind {
	case TargetLocal:
		return fmt.Sprintf("%s %s", t.FSType, t.Device)
	case TargetRaw:
		return "raw " + t.Device
	case TargetNFS, TargetSSH:
		return string(t.Kind) + " " + t.Remote
	}
	return "none"
}
