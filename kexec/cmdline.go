package kexec

import "strings"

// alwaysRemove are parameters of the running kernel that must not reach
// the capture kernel: they re-reserve memory, point at the first
// kernel's root file system or init, or change how the kernel behaves in
// ways a one-CPU, little-memory capture kernel cannot afford.
var alwaysRemove = []string{
	// The reservation itself, and memory the capture kernel cannot spare.
	"crashkernel", "hugepages", "hugepagesz", "default_hugepagesz", "hugetlb_cma", "cma",
	"log_buf_len", "swiotlb", "slub_debug",
	// The first kernel's root and init: our initramfs is the whole system,
	// and rdinit= would skip its /init.
	"root", "rootflags", "rootfstype", "rootwait", "ro", "rw", "init", "rdinit", "initrd", "BOOT_IMAGE",
	"rd.lvm.lv", "rd.luks.uuid", "rd.dm.uuid", "rd.md.uuid", "fcoe", "netroot",
	"rd.iscsi.initiator", "iscsi_initiator", "ignition.firstboot",
	// A capture kernel must never resume a hibernation image.
	"resume", "resume_offset",
	// Warnings must not panic the capture kernel; we want its messages.
	"panic_on_warn", "quiet",
}

// appendX86 and appendARM64 follow the parameters RHEL's kdump-utils
// appends (research §4), minus the udev and systemd ones our initramfs
// has no use for. irqpoll and reset_devices cope with devices left
// running by the crashed kernel; nr_cpus=1 and the cgroup, NUMA and
// hotplug switches save memory; panic=10 reboots a capture kernel that
// itself panics instead of hanging; initramfs_options=size=90% lets the
// initramfs unpack into more than half of the small RAM (6.17+, ignored
// by older kernels).
var (
	appendCommon = []string{"novmcoredd", "hugetlb_cma=0", "kfence.sample_interval=0", "initramfs_options=size=90%"}
	appendX86    = []string{"irqpoll", "nr_cpus=1", "reset_devices", "cgroup_disable=memory", "mce=off", "numa=off",
		"panic=10", "acpi_no_memhotplug", "transparent_hugepage=never", "nokaslr", "hest_disable", "cma=0", "pcie_ports=compat"}
	appendARM64 = []string{"irqpoll", "nr_cpus=1", "reset_devices", "cgroup_disable=memory", "panic=10", "swiotlb=noforce", "cma=0"}
	appendOther = []string{"nr_cpus=1", "reset_devices", "cgroup_disable=memory", "panic=10", "cma=0"}
)

// The `kdumpctl test` protocol, after kdump-utils: kdumpctl appends
// kdump_test_id=<id> to the capture command line; the capture side saves
// the dump in its usual <host>-<date> directory and then writes
// <path>/kdump-test-<id>/vmcore-creation.status on the target, whose first
// word is "success" or "fail"; the next `kdumpctl status` or `start` reads
// it.
const (
	TestIDParam    = "kdump_test_id"
	TestDirPrefix  = "kdump-test-"
	TestStatusFile = "vmcore-creation.status"
)

// CmdlineOptions adjusts the capture command line.
type CmdlineOptions struct {
	Arch   string   // GOARCH of the capture kernel; selects the defaults appended
	Remove []string // more parameter names to drop
	Append []string // parameters appended last; they replace ones of the same name
	TestID string   // when set, kdump_test_id=<TestID> is appended
}

// CaptureCmdline returns the capture kernel's command line for a running
// kernel booted with running (the contents of /proc/cmdline). Parameters
// are matched by name, with '-' and '_' equal as the kernel treats them;
// everything after a bare "--" (arguments for the first system's init) is
// dropped.
func CaptureCmdline(running string, opt CmdlineOptions) string {
	var add []string
	switch opt.Arch {
	case "amd64", "386":
		add = append(add, appendX86...)
	case "arm64":
		add = append(add, appendARM64...)
	default:
		add = append(add, appendOther...)
	}
	add = append(add, appendCommon...)
	add = append(add, opt.Append...)
	if opt.TestID != "" {
		add = append(add, TestIDParam+"="+opt.TestID)
	}

	drop := map[string]bool{}
	for _, n := range alwaysRemove {
		drop[paramKey(n)] = true
	}
	for _, n := range opt.Remove {
		drop[paramKey(n)] = true
	}
	// A later parameter of the same name replaces an earlier one, so the
	// appended list wins over what the running kernel had and over the
	// defaults before it.
	last := map[string]int{}
	for i, p := range add {
		last[paramKey(paramName(p))] = i
	}
	var out []string
	for _, p := range SplitCmdline(running) {
		if p == "--" {
			break
		}
		k := paramKey(paramName(p))
		if drop[k] {
			continue
		}
		if _, ok := last[k]; ok {
			continue
		}
		out = append(out, p)
	}
	for i, p := range add {
		if last[paramKey(paramName(p))] == i {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// SplitCmdline splits a kernel command line into parameters the way the
// kernel does: at blanks outside double quotes. Quotes stay in the
// parameters so that joining them again gives an equivalent line.
func SplitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// ParamValue returns the value of the last parameter called name in the
// command line and whether it occurs at all (a bare flag has value "").
func ParamValue(cmdline, name string) (string, bool) {
	val, found := "", false
	for _, p := range SplitCmdline(cmdline) {
		if p == "--" {
			break
		}
		if paramKey(paramName(p)) != paramKey(name) {
			continue
		}
		found = true
		val = ""
		if i := strings.IndexByte(p, '='); i >= 0 {
			val = strings.Trim(p[i+1:], `"`)
		}
	}
	return val, found
}

// paramName is the part of a parameter before '=', without quotes.
func paramName(p string) string {
	if i := strings.IndexByte(p, '='); i >= 0 {
		p = p[:i]
	}
	return strings.Trim(p, `"`)
}

// paramKey folds '-' into '_': the kernel compares parameter names that way.
func paramKey(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}
