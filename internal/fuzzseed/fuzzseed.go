package fuzzseed

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
)

// Seed is one derived input, named after the corpus file it came from.
type Seed struct {
	Name string
	Data []byte
}

// Page is one stored page of a real kdump file: its descriptor flags and
// the bytes as stored (compressed or raw).
type Page struct {
	Name  string
	Flags uint32
	Data  []byte
}

// Seeds holds everything derived from one corpus.
type Seeds struct {
	ELF        []Seed // small ELF cores (QEMU, makedumpfile -E)
	Notes      []Seed // PT_NOTE contents of the ELF cores
	VMCOREINFO []Seed // the VMCOREINFO text
	Kdump      []Seed // small kdump-compressed files (incl. split members, incomplete)
	Flattened  []Seed // -F stream prefixes closed by an end marker, and small kdump seeds flattened
	Pages      []Page // one stored page per method per kdump file
}

// Size limits of the derived seeds.
const (
	maxLoads     = 4    // PT_LOADs kept per ELF core
	loadBytes    = 4096 // file data kept per PT_LOAD
	keepPages    = 6    // stored pages kept per kdump file
	flatPrefix   = 48 << 10
	maxNoteBytes = 1 << 20
)

var (
	once    sync.Once
	loaded  *Seeds
	errLoad error
)

// Load derives the seeds from the default corpus (corpus.Find with zero
// Options). It returns nil, logging why, when there is no corpus; errors
// deriving one file are logged and the file is skipped. The result is
// computed once per process.
//
// In a fuzz worker process (-test.fuzzworker) it returns nil at once: a
// worker gets its inputs from the coordinator, and the coordinator
// restarts workers often (after each minimization that runs out of
// time), so reading the corpus there would dominate the run.
func Load(tb testing.TB) *Seeds {
	tb.Helper()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return nil
	}
	once.Do(func() {
		c, err := corpus.Find(corpus.Options{})
		if err != nil {
			errLoad = err
			return
		}
		loaded, errLoad = derive(c)
	})
	if errLoad != nil {
		tb.Logf("no corpus seeds: %v", errLoad)
		return nil
	}
	return loaded
}

func derive(c *corpus.Corpus) (*Seeds, error) {
	s := &Seeds{}
	var errs []error
	if v, err := c.VMCOREINFO(); err == nil {
		s.VMCOREINFO = append(s.VMCOREINFO, Seed{corpus.VMCOREINFOName, []byte(v)})
	} else {
		errs = append(errs, err)
	}
	for _, f := range c.Manifest.Files {
		if !f.IsDump() {
			continue
		}
		if err := s.addFile(c.Path(f.Name), f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
		}
	}
	if len(s.ELF)+len(s.Kdump)+len(s.Flattened) == 0 {
		errs = append(errs, errors.New("no dump in the corpus gave a seed"))
		return nil, errors.Join(errs...)
	}
	// Per-file problems are not fatal: report them with the seeds.
	if len(errs) > 0 {
		fmt.Fprintf(os.Stderr, "fuzzseed: %v\n", errors.Join(errs...))
	}
	return s, nil
}

func (s *Seeds) addFile(path string, f corpus.File) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	var ra io.ReaderAt = r
	size := f.Size
	var magic [16]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return err
	}
	if string(magic[:12]) == "makedumpfile" {
		// -F streams, and QEMU's kdump output (flattened until QEMU 8.2).
		b, err := FlattenedPrefix(r, flatPrefix)
		if err != nil {
			return err
		}
		s.Flattened = append(s.Flattened, Seed{f.Name, b})
		fr, err := newFlatReader(r)
		if err != nil {
			return err
		}
		ra, size = fr, fr.size
	}
	switch f.Format {
	case "elf":
		b, notes, err := SmallELF(ra, size)
		if err != nil {
			return err
		}
		s.ELF = append(s.ELF, Seed{f.Name, b})
		for i, n := range notes {
			s.Notes = append(s.Notes, Seed{fmt.Sprintf("%s.note%d", f.Name, i), n})
		}
	case "kdump":
		k, err := SmallKdump(ra, size, keepPages)
		if err != nil {
			return err
		}
		s.Kdump = append(s.Kdump, Seed{f.Name, k.File})
		if f.Kind == corpus.KindIncomplete && k.DescEnd > k.DescOff {
			// Also cut it in the middle of the descriptor table, as -L does.
			cut := k.DescOff + (k.DescEnd-k.DescOff)/2
			s.Kdump = append(s.Kdump, Seed{f.Name + ".cut", k.File[:cut]})
		}
		s.Flattened = append(s.Flattened, Seed{f.Name + ".flat", Flatten(k.File, k.DescOff, k.DescEnd)})
		seen := map[uint32]bool{}
		for _, p := range k.Pages {
			if !seen[p.Flags] {
				seen[p.Flags] = true
				p.Name = fmt.Sprintf("%s.flags%#x", f.Name, p.Flags)
				s.Pages = append(s.Pages, p)
			}
		}
	}
	return nil
}

