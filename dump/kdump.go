package dump

import (
	"context"
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// KdumpConfig builds the header facts of a kdump-compressed output of src
// filtered by p: utsname from init_uts_ns, crash time, phys_base, CPU
// count and the input's notes, as makedumpfile records them.
func KdumpConfig(src vmcore.Dump, p *filter.Plan, m codec.Method) (kdumpfile.WriterConfig, error) {
	cfg := kdumpfile.WriterConfig{
		PageSize:    src.PageSize(),
		MaxPFN:      p.MaxPFN,
		RAM:         src.RAM(),
		Keep:        p.Keep,
		Kept:        p.Kept(),
		Compression: m,
		DumpLevel:   int(p.Level),
		NrCPUs:      elfcore.CountCPUs(src.Notes()),
		ZeroPage:    p.Level&filter.ExcludeZero != 0,
	}
	if ns, ok := src.(vmcore.NoteSource); ok {
		data, off := ns.NoteData()
		cfg.Notes = data
		if n, ok := elfcore.Find(src.Notes(), elfcore.NameVMCOREINFO, 0); ok {
			cfg.VMCOREINFOOff = n.DescOff - off
			cfg.VMCOREINFOLen = int64(len(n.Desc))
		}
	}
	raw := src.VMCOREINFO()
	if raw == nil {
		// makedumpfile leaves utsname, timestamp and phys_base zero
		// without VMCOREINFO.
		return cfg, nil
	}
	vi, err := kernel.ParseVMCOREINFO(raw)
	if err != nil {
		return cfg, err
	}
	if t, ok := vi.CrashTime(); ok {
		cfg.CrashTime = t
	}
	x, err := kernel.NewX86_64(vi, src)
	if err != nil {
		return cfg, err
	}
	cfg.PhysBase = x.PhysBase()
	u, err := kernel.ReadUtsname(vi, x)
	if err != nil {
		// Re-filtering a kdump file whose page tables or init_uts_ns
		// were lost (an incomplete dump): its own header still says.
		if kf, ok := src.(kdumpHeader); ok {
			h := kf.Header()
			cfg.Utsname = h.Utsname.Bytes()
			cfg.PhysBase = kf.PhysBase()
			return cfg, nil
		}
		return cfg, err
	}
	cfg.Utsname = u.Raw
	return cfg, nil
}

// kdumpHeader is what a kdump-compressed input tells about itself.
type kdumpHeader interface {
	Header() kdumpfile.DiskDumpHeader
	PhysBase() uint64
}

// WriteKdump writes the pages p keeps as a kdump-compressed file to out,
// compressing each page with m when that makes it strictly smaller (else
// the page is stored raw, as makedumpfile does). The header announces m.
func WriteKdump(ctx context.Context, src vmcore.Dump, p *filter.Plan, m codec.Method, out io.WriterAt) error {
	return WriteKdumpWith(ctx, src, p, m, out, Options{})
}

// WriteKdumpWith is WriteKdump run by the engine as opt says (workers,
// buffering, progress and read-error callbacks).
func WriteKdumpWith(ctx context.Context, src vmcore.Dump, p *filter.Plan, m codec.Method, out io.WriterAt, opt Options) error {
	cfg, err := KdumpConfig(src, p, m)
	if err != nil {
		return err
	}
	switch m {
	case codec.Raw, codec.Zlib, codec.LZO, codec.Snappy, codec.Zstd:
	default:
		return fmt.Errorf("dump: %v: %w", m, codec.ErrUnknownMethod)
	}
	cfg.WriteBuffer = opt.WriteBuffer
	w, err := kdumpfile.NewWriter(out, cfg)
	if err != nil {
		return err
	}
	return writeKdumpPages(ctx, src, p, m, w, opt)
}
