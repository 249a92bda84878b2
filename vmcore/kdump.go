package vmcore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
)

// kdumpDump is a Dump over a kdump-compressed file or --split set.
type kdumpDump struct {
	*kdumpfile.File
	format Format
	notes  []elfcore.Note
	raw    []byte
	rawOff int64
	vi     []byte
	closer io.Closer
}

func newKdumpDump(f *kdumpfile.File, format Format, closer io.Closer) (*kdumpDump, error) {
	d := &kdumpDump{File: f, format: format, closer: closer}
	if h := f.Header(); string(h.Signature[:]) == kdumpfile.SignatureDiskdump && format == FormatKdump {
		d.format = FormatDiskdump
	}
	raw, err := f.Notes()
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 {
		sub, _ := f.SubHeader()
		notes, err := elfcore.ParseNotes(raw, int64(sub.OffsetNote))
		if err != nil {
			return nil, fmt.Errorf("notes copied into the kdump header: %w", err)
		}
		d.notes = notes
		d.raw, d.rawOff = raw, int64(sub.OffsetNote)
	}
	vi, err := f.VMCOREINFO()
	if err != nil {
		return nil, err
	}
	if vi == nil {
		vi = elfcore.VMCOREINFO(d.notes)
	}
	d.vi = vi
	return d, nil
}

func openKdump(r io.ReaderAt, size int64, c io.Closer) (Dump, error) {
	f, err := kdumpfile.Open(r, size)
	if err != nil {
		return nil, err
	}
	return newKdumpDump(f, FormatKdump, c)
}

// openFlattened indexes a makedumpfile -F stream and opens the image it
// describes, which is itself a kdump-compressed file or an ELF core.
func openFlattened(r io.ReaderAt, size int64, c io.Closer) (Dump, error) {
	img, err := kdumpfile.OpenFlattened(r, size)
	if err != nil {
		return nil, err
	}
	head := make([]byte, magicLen)
	n, err := img.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("flattened image: read format magic: %w", err)
	}
	head = head[:n]
	switch {
	case kdumpfile.IsKdump(head):
		f, err := kdumpfile.Open(img, img.Size())
		if err != nil {
			return nil, fmt.Errorf("flattened image: %w", err)
		}
		return newKdumpDump(f, FormatFlattenedKdmp, c)
	case elfcore.IsELF(head):
		d, err := openELF(img, img.Size(), FormatFlattenedELF, c)
		if err != nil {
			return nil, fmt.Errorf("flattened image: %w", err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("flattened image: first bytes % x are neither kdump-compressed nor ELF", head)
}

// openSplit opens the members of a --split set.
func openSplit(paths []string) (Dump, error) {
	var files []*kdumpfile.File
	var closers multiCloser
	for _, p := range paths {
		fh, err := os.Open(p)
		if err != nil {
			closers.Close()
			return nil, err
		}
		closers = append(closers, fh)
		st, err := fh.Stat()
		if err != nil {
			closers.Close()
			return nil, err
		}
		f, err := kdumpfile.Open(fh, st.Size())
		if err != nil {
			closers.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		files = append(files, f)
	}
	set, err := kdumpfile.OpenSet(files)
	if err != nil {
		closers.Close()
		return nil, err
	}
	d, err := newKdumpDump(set, FormatSplitKdump, closers)
	if err != nil {
		closers.Close()
		return nil, err
	}
	return d, nil
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (d *kdumpDump) Format() Format        { return d.format }
func (d *kdumpDump) Notes() []elfcore.Note { return d.notes }
func (d *kdumpDump) VMCOREINFO() []byte    { return d.vi }
func (d *kdumpDump) Close() error          { return closeIf(d.closer) }

func (d *kdumpDump) NoteData() ([]byte, int64) { return d.raw, d.rawOff }

// ReadPage is kdumpfile's; the errors already wrap mem.ErrNotRAM,
// ErrExcluded and ErrLost.
func (d *kdumpDump) ReadPage(pfn mem.PFN, dst []byte) error { return d.File.ReadPage(pfn, dst) }

func (d *kdumpDump) describe(in *Info) error {
	h := d.Header()
	if r := h.Release(); r != "" {
		in.Release = r
	}
	in.Machine = h.Machine()
	if sub, ok := d.SubHeader(); ok {
		in.DumpLevel = int(sub.DumpLevel)
	}
	in.Complete = !d.Incomplete()
	if t := h.CrashTime(); !t.IsZero() {
		in.CrashTime = t.Unix()
	}
	if in.CPUs == 0 {
		in.CPUs = d.NrCPUs()
	}
	var hc []string
	for _, m := range d.Compression() {
		hc = append(hc, m.String())
	}
	if len(hc) == 0 {
		in.HeaderCodec = "none"
	} else {
		in.HeaderCodec = fmt.Sprint(hc)
		if len(hc) == 1 {
			in.HeaderCodec = hc[0]
		}
	}
	st, err := d.DescStats()
	if err != nil {
		return err
	}
	for m, n := range st.ByMethod {
		in.Codecs[m.String()] += n
	}
	if st.Shared > 0 {
		// The shared zero page is stored raw; count its users as "zero".
		in.Codecs["zero"] = st.Shared
		in.Codecs[codec.Raw.String()] -= min(st.Shared, in.Codecs[codec.Raw.String()])
	}
	if st.Lost > 0 {
		in.Codecs["lost"] = st.Lost
	}
	if st.Unknown > 0 {
		in.Codecs["unknown"] = st.Unknown
	}
	for _, m := range d.Members() {
		sub, _ := m.SubHeader()
		in.Split = append(in.Split, SplitMember{StartPFN: sub.StartPFN64, EndPFN: sub.EndPFN64})
	}
	sort.Slice(in.Split, func(i, j int) bool { return in.Split[i].StartPFN < in.Split[j].StartPFN })
	return nil
}
