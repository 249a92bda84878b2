package kdumpconf

import (
	"net/netip"
	"path"
	"time"
)

// Defaults, as kdump-utils has them.
const (
	DefaultFile   = "/etc/kdump.conf"
	DefaultPath   = "/var/crash"
	DefaultSSHKey = "/root/.ssh/kdump_id_rsa"
	// DefaultSSHPort is the port used when ssh_port is not given.
	DefaultSSHPort = 22
	// DefaultTargetWait bounds the wait for the dump target (block device
	// or network and server) when target_wait is not given. kdump-utils
	// waits up to 180 s for an ssh server at start and up to 600 s for a
	// route in the capture kernel; 300 s is between the two.
	DefaultTargetWait = 300 * time.Second
)

// Hook directories run in lexical order around the dump, as kdump-utils
// does: pre.d after kdump_pre, post.d before kdump_post, emergency.d
// before kdump_emergency. They are fixed paths, not directives.
const (
	PreDir       = "/etc/kdump/pre.d"
	PostDir      = "/etc/kdump/post.d"
	EmergencyDir = "/etc/kdump/emergency.d"
)

// DefaultCollector is kdump-utils' core_collector when none is given. For
// ssh and raw targets "-F" is appended (flattened output on a stream).
func DefaultCollector() []string {
	return []string{"makedumpfile", "-l", "--message-level", "7", "-d", "31"}
}

// TargetKind says where the dump goes.
type TargetKind string

const (
	// TargetDefault: no target directive; the dump goes to path on the
	// file system that holds path in the running system (kdumpctl
	// resolves which one when it builds the initramfs).
	TargetDefault TargetKind = ""
	// TargetFS: "<fstype> <device>", a local file system.
	TargetFS TargetKind = "fs"
	// TargetRaw: "raw <device>", a flattened stream written to a block
	// device and recovered by kdumpctl at the next boot.
	TargetRaw TargetKind = "raw"
	// TargetNFS: "nfs <host>:<export>".
	TargetNFS TargetKind = "nfs"
	// TargetSSH: "ssh <user>@<host>".
	TargetSSH TargetKind = "ssh"
)

// FSTypes are the file system types accepted as a target directive.
var FSTypes = []string{"ext2", "ext3", "ext4", "xfs", "btrfs", "minix", "vfat"}

// Target is the one dump target of a config.
type Target struct {
	Kind TargetKind
	// FSType is the file system type of a TargetFS ("ext4", "xfs", ...).
	FSType string
	// Device names the block device of TargetFS and TargetRaw: a path
	// under /dev, or UUID=, LABEL=, PARTUUID=, PARTLABEL=.
	Device string
	// Host is the NFS server or SSH host: a name or an IP address
	// (IPv6 without brackets).
	Host string
	// Export is the exported directory of a TargetNFS.
	Export string
	// User is the login of a TargetSSH.
	User string
	// Line is the line of the target directive, 0 for TargetDefault.
	Line int
}

// Flattened reports whether the target takes a stream (ssh, raw), so the
// collector must write the flattened format (makedumpfile -F).
func (t Target) Flattened() bool { return t.Kind == TargetSSH || t.Kind == TargetRaw }

// Network reports whether the capture kernel needs the network for it.
func (t Target) Network() bool { return t.Kind == TargetSSH || t.Kind == TargetNFS }

// Action is a failure_action or final_action value.
type Action string

const (
	ActionReboot       Action = "reboot"
	ActionHalt         Action = "halt"
	ActionPoweroff     Action = "poweroff"
	ActionShell        Action = "shell"
	ActionDumpToRootfs Action = "dump_to_rootfs"
)

// Compression is a whole-stream compression of a flattened dump
// (stream_compression).
type Compression string

const (
	CompressionNone Compression = "none"
	CompressionLZ4  Compression = "lz4"
	CompressionXZ   Compression = "xz"
)

// NetMode says how the capture kernel configures its network.
type NetMode string

const (
	// NetAuto: kdumpctl copies the address, prefix, gateway and DNS of the
	// interface that routes to the target when it builds the initramfs.
	NetAuto NetMode = "auto"
	// NetDHCP: the capture kernel asks DHCP (IPv4).
	NetDHCP NetMode = "dhcp"
	// NetStatic: the address given in the config.
	NetStatic NetMode = "static"
)

// Net is the capture kernel's network configuration (net_config,
// net_interface). It matters only for ssh and nfs targets.
type Net struct {
	Mode    NetMode
	Address netip.Prefix // NetStatic: address and prefix length
	Gateway netip.Addr   // NetStatic: optional (invalid when absent)
	DNS     []netip.Addr // NetStatic: optional name servers
	// Interface is an interface name ("eth0") or a MAC address
	// ("52:54:00:12:34:56"); empty means the interface that routes to
	// the target in the running system.
	Interface string
}

