package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
)

// Message level bits (--message-level), as makedumpfile defines them.
const (
	mlProgress = 1
	mlCommon   = 2
	mlError    = 4
	mlDebug    = 8
	mlReport   = 16

	defaultMessageLevel = mlProgress | mlCommon | mlError
	maxMessageLevel     = 31
)

// mode is what the command line asks for.
type mode int

const (
	modeCreate     mode = iota // VMCORE DUMPFILE, or -F VMCORE
	modeSplit                  // --split VMCORE DUMPFILE1 DUMPFILE2...
	modeRearrange              // -R DUMPFILE
	modeReassemble             // --reassemble DUMPFILE1 DUMPFILE2... DUMPFILE
	modeHelp                   // -h, --help
	modeVersion                // -v
)

// config is a parsed and checked command line.
type config struct {
	mode mode

	method     codec.Method   // -c -l -p -z; codec.Raw without one
	compressed bool           // one of -c -l -p -z was given
	levels     []filter.Level // -d; {0} without it
	levelsSet  bool
	elf        bool  // -E
	flatten    bool  // -F
	limit      int64 // -L in bytes; 0 for none
	force      bool  // -f
	splitBlock int64 // --splitblock-size in bytes; 0 for the default
	msgLevel   int   // --message-level, with -D and --show-stats folded in
	showStats  bool
	dryRun     bool
	checkOnly  bool // --check-params
	noMmap     bool // --non-mmap

	// Positional arguments by role.
	vmcore    string   // input dump (create, split)
	dumpfile  string   // output (create without -F, rearrange, reassemble)
	dumpfiles []string // --split outputs
	members   []string // --reassemble inputs
}

// usageError is a command line makedumpfile would reject as invalid.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// errUnsupported is wrapped by errors about options kdumpkit does not
// implement (yet).
var errUnsupported = errors.New("not supported")

// unsupportedOption names an option makedumpfile has and we refuse.
type unsupportedOption struct {
	name string // as the user spelled it: "-x", "--xen-syms"
	why  string
}

func (e *unsupportedOption) Error() string {
	return fmt.Sprintf("option %s is %s", e.name, e.why)
}

func (e *unsupportedOption) Unwrap() error { return errUnsupported }

// Reasons for refusing an option.
const (
	notYet = "not supported yet by kdumpkit's makedumpfile"
	never  = "not supported by kdumpkit's makedumpfile (x86_64 kdump and ELF dumps only)"
)

// optSpec describes one option: its short letter or long name, whether
// it takes an argument, and what it does.
type optSpec struct {
	short  byte
	long   string
	hasArg bool
	// refuse, when set, is why the option is rejected.
	refuse string
}