// readAt reads n bytes at off; fewer only at the end of the file.
func readAt(r io.ReaderAt, off, n int64) ([]byte, error) {
	b := make([]byte, n)
	m, err := r.ReadAt(b, off)
	if m == len(b) {
		return b, nil
	}
	if err == io.EOF {
		return b[:m], nil
	}
	return nil, err
}

// ---- ELF ----

// SmallELF rebuilds the ELF64 little-endian core r of the given size from
// its real Ehdr, program headers and PT_NOTE contents, keeping the first
// maxLoads PT_LOADs (with their real addresses and p_memsz) and at most
// loadBytes of data each. It also returns the PT_NOTE contents.
func SmallELF(r io.ReaderAt, size int64) ([]byte, [][]byte, error) {
	le := binary.LittleEndian
	eh, err := readAt(r, 0, 64)
	if err != nil || len(eh) < 64 {
		return nil, nil, fmt.Errorf("elf header: short file or %v", err)
	}
	if string(eh[:4]) != "\x7fELF" || eh[4] != 2 || eh[5] != 1 {
		return nil, nil, errors.New("not an ELF64 little-endian file")
	}
	phoff := int64(le.Uint64(eh[0x20:]))
	phent := int64(le.Uint16(eh[0x36:]))
	phnum := int64(le.Uint16(eh[0x38:]))
	if phent != 56 {
		return nil, nil, fmt.Errorf("e_phentsize %d", phent)
	}
	if phnum == 0xffff { // PN_XNUM: the count is in section header 0's sh_info
		shoff := int64(le.Uint64(eh[0x28:]))
		sh, err := readAt(r, shoff, 64)
		if err != nil || len(sh) < 64 {
			return nil, nil, fmt.Errorf("section header 0: %v", err)
		}
		phnum = int64(le.Uint32(sh[44:]))
	}
	if phnum > 1<<20 {
		return nil, nil, fmt.Errorf("%d program headers", phnum)
	}
	ph, err := readAt(r, phoff, phnum*56)
	if err != nil || int64(len(ph)) != phnum*56 {
		return nil, nil, fmt.Errorf("program headers: short file or %v", err)
	}
	type seg struct {
		hdr  []byte
		data []byte
	}
	var segs []seg
	var notes [][]byte
	loads := 0
	for i := int64(0); i < phnum; i++ {
		h := bytes.Clone(ph[i*56 : (i+1)*56])
		typ := le.Uint32(h)
		off, filesz := int64(le.Uint64(h[8:])), int64(le.Uint64(h[32:]))
		var n int64
		switch typ {
		case 4: // PT_NOTE
			n = min(filesz, maxNoteBytes)
		case 1: // PT_LOAD
			if loads == maxLoads {
				continue
			}
			loads++
			n = min(filesz, loadBytes)
		default:
			continue
		}
		if off < 0 || off > size {
			off, n = 0, 0
		}
		d, err := readAt(r, off, min(n, size-off))
		if err != nil {
			return nil, nil, fmt.Errorf("segment %d: %w", i, err)
		}
		if typ == 4 {
			notes = append(notes, d)
		}
		segs = append(segs, seg{h, d})
	}
	out := bytes.Clone(eh)
	// No section headers in the copy.
	le.PutUint64(out[0x28:], 0)
	le.PutUint16(out[0x3c:], 0)
	le.PutUint16(out[0x3e:], 0)
	le.PutUint64(out[0x20:], 64)
	le.PutUint16(out[0x38:], uint16(len(segs)))
	off := uint64(64 + 56*len(segs))
	for _, s := range segs {
		oldFilesz := le.Uint64(s.hdr[32:])
		le.PutUint64(s.hdr[8:], off)
		le.PutUint64(s.hdr[32:], uint64(len(s.data)))
		if le.Uint64(s.hdr[40:]) == oldFilesz { // p_memsz
			le.PutUint64(s.hdr[40:], uint64(len(s.data)))
		}
		out = append(out, s.hdr...)
		off += uint64(len(s.data))
	}
	for _, s := range segs {
		out = append(out, s.data...)
	}
	return out, notes, nil
}

