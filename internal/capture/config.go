package capture

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
)

// Action is what capture-init does at the end (final_action) or after a
// failure (failure_action).
type Action string

// Actions of kdump.conf's failure_action and final_action.
const (
	ActionReboot       Action = "reboot"
	ActionHalt         Action = "halt"
	ActionPoweroff     Action = "poweroff"
	ActionShell        Action = "shell"          // failure_action only
	ActionDumpToRootfs Action = "dump_to_rootfs" // failure_action only
)

// TargetKind says where the dump goes.
type TargetKind string

// Target kinds.
const (
	TargetLocal TargetKind = "local" // a block device with a file system
	TargetNFS   TargetKind = "nfs"
	TargetSSH   TargetKind = "ssh"
	TargetRaw   TargetKind = "raw"
)

// Target is a resolved dump target.
type Target struct {
	Kind TargetKind
	// Device is a block device path, UUID=... or LABEL=... (local, raw).
	Device string
	FSType string // local: ext4, xfs, btrfs
	// Remote is host:/export for NFS, user@host for SSH.
	Remote string
	SSHKey string // SSH private key file in the initramfs
}

// Config is what capture-init needs, resolved at build time.
type Config struct {
	Target Target
	// Path is the directory below the target's root that holds the
	// <host>-<date> dump directories.
	Path   string
	Level  filter.Level
	Method codec.Method
	// Flatten writes a flattened stream (makedumpfile -F), for targets
	// that cannot seek.
	Flatten bool

	FailureAction Action
	FinalAction   Action
	// Rootfs is the target failure_action dump_to_rootfs writes to; a
	// zero Kind means none is known, and that action falls back to the
	// final action.
	Rootfs Target

	Pre, Post, Emergency string // hook programs, empty if none

	// Modules are loaded in this order: paths in the initramfs.
	Modules []string

	// Network: "dhcp", or a static "ADDR/PREFIX,GATEWAY" for the
	// interface named by NetDevice (the first non-loopback one if empty).
	// Empty means no networking.
	Network   string
	NetDevice string

	// Deadline bounds the whole capture; WaitTimeout bounds each wait for
	// a device or the network.
	Deadline    time.Duration
	WaitTimeout time.Duration
}

// Defaults, as RHEL's kdump uses them where it has one.
const (
	DefaultPath        = "/var/crash"
	DefaultDeadline    = 30 * time.Minute
	DefaultWaitTimeout = 90 * time.Second
)

// ParseKdumpConf reads the subset of kdump.conf that capture-init acts on.
//
// It is a stand-in until package kdumpconf lands: it knows path,
// core_collector (makedumpfile's -d, -c, -l, -z, -p, -F), the targets
// (ext4/xfs/btrfs DEVICE, raw, nfs, ssh, sshkey), failure_action (and its
// alias default), final_action, kdump_pre/post/emergency, and these
// kdumpkit additions: capture_modules, capture_network, capture_netdev,
// capture_deadline, capture_wait. Other directives are ignored.
func ParseKdumpConf(r io.Reader, name string) (*Config, error) {
	c := &Config{
		Path:          DefaultPath,
		Level:         31,
		Method:        codec.LZO,
		FailureAction: ActionReboot,
		FinalAction:   ActionReboot,
		Deadline:      DefaultDeadline,
		WaitTimeout:   DefaultWaitTimeout,
	}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		key, args := f[0], f[1:]
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s: %s", name, n, key, fmt.Sprintf(format, a...))
		}
		one := func() (string, error) {
			if len(args) != 1 {
				return "", bad("want one value, got %d", len(args))
			}
			return strings.Trim(args[0], `"`), nil
		}
		var err error
		switch key {
		case "path":
			c.Path, err = one()
		case "ext4", "xfs", "btrfs", "ext3", "ext2":
			var dev string
			if dev, err = one(); err == nil {
				c.Target = Target{Kind: TargetLocal, Device: dev, FSType: key}
			}
		case "raw":
			var dev string
			if dev, err = one(); err == nil {
				c.Target = Target{Kind: TargetRaw, Device: dev}
			}
		case "nfs":
			var r string
			if r, err = one(); err == nil {
				c.Target = Target{Kind: TargetNFS, Remote: r}
			}
		case "ssh":
			var r string
			if r, err = one(); err == nil {
				key := c.Target.SSHKey
				c.Target = Target{Kind: TargetSSH, Remote: r, SSHKey: key}
			}
		case "sshkey":
			c.Target.SSHKey, err = one()
		case "core_collector":
			err = c.parseCollector(args)
			if err != nil {
				err = bad("%v", err)
			}
		case "failure_action", "default":
			var a string
			if a, err = one(); err == nil {
				switch Action(a) {
				case ActionReboot, ActionHalt, ActionPoweroff, ActionShell, ActionDumpToRootfs:
					c.FailureAction = Action(a)
				default:
					err = bad("unknown action %q (want reboot, halt, poweroff, shell or dump_to_rootfs)", a)
				}
			}
		case "final_action":
			var a string
			if a, err = one(); err == nil {
				switch Action(a) {
				case ActionReboot, ActionHalt, ActionPoweroff:
					c.FinalAction = Action(a)
				default:
					err = bad("unknown action %q (want reboot, halt or poweroff)", a)
				}
			}
		case "kdump_pre":
			c.Pre, err = one()
		case "kdump_post":
			c.Post, err = one()
		case "kdump_emergency":
			c.Emergency, err = one()
		case "capture_modules":
			c.Modules = append(c.Modules, args...)
		case "capture_network":
			c.Network, err = one()
		case "capture_netdev":
			c.NetDevice, err = one()
		case "capture_deadline", "capture_wait":
			var s string
			var d time.Duration
			if s, err = one(); err == nil {
				if d, err = time.ParseDuration(s); err != nil || d <= 0 {
					err = bad("%q is not a positive duration like 90s", s)
				} else if key == "capture_deadline" {
					c.Deadline = d
				} else {
					c.WaitTimeout = d
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// parseCollector reads the makedumpfile options that matter to the
// in-process engine. Options it does not know are refused: silently
// ignoring one could write a dump the user did not ask for.
func (c *Config) parseCollector(args []string) error {
	if len(args) == 0 || (args[0] != "makedumpfile" && !strings.HasSuffix(args[0], "/makedumpfile")) {
		return fmt.Errorf("only makedumpfile collectors run in-process, got %q", strings.Join(args, " "))
	}
	c.Method = codec.Raw
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-c":
			c.Method = codec.Zlib
		case a == "-l":
			c.Method = codec.LZO
		case a == "-p":
			c.Method = codec.Snappy
		case a == "-z":
			c.Method = codec.Zstd
		case a == "-F":
			c.Flatten = true
		case a == "-d" || a == "--message-level":
			if i+1 >= len(args) {
				return fmt.Errorf("%s needs a value", a)
			}
			i++
			if a == "-d" {
				if err := c.setLevel(args[i]); err != nil {
					return err
				}
			}
		case strings.HasPrefix(a, "-d"):
			if err := c.setLevel(a[2:]); err != nil {
				return err
			}
		case strings.HasPrefix(a, "--message-level="):
		default:
			return fmt.Errorf("makedumpfile option %q is not supported in the capture kernel", a)
		}
	}
	return nil
}

func (c *Config) setLevel(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > int(filter.MaxLevel) {
		return fmt.Errorf("dump level %q: want 0 to %d", s, filter.MaxLevel)
	}
	c.Level = filter.Level(n)
	return nil
}