// options is makedumpfile 1.7's option set (getopt string
// "b:cDd:eEFfg:hi:lL:pRvXx:z" and its long options).
var options = []optSpec{
	{short: 'b', hasArg: true, refuse: notYet},
	{short: 'c'},
	{short: 'D'},
	{short: 'd', hasArg: true},
	{short: 'e', refuse: notYet},
	{short: 'E'},
	{short: 'F'},
	{short: 'f'},
	{short: 'g', hasArg: true, refuse: notYet},
	{short: 'h'},
	{short: 'i', hasArg: true, refuse: notYet},
	{short: 'l'},
	{short: 'L', hasArg: true},
	{short: 'p'},
	{short: 'R'},
	{short: 'v'},
	{short: 'X', refuse: never},
	{short: 'x', hasArg: true, refuse: notYet},
	{short: 'z'},
	{long: "split"},
	{long: "reassemble"},
	{long: "xen-syms", hasArg: true, refuse: never},
	{long: "xen-vmcoreinfo", hasArg: true, refuse: never},
	{long: "xen_phys_start", hasArg: true, refuse: never},
	{long: "message-level", hasArg: true},
	{long: "vtop", hasArg: true, refuse: notYet},
	{long: "dump-dmesg", refuse: notYet},
	{long: "partial-dmesg", refuse: notYet},
	{long: "config", hasArg: true, refuse: notYet},
	{long: "help"},
	{long: "diskset", hasArg: true, refuse: never},
	{long: "cyclic-buffer", hasArg: true, refuse: notYet},
	{long: "eppic", hasArg: true, refuse: never},
	{long: "non-mmap"},
	{long: "mem-usage", refuse: notYet},
	{long: "splitblock-size", hasArg: true},
	{long: "work-dir", hasArg: true, refuse: notYet},
	{long: "num-threads", hasArg: true, refuse: notYet},
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

// parseArgs turns a command line into a checked config. Errors are a
// *usageError for a command line makedumpfile rejects too, or wrap
// errUnsupported for options kdumpkit refuses.
func parseArgs(args []string) (*config, error) {
	opts, operands, err := scan(args)
	if err != nil {
		return nil, err
	}
	cfg := &config{msgLevel: defaultMessageLevel}
	var (
		split, reassemble, rearrange, help, version, debug bool
		refused                                            []*unsupportedOption
		dumpDmesg, partialDmesg, numThreads                bool
		xOpt, iOpt, configOpt, eOpt, workDir, gOpt         bool
	)
	for _, u := range opts {
		if u.spec.refuse != "" {
			refused = append(refused, &unsupportedOption{name: u.name, why: u.spec.refuse})
		}
		switch u.name {
		case "-c", "-l", "-p", "-z":
			cfg.compressed = true
			cfg.method = map[string]codec.Method{"-c": codec.Zlib, "-l": codec.LZO, "-p": codec.Snappy, "-z": codec.Zstd}[u.name]
		case "-D":
			debug = true
		case "-d":
			levels, err := filter.ParseLevels(u.arg)
			if err != nil {
				return nil, usagef("-d %s: %v", u.arg, err)
			}
			cfg.levels, cfg.levelsSet = levels, true
		case "-E":
			cfg.elf = true
		case "-F":
			cfg.flatten = true
		case "-f":
			cfg.force = true
		case "-h", "--help":
			help = true
		case "-L":
			n, err := parseSize(u.arg)
			if err != nil {
				return nil, usagef("-L %s: %v", u.arg, err)
			}
			cfg.limit = n
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
			if err != nil || n < 0 || n > maxMessageLevel {
				return nil, usagef("Message_level(%s) is invalid.", u.arg)
			}
			cfg.msgLevel = n
		case "--splitblock-size":
			n, err := strconv.ParseInt(u.arg, 10, 64)
			if err != nil || n <= 0 || n > 1<<40 {
				return nil, usagef("--splitblock-size %s: want a size in KiB", u.arg)
			}
			cfg.splitBlock = n << 10
		case "--non-mmap":
			cfg.noMmap = true
		case "--check-params":
			cfg.checkOnly = true
		case "--dry-run":
			cfg.dryRun = true
		case "--show-stats":
			cfg.showStats = true
		case "--dump-dmesg":
			dumpDmesg = true
		case "--partial-dmesg":
			partialDmesg = true
		case "--num-threads":
			numThreads = true
		case "-x":
			xOpt = true
		case "-i":
			iOpt = true
		case "-g":
			gOpt = true
		case "--config":
			configOpt = true
		case "-e":
			eOpt = true
		case "--work-dir":
			workDir = true
		}
	}
	if debug {
		cfg.msgLevel |= mlDebug
	}
	if cfg.showStats {
		cfg.msgLevel |= mlReport
	}
	if !cfg.levelsSet {
		cfg.levels = []filter.Level{0}
	}

	switch {
	case help:
		cfg.mode = modeHelp
		return cfg, nil
	case version:
		cfg.mode = modeVersion
		return cfg, nil
	}

	// makedumpfile's parameter checks (check_param_for_*), before we
	// refuse what we do not implement, so that a command line the C
	// tool rejects gets the same answer here.
	if partialDmesg && !dumpDmesg {
		return nil, usagef("--partial-dmesg needs --dump-dmesg")
	}
	if xOpt && iOpt {
		return nil, usagef("-x and -i cannot be used together")
	}
	if configOpt && !xOpt {
		return nil, usagef("--config needs -x VMLINUX")
	}
	if eOpt && !workDir {
		return nil, usagef("-e needs --work-dir")
	}
	if numThreads && (split || cfg.elf) {
		return nil, usagef("--num-threads cannot be used with --split or -E")
	}
	if cfg.dryRun && (reassemble || dumpDmesg || gOpt) {
		return nil, usagef("--dry-run cannot be used with --reassemble, --dump-dmesg or -g")
	}
	modes := 0
	for _, b := range []bool{split, reassemble, rearrange} {
		if b {
			modes++
		}
	}
	if modes > 1 {
		return nil, usagef("--split, --reassemble and -R cannot be used together")
	}
	// Options we refuse may come with synopsis forms of their own
	// (-g, --mem-usage, --diskset), so they are named before the
	// operands are counted.
	if len(refused) > 0 {
		return nil, refused[0]
	}
	switch {
	case rearrange:
		cfg.mode = modeRearrange
		if cfg.compressed || cfg.levelsSet || cfg.elf || cfg.flatten {
			return nil, usagef("-R takes no compression, -d, -E or -F option")
		}
		if len(operands) != 1 {
			return nil, usagef("-R takes one DUMPFILE (the stream comes on standard input)")
		}
		cfg.dumpfile = operands[0]
	case reassemble:
		cfg.mode = modeReassemble
		if cfg.compressed || cfg.levelsSet || cfg.elf || cfg.flatten || cfg.limit != 0 {
			return nil, usagef("--reassemble takes no compression, -d, -E, -F or -L option")
		}
		if len(operands) < 2 {
			return nil, usagef("--reassemble needs the split files and the output DUMPFILE")
		}
		cfg.members, cfg.dumpfile = operands[:len(operands)-1], operands[len(operands)-1]
	case split:
		cfg.mode = modeSplit
		if cfg.flatten {
			return nil, usagef("-F cannot be used with --split")
		}
		if cfg.elf {
			return nil, usagef("-E cannot be used with --split")
		}
		if len(operands) < 3 {
			return nil, usagef("--split needs VMCORE and at least two DUMPFILEs")
		}
		cfg.vmcore, cfg.dumpfiles = operands[0], operands[1:]
	default:
		cfg.mode = modeCreate
		if cfg.compressed && cfg.elf {
			return nil, usagef("-E cannot be used with -c, -l, -p or -z")
		}
		switch {
		case cfg.flatten && len(operands) != 1:
			return nil, usagef("-F takes VMCORE only (the dump goes to standard output)")
		case !cfg.flatten && len(operands) != 2:
			return nil, usagef("want VMCORE and DUMPFILE")
		}
		cfg.vmcore = operands[0]
		if !cfg.flatten {
			cfg.dumpfile = operands[1]
		}
	}
	return cfg, nil
}

// parseSize parses a -L argument as makedumpfile's memparse does:
// strtoull with base 0 (decimal, 0x hex, 0 octal) and an optional K, M,
// G, T, P or E suffix (powers of 1024), either case.
func parseSize(s string) (int64, error) {
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
