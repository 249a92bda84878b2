package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/collector"
	"github.com/kdumpkit/kdumpkit/dump"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/internal/writeback"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

const invalidParams = "Commandline parameter is invalid.\nTry `makedumpfile --help' for more information.\n"

// messages prints as makedumpfile's MSG, REPORT_MSG, DEBUG_MSG and ERRMSG
// do: each kind only when its --message-level bit is set; the first three
// on standard output (standard error with -F, whose standard output is the
// dump), errors on standard error.
type messages struct {
	out, err io.Writer
	level    int
}

func (m *messages) msg(format string, a ...any) {
	if m.level&collector.MLCommon != 0 {
		fmt.Fprintf(m.out, format, a...)
	}
}

func (m *messages) debug(format string, a ...any) {
	if m.level&collector.MLDebug != 0 {
		fmt.Fprintf(m.out, format, a...)
	}
}

func (m *messages) reporting() bool { return m.level&collector.MLReport != 0 }

func (m *messages) errorf(format string, a ...any) {
	if m.level&collector.MLError != 0 {
		fmt.Fprintf(m.err, "makedumpfile: "+format+"\n", a...)
	}
}

func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := collector.Parse(args)
	if err != nil {
		m := &messages{out: stdout, err: stderr, level: collector.DefaultMessageLevel}
		if mentionsFlatten(args) {
			m.out = stderr
		}
		m.errorf("%v", err)
		var ue *collector.UsageError
		if errors.As(err, &ue) {
			m.msg(invalidParams)
		}
		m.msg("\nmakedumpfile Failed.\n")
		return 1
	}
	switch cfg.Mode {
	case collector.ModeHelp:
		fmt.Fprint(stdout, usage)
		return 0
	case collector.ModeVersion:
		printVersion(stdout)
		return 0
	}
	if cfg.CheckOnly {
		return 0
	}
	m := &messages{out: stdout, err: stderr, level: cfg.MessageLevel}
	if cfg.Flatten {
		m.out = stderr
	}
	r := &runner{cfg: cfg, m: m, stdin: stdin, stdout: stdout,
		progress: newProgress(stderr, cfg.MessageLevel&collector.MLProgress != 0)}
	if err := r.run(context.Background()); err != nil {
		m.errorf("%v", err)
		m.msg("\nmakedumpfile Failed.\n")
		if errors.Is(err, errWrongRelease) {
			return 2
		}
		return 1
	}
	if cfg.Mode != collector.ModeMemUsage {
		m.msg("\nmakedumpfile Completed.\n")
	}
	return 0
}

// mentionsFlatten guesses whether a command line that failed to parse
// asked for -F, so that its messages stay off a standard output that
// was meant for the dump.
func mentionsFlatten(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.IndexByte(a, 'F') > 0 {
			return true
		}
	}
	return false
}

// runner executes a checked config.
type runner struct {
	cfg    *collector.Options
	m      *messages
	stdin  io.Reader
	stdout io.Writer

	outs     []*output // the files being written
	progress *progress
}

func (r *runner) run(ctx context.Context) error {
	switch r.cfg.Mode {
	case collector.ModeRearrange:
		return r.rearrange()
	case collector.ModeReassemble:
		return r.reassemble()
	case collector.ModeDumpDmesg:
		return r.dumpDmesg()
	case collector.ModeMemUsage:
		return r.memUsage()
	default:
		return r.create(ctx)
	}
}

// output is one file being written: the file (nil with --dry-run), and
// the io.WriterAt the format writer uses, which counts the bytes and
// stops at -L.
type output struct {
	name    string
	f       *writeback.File
	created bool
	count   *countingWriterAt
	w       io.WriterAt
}

// checkOutputs fails early, before filtering, when an output exists and
// -f was not given.
func (r *runner) checkOutputs() error {
	if r.cfg.DryRun || r.cfg.Force {
		return nil
	}
	for _, name := range r.cfg.OutputNames() {
		if _, err := os.Lstat(name); err == nil {
			return fmt.Errorf("%s exists; use -f to overwrite it", name)
		}
	}
	return nil
}

