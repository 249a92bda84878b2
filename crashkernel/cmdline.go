package crashkernel

import (
	"errors"
	"fmt"
	"strings"
)

// Entry is one crashkernel= parameter found on a command line.
type Entry struct {
	Value  string // text after "crashkernel=" up to the next space
	Suffix Suffix // from the value's ending, as the kernel classifies it
}

const paramName = "crashkernel="

// Entries lists the crashkernel= parameters of a kernel command line in
// order. Like the kernel (get_last_crashkernel) it finds them by plain
// substring search and ends each at the next space, and it classifies an
// entry by how its value ends (",high", ",low", ",cma").
func Entries(cmdline string) []Entry {
	var out []Entry
	for i := 0; ; {
		j := strings.Index(cmdline[i:], paramName)
		if j < 0 {
			return out
		}
		start := i + j + len(paramName)
		end := strings.IndexByte(cmdline[start:], ' ')
		if end < 0 {
			end = len(cmdline)
		} else {
			end += start
		}
		v := cmdline[start:end]
		e := Entry{Value: v}
		for _, s := range suffixes {
			if strings.HasSuffix(v, ","+string(s)) {
				e.Suffix = s
				break
			}
		}
		out = append(out, e)
		i = i + j + 1
	}
}

// last returns the value of the last entry with the given suffix.
func last(entries []Entry, suf Suffix) (string, bool) {
	v, ok := "", false
	for _, e := range entries {
		if e.Suffix == suf {
			v, ok = e.Value, true
		}
	}
	return v, ok
}

// Arch says what an architecture's kernel supports when it reserves.
type Arch struct {
	Name string
	// HighLow: the kernel reads crashkernel=,high and ,low (x86_64,
	// arm64, riscv64); elsewhere only the plain form counts.
	HighLow bool
	// DefaultLow is reserved below 4 GiB with crashkernel=,high when no
	// ,low is given (and when a plain reservation falls back above 4 GiB).
	DefaultLow Size
}

// Arches the kernel facts are known for, by GOARCH name.
var Arches = map[string]Arch{
	// x86_64: max(swiotlb size + 8M, 256M); 256M unless swiotlb= raises
	// the bounce buffer above 248M.
	"amd64":   {Name: "x86_64", HighLow: true, DefaultLow: 256 * M},
	"arm64":   {Name: "aarch64", HighLow: true, DefaultLow: 128 * M},
	"riscv64": {Name: "riscv64", HighLow: true, DefaultLow: 128 * M},
	"ppc64le": {Name: "ppc64le"},
	"s390x":   {Name: "s390x"},
}

// Request is the reservation a command line asks for on one machine.
type Request struct {
	// Size is the main reservation; 0 when a range list does not cover
	// this RAM size (nothing is reserved).
	Size Size
	// Offset is the fixed physical address (HasOffset) of a plain
	// crashkernel=size@offset.
	Offset    Size
	HasOffset bool
	// High: the reservation came from crashkernel=,high and LowSize is
	// reserved below 4 GiB besides.
	High    bool
	LowSize Size
	// CMASize is the extra crashkernel=,cma area (0 if none or invalid).
	CMASize Size
	// From is the crashkernel= value that decided Size.
	From string
}

// Total is what the machine gives up: Size plus LowSize (CMA memory
// stays usable by the first kernel and is not counted).
func (r Request) Total() Size { return r.Size + r.LowSize }

// ErrNotSet: the command line has no crashkernel= parameter that counts.
var ErrNotSet = errors.New("no crashkernel= on the command line")

// Resolve works out the reservation a kernel command line asks for on a
// machine with ram bytes of RAM, following the kernel's
// parse_crashkernel: the last plain crashkernel= wins and then ,high and
// ,low are ignored; without a plain one (and only where the architecture
// has them) the last ,high must be valid and non-zero and the last ,low,
// if any, must be valid, else DefaultLow applies; the last ,cma is read
// and ignored if invalid. Errors name the offending value; a kernel
// given the same command line reserves nothing in those cases.
//
// Where the allocation later lands (below 4 GiB or, failing that, above
// with DefaultLow besides) depends on the memory map and is not
// predicted here.
func Resolve(cmdline string, ram Size, arch Arch) (Request, error) {
	entries := Entries(cmdline)
	var req Request
	if v, ok := last(entries, Plain); ok {
		sp, err := Parse(v)
		if err != nil {
			return Request{}, err
		}
		size, err := sp.SizeFor(ram)
		if err != nil {
			return Request{}, fmt.Errorf("crashkernel=%s: %w", v, err)
		}
		req = Request{Size: size, From: v}
		if size != 0 && sp.HasOffset {
			req.Offset, req.HasOffset = sp.Offset, true
		}
	} else if v, ok := last(entries, High); ok && arch.HighLow {
		sp, err := Parse(v)
		if err != nil {
			return Request{}, err
		}
		req = Request{Size: sp.Size, High: true, LowSize: arch.DefaultLow, From: v}
		if lv, ok := last(entries, Low); ok {
			lsp, err := Parse(lv)
			if err != nil {
				return Request{}, err
			}
			req.LowSize = lsp.Size
		}
		if req.Size >= ram {
			return Request{}, fmt.Errorf("crashkernel=%s: %w: %v with %v of RAM", v, ErrSizeTooLarge, req.Size, ram)
		}
	} else {
		return Request{}, ErrNotSet
	}
	if arch.HighLow {
		if v, ok := last(entries, CMA); ok {
			if sp, err := Parse(v); err == nil {
				req.CMASize = sp.Size
			}
		}
	}
	return req, nil
}

// WithoutCrashkernel returns the command line with every crashkernel=
// word removed (words split at spaces), for building a capture kernel's
// command line or a bootloader's.
func WithoutCrashkernel(cmdline string) string {
	words := strings.Fields(cmdline)
	out := words[:0]
	for _, w := range words {
		if !strings.HasPrefix(w, paramName) {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}
