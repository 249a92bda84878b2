package targets

import (
	"fmt"
	"strings"
)

// Mounted is a filesystem this package mounted; Unmount undoes it.
type Mounted struct {
	Source string // device node or server:/export
	Dir    string // mount point
	FSType string
	Data   string // the option string the kernel got

	unmounted bool
}

// mountFlag holds the generic mount(8) options that are flags to mount(2)
// rather than text for the filesystem.
var mountFlag = map[string]uintptr{
	"ro":         0x1,     // MS_RDONLY
	"nosuid":     0x2,     // MS_NOSUID
	"nodev":      0x4,     // MS_NODEV
	"noexec":     0x8,     // MS_NOEXEC
	"sync":       0x10,    // MS_SYNCHRONOUS
	"dirsync":    0x80,    // MS_DIRSYNC
	"noatime":    0x400,   // MS_NOATIME
	"nodiratime": 0x800,   // MS_NODIRATIME
	"relatime":   0x20000, // MS_RELATIME
}

// splitMountOptions turns an fstab-style option list into mount(2) flags
// and filesystem data. Options that only mean something to mount(8) or
// systemd (defaults, auto, noauto, nofail, x-*, _netdev, rw) are dropped;
// "ro" is refused since a dump target must be writable.
func splitMountOptions(opts string) (flags uintptr, data string, err error) {
	var rest []string
	for _, o := range strings.Split(opts, ",") {
		o = strings.TrimSpace(o)
		switch {
		case o == "", o == "defaults", o == "auto", o == "noauto", o == "nofail", o == "nobootwait",
			o == "rw", o == "_netdev", o == "user", o == "nouser", o == "users", strings.HasPrefix(o, "x-"),
			strings.HasPrefix(o, "comment="):
			continue
		case o == "ro":
			return 0, "", fmt.Errorf("mount options %q: a dump target cannot be read-only", opts)
		}
		if f, ok := mountFlag[o]; ok {
			flags |= f
			continue
		}
		rest = append(rest, o)
	}
	return flags, strings.Join(rest, ","), nil
}

// extFamily reports whether the kernel's ext4 driver mounts t.
func extFamily(t string) bool { return t == "ext2" || t == "ext3" || t == "ext4" }
