package kdumpfile

import (
	"errors"
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/mem"
)

// ConfigOf returns the WriterConfig that rewrites f as one file: the
// header facts, notes and bitmaps of f (the first member's for a set),
// without a split range. It is what Reassemble writes with.
func ConfigOf(f *File) (WriterConfig, error) {
	if !f.hasSub || f.hdr.HeaderVersion < 6 {
		return WriterConfig{}, fmt.Errorf("kdump header: version %d: only version 6 files can be rewritten: %w", f.hdr.HeaderVersion, ErrNotSupported)
	}
	if f.sub.SizeEraseinfo != 0 {
		return WriterConfig{}, fmt.Errorf("sub header: %d bytes of eraseinfo: rewriting eraseinfo: %w", f.sub.SizeEraseinfo, ErrNotSupported)
	}
	if f.stored == f.ram && f.maxMap > 0 {
		return WriterConfig{}, fmt.Errorf("kdump header: a single-bitmap diskdump cannot be rewritten: %w", ErrNotSupported)
	}
	notes, err := f.Notes()
	if err != nil {
		return WriterConfig{}, err
	}
	h := &f.hdr
	cfg := WriterConfig{
		PageSize:    f.block,
		MaxPFN:      f.maxMap,
		RAM:         f.ram,
		Keep:        f.stored,
		CrashTime:   h.Timestamp.Sec,
		Compression: codec.Method(h.Status & codecBits),
		Status:      h.Status &^ (codecBits | StatusIncomplete),
		DumpLevel:   int(f.sub.DumpLevel),
		PhysBase:    f.sub.PhysBase,
		NrCPUs:      int(h.NrCPUs),
		Notes:       notes,
		ZeroPage:    f.sub.DumpLevel&1 != 0,
	}
	u := &h.Utsname
	for i, fld := range [][65]byte{u.Sysname, u.Nodename, u.Release, u.Version, u.Machine, u.Domainname} {
		copy(cfg.Utsname[i*65:], fld[:])
	}
	if len(notes) > 0 && f.sub.SizeVmcoreinfo > 0 {
		off := f.sub.OffsetVmcoreinfo - f.sub.OffsetNote
		if off < 0 || uint64(off)+f.sub.SizeVmcoreinfo > uint64(len(notes)) {
			return WriterConfig{}, formatErr("sub header", int64(f.block)+32, "vmcoreinfo [%#x, +%#x) lies outside the notes [%#x, +%#x)",
				f.sub.OffsetVmcoreinfo, f.sub.SizeVmcoreinfo, f.sub.OffsetNote, len(notes))
		}
		cfg.VMCOREINFOOff, cfg.VMCOREINFOLen = off, int64(f.sub.SizeVmcoreinfo)
	}
	return cfg, nil
}

// storedPage is one page as the file stores it.
type storedPage struct {
	data []byte       // stored bytes (compressed or raw)
	m    codec.Method // how data is encoded
	zero bool         // the shared zero page of a -d 1 dump
	lost bool         // the dump is incomplete and never wrote it
}

// readStored returns page pfn as stored, without decoding it. buf must
// hold a page.
func (f *File) readStored(pfn mem.PFN, s *scratch, buf []byte) (storedPage, error) {
	p, pd, descOff, err := f.lookup(pfn, s)
	if err != nil {
		if errors.Is(err, mem.ErrLost) {
			return storedPage{lost: true}, nil
		}
		return storedPage{}, err
	}
	if pd.Offset == 0 || (pd.Size == 0 && p.incomplete) {
		return storedPage{lost: true}, nil
	}
	if pd.Size == 0 || pd.Size > uint32(f.block) {
		return storedPage{}, fmt.Errorf("pfn %#x: descriptor at %#x: size %d is not in 1..%d", uint64(pfn), descOff, pd.Size, f.block)
	}
	if pd.Offset < p.pdOff || pd.Offset > p.size-int64(pd.Size) {
		if p.incomplete && pd.Offset >= p.pdOff {
			return storedPage{lost: true}, nil
		}
		return storedPage{}, fmt.Errorf("pfn %#x: descriptor at %#x: data [%#x, +%d) does not lie in the page data area of the %d-byte file", uint64(pfn), descOff, pd.Offset, pd.Size, p.size)
	}
	m, ok := codec.MethodForFlags(pd.Flags)
	if !ok {
		return storedPage{}, fmt.Errorf("pfn %#x: descriptor at %#x: flags %#x name no known compression", uint64(pfn), descOff, pd.Flags)
	}
	// The data of every member starts after a descriptor table sized for
	// the whole set; a -d 1 dump puts its shared zero page there.
	dataStart := p.pdOff + int64(f.stored.Count())*PageDescSize
	if f.sub.DumpLevel&1 != 0 && pd.Offset == dataStart {
		return storedPage{zero: true}, nil
	}
	if err := readFull(p.r, buf[:pd.Size], pd.Offset); err != nil {
		return storedPage{}, fmt.Errorf("pfn %#x: read %d bytes at %#x: %w", uint64(pfn), pd.Size, pd.Offset, err)
	}
	return storedPage{data: buf[:pd.Size], m: m}, nil
}

// Reassemble writes f, normally a --split set combined by OpenSet, as one
// kdump-compressed file to out, like makedumpfile --reassemble: pages are
// copied as stored (no recompression), so the result is byte-identical
// to what a single-file run would have written. Pages an incomplete
// member lost stay lost; the output is then marked incomplete and the
// error wraps mem.ErrLost.
func Reassemble(f *File, out io.WriterAt) error {
	cfg, err := ConfigOf(f)
	if err != nil {
		return err
	}
	w, err := NewWriter(out, cfg)
	if err != nil {
		return err
	}
	return copyPages(f, w)
}

// copyPages copies the pages of f within w's range to w as stored and
// closes w.
func copyPages(f *File, w *Writer) error {
	s := f.getScratch()
	defer f.putScratch(s)
	buf := make([]byte, f.block)
	r := w.Range()
	for pfn, ok := f.stored.Next(r.Start); ok && pfn < r.End; pfn, ok = f.stored.Next(pfn + 1) {
		sp, err := f.readStored(pfn, s, buf)
		if err != nil {
			w.Close()
			return err
		}
		switch {
		case sp.lost:
			err = w.WriteLost(pfn)
		case sp.zero:
			err = w.WriteZero(pfn)
		default:
			err = w.WritePage(pfn, sp.data, sp.m)
		}
		if err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}