// openOutput creates name (0600; truncated only with -f) and sets up its
// writer. With --dry-run nothing is created and the bytes are counted
// only.
func (r *runner) openOutput(name string) (*output, error) {
	o := &output{name: name}
	var base io.WriterAt = discardWriterAt{}
	if !r.cfg.DryRun {
		flags := os.O_RDWR | os.O_CREATE | os.O_EXCL
		if r.cfg.Force {
			flags = os.O_RDWR | os.O_CREATE | os.O_TRUNC
		}
		f, err := os.OpenFile(name, flags, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s exists; use -f to overwrite it", name)
		}
		if err != nil {
			return nil, err
		}
		o.f, o.created = writeback.New(f, 0), true
		base = o.f
	}
	o.count = &countingWriterAt{w: base}
	o.w = o.count
	if r.cfg.Limit > 0 {
		o.w = kdumpfile.LimitWriterAt(o.count, r.cfg.Limit)
	}
	r.outs = append(r.outs, o)
	return o, nil
}

// closeOutputs syncs and closes every output, keeping the files.
func (r *runner) closeOutputs() error {
	var errs []error
	for _, o := range r.outs {
		if o.f == nil {
			continue
		}
		if err := o.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("fsync %s: %w", o.name, err))
		}
		if err := o.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", o.name, err))
		}
		o.f = nil
	}
	return errors.Join(errs...)
}

