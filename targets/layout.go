package targets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
)

// Names inside a dump directory, as kdump-utils writes them.
const (
	VmcoreName           = "vmcore"            // kdump-compressed (or ELF), complete
	VmcoreFlatName       = "vmcore.flat"       // flattened stream, complete (makedumpfile -R turns it into vmcore)
	VmcoreIncompleteName = "vmcore-incomplete" // being written, or a dump that did not finish
	DmesgName            = "vmcore-dmesg.txt"  // the crashed kernel's log
	LogName              = "kexec-dmesg.log"   // the capture environment's own log
)

// TimeLayout is the time part of a dump directory's name (date +%Y-%m-%d-%T).
const TimeLayout = "2006-01-02-15:04:05"

// maxCollisions bounds the ".N" suffixes tried when a dump directory name
// is taken (two dumps in the same second).
const maxCollisions = 99

// DirName is the name of the dump directory for a crash of host at t:
// <host>-<YYYY-mm-dd-HH:MM:SS>. host is the address the target sees (kdump-utils
// uses 127.0.0.1 for local targets).
func DirName(host string, t time.Time) string {
	return host + "-" + t.Format(TimeLayout)
}

// dirNameRE matches a dump directory name: host, time, and an optional
// collision suffix.
var dirNameRE = regexp.MustCompile(`^(.+)-(\d{4}-\d{2}-\d{2}-\d{2}:\d{2}:\d{2})(?:\.(\d{1,2}))?$`)

// ParseDirName splits a dump directory name into host, time and collision
// suffix (0 for none). ok is false for names Begin would not have made.
func ParseDirName(name string) (host string, t time.Time, suffix int, ok bool) {
	m := dirNameRE.FindStringSubmatch(name)
	if m == nil {
		return "", time.Time{}, 0, false
	}
	t, err := time.Parse(TimeLayout, m[2])
	if err != nil {
		return "", time.Time{}, 0, false
	}
	if m[3] != "" {
		suffix, _ = strconv.Atoi(m[3])
		if suffix == 0 {
			return "", time.Time{}, 0, false
		}
	}
	return m[1], t, suffix, true
}

// Options say how Begin lays out a dump.
type Options struct {
	// Host is the first part of the directory name: the capture host's IP
	// as the target sees it, "127.0.0.1" for local targets. Required.
	Host string
	// Time is the crash time in the directory name.
	Time time.Time
	// MinFree is the number of bytes that must stay free on the target
	// after the dump; Estimate is the expected size of the dump (vmcore
	// and logs), 0 if unknown. Begin refuses with ErrNoSpace when the
	// target has less than MinFree+Estimate bytes free. With both zero no
	// check is made; on a target that cannot tell its free space (Free
	// fails with errors.ErrUnsupported) the dump is tried.
	MinFree  uint64
	Estimate uint64
	// Stream is the whole-stream container (kdump.conf
	// stream_compression) the caller wraps a flattened vmcore in; the
	// finished file is then named vmcore.flat.lz4 or vmcore.flat.xz, the
	// extension telling readers to unwrap it, as Debian's kdump-tools
	// names its compressed dumps. It has no effect on seekable targets,
	// which take kdump-compressed files (compressed page by page).
	Stream codec.Stream
}

// Dump is one dump directory being written.
type Dump struct {
	t      Target
	dir    string
	stream codec.Stream
}

// Begin checks free space and creates a new dump directory on t. It never
// reuses an existing directory: when the name is taken it tries name.1,
// name.2, ... and fails after 99.
func Begin(t Target, opt Options) (*Dump, error) {
	if opt.Host == "" || strings.ContainsAny(opt.Host, "/\x00") {
		return nil, fmt.Errorf("begin dump on %s: bad host name %q", t, opt.Host)
	}
	need := opt.MinFree + opt.Estimate
	if need < opt.MinFree {
		return nil, fmt.Errorf("begin dump on %s: min free %d + estimate %d overflows", t, opt.MinFree, opt.Estimate)
	}
	if need > 0 {
		free, err := t.Free(".")
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			// The target cannot tell (an SFTP server without the
			// statvfs extension): trying beats refusing, and a full
			// disk still ends as vmcore-incomplete.
		case err != nil:
			return nil, fmt.Errorf("begin dump on %s: free space: %w", t, err)
		case free < need:
			return nil, fmt.Errorf("begin dump on %s: %d bytes free, need %d (estimate %d + min free %d): %w",
				t, free, need, opt.Estimate, opt.MinFree, ErrNoSpace)
		}
	}
	base := DirName(opt.Host, opt.Time)
	name := base
	for i := 1; ; i++ {
		err := t.Mkdir(name)
		if err == nil {
			return &Dump{t: t, dir: name, stream: opt.Stream}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("begin dump on %s: %w", t, err)
		}
		if i > maxCollisions {
			return nil, fmt.Errorf("begin dump on %s: %s and %d suffixed names exist", t, base, maxCollisions)
		}
		name = base + "." + strconv.Itoa(i)
	}
}

// Dir is the dump directory's name relative to the target root.
func (d *Dump) Dir() string { return d.dir }

// Target is the target the dump is written to.
func (d *Dump) Target() Target { return d.t }

// Flattened reports whether the vmcore must be written as a flattened
// stream (kdumpfile.NewFlatWriter, dump.WriteKdumpFlat) because the target
// takes streams only.
func (d *Dump) Flattened() bool { return !d.t.Seekable() }

