package collector

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
)

// Message level bits (--message-level), as makedumpfile defines them: a
// message of a kind prints only when its bit is set.
const (
	MLProgress = 1  // the progress line ("Copying data ...") on stderr
	MLCommon   = 2  // common messages ("The dumpfile is saved to ...")
	MLError    = 4  // error messages on stderr
	MLDebug    = 8  // debug messages (-D)
	MLReport   = 16 // the --show-stats report

	DefaultMessageLevel = MLProgress | MLCommon | MLError
	MaxMessageLevel     = 31
)

// Mode is what the command line asks for.
type Mode int

const (
	ModeCreate     Mode = iota // VMCORE DUMPFILE, or -F VMCORE
	ModeSplit                  // --split VMCORE DUMPFILE1 DUMPFILE2...
	ModeRearrange              // -R DUMPFILE
	ModeReassemble             // --reassemble DUMPFILE1 DUMPFILE2... DUMPFILE
	ModeDumpDmesg              // --dump-dmesg [--partial-dmesg] VMCORE LOGFILE
	ModeMemUsage               // --mem-usage VMCORE (/proc/kcore)
	ModeHelp                   // -h, --help
	ModeVersion                // -v
)

// Options is a parsed and checked makedumpfile command line.
type Options struct {
	Mode Mode

	Codec      codec.Method   // -c -l -p -z; codec.Raw without one
	Compressed bool           // one of -c -l -p -z was given
	Levels     []filter.Level // -d; {0} without it; tried left to right
	LevelsSet  bool
	ELF        bool  // -E
	Flatten    bool  // -F
	Limit      int64 // -L in bytes; 0 for none
	Force      bool  // -f
	SplitBlock int64 // --splitblock-size in bytes; 0 for the default
	// MessageLevel is --message-level with -D (MLDebug) and --show-stats
	// (MLReport) added, as makedumpfile folds them in.
	MessageLevel int
	ShowStats    bool
	DryRun       bool
	CheckOnly    bool // --check-params
	NoMmap       bool // --non-mmap
	PartialDmesg bool // --partial-dmesg

	// BlockOrder is -b: the C tool's write cache of 2^order pages
	// (default 4). kdumpkit's writers size their own buffers; the value
	// is accepted for compatibility and not used.
	BlockOrder int
	// VMCOREINFOFile is -i: a VMCOREINFO text file to use instead of the
	// dump's note.
	VMCOREINFOFile string
	// NumThreads is --num-threads (0 when not given), CyclicBufferKiB
	// --cyclic-buffer, WorkDir --work-dir.
	NumThreads      int
	CyclicBufferKiB int64
	WorkDir         string

	// Operands by role.
	VMCORE    string   // input dump (create, split, dmesg, mem-usage)
	DumpFile  string   // output (create without -F, rearrange, reassemble, dmesg)
	DumpFiles []string // --split outputs
	Members   []string // --reassemble inputs
}

// UsageError is a command line makedumpfile rejects too; the C tool then
// prints "Commandline parameter is invalid." and exits 1.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// ErrUnsupported is wrapped by errors about options kdumpkit does not
// implement.
var ErrUnsupported = errors.New("not supported")

// UnsupportedOptionError names an option makedumpfile has and kdumpkit
// refuses, and why.
type UnsupportedOptionError struct {
	Name string // as the user spelled it: "-x", "--xen-syms"
	Why  string
}

func (e *UnsupportedOptionError) Error() string {
	return fmt.Sprintf("option %s is %s", e.Name, e.Why)
}

func (e *UnsupportedOptionError) Unwrap() error { return ErrUnsupported }

// Reasons for refusing an option.
const (
	noDWARF = "not supported: it needs the debug information (DWARF) of a vmlinux, " +
		"and kdumpkit's makedumpfile works from the VMCOREINFO note alone"
	never   = "not supported by kdumpkit's makedumpfile (x86_64 kdump and ELF dumps only; no Xen, sadump or eppic)"
	noVtop  = "not supported by kdumpkit's makedumpfile (use `vmcore read` with a physical address)"
	noExclV = "not supported by kdumpkit's makedumpfile (excluding unused vmemmap pages)"
)

// optSpec describes one option: its short letter or long name, whether
// it takes an argument, and why it is refused, if it is.
type optSpec struct {
	short  byte
	long   string
	hasArg bool
	refuse string
}