// ---- kdump-compressed ----

// Kdump is a small kdump-compressed file made from a real one.
type Kdump struct {
	File             []byte
	DescOff, DescEnd int    // the page descriptor table in File
	Pages            []Page // the kept pages
}

// SmallKdump copies the header, sub header, notes and VMCOREINFO of the
// kdump-compressed file r verbatim, shrinks max_mapnr and the bitmaps to
// just cover the first n stored pages of the file's pfn range (keeping
// the real bitmap bits below them), and appends those pages' descriptors
// and data with the offsets moved.
func SmallKdump(r io.ReaderAt, size int64, n int) (*Kdump, error) {
	le := binary.LittleEndian
	hdr, err := readAt(r, 0, 464)
	if err != nil || len(hdr) < 464 {
		return nil, fmt.Errorf("kdump header: short file or %v", err)
	}
	if sig := string(hdr[:8]); sig != "KDUMP   " && sig != "DISKDUMP" {
		return nil, fmt.Errorf("signature %q", sig)
	}
	version := int32(le.Uint32(hdr[8:]))
	B := int64(le.Uint32(hdr[428:]))
	subBlocks := int64(le.Uint32(hdr[432:]))
	bitmapBlocks := int64(le.Uint32(hdr[436:]))
	maxMapnr := uint64(le.Uint32(hdr[440:]))
	if B < 512 || B > 1<<18 || B&(B-1) != 0 || subBlocks > 1<<10 || bitmapBlocks > 1<<16 {
		return nil, fmt.Errorf("block_size %d, sub_hdr_size %d, bitmap_blocks %d", B, subBlocks, bitmapBlocks)
	}
	bitmapOff := (1 + subBlocks) * B
	bitmapLen := bitmapBlocks * B
	if bitmapOff+bitmapLen > size {
		return nil, errors.New("bitmaps end past the end of the file")
	}
	head, err := readAt(r, 0, bitmapOff)
	if err != nil {
		return nil, err
	}
	var sub []byte
	if version >= 1 {
		sub = head[B : B+104]
		if version >= 6 {
			maxMapnr = le.Uint64(sub[96:])
		}
	}
	need := int64((maxMapnr + 7) / 8)
	aligned := (need + B - 1) / B * B
	two := bitmapLen >= 2*aligned
	if !two && bitmapLen < need {
		return nil, errors.New("bitmaps do not cover max_mapnr")
	}
	ram, err := readAt(r, bitmapOff, need)
	if err != nil {
		return nil, err
	}
	stored := ram
	if two {
		if stored, err = readAt(r, bitmapOff+bitmapLen/2, need); err != nil {
			return nil, err
		}
	}
	start, end := uint64(0), maxMapnr
	split := version >= 2 && le.Uint32(sub[12:]) != 0
	if split {
		start, end = le.Uint64(sub[16:]), le.Uint64(sub[24:])
		if version >= 6 {
			start, end = le.Uint64(sub[80:]), le.Uint64(sub[88:])
		}
		if start >= end || end > maxMapnr {
			return nil, fmt.Errorf("split range [%#x, %#x)", start, end)
		}
	}
	test := func(b []byte, pfn uint64) bool { return b[pfn/8]&(1<<(pfn%8)) != 0 }

	// The first n stored pfns of the range and their descriptors.
	descOff := bitmapOff + bitmapLen
	var pfns []uint64
	var descs [][]byte
	for pfn := start; pfn < end && len(pfns) < n; pfn++ {
		if !test(stored, pfn) {
			continue
		}
		d, err := readAt(r, descOff+int64(len(pfns))*24, 24)
		if err != nil {
			return nil, err
		}
		if len(d) < 24 {
			break // incomplete file
		}
		off, sz := int64(le.Uint64(d)), int64(le.Uint32(d[8:]))
		if off <= 0 || sz <= 0 || sz > B || off > size-sz {
			break // lost page of an incomplete file, or nonsense
		}
		pfns = append(pfns, pfn)
		descs = append(descs, d)
	}
	if len(pfns) == 0 {
		return nil, errors.New("no stored page with data")
	}

	// New max_mapnr: the bitmap block that holds the last kept pfn.
	newMax := min(end, (pfns[len(pfns)-1]/uint64(8*B)+1)*uint64(8*B))
	newNeed := int64((newMax + 7) / 8)
	newAligned := (newNeed + B - 1) / B * B
	newRAM := make([]byte, newAligned)
	copy(newRAM, ram[:newNeed])
	newStored := make([]byte, newAligned)
	copy(newStored, stored[:newNeed])
	for pfn := pfns[len(pfns)-1] + 1; pfn < newMax; pfn++ {
		newStored[pfn/8] &^= 1 << (pfn % 8)
	}
	for pfn := newMax; pfn < uint64(newNeed)*8; pfn++ {
		newRAM[pfn/8] &^= 1 << (pfn % 8)
		newStored[pfn/8] &^= 1 << (pfn % 8)
	}

	out := bytes.Clone(head)
	newBitmapBlocks := newAligned / B
	if two {
		newBitmapBlocks *= 2
	}
	le.PutUint32(out[436:], uint32(newBitmapBlocks))
	le.PutUint32(out[440:], uint32(min(newMax, 1<<32-1)))
	if version >= 6 {
		le.PutUint64(out[B+96:], newMax)
	}
	if split {
		le.PutUint64(out[B+24:], min(newMax, le.Uint64(out[B+24:])))
		if version >= 6 {
			le.PutUint64(out[B+88:], newMax)
		}
	}
	// Regions the copy does not hold (eraseinfo is written at the end).
	for _, f := range []struct {
		v   int32
		off int64
	}{{3, 32}, {4, 48}, {5, 64}} {
		if version < f.v {
			continue
		}
		o, l := int64(le.Uint64(out[B+f.off:])), int64(le.Uint64(out[B+f.off+8:]))
		if o < 0 || l < 0 || o+l > bitmapOff {
			le.PutUint64(out[B+f.off:], 0)
			le.PutUint64(out[B+f.off+8:], 0)
		}
	}
	out = append(out, newRAM...)
	if two {
		out = append(out, newStored...)
	}
	k := &Kdump{DescOff: len(out)}
	k.DescEnd = k.DescOff + 24*len(descs)
	dataOff := int64(k.DescEnd)
	if split {
		// A --split member sizes its descriptor area for every stored
		// page of the set (the rest is a hole); its data starts after.
		all := 0
		for _, c := range newStored {
			all += bits.OnesCount8(c)
		}
		dataOff = int64(k.DescOff + 24*all)
	}
	var data []byte
	moved := map[int64]int64{} // makedumpfile shares one zero page
	for _, d := range descs {
		off, sz := int64(le.Uint64(d)), int64(le.Uint32(d[8:]))
		nd := bytes.Clone(d)
		if no, ok := moved[off]; ok {
			le.PutUint64(nd, uint64(no))
		} else {
			b, err := readAt(r, off, sz)
			if err != nil {
				return nil, err
			}
			no := dataOff + int64(len(data))
			moved[off] = no
			le.PutUint64(nd, uint64(no))
			data = append(data, b...)
			k.Pages = append(k.Pages, Page{Flags: le.Uint32(d[12:]), Data: b})
		}
		out = append(out, nd...)
	}
	out = append(out, make([]byte, dataOff-int64(len(out)))...)
	k.File = append(out, data...)
	return k, nil
}

