package kdumpctl

import (
	"fmt"
	"os"
	"path"

	"github.com/kdumpkit/kdumpkit/kdumpconf"
	"github.com/kdumpkit/kdumpkit/targets"
)

// SaveRaw recovers a dump that a crash left on a raw target: capture-init
// writes a flattened stream to the device, and the next start rebuilds
// it into <path>/<127.0.0.1-date>/vmcore on this system, as kdump-utils'
// save_raw does. Only after the vmcore is complete and synced is the
// stream's header cleared, so a failed recovery is tried again at the
// next start and never loses the dump. It returns the vmcore path, or ""
// when the device holds no dump.
func (e *Env) SaveRaw(cfg *kdumpconf.Config) (string, error) {
	if cfg.Target.Kind != kdumpconf.TargetRaw {
		return "", nil
	}
	name, err := e.blockDevice(cfg.Target.Device)
	if err != nil {
		return "", fmt.Errorf("%s:%d: %w", cfg.File, cfg.Line("target"), err)
	}
	dev := e.path("/dev/" + name)
	f, err := os.Open(dev)
	if err != nil {
		return "", fmt.Errorf("raw target: %w", err)
	}
	defer f.Close()
	has, err := targets.RawHasDump(f)
	if err != nil || !has {
		return "", err
	}
	dir := path.Join(cfg.Path, targets.DirName("127.0.0.1", e.Now()))
	if err := os.MkdirAll(e.path(dir), 0o700); err != nil {
		return "", err
	}
	tmp := e.path(path.Join(dir, "vmcore-incomplete"))
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if err := targets.RecoverRaw(f, out); err != nil {
		out.Close()
		return "", fmt.Errorf("recover the dump on %s into %s (kept as it is): %w", cfg.Target.Device, dir, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	final := path.Join(dir, "vmcore")
	if err := os.Rename(tmp, e.path(final)); err != nil {
		return "", err
	}
	if err := targets.ClearRaw(dev); err != nil {
		return final, fmt.Errorf("saved %s but: %w", final, err)
	}
	return final, nil
}
