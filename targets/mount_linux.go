package targets

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MountDevice waits (until ctx ends) for the device spec names, checks its
// filesystem, and mounts it read-write on dir (created 0700 if missing).
// fstype may be empty to use what the superblock says; options are
// fstab-style. Then NewLocal(filepath.Join(dir, path)) gives the target.
func MountDevice(ctx context.Context, devs Devices, spec, fstype, dir, options string) (*Mounted, error) {
	found, err := devs.Wait(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", spec, err)
	}
	probed := found.FS.Type
	switch {
	case fstype == "" && probed == "":
		return nil, fmt.Errorf("mount %s: %s has no ext4, xfs or btrfs superblock and no filesystem type is configured", spec, found.Path)
	case fstype == "":
		fstype = probed
	case probed != "" && probed != fstype && !(extFamily(probed) && extFamily(fstype)):
		return nil, fmt.Errorf("mount %s: %s holds %s, the configuration says %s", spec, found.Path, probed, fstype)
	}
	if extFamily(fstype) {
		// The ext4 driver mounts ext2 and ext3 too, and kernels built
		// without CONFIG_EXT2/3 (Debian's) have only it.
		fstype = "ext4"
	}
	flags, data, err := splitMountOptions(options)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mount %s: %w", spec, err)
	}
	if err := unix.Mount(found.Path, dir, fstype, flags, data); err != nil {
		msg := ""
		if errors.Is(err, unix.ENODEV) {
			msg = " (the kernel has no " + fstype + " driver: is its module in the initramfs?)"
		}
		return nil, fmt.Errorf("mount %s (%s) on %s as %s with %q: %w%s", spec, found.Path, dir, fstype, data, err, msg)
	}
	return &Mounted{Source: found.Path, Dir: dir, FSType: fstype, Data: data}, nil
}

// Unmount unmounts the filesystem (once; later calls do nothing). A dump
// that was synced is safe either way, so callers may ignore the error
// before reboot.
func (m *Mounted) Unmount() error {
	if m.unmounted {
		return nil
	}
	if err := unix.Unmount(m.Dir, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", m.Dir, err)
	}
	m.unmounted = true
	return nil
}
