package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
	"github.com/kdumpkit/kdumpkit/targets"
)

// DumpStats is what the engine reports about a finished dump.
type DumpStats struct {
	Bytes int64  // bytes in the dump file
	Pages uint64 // pages kept by the filter (before the zero check)
}

// Where says which target OpenTarget reaches.
type Where int

// Targets of a capture.
const (
	MainTarget   Where = iota // the kdump.conf target
	RootfsTarget              // failure_action dump_to_rootfs
)

// System is everything capture-init does to the machine. NewLinux returns
// the real one; tests use fakes.
type System interface {
	// MountPseudo mounts /proc, /sys and /dev (devtmpfs).
	MountPseudo() error
	// LoadModule loads the kernel module file at path.
	LoadModule(path string) error
	// SetupNetwork brings up the network kdump.conf describes, waiting
	// until ctx ends, and returns this machine's address on it.
	SetupNetwork(ctx context.Context, cfg *Config) (string, error)
	// OpenTarget reaches a target (waiting for its device or server
	// until ctx ends) and returns it rooted at the dump path.
	OpenTarget(ctx context.Context, cfg *Config, w Where) (targets.Target, error)
	// OpenRaw waits for a raw target's device and opens it for a
	// flattened stream (refusing one that holds an unrecovered dump).
	OpenRaw(ctx context.Context, cfg *Config) (targets.File, error)
	// Dmesg returns the crashed kernel's log read from /proc/vmcore.
	Dmesg(ctx context.Context) ([]byte, error)
	// Dump writes /proc/vmcore filtered and compressed as cfg says,
	// flattened if flat, reporting progress through logf.
	Dump(ctx context.Context, cfg *Config, w targets.File, flat bool, logf func(format string, a ...any)) (DumpStats, error)
	// RunHook runs a hook program with args; an error if it fails or
	// exits non-zero.
	RunHook(ctx context.Context, prog string, args ...string) error
	// HookDir lists the programs of a hook directory (pre.d, ...) in
	// lexical order; none if it does not exist.
	HookDir(dir string) []string
	// Shell runs an interactive shell on the console and returns when it
	// exits; ErrNoShell if the initramfs has none.
	Shell() error
	// PeakMemoryKiB is this process's peak resident memory (VmHWM).
	PeakMemoryKiB() int64
	// Finish ends the system: sync, then reboot, halt or power off. It
	// returns only if that fails.
	Finish(a kdumpconf.Action) error
	Now() time.Time
}

// ErrNoShell is returned by System.Shell when no shell is available.
var ErrNoShell = errors.New("no shell in the initramfs")

// Result says what a Run did.
type Result struct {
	Dir    string // the dump directory below the target's dump path
	Saved  bool   // the vmcore was renamed into place
	Stats  DumpStats
	Failed string // the step that failed, empty on success
	Err    error
	Action kdumpconf.Action // the action taken at the end
}

// Runner runs one capture.
type Runner struct {
	Sys    System
	Config *Config
	// Console receives the progress lines (one line per event, no
	// carriage returns, so serial consoles and logs stay readable).
	Console io.Writer
	// AfterModules, if set, runs once the modules are loaded: the
	// watchdog driver may be one of them.
	AfterModules func(logf func(format string, a ...any))

	mu    sync.Mutex
	log   bytes.Buffer // everything logged, saved as kexec-dmesg.log
	start time.Time
	host  string // address for the dump directory name, from the network
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
	if cfg.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Deadline)
		defer cancel()
	}
	r.logf("start: target %s, path %s, level %d, %v, deadline %s", describe(cfg.Conf.Target), cfg.Conf.Path, cfg.Level, cfg.Method, kdumpconf.FormatDuration(cfg.Deadline))
	if len(cfg.MoreLevels) > 0 {
		r.logf("dump levels %v are tried in turn when the target fills up", cfg.MoreLevels)
	}

	res := Result{}
	var d *targets.Dump
	err := r.capture(ctx, &res, &d)
	if err == nil {
		res.Action = cfg.Conf.FinalAction
		name := res.Dir
		if d != nil {
			name += "/" + d.VmcoreName()
		}
		r.logf("saved %s (%d bytes); peak memory %d KiB", name, res.Stats.Bytes, r.Sys.PeakMemoryKiB())
		r.recordTest(d, nil)
		r.saveLog(d)
		r.closeTarget(d)
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
		// As kdump-utils: a failing kdump_pre skips the dump and takes
		// the final action, not the failure action.
		res.Action = cfg.Conf.FinalAction
		r.logf("peak memory %d KiB", r.Sys.PeakMemoryKiB())
		r.finish(res.Action)
		return res
	}
	r.recordTest(d, err)
	res.Action = r.failure(ctx, &res, d)
	r.finish(res.Action)
	return res
}

