package crashkernel

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
)

// IomemEntry is one line of /proc/iomem. Start and End are half-open
// ([Start, End)); the file prints inclusive ends.
type IomemEntry struct {
	Start, End uint64
	Name       string
	Depth      int // nesting level: leading spaces / 2
}

// Size of the range.
func (e IomemEntry) Size() Size { return Size(e.End - e.Start) }

// maxIomemLines bounds how much of a hostile file is read.
const maxIomemLines = 1 << 20

// ParseIomem reads /proc/iomem text ("  00100000-bffdffff : System RAM").
// Errors name the line.
func ParseIomem(r io.Reader) ([]IomemEntry, error) {
	var out []IomemEntry
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		if n > maxIomemLines {
			return nil, fmt.Errorf("iomem: more than %d lines", maxIomemLines)
		}
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		rng, name, ok := strings.Cut(strings.TrimLeft(line, " "), " : ")
		if !ok {
			return nil, fmt.Errorf("iomem line %d: %q: expected \"start-end : name\"", n, line)
		}
		a, b, ok := strings.Cut(rng, "-")
		if !ok {
			return nil, fmt.Errorf("iomem line %d: %q: expected start-end", n, rng)
		}
		start, err1 := strconv.ParseUint(a, 16, 64)
		last, err2 := strconv.ParseUint(b, 16, 64)
		if err1 != nil || err2 != nil || last < start || last == 1<<64-1 {
			// Zeroed addresses (unprivileged readers) give 0-0, which is
			// fine; a reversed or overflowing range is not.
			if !(err1 == nil && err2 == nil && start == 0 && last == 0) {
				return nil, fmt.Errorf("iomem line %d: bad range %q", n, rng)
			}
		}
		out = append(out, IomemEntry{Start: start, End: last + 1, Name: name, Depth: indent / 2})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("iomem: %w", err)
	}
	return out, nil
}

// CrashRegions returns the "Crash kernel" entries (two with ,high and
// ,low), in address order as the file lists them.
func CrashRegions(entries []IomemEntry) []IomemEntry {
	var out []IomemEntry
	for _, e := range entries {
		if e.Name == "Crash kernel" {
			out = append(out, e)
		}
	}
	return out
}

// ErrAddressesHidden: /proc/iomem shows zero addresses, as it does to
// readers without CAP_SYS_ADMIN.
var ErrAddressesHidden = errors.New("/proc/iomem addresses are hidden (read it as root)")

// SystemRAM sums the top-level "System RAM" ranges. That is close to the
// memblock total the kernel matches crashkernel= ranges against (the
// crash reservation is inside System RAM and counted).
func SystemRAM(entries []IomemEntry) (Size, error) {
	var total Size
	seen, hidden := false, true
	for _, e := range entries {
		if e.Depth == 0 && e.Name == "System RAM" {
			seen = true
			if total+e.Size() < total {
				return 0, errors.New("iomem: System RAM total overflows")
			}
			total += e.Size()
			hidden = hidden && e.Start == 0 && e.End == 1
		}
	}
	if !seen {
		return 0, errors.New("iomem: no System RAM entries")
	}
	if hidden {
		return 0, ErrAddressesHidden
	}
	return total, nil
}

// Reservation is the crash kernel memory of the running kernel.
type Reservation struct {
	// Size is /sys/kernel/kexec_crash_size: the bytes reserved (recent
	// kernels count the ,low part too).
	Size Size
	// Loaded is /sys/kernel/kexec_crash_loaded: a capture kernel is
	// loaded.
	Loaded bool
	// Regions are the "Crash kernel" lines of /proc/iomem; nil when
	// iomem was not readable, zero addresses when it was read unprivileged.
	Regions []IomemEntry
}

// ReadReservation reads the reservation from a tree holding
// sys/kernel/kexec_crash_size, sys/kernel/kexec_crash_loaded and
// (optionally) proc/iomem: os.DirFS("/") on a live system, a fixture in
// tests.
func ReadReservation(fsys fs.FS) (Reservation, error) {
	var r Reservation
	size, err := readUint(fsys, "sys/kernel/kexec_crash_size")
	if err != nil {
		return r, err
	}
	r.Size = Size(size)
	loaded, err := readUint(fsys, "sys/kernel/kexec_crash_loaded")
	if err != nil {
		return r, err
	}
	r.Loaded = loaded != 0
	f, err := fsys.Open("proc/iomem")
	if err == nil {
		defer f.Close()
		entries, err := ParseIomem(f)
		if err != nil {
			return r, fmt.Errorf("/proc/iomem: %w", err)
		}
		r.Regions = CrashRegions(entries)
		if r.Regions == nil {
			r.Regions = []IomemEntry{}
		}
	} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		return r, fmt.Errorf("/proc/iomem: %w", err)
	}
	return r, nil
}

// ReadSystemRAM sums System RAM from proc/iomem in fsys.
func ReadSystemRAM(fsys fs.FS) (Size, error) {
	f, err := fsys.Open("proc/iomem")
	if err != nil {
		return 0, fmt.Errorf("/proc/iomem: %w", err)
	}
	defer f.Close()
	entries, err := ParseIomem(f)
	if err != nil {
		return 0, fmt.Errorf("/proc/iomem: %w", err)
	}
	return SystemRAM(entries)
}

// ReadCmdline reads proc/cmdline from fsys, without the trailing newline.
func ReadCmdline(fsys fs.FS) (string, error) {
	b, err := fs.ReadFile(fsys, "proc/cmdline")
	if err != nil {
		return "", fmt.Errorf("/proc/cmdline: %w", err)
	}
	return strings.TrimRight(string(b), "\n\x00"), nil
}

func readUint(fsys fs.FS, name string) (uint64, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return 0, fmt.Errorf("/%s: %w", name, err)
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/%s: %q is not a number", name, s)
	}
	return v, nil
}

// Page size the kernel rounds a shrunk reservation to
// (KEXEC_CRASH_MEM_ALIGN is PAGE_SIZE; 4 KiB on x86_64 and most arm64
// distribution kernels).
const shrinkAlign = 4 * K

// Shrink errors, as the kernel's crash_shrink_memory decides.
var (
	ErrShrinkLoaded = errors.New("a capture kernel is loaded; unload it before shrinking the reservation (the kernel answers ENOENT)")
	ErrShrinkGrow   = errors.New("the reservation can only shrink, never grow before a reboot (the kernel answers EINVAL)")
	ErrNoReserve    = errors.New("no crash kernel memory is reserved")
)

// CheckShrink says whether writing newSize to kexec_crash_size would
// succeed, and what the reservation would become (the kernel rounds the
// kept part up to a page). newSize equal to the current size is a no-op;
// 0 releases everything.
func CheckShrink(r Reservation, newSize Size) (Size, error) {
	switch {
	case r.Size == 0:
		return 0, ErrNoReserve
	case r.Loaded:
		return r.Size, ErrShrinkLoaded
	case newSize > r.Size:
		return r.Size, fmt.Errorf("%w: %v requested, %v reserved", ErrShrinkGrow, newSize, r.Size)
	case newSize == r.Size:
		return r.Size, nil
	}
	return min(roundUp(newSize, shrinkAlign), r.Size), nil
}