// options is makedumpfile 1.7's option set (getopt string
// "b:cDd:eEFfg:hi:lL:pRvXx:z" and its long options).
var options = []optSpec{
	{short: 'b', hasArg: true},
	{short: 'c'},
	{short: 'D'},
	{short: 'd', hasArg: true},
	{short: 'e', refuse: noExclV},
	{short: 'E'},
	{short: 'F'},
	{short: 'f'},
	{short: 'g', hasArg: true, refuse: noDWARF},
	{short: 'h'},
	{short: 'i', hasArg: true},
	{short: 'l'},
	{short: 'L', hasArg: true},
	{short: 'p'},
	{short: 'R'},
	{short: 'v'},
	{short: 'X', refuse: never},
	{short: 'x', hasArg: true, refuse: noDWARF},
	{short: 'z'},
	{long: "split"},
	{long: "reassemble"},
	{long: "xen-syms", hasArg: true, refuse: never},
	{long: "xen-vmcoreinfo", hasArg: true, refuse: never},
	{long: "xen_phys_start", hasArg: true, refuse: never},
	{long: "message-level", hasArg: true},
	{long: "vtop", hasArg: true, refuse: noVtop},
	{long: "dump-dmesg"},
	{long: "partial-dmesg"},
	{long: "config", hasArg: true, refuse: noDWARF},
	{long: "help"},
	{long: "diskset", hasArg: true, refuse: never},
	{long: "cyclic-buffer", hasArg: true},
	{long: "eppic", hasArg: true, refuse: never},
	{long: "non-mmap"},
	{long: "mem-usage"},
	{long: "splitblock-size", hasArg: true},
	{long: "work-dir", hasArg: true},
	{long: "num-threads", hasArg: true},
	{long: "check-params"},
	{long: "dry-run"},
	{long: "show-stats"},
}

// optUse is one option as it appeared on the command line.
type optUse struct {
	spec *optSpec
	name string // "-d" or "--dump-dmesg"
	arg  string
}

// scan splits args the way GNU getopt_long does: options may come before,
// between or after the operands, short options may be bundled ("-cd31"),
// long options may be abbreviated to a unique prefix and take their
// argument as "--opt=ARG" or "--opt ARG", and "--" ends the options.
func scan(args []string) (opts []optUse, operands []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return opts, append(operands, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, arg, hasEq := strings.Cut(a[2:], "=")
			spec, err := lookupLong(name)
			if err != nil {
				return nil, nil, err
			}
			u := optUse{spec: spec, name: "--" + spec.long}
			switch {
			case spec.hasArg && hasEq:
				u.arg = arg
			case spec.hasArg:
				if i+1 >= len(args) {
					return nil, nil, usagef("option '--%s' requires an argument", spec.long)
				}
				i++
				u.arg = args[i]
			case hasEq:
				return nil, nil, usagef("option '--%s' doesn't allow an argument", spec.long)
			}
			opts = append(opts, u)
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				spec := lookupShort(a[j])
				if spec == nil {
					return nil, nil, usagef("invalid option -- '%c'", a[j])
				}
				u := optUse{spec: spec, name: "-" + string(a[j])}
				if spec.hasArg {
					switch {
					case j+1 < len(a):
						u.arg = a[j+1:]
					case i+1 < len(args):
						i++
						u.arg = args[i]
					default:
						return nil, nil, usagef("option requires an argument -- '%c'", a[j])
					}
					opts = append(opts, u)
					break
				}
				opts = append(opts, u)
			}
		default:
			operands = append(operands, a)
		}
	}
	return opts, operands, nil
}

func lookupShort(c byte) *optSpec {
	for i := range options {
		if options[i].short == c {
			return &options[i]
		}
	}
	return nil
}

func lookupLong(name string) (*optSpec, error) {
	var found *optSpec
	for i := range options {
		o := &options[i]
		if o.long == "" || !strings.HasPrefix(o.long, name) || name == "" {
			continue
		}
		if o.long == name {
			return o, nil
		}
		if found != nil {
			return nil, usagef("option '--%s' is ambiguous", name)
		}
		found = o
	}
	if found == nil {
		return nil, usagef("unrecognized option '--%s'", name)
	}
	return found, nil
}