// VmcoreName is the vmcore's name once finished: vmcore, or vmcore.flat on
// stream targets (vmcore.flat.lz4, vmcore.flat.xz with Options.Stream).
func (d *Dump) VmcoreName() string {
	if d.Flattened() {
		if d.stream != codec.StreamNone {
			return VmcoreFlatName + "." + d.stream.String()
		}
		return VmcoreFlatName
	}
	return VmcoreName
}

// Stream is the container the flattened vmcore must be wrapped in:
// Options.Stream on stream targets, codec.StreamNone on seekable ones.
func (d *Dump) Stream() codec.Stream {
	if d.Flattened() {
		return d.stream
	}
	return codec.StreamNone
}

// CreateVmcore creates vmcore-incomplete in the dump directory. Write the
// dump into it, then call FinishVmcore; on failure just Close it, and the
// -incomplete name marks the dump as not finished.
func (d *Dump) CreateVmcore() (File, error) {
	return d.t.Create(path.Join(d.dir, VmcoreIncompleteName))
}

// RecreateVmcore removes the vmcore-incomplete of a failed attempt of this
// dump and creates it again, for makedumpfile's retry with the next -d
// level after a full target (the C tool rewrites its output file the same
// way). The partial file must go: on a full target it holds the space the
// next attempt needs. Close f (from CreateVmcore) first.
func (d *Dump) RecreateVmcore() (File, error) {
	p := path.Join(d.dir, VmcoreIncompleteName)
	if err := d.t.RemoveAll(p); err != nil {
		return nil, fmt.Errorf("remove the failed attempt %s: %w", p, err)
	}
	return d.t.Create(p)
}

// FinishVmcore syncs and closes f (from CreateVmcore) and renames it to
// VmcoreName. On error the file keeps its -incomplete name.
func (d *Dump) FinishVmcore(f File) error {
	return d.finish(f, VmcoreIncompleteName, d.VmcoreName())
}

func (d *Dump) finish(f File, tmp, final string) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path.Join(d.dir, tmp), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path.Join(d.dir, tmp), err)
	}
	if err := d.t.Rename(path.Join(d.dir, tmp), path.Join(d.dir, final)); err != nil {
		return err
	}
	return nil
}

// IncompleteName is the name a file is written under until it is complete:
// vmcore-dmesg.txt → vmcore-dmesg-incomplete.txt, vmcore → vmcore-incomplete
// (kdump-utils' names).
func IncompleteName(name string) string {
	ext := path.Ext(name)
	if ext == name {
		ext = ""
	}
	return strings.TrimSuffix(name, ext) + "-incomplete" + ext
}

// WriteFile writes r to name in the dump directory: as
// IncompleteName(name) first, synced, then renamed. It is for the small
// files (vmcore-dmesg.txt, kexec-dmesg.log).
func (d *Dump) WriteFile(name string, r io.Reader) error {
	if name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		return fmt.Errorf("write file in %s: bad name %q", d.dir, name)
	}
	tmp := IncompleteName(name)
	f, err := d.t.Create(path.Join(d.dir, tmp))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path.Join(d.dir, tmp), err)
	}
	return d.finish(f, tmp, name)
}

// DumpInfo describes one dump directory found on a target.
type DumpInfo struct {
	Name     string    // directory name
	Host     string    // host part of the name
	Time     time.Time // time part of the name
	Suffix   int       // collision suffix, 0 for none
	Complete bool      // holds vmcore or vmcore.flat[.lz4|.xz] and no vmcore-incomplete
}

// List returns the dump directories on t, oldest first (by the time in the
// name, then suffix). Entries whose names Begin would not make are left out.
func List(t Target) ([]DumpInfo, error) {
	ents, err := t.ReadDir(".")
	if err != nil {
		return nil, fmt.Errorf("list dumps on %s: %w", t, err)
	}
	var out []DumpInfo
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		host, tm, suf, ok := ParseDirName(e.Name())
		if !ok {
			continue
		}
		files, err := t.ReadDir(e.Name())
		if err != nil {
			return nil, fmt.Errorf("list dumps on %s: %w", t, err)
		}
		out = append(out, DumpInfo{Name: e.Name(), Host: host, Time: tm, Suffix: suf, Complete: isComplete(files)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Suffix < out[j].Suffix
	})
	return out, nil
}

func isComplete(files []fs.DirEntry) bool {
	done := false
	for _, f := range files {
		switch f.Name() {
		case VmcoreIncompleteName:
			return false
		case VmcoreName, VmcoreFlatName, VmcoreFlatName + ".lz4", VmcoreFlatName + ".xz":
			done = !f.IsDir()
		}
	}
	return done
}

// Prune keeps the newest keep complete dumps of host on t and removes older
// complete ones, returning the names removed. It never removes an
// incomplete dump (it may be all that is left of a crash), a dump of
// another host (targets shared by many machines), a directory whose name
// Begin would not make, or current (the dump just written). Call it after
// FinishVmcore succeeded, so that a failed dump never costs an earlier one;
// the target then needs room for keep+1 dumps while writing. keep <= 0
// keeps everything.
func Prune(t Target, host string, keep int, current string) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	all, err := List(t)
	if err != nil {
		return nil, err
	}
	var mine []DumpInfo
	for _, d := range all {
		if d.Host == host && d.Complete {
			mine = append(mine, d)
		}
	}
	var removed []string
	for i := 0; i < len(mine)-keep; i++ {
		if mine[i].Name == current {
			continue
		}
		if err := t.RemoveAll(mine[i].Name); err != nil {
			return removed, fmt.Errorf("prune %s on %s: %w", mine[i].Name, t, err)
		}
		removed = append(removed, mine[i].Name)
	}
	return removed, nil
}