// removeOutputs closes and deletes every output (before a retry).
func (r *runner) removeOutputs() error {
	var errs []error
	for _, o := range r.outs {
		if o.f != nil {
			o.f.Close()
			o.f = nil
		}
		if o.created {
			if err := os.Remove(o.name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	r.outs = nil
	return errors.Join(errs...)
}

// written is the number of bytes written to all outputs.
func (r *runner) written() int64 {
	var n int64
	for _, o := range r.outs {
		n += o.count.n
	}
	return n
}

// noSpace reports whether err means the dump did not fit: the file
// system is full or -L was reached. These are the failures a -d list
// retries at the next level.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, kdumpfile.ErrLimit)
}

// create makes a dump of VMCORE: one file, a flattened stream or a split
// set, trying the -d levels in order.
func (r *runner) create(ctx context.Context) error {
	cfg := r.cfg
	if err := r.checkOutputs(); err != nil {
		return err
	}
	orig, src, err := r.openInput()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := r.checkNotInput(); err != nil {
		return err
	}
	if f := src.Format(); cfg.ELF && f != vmcore.FormatELF && f != vmcore.FormatFlattenedELF {
		return fmt.Errorf("%s is a %s dump: %w", cfg.VMCORE, f, dump.ErrNeedELFInput)
	}
	// Refiltering a kdump file: its pages are already gone, so its
	// level is part of ours (makedumpfile's update_dump_level).
	var inLevel filter.Level
	if x, ok := orig.(interface{ DumpLevel() int }); ok && x.DumpLevel() > 0 && x.DumpLevel() <= int(filter.MaxLevel) {
		inLevel = filter.Level(x.DumpLevel())
	}
	for i, level := range cfg.Levels {
		if level|inLevel != level {
			r.m.msg("dump_level is changed to %d, because %s was created by dump_level(%d).\n", level|inLevel, cfg.VMCORE, inLevel)
			level |= inLevel
		}
		r.m.debug("dump_level: %d\n", level)
		p, err := filter.Exclude(ctx, src, level, r.filterOptions())
		if err != nil {
			return err
		}
		if p.Cyclic != nil {
			r.m.debug("cyclic: the keep map is over the budget; %d windows of %d pages, mem_map walked twice\n", p.Cyclic.Windows(), p.Cyclic.Window)
		}
		r.progress.finish(stepHoles, false)
		r.progress.finish(stepExclude, false)
		r.progress.begin()
		// The output is written from the dump as opened: with -i its
		// header still carries the dump's own notes, as the C tool's.
		werr := r.writeLevel(ctx, orig, p)
		if werr == nil {
			r.progress.finish(stepCopy, true)
		}
		if werr != nil && noSpace(werr) && i+1 < len(cfg.Levels) && !cfg.Flatten {
			r.m.errorf("%v", werr)
			if err := r.removeOutputs(); err != nil {
				return err
			}
			r.m.msg("Retry to create a dumpfile by dump_level(%d).\n", cfg.Levels[i+1])
			continue
		}
		if werr == nil || errors.Is(werr, mem.ErrLost) {
			r.report(p)
		}
		if werr != nil {
			if errors.Is(werr, mem.ErrLost) && len(r.outs) > 0 && !cfg.DryRun {
				r.m.msg("\nThe dumpfile %s is incomplete: it is marked so in its header, and the pages written before the failure are readable.\n", strings.Join(cfg.OutputNames(), ", "))
			}
			return werr
		}
		r.saved()
		return nil
	}
	panic("unreachable: the last level returns")
}

// checkNotInput refuses -f on the input file itself.
func (r *runner) checkNotInput() error {
	in, err := os.Stat(r.cfg.VMCORE)
	if err != nil {
		return nil
	}
	for _, name := range r.cfg.OutputNames() {
		if out, err := os.Stat(name); err == nil && os.SameFile(in, out) {
			return fmt.Errorf("%s is VMCORE itself", name)
		}
	}
	return nil
}

// writeLevel writes one attempt. The kdump writers count the zero pages
// they share into p.Counts.Zero for --show-stats.
func (r *runner) writeLevel(ctx context.Context, src vmcore.Dump, p *filter.Plan) error {
	switch {
	case r.cfg.Flatten:
		return r.writeFlat(ctx, src, p)
	case r.cfg.Mode == collector.ModeSplit:
		return r.writeSplit(ctx, src, p)
	}
	return r.writeFile(ctx, src, p)
}

func (r *runner) writeFile(ctx context.Context, src vmcore.Dump, p *filter.Plan) error {
	o, err := r.openOutput(r.cfg.DumpFile)
	if err != nil {
		return err
	}
	if r.cfg.ELF {
		err = dump.WriteELF(ctx, src, p, o.w)
	} else {
		err = dump.WriteKdumpWith(ctx, src, p, r.cfg.Codec, o.w, r.engineOptions())
	}
	return errors.Join(err, r.closeOutputs())
}

func (r *runner) writeSplit(ctx context.Context, src vmcore.Dump, p *filter.Plan) error {
	outs := make([]io.WriterAt, len(r.cfg.DumpFiles))
	for i, name := range r.cfg.DumpFiles {
		o, err := r.openOutput(name)
		if err != nil {
			return errors.Join(err, r.closeOutputs())
		}
		outs[i] = o.w
	}
	block := r.cfg.SplitBlock
	if block != 0 {
		ps := int64(src.PageSize())
		if block < ps {
			return errors.Join(fmt.Errorf("--splitblock-size %d KiB is below the page size", block>>10), r.closeOutputs())
		}
		block -= block % ps
	}
	err := dump.WriteKdumpSplit(ctx, src, p, r.cfg.Codec, outs, dump.SplitOptions{BlockSize: block, Options: r.engineOptions()})
	return errors.Join(err, r.closeOutputs())
}

// writeFlat writes the dump as a flattened stream to standard output.
// WriteKdumpFlat does the same without -L and ELF.
func (r *runner) writeFlat(ctx context.Context, src vmcore.Dump, p *filter.Plan) error {
	var out io.Writer = r.stdout
	if r.cfg.DryRun {
		out = io.Discard
	}
	fw, err := kdumpfile.NewFlatWriter(out)
	if err != nil {
		return err
	}
	o := &output{name: "STDOUT", count: &countingWriterAt{w: fw}}
	o.w = o.count
	if r.cfg.Limit > 0 {
		o.w = kdumpfile.LimitWriterAt(o.count, r.cfg.Limit)
	}
	r.outs = append(r.outs, o)
	if r.cfg.ELF {
		err = dump.WriteELF(ctx, src, p, o.w)
	} else {
		err = dump.WriteKdumpWith(ctx, src, p, r.cfg.Codec, o.w, r.engineOptions())
	}
	// The end marker goes out after an error too (unless the stream
	// itself failed), so that the pages before it can be used.
	cerr := fw.Close()
	o.count.n = fw.Size()
	return errors.Join(err, cerr)
}

// report prints --show-stats.
func (r *runner) report(p *filter.Plan) {
	if !r.m.reporting() {
		return
	}
	p.WriteReport(r.m.out)
	fmt.Fprintf(r.m.out, "Write bytes     : %d\n", r.written())
}

// saved prints where the dump went.
func (r *runner) saved() {
	cfg := r.cfg
	switch {
	case cfg.Flatten:
		r.m.msg("\nThe dumpfile is saved to STDOUT.\n")
	case cfg.Mode == collector.ModeSplit:
		names := cfg.DumpFiles
		r.m.msg("\nThe dumpfiles are saved to %s, and %s.\n", strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
	default:
		r.m.msg("\nThe dumpfile is saved to %s.\n", cfg.DumpFile)
	}
}

// rearrange is -R: a flattened stream on standard input becomes
// DUMPFILE. An xz- or lz4-wrapped stream is refused with a hint to unwrap
// it first (codec.OpenStream's error): this binary does not import
// codec/stream, whose libraries would add about 250 KB to its resident
// set in the capture kernel.
func (r *runner) rearrange() error {
	if err := r.checkOutputs(); err != nil {
		return err
	}
	in, _, err := codec.OpenStream(r.stdin)
	if err != nil {
		return fmt.Errorf("standard input: %w", err)
	}
	o, err := r.openOutput(r.cfg.DumpFile)
	if err != nil {
		return err
	}
	err = kdumpfile.Rearrange(in, o.w)
	if err = errors.Join(err, r.closeOutputs()); err != nil {
		if !r.cfg.DryRun {
			r.m.msg("\nThe file %s holds what arrived before the failure; it is not marked incomplete.\n", r.cfg.DumpFile)
		}
		return err
	}
	r.m.msg("\nThe dumpfile is saved to %s.\n", r.cfg.DumpFile)
	return nil
}

// reassemble is --reassemble: the files of a --split set become one
// DUMPFILE, byte-identical to a single-file run.
func (r *runner) reassemble() error {
	if err := r.checkOutputs(); err != nil {
		return err
	}
	var files []*kdumpfile.File
	for _, name := range r.cfg.Members {
		fh, err := os.Open(name)
		if err != nil {
			return err
		}
		defer fh.Close()
		st, err := fh.Stat()
		if err != nil {
			return err
		}
		f, err := kdumpfile.Open(fh, st.Size())
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files = append(files, f)
	}
	set, err := kdumpfile.OpenSet(files)
	if err != nil {
		return err
	}
	o, err := r.openOutput(r.cfg.DumpFile)
	if err != nil {
		return err
	}
	err = kdumpfile.Reassemble(set, o.w)
	if err = errors.Join(err, r.closeOutputs()); err != nil {
		if errors.Is(err, mem.ErrLost) {
			r.m.msg("\nThe dumpfile %s is incomplete: it is marked so in its header.\n", r.cfg.DumpFile)
		}
		return err
	}
	r.m.msg("\nThe dumpfile is saved to %s.\n", r.cfg.DumpFile)
	return nil
}

// countingWriterAt counts the bytes that reach w.
type countingWriterAt struct {
	w io.WriterAt
	n int64
}

func (c *countingWriterAt) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.w.WriteAt(p, off)
	c.n += int64(n)
	return n, err
}

// discardWriterAt is --dry-run's output.
type discardWriterAt struct{}

func (discardWriterAt) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }
