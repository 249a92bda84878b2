package kdumpctl

import (
	"os"
	"path"

	"github.com/kdumpkit/kdumpkit/targets"
)

// probeDevice finds a UUID= or LABEL= device by reading superblocks, as
// the capture side does, for systems without udev's /dev/disk links.
func (e *Env) probeDevice(spec string) string {
	d := targets.Devices{Dev: e.path("/dev"), Sys: e.path("/sys")}
	f, err := d.Find(spec)
	if err != nil {
		return ""
	}
	name := path.Base(f.Path)
	if _, err := os.Lstat(e.path("/sys/class/block/" + name)); err != nil {
		return ""
	}
	return name
}

// probeUUID reads the file system UUID of block device dev.
func (e *Env) probeUUID(dev string) string {
	f, err := os.Open(e.path("/dev/" + dev))
	if err != nil {
		return ""
	}
	defer f.Close()
	info, err := targets.ProbeFS(f)
	if err != nil {
		return ""
	}
	return info.UUID
}
