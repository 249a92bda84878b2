package filter

import "os"

// DefaultBudget is AutoBudget of this machine's /proc/meminfo.
func DefaultBudget() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return MaxAutoBudget
	}
	defer f.Close()
	return AutoBudget(f)
}