func (r *Runner) step(name string, f func() error) error {
	t := r.Sys.Now()
	if err := f(); err != nil {
		return &stepError{step: name, err: err}
	}
	r.logf("%s: done in %.2fs", name, r.Sys.Now().Sub(t).Seconds())
	return nil
}

// runHooks runs the programs of a .d directory, then the configured hook.
// Failures in the directory are logged only, as kdump-utils does.
func (r *Runner) runHooks(ctx context.Context, dir, hook string, args ...string) error {
	for _, p := range r.Sys.HookDir(dir) {
		if err := r.Sys.RunHook(ctx, p, args...); err != nil {
			r.logf("%v (going on)", err)
		}
	}
	if hook == "" {
		return nil
	}
	return r.Sys.RunHook(ctx, hook, args...)
}

// capture runs the steps up to and including kdump_post.
func (r *Runner) capture(ctx context.Context, res *Result, dp **targets.Dump) error {
	cfg := r.Config
	if err := r.step("mount", r.Sys.MountPseudo); err != nil {
		return err
	}
	if err := r.step("modules", func() error {
		for _, m := range cfg.Modules {
			if err := r.Sys.LoadModule(m); err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if r.AfterModules != nil {
		r.AfterModules(r.logf)
	}
	if err := r.step("kdump_pre", func() error {
		return r.runHooks(ctx, kdumpconf.PreDir, cfg.Conf.Hooks.Pre)
	}); err != nil {
		return err
	}
	r.host = "127.0.0.1"
	if cfg.Conf.Target.Network() {
		if err := r.step("network", func() error {
			wctx, cancel := context.WithTimeout(ctx, cfg.WaitTimeout)
			defer cancel()
			ip, err := r.Sys.SetupNetwork(wctx, cfg)
			if err == nil {
				r.host = ip
				r.logf("network: address %s", ip)
			}
			return err
		}); err != nil {
			return err
		}
	}
	var dumpErr error
	if cfg.Conf.Target.Kind == kdumpconf.TargetRaw {
		dumpErr = r.dumpRaw(ctx, res)
	} else {
		dumpErr = r.dumpTo(ctx, MainTarget, res, dp)
	}
	status := "0"
	if dumpErr != nil {
		status = "1"
	}
	if err := r.step("kdump_post", func() error {
		return r.runHooks(ctx, kdumpconf.PostDir, cfg.Conf.Hooks.Post, status)
	}); err != nil {
		if dumpErr == nil {
			return err
		}
		r.logf("%v", err)
	}
	return dumpErr
}

// dumpTo reaches a target and writes the dump files into a new directory
// on it: vmcore-dmesg.txt first, then the vmcore.
func (r *Runner) dumpTo(ctx context.Context, w Where, res *Result, dp **targets.Dump) error {
	cfg := r.Config
	prefix := ""
	if w == RootfsTarget {
		prefix = "dump_to_rootfs "
	}
	var t targets.Target
	if err := r.step(prefix+"target", func() error {
		wctx, cancel := context.WithTimeout(ctx, cfg.WaitTimeout)
		defer cancel()
		var err error
		t, err = r.Sys.OpenTarget(wctx, cfg, w)
		return err
	}); err != nil {
		return err
	}
	host := r.host
	if w == RootfsTarget {
		host = "127.0.0.1"
	}
	var d *targets.Dump
	if err := r.step(prefix+"mkdir", func() error {
		var err error
		d, err = targets.Begin(t, targets.Options{Host: host, Time: r.start, MinFree: cfg.Conf.MinFree, Stream: cfg.Stream})
		return err
	}); err != nil {
		t.Close()
		return err
	}
	*dp = d
	res.Dir = d.Dir()
	r.logf("dump directory %s on %s", d.Dir(), t)
	if cfg.Stream != codec.StreamNone {
		if d.Stream() == codec.StreamNone {
			r.logf("stream_compression %s does not apply to %s: it takes seekable files, so the vmcore is kdump-compressed page by page instead", cfg.Stream, t)
		} else {
			r.logf("stream_compression %s: the flattened vmcore is wrapped in %s and saved as %s", cfg.Stream, cfg.Stream, d.VmcoreName())
		}
	}
	// The kernel log first: it is small and tells most of the story even
	// when the full dump does not make it.
	if err := r.step(prefix+"dmesg", func() error {
		text, err := r.Sys.Dmesg(ctx)
		if err != nil {
			// The dump matters more than its log: go on without it.
			r.logf("dmesg: %v; going on with the dump", err)
			return nil
		}
		return d.WriteFile(targets.DmesgName, bytes.NewReader(text))
	}); err != nil {
		return err
	}
	err := r.step(prefix+"dump", func() error {
		f, err := d.CreateVmcore()
		if err != nil {
			return err
		}
		// Like kdump-utils, the target decides -F: a flattened stream
		// only where files cannot seek (SSH without SFTP, raw), whatever
		// the collector line says (kdumpconf.Config.CollectorArgs).
		w, st, err := r.dumpLevels(ctx, f, d.Flattened(), d.Stream(), d.Flattened(), func(old targets.File) (targets.File, error) {
			old.Close()
			return d.RecreateVmcore()
		})
		res.Stats = st
		if err != nil {
			if w != nil {
				w.Close() // the -incomplete name stays as the marker
			}
			return err
		}
		r.logf("dump: %d pages kept, %d bytes written", st.Pages, st.Bytes)
		if err := d.FinishVmcore(w); err != nil {
			return err
		}
		if sf, ok := w.(*streamFile); ok {
			res.Stats.Bytes = sf.written()
			r.logf("dump: %d bytes in the %s stream", res.Stats.Bytes, d.Stream())
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Saved = true
	if k := cfg.Conf.Keep; k > 0 {
		removed, err := targets.Prune(t, host, k, d.Dir())
		if err != nil {
			r.logf("keep %d: %v", k, err)
		} else if len(removed) > 0 {
			r.logf("keep %d: removed %s", k, strings.Join(removed, ", "))
		}
	}
	return nil
}

// dumpRaw writes the vmcore as a flattened stream to a raw device, as
// kdump-utils does: no directory and no dmesg file; kdumpctl start on the
// next boot recovers it into <path>.
func (r *Runner) dumpRaw(ctx context.Context, res *Result) error {
	cfg := r.Config
	var f targets.File
	if err := r.step("target", func() error {
		var err error
		f, err = r.Sys.OpenRaw(ctx, cfg)
		return err
	}); err != nil {
		return err
	}
	if cfg.Stream != codec.StreamNone {
		r.logf("stream_compression %s: the flattened vmcore is wrapped in %s on %s", cfg.Stream, cfg.Stream, cfg.Conf.Target.Device)
	}
	err := r.step("dump", func() error {
		w, st, err := r.dumpLevels(ctx, f, true, cfg.Stream, false, func(old targets.File) (targets.File, error) {
			// The next stream starts again at offset 0 over the failed
			// one; its end marker ends it, whatever lies beyond.
			rw, ok := old.(interface{ Rewind() error })
			if !ok {
				old.Close()
				return nil, errors.New("the raw device cannot be rewound")
			}
			return old, rw.Rewind()
		})
		res.Stats = st
		if w == nil {
			return err
		}
		if err == nil {
			err = w.Sync()
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if sf, ok := w.(*streamFile); ok {
			res.Stats.Bytes = sf.written()
		}
		if err == nil {
			r.logf("dump: %d pages kept, %d bytes written to %s", st.Pages, res.Stats.Bytes, cfg.Conf.Target.Device)
		}
		return err
	})
	res.Saved = err == nil
	if err == nil {
		res.Dir = cfg.Conf.Target.Device
	}
	return err
}

// maxStreamRestarts bounds how often a dump into a broken stream (ssh in
// exec mode: the connection dropped) is written again from the start.
const maxStreamRestarts = 3

// dumpLevels runs the engine into f at the first -d level and, as
// makedumpfile does with a level list, again at each next level while the
// target is full (ErrNoSpace). With restart (ssh in exec mode, whose
// files are one stream over one connection), a dump whose writes to the
// target failed otherwise is written again from the start at the same
// level, up to maxStreamRestarts times within the deadline: the stream
// cannot resume where it broke. again disposes of the failed attempt and
// returns the file for the next one: the same dump name, rewritten, as the
// C tool rewrites its output file; every retry is logged. A flattened
// stream is wrapped in container s. It returns the file last written (nil
// if again failed) for the caller to finish or close; when every attempt
// fails, that file holds the last one, marked incomplete.
func (r *Runner) dumpLevels(ctx context.Context, f targets.File, flat bool, s codec.Stream, restart bool, again func(targets.File) (targets.File, error)) (targets.File, DumpStats, error) {
	cfg := r.Config
	levels := append([]filter.Level{cfg.Level}, cfg.MoreLevels...)
	restarts := 0
	for i := 0; ; {
		lv := levels[i]
		w := f
		var sf *streamFile
		if flat && s != codec.StreamNone {
			var err error
			if sf, err = newStreamFile(f, s); err != nil {
				return f, DumpStats{}, err
			}
			w = sf
		}
		c := *cfg
		c.Level = lv
		ew := &writeErrFile{File: w}
		st, err := r.Sys.Dump(ctx, &c, ew, flat, r.logf)
		switch {
		case err == nil:
			return w, st, nil
		case errors.Is(err, targets.ErrNoSpace) && i < len(levels)-1:
			i++
			r.logf("dump: target full at level %d after %d bytes (%v); the incomplete vmcore is overwritten by a retry at level %d", lv, st.Bytes, err, levels[i])
		case restart && ew.err != nil && !errors.Is(err, targets.ErrNoSpace) && ctx.Err() == nil && restarts < maxStreamRestarts:
			restarts++
			r.logf("dump: the stream to the target broke at level %d after %d bytes (%v); writing the dump again from the start (%d of %d)", lv, st.Bytes, err, restarts, maxStreamRestarts)
		default:
			return w, st, err
		}
		if sf != nil {
			sf.end()
		}
		if f, err = again(f); err != nil {
			return f, st, fmt.Errorf("retry at level %d: %w", levels[i], err)
		}
	}
}

// writeErrFile remembers the first error the target's file returned, so
// that a broken stream is told from a failure of the engine itself.
type writeErrFile struct {
	targets.File
	mu  sync.Mutex
	err error
}

func (w *writeErrFile) note(err error) {
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
}

func (w *writeErrFile) Write(p []byte) (int, error) {
	n, err := w.File.Write(p)
	w.note(err)
	return n, err
}

func (w *writeErrFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := w.File.WriteAt(p, off)
	w.note(err)
	return n, err
}

// failure runs kdump_emergency and the failure action; it returns the
// action to finish with.
func (r *Runner) failure(ctx context.Context, res *Result, d *targets.Dump) kdumpconf.Action {
	cfg := r.Config
	// The deadline may be what failed: give the hooks their own minute.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	if err := r.runHooks(hctx, kdumpconf.EmergencyDir, cfg.Conf.Hooks.Emergency); err != nil {
		r.logf("kdump_emergency: %v", err)
	}
	cancel()
	r.logf("peak memory %d KiB", r.Sys.PeakMemoryKiB())
	r.saveLog(d)
	r.closeTarget(d)
	final := cfg.Conf.FinalAction
	switch cfg.Conf.FailureAction {
	case kdumpconf.ActionShell:
		r.logf("failure_action shell: starting a shell; exit it to %s", final)
		if err := r.Sys.Shell(); err != nil {
			r.logf("shell: %v", err)
		}
		return final
	case kdumpconf.ActionDumpToRootfs:
		r.logf("failure_action dump_to_rootfs")
		// A fresh deadline: the first attempt may have used up the old one.
		rctx := context.WithoutCancel(ctx)
		if cfg.Deadline > 0 {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(rctx, cfg.Deadline)
			defer cancel()
		}
		var rd *targets.Dump
		res2 := Result{}
		if err := r.dumpTo(rctx, RootfsTarget, &res2, &rd); err != nil {
			r.logf("FAILED: %v", err)
		} else {
			res.Dir, res.Saved, res.Stats = res2.Dir, true, res2.Stats
			r.logf("saved %s/%s on the root file system (%d bytes); peak memory %d KiB", res2.Dir, rd.VmcoreName(), res2.Stats.Bytes, r.Sys.PeakMemoryKiB())
		}
		r.saveLog(rd)
		r.closeTarget(rd)
		return final
	default:
		return cfg.Conf.FailureAction
	}
}

func (r *Runner) saveLog(d *targets.Dump) {
	if d == nil {
		return
	}
	r.logf("saving %s", targets.LogName)
	if err := d.WriteFile(targets.LogName, strings.NewReader(r.Log())); err != nil {
		r.logf("saving %s: %v", targets.LogName, err)
	}
}

func (r *Runner) closeTarget(d *targets.Dump) {
	if d == nil {
		return
	}
	if err := d.Target().Close(); err != nil {
		r.logf("closing %s: %v", d.Target(), err)
	}
}

func (r *Runner) finish(a kdumpconf.Action) {
	r.logf("%s", a)
	if err := r.Sys.Finish(a); err != nil {
		r.logf("%s: %v", a, err)
	}
}

func describe(t kdumpconf.Target) string {
	switch t.Kind {
	case kdumpconf.TargetFS:
		return t.FSType + " " + t.Device
	case kdumpconf.TargetRaw:
		return "raw " + t.Device
	case kdumpconf.TargetNFS:
		return "nfs " + t.Host + ":" + t.Export
	case kdumpconf.TargetSSH:
		return "ssh " + t.User + "@" + t.Host
	}
	return "root file system"
}