// ---- flattened ----

var flatEnd = bytes.Repeat([]byte{0xff}, 16)

// FlattenedPrefix returns the 4096-byte header and the records of the
// flattened stream r up to about limit bytes (the record that crosses the
// limit is cut short), closed by an end marker.
func FlattenedPrefix(r io.ReaderAt, limit int64) ([]byte, error) {
	be := binary.BigEndian
	out, err := readAt(r, 0, 4096)
	if err != nil || len(out) < 4096 || !strings.HasPrefix(string(out), "makedumpfile\x00") {
		return nil, fmt.Errorf("flattened header: %v", err)
	}
	pos := int64(4096)
	for int64(len(out)) < limit {
		h, err := readAt(r, pos, 16)
		if err != nil || len(h) < 16 {
			return nil, fmt.Errorf("record at %#x: short file or %v", pos, err)
		}
		off, sz := int64(be.Uint64(h)), int64(be.Uint64(h[8:]))
		if off == -1 && sz == -1 {
			break
		}
		if off < 0 || sz <= 0 || sz > 1<<32 {
			return nil, fmt.Errorf("record at %#x: offset %d size %d", pos, off, sz)
		}
		take := min(sz, max(limit-int64(len(out))-16, 1))
		d, err := readAt(r, pos+16, take)
		if err != nil || int64(len(d)) < take {
			return nil, fmt.Errorf("record at %#x: short file or %v", pos, err)
		}
		be.PutUint64(h[8:], uint64(take))
		out = append(out, h...)
		out = append(out, d...)
		pos += 16 + sz
	}
	return append(out, flatEnd...), nil
}