// Hooks are the programs run around the dump (absolute paths; empty when
// not configured). The .d directories are PreDir, PostDir, EmergencyDir.
type Hooks struct {
	Pre       string // kdump_pre: before the dump; non-zero exit → final_action
	Post      string // kdump_post: after the dump, with its exit status as $1
	Emergency string // kdump_emergency: when the dump failed, before failure_action
}

// RootFS is the file system failure_action dump_to_rootfs writes to.
type RootFS struct {
	FSType string
	Device string
}

// Config is a parsed kdump.conf with defaults filled in.
type Config struct {
	// File is the name given to Parse; it prefixes every Problem.
	File string

	// Path is the dump directory, relative to the target's root.
	Path   string
	Target Target
	// Collector is the core_collector argv: as configured, or
	// DefaultCollector (plus -F for ssh and raw targets).
	Collector []string
	// SSHKey is the private key for ssh targets.
	SSHKey string
	Hooks  Hooks
	// ExtraBins are programs copied into the initramfs (absolute paths).
	ExtraBins []string
	// ExtraModules are kernel modules added to the initramfs.
	ExtraModules []string
	// FailureAction runs when the dump could not be saved.
	FailureAction Action
	// FinalAction runs last, after success or after FailureAction.
	FinalAction          Action
	ForceRebuild         bool
	ForceNoRebuild       bool
	AutoResetCrashkernel bool
	// DracutArgs, FenceKdumpArgs and FenceKdumpNodes are kept so that
	// kdumpctl can report them; kdumpkit does not act on them.
	DracutArgs      []string
	FenceKdumpArgs  []string
	FenceKdumpNodes []string

	// kdumpkit's own directives.

	// Keep is the number of dump directories kept under Path (oldest
	// complete ones are deleted before a new dump); 0 keeps all.
	Keep int
	// MinFree is the free space (bytes) the target must have before the
	// vmcore is written; 0 disables the check.
	MinFree uint64
	// CaptureDeadline bounds the whole capture; 0 means no deadline.
	CaptureDeadline time.Duration
	// TargetWait bounds the wait for the target's device or network.
	TargetWait time.Duration
	// SSHKnownHosts is a known_hosts file to copy into the initramfs
	// instead of root's and the system's.
	SSHKnownHosts string
	// SSHHostKey pins the server's host key: "<type> <base64>".
	SSHHostKey string
	SSHPort    int
	Net        Net
	// StreamCompression wraps the flattened stream of ssh and raw
	// targets.
	StreamCompression Compression
	// RootFS overrides the file system dump_to_rootfs uses; nil means
	// the one mounted at / when the initramfs is built.
	RootFS *RootFS

	// Warnings are accepted-but-ignored or deprecated directives.
	Warnings []Problem

	// lines maps a directive to the line it was given on.
	lines map[string]int
}

// Default returns the config of an empty kdump.conf.
func Default() *Config {
	return &Config{
		Path:                 DefaultPath,
		Collector:            DefaultCollector(),
		SSHKey:               DefaultSSHKey,
		FailureAction:        ActionReboot,
		FinalAction:          ActionReboot,
		AutoResetCrashkernel: true,
		TargetWait:           DefaultTargetWait,
		SSHPort:              DefaultSSHPort,
		Net:                  Net{Mode: NetAuto},
		StreamCompression:    CompressionNone,
		lines:                map[string]int{},
	}
}

// Line returns the line a directive was given on, or 0 if it was not
// given (its value is a default). The name "default" is reported under
// "failure_action"; any target directive under "target".
func (c *Config) Line(directive string) int {
	if c == nil || c.lines == nil {
		return 0
	}
	return c.lines[directive]
}

// Problemf makes a Problem at the line of directive, for callers (such
// as kdumpctl) that find problems needing the running system.
func (c *Config) Problemf(directive, format string, args ...any) Problem {
	return newProblem(c.File, c.Line(directive), format, args...)
}

// CollectorArgs returns the collector argv for a dump written as a file
// (flattened false) or as a stream (flattened true). For makedumpfile it
// removes or adds -F the way kdump-utils' capture script does; other
// collectors are returned unchanged.
func (c *Config) CollectorArgs(flattened bool) []string {
	args := append([]string(nil), c.Collector...)
	if len(args) == 0 || !IsMakedumpfile(args[0]) {
		return args
	}
	out := args[:1]
	for _, a := range args[1:] {
		if a != "-F" {
			out = append(out, a)
		}
	}
	if flattened {
		out = append(out, "-F")
	}
	return out
}

// IsMakedumpfile reports whether a collector program is makedumpfile
// (kdumpkit's built-in one is used in its place at capture time).
func IsMakedumpfile(prog string) bool { return path.Base(prog) == "makedumpfile" }
