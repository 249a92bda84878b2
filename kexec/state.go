package kexec

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Files under a root file system (the real one is os.DirFS("/")) that
// describe the crash kernel.
const (
	CrashLoadedFile       = "sys/kernel/kexec_crash_loaded"
	CrashSizeFile         = "sys/kernel/kexec_crash_size"
	LockdownFile          = "sys/kernel/security/lockdown"
	KexecLoadDisabledFile = "proc/sys/kernel/kexec_load_disabled"
	ProcCmdlineFile       = "proc/cmdline"
)

// ErrNoKexec reports a kernel built without crash kexec support: the
// files under /sys/kernel that every such kernel has are missing.
var ErrNoKexec = errors.New("this kernel has no crash kexec support (/sys/kernel/kexec_crash_loaded is missing; CONFIG_KEXEC_FILE and CONFIG_CRASH_DUMP are needed)")

// State is what the running kernel says about its crash kernel.
type State struct {
	Loaded        bool   // a capture kernel is loaded
	ReservedBytes uint64 // size of the crashkernel= reservation (0: none)
	// Lockdown is the active mode from /sys/kernel/security/lockdown
	// ("none", "integrity", "confidentiality"), "" when unknown.
	Lockdown string
	// KexecLoadDisabled is kernel.kexec_load_disabled: once set, no
	// kernel can be loaded until reboot.
	KexecLoadDisabled bool
}

// ReadState reads State from a root file system.
func ReadState(root fs.FS) (State, error) {
	var st State
	loaded, err := readUint(root, CrashLoadedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return st, ErrNoKexec
	}
	if err != nil {
		return st, err
	}
	st.Loaded = loaded != 0
	if st.ReservedBytes, err = readUint(root, CrashSizeFile); err != nil {
		return st, err
	}
	if b, err := fs.ReadFile(root, LockdownFile); err == nil {
		st.Lockdown = ParseLockdown(string(b))
	}
	if v, err := readUint(root, KexecLoadDisabledFile); err == nil {
		st.KexecLoadDisabled = v != 0
	}
	return st, nil
}

// ParseLockdown returns the bracketed (active) mode of a
// /sys/kernel/security/lockdown line such as "none [integrity] confidentiality".
func ParseLockdown(s string) string {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			return strings.Trim(f, "[]")
		}
	}
	return ""
}

func readUint(root fs.FS, name string) (uint64, error) {
	b, err := fs.ReadFile(root, name)
	if err != nil {
		return 0, fmt.Errorf("read /%s: %w", name, err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/%s: want a decimal number, got %q", name, strings.TrimSpace(string(b)))
	}
	return v, nil
}
