package capture

import (
	"bufio"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
)

// StatusKiB returns the "kB" value of field in a /proc/<pid>/status or
// /proc/meminfo style file, e.g. VmHWM or MemAvailable.
func StatusKiB(r io.Reader, field string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != field {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: want \"N kB\", got %q", field, strings.TrimSpace(v))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s: bad number %q", field, f[0])
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line", field)
}

// MemoryLimit picks the Go heap limit for capture-init from /proc/meminfo:
// most of MemAvailable, keeping headroom for the kernel, page cache of the
// target and the runtime's own overhead. It returns 0 if meminfo cannot be
// read (then no limit is set).
func MemoryLimit(meminfo io.Reader) int64 {
	avail, err := StatusKiB(meminfo, "MemAvailable")
	if err != nil || avail <= 0 {
		return 0
	}
	const headroomKiB = 16 << 10
	limit := (avail - headroomKiB) * 3 / 4
	if limit < 16<<10 {
		limit = 16 << 10 // below 16 MiB the GC would run constantly; let the kernel decide
	}
	return limit << 10
}

// SetMemoryLimit applies MemoryLimit unless GOMEMLIMIT is set in env.
func SetMemoryLimit(meminfo io.Reader, env func(string) string) int64 {
	if env("GOMEMLIMIT") != "" {
		return -1
	}
	l := MemoryLimit(meminfo)
	if l > 0 {
		debug.SetMemoryLimit(l)
	}
	return l
}
