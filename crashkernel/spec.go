package crashkernel

import (
	"errors"
	"fmt"
	"strings"
)

// Suffix is the kind of a crashkernel= value.
type Suffix string

const (
	// Plain: crashkernel=size[@offset] or a range list.
	Plain Suffix = ""
	// High: crashkernel=size,high (may sit above 4 GiB).
	High Suffix = "high"
	// Low: crashkernel=size,low (the part below 4 GiB with ,high).
	Low Suffix = "low"
	// CMA: crashkernel=size,cma (an extra CMA area, Linux 6.16+).
	CMA Suffix = "cma"
)

// suffixes in the kernel's table order.
var suffixes = []Suffix{High, Low, CMA}

// Range is one "start-[end]:size" entry of a range list: reserve Size
// when Start <= RAM < End. End 0 means no upper bound ("start-:size").
type Range struct {
	Start, End, Size Size
}

// Spec is one parsed crashkernel= value.
type Spec struct {
	// Size is the reservation of the simple and suffixed forms; 0 for a
	// range list.
	Size Size
	// Ranges is the range list form, in order; nil otherwise.
	Ranges []Range
	// Offset is the physical start address after '@' (Plain only).
	Offset    Size
	HasOffset bool
	Suffix    Suffix
}

// Parse parses the value of one crashkernel= parameter (the text after
// "crashkernel=", up to the next space). It accepts what the kernel
// accepts, with two deliberate strictnesses: every number needs a digit,
// and nothing may follow the value (the kernel ignores junk after
// "@offset" and after the matching entry of a range list).
func Parse(value string) (Spec, error) {
	s, err := parse(value)
	if err != nil {
		return Spec{}, fmt.Errorf("crashkernel=%s: %w", value, err)
	}
	return s, nil
}

func parse(v string) (Spec, error) {
	if v == "" {
		return Spec{}, errors.New("empty value")
	}
	if strings.ContainsAny(v, " \t\n") {
		return Spec{}, errors.New("value contains a space")
	}
	for _, suf := range suffixes {
		if strings.HasSuffix(v, ","+string(suf)) {
			size, rest, err := parseMem(v)
			if err != nil {
				return Spec{}, err
			}
			if rest != ","+string(suf) {
				return Spec{}, fmt.Errorf("expected size,%s", suf)
			}
			if size == 0 && suf == High {
				return Spec{}, errors.New("size 0 with ,high reserves nothing")
			}
			return Spec{Size: size, Suffix: suf}, nil
		}
	}
	if strings.Contains(v, ":") {
		return parseRanges(v)
	}
	size, rest, err := parseMem(v)
	if err != nil {
		return Spec{}, err
	}
	sp := Spec{Size: size}
	if strings.HasPrefix(rest, "@") {
		sp.Offset, rest, err = parseMem(rest[1:])
		if err != nil {
			return Spec{}, fmt.Errorf("after '@': %w", err)
		}
		sp.HasOffset = true
	}
	if rest != "" {
		return Spec{}, fmt.Errorf("unrecognized %q", rest)
	}
	return sp, nil
}

func parseRanges(v string) (Spec, error) {
	var sp Spec
	cur := v
	for {
		var r Range
		var err error
		r.Start, cur, err = parseMem(cur)
		if err != nil {
			return Spec{}, fmt.Errorf("range %d start: %w", len(sp.Ranges)+1, err)
		}
		if !strings.HasPrefix(cur, "-") {
			return Spec{}, fmt.Errorf("range %d: '-' expected", len(sp.Ranges)+1)
		}
		cur = cur[1:]
		if !strings.HasPrefix(cur, ":") {
			r.End, cur, err = parseMem(cur)
			if err != nil {
				return Spec{}, fmt.Errorf("range %d end: %w", len(sp.Ranges)+1, err)
			}
			if r.End <= r.Start {
				return Spec{}, fmt.Errorf("range %d: end %v <= start %v", len(sp.Ranges)+1, r.End, r.Start)
			}
		}
		if !strings.HasPrefix(cur, ":") {
			return Spec{}, fmt.Errorf("range %d: ':' expected", len(sp.Ranges)+1)
		}
		r.Size, cur, err = parseMem(cur[1:])
		if err != nil {
			return Spec{}, fmt.Errorf("range %d size: %w", len(sp.Ranges)+1, err)
		}
		sp.Ranges = append(sp.Ranges, r)
		if !strings.HasPrefix(cur, ",") {
			break
		}
		cur = cur[1:]
	}
	if strings.HasPrefix(cur, "@") {
		var err error
		sp.Offset, cur, err = parseMem(cur[1:])
		if err != nil {
			return Spec{}, fmt.Errorf("after '@': %w", err)
		}
		sp.HasOffset = true
	}
	if cur != "" {
		return Spec{}, fmt.Errorf("unrecognized %q", cur)
	}
	return sp, nil
}

// String prints the value in the form Parse reads (without
// "crashkernel=").
func (s Spec) String() string {
	var b strings.Builder
	if s.Ranges != nil {
		for i, r := range s.Ranges {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(r.Start.String())
			b.WriteByte('-')
			if r.End != 0 {
				b.WriteString(r.End.String())
			}
			b.WriteByte(':')
			b.WriteString(r.Size.String())
		}
	} else {
		b.WriteString(s.Size.String())
	}
	if s.HasOffset {
		b.WriteByte('@')
		b.WriteString(s.Offset.String())
	}
	if s.Suffix != Plain {
		b.WriteByte(',')
		b.WriteString(string(s.Suffix))
	}
	return b.String()
}

// Param prints the whole parameter, "crashkernel=<value>".
func (s Spec) Param() string { return "crashkernel=" + s.String() }

// RAMGranule is what the kernel rounds the RAM size up to before it
// matches a range list: firmware keeps some memory, so a "4G" machine
// reports a bit less and would otherwise miss the 4G- range.
const RAMGranule = 128 * M

// ErrSizeTooLarge: a size is not below the system's RAM; the kernel
// reserves nothing.
var ErrSizeTooLarge = errors.New("crashkernel size is not below the RAM size")

// SizeFor returns what the kernel reserves for this spec on a system with
// ram bytes of memory (memblock's total, which /proc/iomem's System RAM
// sum approximates). For a range list it rounds ram up to RAMGranule,
// takes the first range holding it and returns 0 when none does; like the
// kernel it rejects a size at or above the rounded RAM in any range it
// looks at before the match. For the other forms it returns Size. A size
// at or above ram itself is an error too (the kernel's final check).
func (s Spec) SizeFor(ram Size) (Size, error) {
	size := s.Size
	if s.Ranges != nil {
		total := roundUp(ram, RAMGranule)
		size = 0
		for _, r := range s.Ranges {
			if r.Size >= total {
				return 0, fmt.Errorf("%w: range %v-%v asks %v with %v of RAM (rounded to %v)", ErrSizeTooLarge, r.Start, r.End, r.Size, ram, total)
			}
			if total >= r.Start && (r.End == 0 || total < r.End) {
				size = r.Size
				break
			}
		}
	}
	if size != 0 && size >= ram {
		return 0, fmt.Errorf("%w: %v with %v of RAM", ErrSizeTooLarge, size, ram)
	}
	return size, nil
}
