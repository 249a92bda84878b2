package kernel

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// maxVMCOREINFO caps the note text we accept. The kernel reserves one
// page for it (VMCOREINFO_BYTES); a generous cap still stops a corrupt
// size from driving huge parses.
const maxVMCOREINFO = 1 << 20

// VMCOREINFO is the parsed VMCOREINFO note. Values are looked up by the
// name inside the parentheses: Symbol("init_uts_ns"), Offset("page.flags").
type VMCOREINFO struct {
	// Raw holds every KEY=VALUE pair as text, first occurrence wins (the
	// rule makedumpfile's prefix search gives).
	Raw map[string]string
	// Order lists the keys in the order they appeared.
	Order []string
}

// LineError reports a malformed VMCOREINFO line.
type LineError struct {
	Line int // 1-based
	Text string
	Msg  string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("vmcoreinfo line %d %q: %s", e.Line, e.Text, e.Msg)
}

// ParseVMCOREINFO parses the note text. The text ends at the first NUL
// (the kernel's buffer is zero padded). Lines that carry a typed key
// (SYMBOL, SIZE, OFFSET, LENGTH, NUMBER, PAGESIZE, CRASHTIME,
// KERNELOFFSET) must have a value of that type; other keys are kept as
// text so newer kernels' additions pass through.
func ParseVMCOREINFO(b []byte) (*VMCOREINFO, error) {
	if len(b) > maxVMCOREINFO {
		return nil, fmt.Errorf("vmcoreinfo of %d bytes is larger than the %d allowed", len(b), maxVMCOREINFO)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	v := &VMCOREINFO{Raw: make(map[string]string)}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, &LineError{n + 1, line, "want KEY=VALUE"}
		}
		if err := checkValue(k, val); err != nil {
			return nil, &LineError{n + 1, line, err.Error()}
		}
		if _, dup := v.Raw[k]; dup {
			continue
		}
		v.Raw[k] = val
		v.Order = append(v.Order, k)
	}
	return v, nil
}

// checkValue validates the value of typed keys.
func checkValue(k, val string) error {
	var err error
	switch {
	case strings.HasPrefix(k, "SYMBOL("), k == "KERNELOFFSET":
		_, err = strconv.ParseUint(val, 16, 64)
		if err != nil {
			return fmt.Errorf("want a hex address")
		}
	case strings.HasPrefix(k, "SIZE("), strings.HasPrefix(k, "OFFSET("), strings.HasPrefix(k, "LENGTH("), k == "PAGESIZE":
		if _, ok := parseNumber(val); !ok {
			return fmt.Errorf("want a decimal number")
		}
	case strings.HasPrefix(k, "NUMBER("), k == "CRASHTIME":
		if _, ok := parseNumber(val); !ok {
			return fmt.Errorf("want a number")
		}
	}
	if (strings.Contains(k, "(") || strings.Contains(k, ")")) && !(strings.HasSuffix(k, ")") && strings.Count(k, "(") == 1) {
		return fmt.Errorf("unbalanced parentheses in key")
	}
	return nil
}

// parseNumber reads a signed decimal, falling back to hex with a 0x
// prefix (a few arch lines such as NUMBER(VMALLOC_START) print 0x%lx).
// Values printed with %lu that exceed int64 are returned as their
// two's-complement int64.
func parseNumber(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		return int64(u), true
	}
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		if u, err := strconv.ParseUint(h, 16, 64); err == nil {
			return int64(u), true
		}
	}
	return 0, false
}

func (v *VMCOREINFO) hex(key string) (uint64, bool) {
	s, ok := v.Raw[key]
	if !ok {
		return 0, false
	}
	u, err := strconv.ParseUint(s, 16, 64)
	return u, err == nil
}

func (v *VMCOREINFO) num(key string) (int64, bool) {
	s, ok := v.Raw[key]
	if !ok {
		return 0, false
	}
	return parseNumber(s)
}

// Has reports whether the raw key (e.g. "SYMBOL(prb)") is present.
func (v *VMCOREINFO) Has(key string) bool { _, ok := v.Raw[key]; return ok }

// Symbol returns SYMBOL(name), already KASLR-relocated by the kernel.
// Zero and all-ones mean "no symbol", as in makedumpfile.
func (v *VMCOREINFO) Symbol(name string) (uint64, bool) {
	u, ok := v.hex("SYMBOL(" + name + ")")
	if !ok || u == 0 || u == ^uint64(0) {
		return 0, false
	}
	return u, true
}

// Size returns SIZE(name).
func (v *VMCOREINFO) Size(name string) (int64, bool) { return v.num("SIZE(" + name + ")") }

// Offset returns OFFSET(name), e.g. Offset("page.flags").
func (v *VMCOREINFO) Offset(name string) (int64, bool) { return v.num("OFFSET(" + name + ")") }

// Length returns LENGTH(name).
func (v *VMCOREINFO) Length(name string) (int64, bool) { return v.num("LENGTH(" + name + ")") }

// Number returns NUMBER(name).
func (v *VMCOREINFO) Number(name string) (int64, bool) { return v.num("NUMBER(" + name + ")") }

// OSRelease returns OSRELEASE, the kernel's uname -r.
func (v *VMCOREINFO) OSRelease() string { return v.Raw["OSRELEASE"] }

// BuildID returns BUILD-ID (hex), when the kernel exports it.
func (v *VMCOREINFO) BuildID() string { return v.Raw["BUILD-ID"] }

// PageSize returns PAGESIZE.
func (v *VMCOREINFO) PageSize() (int, bool) {
	n, ok := v.num("PAGESIZE")
	if !ok || n <= 0 || n > 1<<30 {
		return 0, false
	}
	return int(n), true
}

// CrashTime returns CRASHTIME in seconds since the epoch; the kernel
// appends it when it panics, so a note read from a live system lacks it.
func (v *VMCOREINFO) CrashTime() (int64, bool) { return v.num("CRASHTIME") }

// KernelOffset returns KERNELOFFSET, the KASLR slide of the kernel text.
func (v *VMCOREINFO) KernelOffset() (uint64, bool) { return v.hex("KERNELOFFSET") }

// Missing returns which of keys are absent, for errors that must name
// exactly what a feature needs.
func (v *VMCOREINFO) Missing(keys ...string) []string {
	var out []string
	for _, k := range keys {
		if !v.Has(k) {
			out = append(out, k)
		}
	}
	return out
}
