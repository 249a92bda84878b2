package filter

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// MaxAutoBudget is the largest budget AutoBudget gives: makedumpfile's
// cap on its cyclic buffer. 4 MiB of bits cover 32 Gi pfns, 128 GiB of
// memory as a flat bitmap; a chunked keep map covers far more.
const MaxAutoBudget = 4 << 20

// AutoBudget is the keep map's budget when --cyclic-buffer is not given,
// by makedumpfile's rule: 60% of the memory free for it, capped at
// MaxAutoBudget. meminfo is /proc/meminfo's text; MemAvailable is the
// memory free for it (MemFree when the kernel predates MemAvailable).
// Without either it is MaxAutoBudget.
func AutoBudget(meminfo io.Reader) int64 {
	var avail, free int64 = -1, -1
	sc := bufio.NewScanner(meminfo)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n < 0 || n > 1<<50 {
			continue
		}
		switch f[0] {
		case "MemAvailable:":
			avail = n << 10
		case "MemFree:":
			free = n << 10
		}
	}
	if avail < 0 {
		avail = free
	}
	if avail < 0 {
		return MaxAutoBudget
	}
	return max(min(avail/10*6, MaxAutoBudget), 1)
}