// flatReader reads the image a flattened stream describes, from an index
// of its records; later records win where they overlap, as with -R.
type flatReader struct {
	r    io.ReaderAt
	recs []flatRec
	size int64
}

type flatRec struct{ off, size, pos int64 }

func newFlatReader(r io.ReaderAt) (*flatReader, error) {
	be := binary.BigEndian
	fr := &flatReader{r: r}
	var h [16]byte
	for pos := int64(4096); ; {
		if _, err := r.ReadAt(h[:], pos); err != nil {
			return nil, fmt.Errorf("record at %#x: %w", pos, err)
		}
		off, sz := int64(be.Uint64(h[:])), int64(be.Uint64(h[8:]))
		if off == -1 && sz == -1 {
			return fr, nil
		}
		if off < 0 || sz <= 0 || sz > 1<<32 {
			return nil, fmt.Errorf("record at %#x: offset %d size %d", pos, off, sz)
		}
		fr.recs = append(fr.recs, flatRec{off, sz, pos + 16})
		fr.size = max(fr.size, off+sz)
		pos += 16 + sz
	}
}

func (fr *flatReader) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	end := off + int64(len(p))
	for _, rec := range fr.recs {
		lo, hi := max(off, rec.off), min(end, rec.off+rec.size)
		if lo >= hi {
			continue
		}
		if _, err := fr.r.ReadAt(p[lo-off:hi-off], rec.pos+lo-rec.off); err != nil {
			return 0, err
		}
	}
	if end > fr.size {
		return int(max(fr.size-off, 0)), io.EOF
	}
	return len(p), nil
}

// Flatten writes the kdump image b as a flattened stream the way
// makedumpfile -F orders it: the headers and bitmaps first, then the page
// data, then the descriptor table [descOff, descEnd), each region in
// records of at most one page.
func Flatten(b []byte, descOff, descEnd int) []byte {
	be := binary.BigEndian
	out := make([]byte, 4096, 4096+len(b)+len(b)/256+64)
	copy(out, "makedumpfile")
	be.PutUint64(out[16:], 1)
	be.PutUint64(out[24:], 1)
	rec := func(lo, hi int) {
		for lo < hi {
			n := min(hi-lo, 4096)
			out = be.AppendUint64(out, uint64(lo))
			out = be.AppendUint64(out, uint64(n))
			out = append(out, b[lo:lo+n]...)
			lo += n
		}
	}
	rec(0, descOff)
	rec(descEnd, len(b))
	rec(descOff, descEnd)
	return append(out, flatEnd...)
}

// ---- Go fuzz corpus files ----

// CorpusFile returns the contents of a Go fuzz corpus file ("go test fuzz
// v1") holding the given values, which may be []byte, string or uint8.
func CorpusFile(vals ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		default:
			panic(fmt.Sprintf("fuzzseed: unsupported corpus value %T", v))
		}
	}
	return b.Bytes()
}

// WriteCorpusFile writes a Go fuzz corpus file dir/name (dir is a
// package's testdata/fuzz/FuzzXxx).
func WriteCorpusFile(dir, name string, vals ...any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), CorpusFile(vals...), 0o644)
}