// atoi is C's atoi: leading white space, a sign, then digits; anything
// else ends the number, and no digits give 0.
func atoi(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' || n > 1<<40 {
			break
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

// IsMakedumpfile reports whether argv0 names makedumpfile (any directory).
func IsMakedumpfile(argv0 string) bool { return filepath.Base(argv0) == "makedumpfile" }

// Parse turns a makedumpfile command line (without the program name) into
// checked Options. Errors are a *UsageError for a command line makedumpfile
// rejects too, or wrap ErrUnsupported (an *UnsupportedOptionError) for
// options kdumpkit refuses.
func Parse(args []string) (*Options, error) {
	opts, operands, err := scan(args)
	if err != nil {
		return nil, err
	}
	o := &Options{MessageLevel: DefaultMessageLevel, BlockOrder: 4}
	var (
		split, reassemble, rearrange, help, version, debug bool
		refused                                            []*UnsupportedOptionError
		dumpDmesg, memUsage, numThreads                    bool
		xOpt, iOpt, configOpt, eOpt, gOpt                  bool
	)
	for _, u := range opts {
		if u.spec.refuse != "" {
			refused = append(refused, &UnsupportedOptionError{Name: u.name, Why: u.spec.refuse})
		}
		switch u.name {
		case "-c", "-l", "-p", "-z":
			o.Compressed = true
			o.Codec = map[string]codec.Method{"-c": codec.Zlib, "-l": codec.LZO, "-p": codec.Snappy, "-z": codec.Zstd}[u.name]
		case "-b":
			o.BlockOrder = int(atoi(u.arg))
		case "-D":
			debug = true
		case "-d":
			levels, err := filter.ParseLevels(u.arg)
			if err != nil {
				return nil, usagef("-d %s: %v", u.arg, err)
			}
			o.Levels, o.LevelsSet = levels, true
		case "-E":
			o.ELF = true
		case "-F":
			o.Flatten = true
		case "-f":
			o.Force = true
		case "-h", "--help":
			help = true
		case "-i":
			iOpt = true
			o.VMCOREINFOFile = u.arg
		case "-L":
			n, err := ParseSize(u.arg)
			if err != nil {
				return nil, usagef("Limit size(%s) is invalid: %v", u.arg, err)
			}
			o.Limit = n
		case "-R":
			rearrange = true
		case "-v":
			version = true
		case "--split":
			split = true
		case "--reassemble":
			reassemble = true
		case "--message-level":
			n, err := strconv.Atoi(u.arg)
			if err != nil || n < 0 || n > MaxMessageLevel {
				return nil, usagef("Message_level(%s) is invalid.", u.arg)
			}
			o.MessageLevel = n
		case "--splitblock-size":
			n, err := strconv.ParseInt(u.arg, 10, 64)
			if err != nil || n <= 0 || n > 1<<40 {
				return nil, usagef("--splitblock-size %s: want a size in KiB", u.arg)
			}
			o.SplitBlock = n << 10
		case "--non-mmap":
			o.NoMmap = true
		case "--check-params":
			o.CheckOnly = true
		case "--dry-run":
			o.DryRun = true
		case "--show-stats":
			o.ShowStats = true
		case "--dump-dmesg":
			dumpDmesg = true
		case "--partial-dmesg":
			o.PartialDmesg = true
		case "--mem-usage":
			memUsage = true
		case "--num-threads":
			// The C tool takes MAX(atoi(arg), 0).
			numThreads = true
			o.NumThreads = int(max(atoi(u.arg), 0))
		case "--cyclic-buffer":
			o.CyclicBufferKiB = atoi(u.arg)
		case "--work-dir":
			o.WorkDir = u.arg
		case "-x":
			xOpt = true
		case "-g":
			gOpt = true
		case "--config":
			configOpt = true
		case "-e":
			eOpt = true
		}
	}
	numThreads = numThreads && o.NumThreads > 0
	if debug {
		o.MessageLevel |= MLDebug
	}
	if o.ShowStats {
		o.MessageLevel |= MLReport
	}
	if o.CheckOnly {
		// --check-params suppresses debugging messages.
		o.MessageLevel = DefaultMessageLevel
	}
	if !o.LevelsSet {
		o.Levels = []filter.Level{0}
	}

	switch {
	case help:
		o.Mode = ModeHelp
		return o, nil
	case version:
		o.Mode = ModeVersion
		return o, nil
	}

	// makedumpfile's parameter checks (check_param_for_*), before we
	// refuse what we do not implement, so that a command line the C
	// tool rejects gets the same answer here.
	if gOpt && (o.Compressed || o.LevelsSet || o.ELF || iOpt || o.Flatten || rearrange || !xOpt) {
		return nil, usagef("-g needs -x VMLINUX and takes no compression, -d, -E, -i, -F or -R option")
	}
	if gOpt && o.DryRun {
		return nil, usagef("--dry-run cannot be used with -g.")
	}
	if o.PartialDmesg && !dumpDmesg {
		return nil, usagef("--partial-dmesg needs --dump-dmesg")
	}
	if xOpt && iOpt {
		return nil, usagef("-x and -i cannot be used together")
	}
	if configOpt && !xOpt {
		return nil, usagef("--config needs -x VMLINUX")
	}
	if eOpt && o.WorkDir == "" {
		return nil, usagef("-e requires --work-dir")
	}
	if numThreads && split {
		return nil, usagef("--num-threads cannot used with --split.")
	}
	if numThreads && o.ELF {
		return nil, usagef("--num-threads cannot used with ELF format.")
	}
	if o.DryRun && reassemble {
		return nil, usagef("--dry-run cannot be used with --reassemble.")
	}
	if o.DryRun && dumpDmesg {
		return nil, usagef("--dry-run cannot be used with --dump-dmesg.")
	}
	modes := 0
	for _, b := range []bool{split, reassemble, rearrange, gOpt} {
		if b {
			modes++
		}
	}
	if modes > 1 {
		return nil, usagef("--split, --reassemble, -R and -g cannot be used together")
	}
	// Options we refuse may come with synopsis forms of their own
	// (-g, --diskset), so they are named before the operands are counted.
	if len(refused) > 0 {
		return nil, refused[0]
	}
	if (rearrange || reassemble) && (iOpt || o.Compressed || o.LevelsSet || o.ELF || o.Flatten) {
		return nil, usagef("-R and --reassemble take no compression, -d, -E, -F or -i option")
	}
	switch {
	case rearrange:
		o.Mode = ModeRearrange
		if len(operands) != 1 {
			return nil, usagef("-R takes one DUMPFILE (the stream comes on standard input)")
		}
		o.DumpFile = operands[0]
	case reassemble:
		o.Mode = ModeReassemble
		if split {
			return nil, usagef("--split cannot be used with --reassemble")
		}
		if o.Limit != 0 {
			return nil, usagef("--reassemble takes no -L option")
		}
		if len(operands) < 2 {
			return nil, usagef("--reassemble needs the split files and the output DUMPFILE")
		}
		o.Members, o.DumpFile = operands[:len(operands)-1], operands[len(operands)-1]
	default:
		if o.Compressed && o.ELF {
			return nil, usagef("-E cannot be used with -c, -l, -p or -z")
		}
		if o.Flatten && split {
			return nil, usagef("-F cannot be used with --split")
		}
		switch {
		case len(operands) == 2 && !o.Flatten && !split:
			o.VMCORE, o.DumpFile = operands[0], operands[1]
		case split && len(operands) > 2:
			if o.ELF {
				return nil, usagef("Options for splitting dumpfile cannot be used with Elf format.")
			}
			o.VMCORE, o.DumpFiles = operands[0], operands[1:]
		case len(operands) == 1 && o.Flatten && !split:
			o.VMCORE = operands[0]
		case len(operands) == 1 && memUsage && !split:
			o.VMCORE = operands[0]
		case split:
			return nil, usagef("--split needs VMCORE and at least two DUMPFILEs")
		case o.Flatten:
			return nil, usagef("-F takes VMCORE only (the dump goes to standard output)")
		default:
			return nil, usagef("want VMCORE and DUMPFILE")
		}
		o.Mode = ModeCreate
		switch {
		case dumpDmesg:
			// The C tool checks --dump-dmesg's operands as a dump's:
			// VMCORE LOGFILE, or -F VMCORE to standard output.
			if split {
				return nil, usagef("--dump-dmesg cannot be used with --split")
			}
			o.Mode = ModeDumpDmesg
		case memUsage:
			if o.Flatten || split || o.DumpFile != "" {
				return nil, usagef("--mem-usage takes one VMCORE (/proc/kcore) and no -F or --split")
			}
			o.Mode = ModeMemUsage
		case split:
			o.Mode = ModeSplit
		}
	}
	return o, nil
}

// OutputNames are the files the options write: none with -F or
// --mem-usage.
func (o *Options) OutputNames() []string {
	switch {
	case o.Mode == ModeSplit:
		return o.DumpFiles
	case o.Flatten, o.Mode == ModeMemUsage, o.Mode == ModeHelp, o.Mode == ModeVersion:
		return nil
	default:
		return []string{o.DumpFile}
	}
}

// ParseSize parses a -L argument as makedumpfile's memparse does:
// strtoull with base 0 (decimal, 0x hex, 0 octal) and an optional K, M,
// G, T, P or E suffix (powers of 1024), either case.
func ParseSize(s string) (int64, error) {
	bad := errors.New("want a size such as 1073741824, 0x40000000 or 1G")
	// strtoull takes what it can, so "0x1E" is 30, not 1 EiB.
	num, shift := s, 0
	v, err := parseUint(num)
	if err != nil && len(s) > 0 {
		if i := strings.IndexByte("kmgtpe", lower(s[len(s)-1])); i >= 0 {
			num, shift = s[:len(s)-1], 10*(i+1)
			v, err = parseUint(num)
		}
	}
	if err != nil {
		return 0, bad
	}
	if v == 0 {
		return 0, errors.New("the size limit must be above 0")
	}
	if v > (1<<63-1)>>shift {
		return 0, errors.New("size out of range")
	}
	return int64(v << shift), nil
}

// parseUint is strtoull with base 0 on a whole string: Go's base 0 also
// takes 0b, 0o and underscores, which C does not.
func parseUint(s string) (uint64, error) {
	l := strings.ToLower(s)
	if strings.ContainsAny(l, "_+- ") || strings.HasPrefix(l, "0b") || strings.HasPrefix(l, "0o") {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 0, 64)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
