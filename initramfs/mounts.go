package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"strings"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	MajorMinor string // "253:1"
	Root       string // the mount's root within its file system
	MountPoint string
	FSType     string
	Source     string
	Options    string // per-mount and super block options, comma separated
}

// ParseMountinfo parses /proc/self/mountinfo text.
func ParseMountinfo(b []byte, name string) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 10 || sep < 0 || sep+3 > len(f) {
			return nil, fmt.Errorf("%s:%d: want \"ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPEROPTS\"", name, n)
		}
		opts := f[5]
		if sep+3 < len(f) {
			opts += "," + f[sep+3]
		}
		out = append(out, Mount{MajorMinor: f[2], Root: unescapeMount(f[3]), MountPoint: unescapeMount(f[4]),
			FSType: f[sep+1], Source: unescapeMount(f[sep+2]), Options: opts})
	}
	return out, sc.Err()
}

// unescapeMount undoes the octal escapes (\040 for a blank) the kernel
// writes in mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// MountOf returns the mount that holds absolute path p: the last-mounted
// one with the longest mount point that is a prefix of p.
func MountOf(mounts []Mount, p string) (Mount, bool) {
	p = path.Clean(p)
	best, found := Mount{}, false
	for _, m := range mounts {
		mp := m.MountPoint
		if p == mp || mp == "/" || strings.HasPrefix(p, mp+"/") {
			if !found || len(mp) >= len(best.MountPoint) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// Mounts reads /proc/self/mountinfo of the host.
func (h Host) Mounts() ([]Mount, error) {
	b, err := h.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return ParseMountinfo(b, "/proc/self/mountinfo")
}

// BlockDeviceOfMount returns the /sys/class/block name of a mount's
// device, from its major:minor.
func (h Host) BlockDeviceOfMount(m Mount) (string, error) {
	p, err := h.Resolve("/sys/dev/block/" + m.MajorMinor)
	if err != nil {
		return "", fmt.Errorf("%s (mounted on %s) is not a block device: %w", m.Source, m.MountPoint, err)
	}
	return path.Base(p), nil
}
