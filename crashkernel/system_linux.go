package crashkernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// The running system's files, through the fs.FS twins above.

// Current reads the running kernel's reservation (/sys/kernel/kexec_crash_*,
// /proc/iomem).
func Current() (Reservation, error) { return ReadReservation(os.DirFS("/")) }

// RunningCmdline reads /proc/cmdline.
func RunningCmdline() (string, error) { return ReadCmdline(os.DirFS("/")) }

// RunningSystemRAM sums System RAM in /proc/iomem (needs root).
func RunningSystemRAM() (Size, error) { return ReadSystemRAM(os.DirFS("/")) }

// Shrink gives reserved crash kernel memory back to the running system
// by writing newSize to /sys/kernel/kexec_crash_size. It returns the
// size now reserved.
func Shrink(newSize Size) (Size, error) { return ShrinkAt("/", newSize) }

// ShrinkAt is Shrink on a tree rooted at root (a fixture in tests). It
// checks first with CheckShrink so that the refusal is explained, then
// writes, then reads the size back.
func ShrinkAt(root string, newSize Size) (Size, error) {
	fsys := os.DirFS(root)
	r, err := ReadReservation(fsys)
	if err != nil {
		return 0, err
	}
	want, err := CheckShrink(r, newSize)
	if err != nil || want == r.Size {
		return r.Size, err
	}
	name := filepath.Join(root, "sys/kernel/kexec_crash_size")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return r.Size, fmt.Errorf("shrink crash kernel memory: %w", err)
	}
	_, werr := f.Write([]byte(strconv.FormatUint(uint64(newSize), 10)))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return r.Size, fmt.Errorf("shrink crash kernel memory to %v: %w", newSize, err)
	}
	after, err := ReadReservation(fsys)
	if err != nil {
		return 0, err
	}
	return after.Size, nil
}

// WriteGrubDropIn writes GrubDropIn's content to root/GrubDropInPath
// (directory created 0755, file 0644, replaced atomically) and reports
// whether the content changed.
func WriteGrubDropIn(root string, specs []Spec) (changed bool, err error) {
	data, err := GrubDropIn(specs)
	if err != nil {
		return false, err
	}
	name := filepath.Join(root, GrubDropInPath)
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, data) {
		return false, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return false, fmt.Errorf("write GRUB drop-in: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".kdump.cfg-*")
	if err != nil {
		return false, fmt.Errorf("write GRUB drop-in: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return false, fmt.Errorf("write GRUB drop-in: %w", err)
	}
	return true, nil
}

// BootloaderResult says what ApplyBootloader did.
type BootloaderResult struct {
	Method  string     // "grubby" or "grub.d"
	File    string     // the drop-in written (grub.d)
	Changed bool       // false when the drop-in already had this content
	Ran     [][]string // the commands run
}

// ApplyBootloader sets crashkernel= for the next boot: with grubby when
// it is installed (kernel is "ALL", "DEFAULT" or a kernel path), else by
// writing the GRUB drop-in and running update-grub (or grub-mkconfig -o
// /boot/grub/grub.cfg). Command output goes to the returned error when a
// command fails.
func ApplyBootloader(ctx context.Context, kernel string, specs []Spec) (BootloaderResult, error) {
	return ApplyBootloaderAt(ctx, "/", kernel, specs)
}

// ApplyBootloaderAt is ApplyBootloader writing the drop-in under root
// (the commands, found in $PATH, still act on the running system; tests
// put stand-ins first in $PATH).
func ApplyBootloaderAt(ctx context.Context, root, kernel string, specs []Spec) (BootloaderResult, error) {
	if _, err := exec.LookPath("grubby"); err == nil {
		cmds, err := GrubbyArgs(kernel, specs)
		if err != nil {
			return BootloaderResult{}, err
		}
		res := BootloaderResult{Method: "grubby", Changed: true}
		for _, c := range cmds {
			if err := run(ctx, c); err != nil {
				return res, err
			}
			res.Ran = append(res.Ran, c)
		}
		return res, nil
	}
	changed, err := WriteGrubDropIn(root, specs)
	res := BootloaderResult{Method: "grub.d", File: filepath.Join(root, GrubDropInPath), Changed: changed}
	if err != nil {
		return res, err
	}
	var cmd []string
	if _, err := exec.LookPath("update-grub"); err == nil {
		cmd = []string{"update-grub"}
	} else if _, err := exec.LookPath("grub-mkconfig"); err == nil {
		cmd = []string{"grub-mkconfig", "-o", "/boot/grub/grub.cfg"}
	} else {
		return res, fmt.Errorf("wrote %s, but neither grubby, update-grub nor grub-mkconfig is installed: regenerate the bootloader configuration by hand", res.File)
	}
	if err := run(ctx, cmd); err != nil {
		return res, err
	}
	res.Ran = append(res.Ran, cmd)
	return res, nil
}

func run(ctx context.Context, argv []string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %w\n%s", argv, err, bytes.TrimSpace(out))
	}
	return nil
}
