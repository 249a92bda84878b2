package kdumpctl

import (
	"context"
	"fmt"
	"os"

	"github.com/kdumpkit/kdumpkit/crashkernel"
	"github.com/kdumpkit/kdumpkit/initramfs"
)

// Showmem prints the reservation.
func (e *Env) Showmem(ctx context.Context) error {
	r, err := crashkernel.ReadReservation(e.rootFS())
	if err != nil {
		return err
	}
	e.printf("Reserved %dMB memory for crash kernel\n", r.Size.MiB())
	for _, reg := range r.Regions {
		if reg.Start == 0 && reg.End <= 1 {
			continue // addresses hidden from non-root readers
		}
		e.printf("  %#x-%#x %s (%d MiB)\n", reg.Start, reg.End, reg.Name, reg.Size().MiB())
	}
	return nil
}

// DefaultCrashkernel prints kdumpkit's default crashkernel= value.
func (e *Env) DefaultCrashkernel() error {
	s, err := crashkernel.Default(e.Arch)
	if err != nil {
		return err
	}
	e.printf("%s\n", s)
	return nil
}

// ResetCrashkernel sets the default crashkernel= for the next boot of
// kernel ("ALL", "DEFAULT" or a kernel image path).
func (e *Env) ResetCrashkernel(ctx context.Context, kernel string) error {
	s, err := crashkernel.Default(e.Arch)
	if err != nil {
		return err
	}
	res, err := crashkernel.ApplyBootloader(ctx, kernel, []crashkernel.Spec{s})
	if err != nil {
		return err
	}
	switch {
	case res.Method == "grub.d" && !res.Changed:
		e.printf("kdump: %s already sets %s\n", res.File, s.Param())
	case res.File != "":
		e.printf("kdump: %s set in %s\n", s.Param(), res.File)
	default:
		e.printf("kdump: %s set with %s\n", s.Param(), res.Method)
	}
	e.printf("kdump: reboot for the new reservation to take effect\n")
	return nil
}

// EstimateReport is the result of Estimate.
type EstimateReport struct {
	Reserved crashkernel.Size
	Estimate crashkernel.Estimate
	Inputs   crashkernel.Inputs
}

// Estimate sizes the reservation from the real image this config
// builds, the capture kernel and the machine's RAM.
func (e *Env) Estimate(ctx context.Context) (*EstimateReport, error) {
	cfg, err := e.LoadConfig()
	if err != nil {
		return nil, err
	}
	img, err := e.Build(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	in, err := e.estimateInputs(img, cfg.Target.Network())
	if err != nil {
		return nil, err
	}
	est, err := crashkernel.EstimateSize(in)
	if err != nil {
		return nil, err
	}
	rep := &EstimateReport{Estimate: est, Inputs: in}
	if r, err := crashkernel.ReadReservation(e.rootFS()); err == nil {
		rep.Reserved = r.Size
	}
	e.printf("Reserved crashkernel:    %dM\n", rep.Reserved.MiB())
	e.printf("Recommended crashkernel: %dM\n\n", est.Total.MiB())
	e.printf("Inputs: RAM %dM, kernel image in memory %dM, initramfs %.1fM (%.1fM unpacked), modules %.1fM\n",
		in.RAM.MiB(), in.KernelImageSize.MiB(), float64(in.InitramfsSize)/mib, float64(in.InitramfsUnpackedSize)/mib, float64(in.ModulesSize)/mib)
	// The exact figures, for calibration (docs/crashkernel.md).
	e.printf("Inputs in bytes: ram=%d kernel_image=%d initramfs=%d unpacked=%d modules=%d network=%t\n",
		in.RAM, in.KernelImageSize, in.InitramfsSize, in.InitramfsUnpackedSize, in.ModulesSize, in.Network)
	for _, p := range est.Parts {
		e.printf("  %-28s %8.1fM\n", p.Name, float64(p.Size)/mib)
	}
	if rep.Reserved != 0 && rep.Reserved < est.Total {
		e.printf("WARNING: the current reservation is smaller than recommended\n")
	}
	return rep, nil
}

func (e *Env) estimateInputs(img *Image, network bool) (crashkernel.Inputs, error) {
	in := crashkernel.Inputs{Network: network, InitramfsSize: crashkernel.Size(img.Result.Bytes)}
	ram, err := crashkernel.ReadSystemRAM(e.rootFS())
	if err != nil {
		return in, err
	}
	in.RAM = ram
	f, err := os.Open(e.path(img.Kernel))
	if err != nil {
		return in, err
	}
	defer f.Close()
	if in.KernelImageSize, err = crashkernel.BzImageInitSize(f); err != nil {
		fi, serr := f.Stat()
		if serr != nil {
			return in, err
		}
		// Not a bzImage (arm64 Image, vmlinux): its file size is the
		// nearest figure at hand.
		in.KernelImageSize = crashkernel.Size(fi.Size())
	}
	if p := img.Result.Plan; p != nil {
		mods := map[string]bool{}
		for _, m := range p.Modules {
			mods[m] = true
		}
		for _, ent := range p.Entries {
			n, err := entrySize(ent)
			if err != nil {
				return in, err
			}
			in.InitramfsUnpackedSize += crashkernel.Size(n)
			if ent.Decompress && mods[initramfs.ModuleName(ent.Name)] {
				in.ModulesSize += crashkernel.Size(n)
			}
		}
	}
	return in, nil
}

// entrySize is the unpacked size of an archive entry.
func entrySize(ent initramfs.Entry) (int64, error) {
	if ent.Source == "" {
		return int64(len(ent.Data)), nil
	}
	if ent.Decompress {
		b, err := initramfs.ReadMaybeCompressed(ent.Source)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", ent.Name, err)
		}
		return int64(len(b)), nil
	}
	fi, err := os.Stat(ent.Source)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
