package crashkernel

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
)

// Size is a byte count.
type Size uint64

// Binary units.
const (
	K Size = 1 << 10
	M Size = 1 << 20
	G Size = 1 << 30
	T Size = 1 << 40
)

var errNoDigits = errors.New("memory value expected")

// parseMem reads a number the way the kernel's memparse does: decimal,
// 0x-prefixed hex or 0-prefixed octal (simple_strtoull with base 0), then
// an optional K, M, G, T, P or E (either case) multiplying by 1024^n. It
// returns the value and the rest of s. Unlike memparse it reports an
// overflow (the kernel wraps silently) and wants at least one digit (the
// kernel would read "K" as 0).
func parseMem(s string) (Size, string, error) {
	base := 10
	i := 0
	switch {
	case len(s) >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isHex(s[2]):
		base, i = 16, 2
	case len(s) >= 1 && s[0] == '0':
		base = 8
	}
	start := i
	var v uint64
	for ; i < len(s); i++ {
		d, ok := digit(s[i], base)
		if !ok {
			break
		}
		hi, lo := bits.Mul64(v, uint64(base))
		if hi != 0 || lo+uint64(d) < lo {
			return 0, s, fmt.Errorf("%q: number too large", s[:i+1])
		}
		v = lo + uint64(d)
	}
	if i == start && base != 8 {
		return 0, s, errNoDigits
	}
	shift := 0
	if i < len(s) {
		switch s[i] {
		case 'E', 'e':
			shift = 60
		case 'P', 'p':
			shift = 50
		case 'T', 't':
			shift = 40
		case 'G', 'g':
			shift = 30
		case 'M', 'm':
			shift = 20
		case 'K', 'k':
			shift = 10
		}
	}
	if shift > 0 {
		if v > (1<<64-1)>>shift {
			return 0, s, fmt.Errorf("%q: number too large", s[:i+1])
		}
		v <<= shift
		i++
	}
	return Size(v), s[i:], nil
}

func isHex(c byte) bool { _, ok := digit(c, 16); return ok }

func digit(c byte, base int) (int, bool) {
	var d int
	switch {
	case c >= '0' && c <= '9':
		d = int(c - '0')
	case c >= 'a' && c <= 'f':
		d = int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		d = int(c-'A') + 10
	default:
		return 0, false
	}
	return d, d < base
}

// ParseSize parses one size as the kernel reads it in crashkernel=
// ("256M", "0x10000000", "1G").
func ParseSize(s string) (Size, error) {
	v, rest, err := parseMem(s)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	if rest != "" {
		return 0, fmt.Errorf("size %q: unexpected %q", s, rest)
	}
	return v, nil
}

// String prints the size in the largest unit that divides it exactly
// ("256M", "1G", "1536M", "4097"), a form the kernel reads back.
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"E", 60}, {"P", 50}, {"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if s%(1<<u.shift) == 0 {
			return strconv.FormatUint(uint64(s)>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(uint64(s), 10)
}

// MiB returns the size in whole mebibytes, rounded up, for messages.
func (s Size) MiB() uint64 { return (uint64(s) + uint64(M) - 1) / uint64(M) }

// roundUp rounds s up to a multiple of align (a power of two), saturating.
func roundUp(s, align Size) Size {
	r := (s + align - 1) &^ (align - 1)
	if r < s {
		return ^Size(0) &^ (align - 1)
	}
	return r
}
