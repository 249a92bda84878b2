package capture

import (
	"os"
	"strings"
)

// Cmdline reads the capture kernel's command line (CmdlineReader).
func (l *Linux) Cmdline() (string, error) {
	b, err := os.ReadFile("/proc/cmdline")
	return strings.TrimSpace(string(b)), err
}
