package vmcore

import (
	"errors"
	"fmt"
	"time"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
)

// Info is what `vmcore info` reports about a dump.
type Info struct {
	Format      Format `json:"format"`
	Release     string `json:"release"`
	Machine     string `json:"machine"`
	PageSize    int    `json:"page_size"`
	MaxPFN      uint64 `json:"max_pfn"`
	RAMPages    uint64 `json:"ram_pages"`
	DumpedPages uint64 `json:"dumped_pages"`
	// Codecs counts stored pages by how they are stored: "raw", "zlib",
	// "lzo", "snappy", "zstd"; "zero" for pages sharing the zero page
	// descriptor, "lost" for pages an incomplete dump never wrote.
	Codecs map[string]uint64 `json:"codecs"`
	// HeaderCodec is the compression the kdump header announces.
	HeaderCodec string `json:"header_codec,omitempty"`
	// DumpLevel is the makedumpfile -d level, or -1 when the format does
	// not record one (ELF).
	DumpLevel  int    `json:"dump_level"`
	Complete   bool   `json:"complete"`
	CrashTime  int64  `json:"crash_time"`
	CrashTimeS string `json:"crash_time_utc,omitempty"`
	CPUs       int    `json:"cpus"`
	VMCOREINFO bool   `json:"has_vmcoreinfo"`
	// Split describes --split members.
	Split []SplitMember `json:"split,omitempty"`
}

// SplitMember is one file of a --split set.
type SplitMember struct {
	StartPFN uint64 `json:"start_pfn"`
	EndPFN   uint64 `json:"end_pfn"`
}

// Describer is implemented by dumps that know more about themselves than
// the Dump interface says (kdump headers record level, codec, CPUs...).
type describer interface {
	describe(*Info) error
}

// Describe gathers Info for d. It reads every page descriptor of a kdump
// file (24 bytes per stored page) to count codecs, but no page data.
func Describe(d Dump) (Info, error) {
	in := Info{
		Format:      d.Format(),
		PageSize:    d.PageSize(),
		MaxPFN:      uint64(d.MaxPFN()),
		RAMPages:    d.RAM().Count(),
		DumpedPages: d.Stored().Count(),
		Codecs:      map[string]uint64{},
		DumpLevel:   -1,
		Complete:    true,
		CPUs:        elfcore.CountCPUs(d.Notes()),
	}
	if vi := d.VMCOREINFO(); vi != nil {
		in.VMCOREINFO = true
		v, err := kernel.ParseVMCOREINFO(vi)
		if err != nil {
			return in, fmt.Errorf("vmcoreinfo: %w", err)
		}
		in.Release = v.OSRelease()
		if t, ok := v.CrashTime(); ok {
			in.CrashTime = t
		}
	}
	if ds, ok := d.(describer); ok {
		if err := ds.describe(&in); err != nil {
			return in, err
		}
	} else if e, ok := d.(*elfDump); ok {
		if e.f.Header.Machine == elfcore.EMX86_64 {
			in.Machine = "x86_64"
		}
		in.Complete = !e.Incomplete()
		in.Codecs["raw"] = in.DumpedPages
	}
	if in.CrashTime != 0 {
		in.CrashTimeS = time.Unix(in.CrashTime, 0).UTC().Format(time.RFC3339)
	}
	return in, nil
}

// VerifyResult counts what Verify saw.
type VerifyResult struct {
	Pages uint64 // stored pages read and decoded
	Lost  uint64 // pages an incomplete dump never wrote
}

// Verify reads and decodes every stored page and returns the first error,
// which names the pfn and the file offset of the bad descriptor or data.
// Pages without data count as lost in a dump marked incomplete and are an
// error in any other. progress,
// if not nil, is called now and then with the pages checked so far.
func Verify(d Dump, progress func(done, total uint64)) (res VerifyResult, err error) {
	incomplete := false
	if x, ok := d.(interface{ Incomplete() bool }); ok {
		incomplete = x.Incomplete()
	}
	stored := d.Stored()
	total := stored.Count()
	buf := make([]byte, d.PageSize())
	for p, ok := stored.Next(0); ok; p, ok = stored.Next(p + 1) {
		if err := d.ReadPage(p, buf); err != nil {
			if incomplete && errors.Is(err, mem.ErrLost) {
				// An incomplete dump says so in its header; lost pages
				// are expected there.
				res.Lost++
				continue
			}
			return res, err
		}
		res.Pages++
		if progress != nil && res.Pages%65536 == 0 {
			progress(res.Pages+res.Lost, total)
		}
	}
	return res, nil
}
