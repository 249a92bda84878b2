package kdumpctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kdumpkit/kdumpkit/initramfs"
	"github.com/kdumpkit/kdumpkit/kexec"
)

const mib = 1 << 20

// loadedRecord is what start remembers about the capture kernel it
// loaded, so a second start with the same inputs does nothing.
const loadedRecord = "loaded"

// state reads the crash kernel state.
func (e *Env) state() (kexec.State, error) {
	return kexec.ReadState(e.rootFS())
}

// feasible says why no capture kernel can be loaded, if it cannot.
func feasible(st kexec.State) error {
	if st.ReservedBytes == 0 {
		return errors.New("no memory is reserved for a crash kernel: boot with crashkernel= (`kdumpctl reset-crashkernel` sets it)")
	}
	return nil
}

// cmdline returns the capture kernel command line.
func (e *Env) cmdline(testID string) (string, error) {
	b, err := os.ReadFile(e.path("/proc/cmdline"))
	if err != nil {
		return "", fmt.Errorf("running kernel command line: %w", err)
	}
	return kexec.CaptureCmdline(string(b), kexec.CmdlineOptions{Arch: e.Arch, TestID: testID}), nil
}

// Start builds the image if needed and loads the capture kernel. With a
// capture kernel already loaded from the same image and command line it
// changes nothing.
func (e *Env) Start(ctx context.Context) error {
	st, err := e.state()
	if err != nil {
		return err
	}
	if err := feasible(st); err != nil {
		return err
	}
	cfg, err := e.LoadConfig()
	if err != nil {
		return err
	}
	e.reportTest(ctx, cfg)
	if saved, err := e.SaveRaw(cfg); err != nil {
		return err
	} else if saved != "" {
		e.printf("kdump: saved the dump left on %s as %s\n", cfg.Target.Device, saved)
	}
	img, err := e.Build(ctx, cfg, false)
	if err != nil {
		return err
	}
	e.reportImage(img)
	cl, err := e.cmdline("")
	if err != nil {
		return err
	}
	return e.load(img, cl, st)
}

func (e *Env) reportImage(img *Image) {
	verb := "up to date"
	if img.Result.Rebuilt {
		verb = "built"
	}
	e.printf("kdump: initramfs %s %s (%d bytes, %.1f MiB", img.Path, verb, img.Result.Bytes, float64(img.Result.Bytes)/mib)
	if p := img.Result.Plan; p != nil {
		e.printf(", %s, %d modules", p.Compression, len(p.Modules))
	}
	e.printf(")\n")
}

func (e *Env) load(img *Image, cl string, st kexec.State) error {
	record := fmt.Sprintf("kernel %s\ninitrd %s\nhash %s\ncmdline %s\n", img.Kernel, img.Path, img.Result.Hash, cl)
	recPath := e.path(path.Join(e.stateDir(), loadedRecord))
	if st.Loaded && img.Result.Hash != "" {
		if old, err := os.ReadFile(recPath); err == nil && string(old) == record {
			e.printf("kdump: capture kernel already loaded and up to date\n")
			return nil
		}
	}
	method, err := e.Loader.Load(e.path(img.Kernel), e.path(img.Path), cl)
	if err != nil {
		return err
	}
	if err := os.WriteFile(recPath, []byte(record), 0o644); err != nil {
		e.warnf("warning: %v", err)
	}
	e.printf("kdump: capture kernel %s loaded with %s, reservation %d MiB\n", img.Release, method, st.ReservedBytes/mib)
	return nil
}

// Stop unloads the capture kernel.
func (e *Env) Stop(ctx context.Context) error {
	method, err := e.Loader.Unload()
	if err != nil {
		return err
	}
	os.Remove(e.path(path.Join(e.stateDir(), loadedRecord)))
	e.printf("kdump: capture kernel unloaded with %s\n", method)
	return nil
}

// Reload unloads and loads the capture kernel again without rebuilding
// the image (for CPU and memory hotplug, which change the ELF headers
// the kernel built at load time).
func (e *Env) Reload(ctx context.Context) error {
	return e.reload(ctx, "")
}

func (e *Env) reload(ctx context.Context, testID string) error {
	st, err := e.state()
	if err != nil {
		return err
	}
	if err := feasible(st); err != nil {
		return err
	}
	rel, err := e.release()
	if err != nil {
		return err
	}
	img := &Image{Release: rel, Kernel: e.kernelImage(rel)}
	img.Path = path.Join(e.stateDir(), filepath.Base(initramfs.ImagePath(rel)))
	fi, err := os.Stat(e.path(img.Path))
	if err != nil {
		return fmt.Errorf("reload: %w (run `kdumpctl start` or `rebuild` first)", err)
	}
	_ = fi
	cl, err := e.cmdline(testID)
	if err != nil {
		return err
	}
	if _, err := e.Loader.Unload(); err != nil {
		return err
	}
	os.Remove(e.path(path.Join(e.stateDir(), loadedRecord)))
	method, err := e.Loader.Load(e.path(img.Kernel), e.path(img.Path), cl)
	if err != nil {
		return err
	}
	e.printf("kdump: capture kernel %s reloaded with %s\n", rel, method)
	return nil
}

// Status prints whether a capture kernel is loaded and the last test's
// result, and returns ExitOK or ExitNotLoaded.
func (e *Env) Status(ctx context.Context) (int, error) {
	st, err := e.state()
	if errors.Is(err, kexec.ErrNoKexec) {
		e.printf("Kdump is not operational: %v\n", err)
		return ExitNotLoaded, nil
	}
	if err != nil {
		return ExitFailure, err
	}
	if cfg, err := e.LoadConfig(); err == nil {
		e.reportTest(ctx, cfg)
	}
	if st.Loaded {
		e.printf("Kdump is operational (reservation %d MiB)\n", st.ReservedBytes/mib)
		return ExitOK, nil
	}
	why := "no capture kernel loaded"
	if st.ReservedBytes == 0 {
		why = "no crashkernel= reservation"
	}
	e.printf("Kdump is not operational: %s\n", why)
	return ExitNotLoaded, nil
}

// Rebuild rebuilds the image whatever its hash says.
func (e *Env) Rebuild(ctx context.Context) error {
	cfg, err := e.LoadConfig()
	if err != nil {
		return err
	}
	img, err := e.Build(ctx, cfg, true)
	if err != nil {
		return err
	}
	e.reportImage(img)
	return nil
}

// confirm asks a yes/no question on Stdin.
func (e *Env) confirm(question string) bool {
	e.printf("%s [yes/no]: ", question)
	line, _ := bufio.NewReader(e.Stdin).ReadString('\n')
	return strings.TrimSpace(strings.ToLower(line)) == "yes"
}
