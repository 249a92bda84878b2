package elfcore

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// ELF constants used by core files (see elf(5)).
const (
	EhdrSize = 64 // sizeof(Elf64_Ehdr)
	PhdrSize = 56 // sizeof(Elf64_Phdr)
	ShdrSize = 64 // sizeof(Elf64_Shdr)

	ETCore   = 4
	EMX86_64 = 62

	PTLoad = 1
	PTNote = 4

	PNXNum = 0xffff // e_phnum escape: the real count is in section header 0's sh_info

	NTPRStatus = 1 // NT_PRSTATUS note type (name "CORE")

	// FlagIncomplete in e_flags marks an ELF dump makedumpfile could not
	// finish (DUMP_ELF_INCOMPLETE).
	FlagIncomplete = 1
)

// Caps on what a sane dump contains. A machine with a PT_LOAD per 4 KiB
// page of a 4 TiB range would need 2^30 headers; real kernels emit one per
// System RAM range (a few hundred at most), makedumpfile -E one per run of
// kept pages. The cap only stops a corrupt e_phnum from driving a huge
// allocation.
const (
	maxPhnum    = 1 << 22
	maxNoteData = 64 << 20
)

// FormatError reports malformed input at a file offset.
type FormatError struct {
	Off int64
	Msg string
}

func (e *FormatError) Error() string { return fmt.Sprintf("elf core at %#x: %s", e.Off, e.Msg) }

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Off: off, Msg: fmt.Sprintf(format, args...)}
}

// Header is the part of Elf64_Ehdr a core reader needs.
type Header struct {
	Type      uint16
	Machine   uint16
	Flags     uint32
	Phoff     uint64
	Phnum     int // after PN_XNUM resolution
	Shoff     uint64
	ExtNumber bool // Phnum came from section header 0 (PN_XNUM)
}

// Prog is one program header.
type Prog struct {
	Type   uint32
	Flags  uint32
	Off    uint64 // p_offset: where the bytes sit in the file
	VAddr  uint64
	PAddr  uint64
	FileSz uint64
	MemSz  uint64
	Align  uint64
}

// File is an opened ELF64 core.
type File struct {
	Header Header
	Progs  []Prog // in file order
	// Loads are the PT_LOAD headers with a usable physical address, in
	// file order (the order makedumpfile uses to resolve overlaps).
	Loads []Prog
	Notes []Note
	// NoteData is the concatenated content of all PT_NOTE segments, as
	// makedumpfile copies it into kdump-compressed headers.
	NoteData []byte
	// NoteOff is the file offset of the first PT_NOTE segment.
	NoteOff int64

	r      io.ReaderAt
	size   int64
	pieces []piece // disjoint, sorted physical ranges for LoadAt
}

// notPAddr marks a PT_LOAD without a physical address (p_paddr == -1).
const notPAddr = ^uint64(0)

// IsELF reports whether b starts with the ELF magic.
func IsELF(b []byte) bool {
	return len(b) >= 4 && b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F'
}

// Open parses the ELF headers and notes of a core file of the given size.
// Segment data is not read; use ReadAt on the returned File.
func Open(r io.ReaderAt, size int64) (*File, error) {
	var eh [EhdrSize]byte
	if size < EhdrSize {
		return nil, formatErr(0, "file of %d bytes is too short for an ELF header (%d bytes)", size, EhdrSize)
	}
	if _, err := r.ReadAt(eh[:], 0); err != nil {
		return nil, fmt.Errorf("read elf header: %w", err)
	}
	if !IsELF(eh[:]) {
		return nil, formatErr(0, "bad magic % x, want 7f 45 4c 46", eh[:4])
	}
	if eh[4] != 2 {
		return nil, formatErr(4, "EI_CLASS %d, want 2 (ELFCLASS64)", eh[4])
	}
	if eh[5] != 1 {
		return nil, formatErr(5, "EI_DATA %d, want 1 (little endian)", eh[5])
	}
	le := binary.LittleEndian
	f := &File{r: r, size: size}
	h := &f.Header
	h.Type = le.Uint16(eh[16:])
	h.Machine = le.Uint16(eh[18:])
	h.Phoff = le.Uint64(eh[32:])
	h.Shoff = le.Uint64(eh[40:])
	h.Flags = le.Uint32(eh[48:])
	phentsize := le.Uint16(eh[54:])
	phnum := int(le.Uint16(eh[56:]))
	shentsize := le.Uint16(eh[58:])
	if h.Type != ETCore {
		return nil, formatErr(16, "e_type %d, want %d (ET_CORE)", h.Type, ETCore)
	}
	if phentsize != PhdrSize {
		return nil, formatErr(54, "e_phentsize %d, want %d", phentsize, PhdrSize)
	}
	if phnum == PNXNum {
		// Extended numbering: section header 0 holds the real count.
		if h.Shoff == 0 || shentsize != ShdrSize {
			return nil, formatErr(40, "e_phnum is PN_XNUM but e_shoff %#x / e_shentsize %d give no section header 0", h.Shoff, shentsize)
		}
		if h.Shoff > uint64(size) || uint64(size)-h.Shoff < ShdrSize {
			return nil, formatErr(40, "section header 0 at %#x lies beyond the end of the file (%d bytes)", h.Shoff, size)
		}
		var sh [ShdrSize]byte
		if _, err := r.ReadAt(sh[:], int64(h.Shoff)); err != nil {
			return nil, fmt.Errorf("read section header 0 at %#x: %w", h.Shoff, err)
		}
		phnum = int(le.Uint32(sh[44:])) // sh_info
		h.ExtNumber = true
	}
	if phnum > maxPhnum {
		return nil, formatErr(56, "%d program headers is more than the %d a core file can sensibly have", phnum, maxPhnum)
	}
	h.Phnum = phnum
	phBytes := uint64(phnum) * PhdrSize
	if h.Phoff > uint64(size) || uint64(size)-h.Phoff < phBytes {
		return nil, formatErr(32, "%d program headers at e_phoff %#x run past the end of the file (%d bytes)", phnum, h.Phoff, size)
	}
	ph := make([]byte, phBytes)
	if _, err := r.ReadAt(ph, int64(h.Phoff)); err != nil {
		return nil, fmt.Errorf("read program headers at %#x: %w", h.Phoff, err)
	}
	f.Progs = make([]Prog, phnum)
	var noteProgs []int
	for i := range f.Progs {
		b := ph[i*PhdrSize:]
		off := int64(h.Phoff) + int64(i*PhdrSize)
		p := Prog{
			Type:   le.Uint32(b[0:]),
			Flags:  le.Uint32(b[4:]),
			Off:    le.Uint64(b[8:]),
			VAddr:  le.Uint64(b[16:]),
			PAddr:  le.Uint64(b[24:]),
			FileSz: le.Uint64(b[32:]),
			MemSz:  le.Uint64(b[40:]),
			Align:  le.Uint64(b[48:]),
		}
		f.Progs[i] = p
		switch p.Type {
		case PTLoad:
			if p.FileSz > p.MemSz {
				return nil, formatErr(off+32, "PT_LOAD %d: p_filesz %#x is larger than p_memsz %#x", i, p.FileSz, p.MemSz)
			}
			if p.Off > uint64(size) || uint64(size)-p.Off < p.FileSz {
				return nil, formatErr(off+8, "PT_LOAD %d: data [%#x, +%#x) runs past the end of the file (%d bytes)", i, p.Off, p.FileSz, size)
			}
			if p.PAddr == notPAddr {
				continue
			}
			if p.PAddr+p.MemSz < p.PAddr {
				return nil, formatErr(off+24, "PT_LOAD %d: p_paddr %#x + p_memsz %#x overflows", i, p.PAddr, p.MemSz)
			}
			f.Loads = append(f.Loads, p)
		case PTNote:
			if p.Off > uint64(size) || uint64(size)-p.Off < p.FileSz {
				return nil, formatErr(off+8, "PT_NOTE %d: data [%#x, +%#x) runs past the end of the file (%d bytes)", i, p.Off, p.FileSz, size)
			}
			noteProgs = append(noteProgs, i)
		}
	}
	if err := f.readNotes(noteProgs); err != nil {
		return nil, err
	}
	f.pieces = buildPieces(f.Loads)
	return f, nil
}

func (f *File) readNotes(idx []int) error {
	var total uint64
	for _, i := range idx {
		total += f.Progs[i].FileSz
		if total > maxNoteData {
			return formatErr(int64(f.Header.Phoff)+int64(i*PhdrSize)+32, "PT_NOTE segments hold more than %d bytes", maxNoteData)
		}
	}
	if len(idx) > 0 {
		f.NoteOff = int64(f.Progs[idx[0]].Off)
	}
	f.NoteData = make([]byte, 0, total)
	for _, i := range idx {
		p := f.Progs[i]
		buf := make([]byte, p.FileSz)
		if _, err := f.r.ReadAt(buf, int64(p.Off)); err != nil {
			return fmt.Errorf("read PT_NOTE %d at %#x: %w", i, p.Off, err)
		}
		notes, err := ParseNotes(buf, int64(p.Off))
		if err != nil {
			return err
		}
		f.Notes = append(f.Notes, notes...)
		f.NoteData = append(f.NoteData, buf...)
	}
	return nil
}

// ReadAt reads raw file bytes.
func (f *File) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }

// Size is the file size given to Open.
func (f *File) Size() int64 { return f.size }

// Incomplete reports whether makedumpfile marked this ELF dump incomplete.
func (f *File) Incomplete() bool { return f.Header.Flags&FlagIncomplete != 0 }

// MaxPAddr is the end of the highest PT_LOAD (by p_paddr + p_memsz).
func (f *File) MaxPAddr() uint64 {
	var m uint64
	for _, p := range f.Loads {
		if e := p.PAddr + p.MemSz; e > m {
			m = e
		}
	}
	return m
}

// LoadAt returns the PT_LOAD that holds paddr and where the piece of it
// that wins for paddr ends. Where segments overlap (the kernel-text segment
// of /proc/vmcore overlaps a RAM segment, both holding the same bytes) the
// first in file order wins, the rule makedumpfile uses.
func (f *File) LoadAt(paddr uint64) (p Prog, pieceEnd uint64, ok bool) {
	i := sort.Search(len(f.pieces), func(i int) bool { return f.pieces[i].end > paddr })
	if i == len(f.pieces) || f.pieces[i].start > paddr {
		return Prog{}, 0, false
	}
	return f.Loads[f.pieces[i].load], f.pieces[i].end, true
}

// piece is a maximal physical range served by one PT_LOAD.
type piece struct {
	start, end uint64
	load       int // index into Loads
}

// buildPieces splits the physical space covered by loads into disjoint
// pieces, each owned by the first load in file order that covers it.
func buildPieces(loads []Prog) []piece {
	var pts []uint64
	for _, p := range loads {
		if p.MemSz == 0 {
			continue
		}
		pts = append(pts, p.PAddr, p.PAddr+p.MemSz)
	}
	sort.Slice(pts, func(a, b int) bool { return pts[a] < pts[b] })
	pts = uniq(pts)
	order := make([]int, 0, len(loads))
	for i, p := range loads {
		if p.MemSz > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return loads[order[a]].PAddr < loads[order[b]].PAddr })
	// Sweep the elementary intervals; active holds loads that started
	// and have not ended. Overlaps are rare, so a slice is enough.
	var out []piece
	var active []int
	next := 0
	for k := 0; k+1 < len(pts); k++ {
		s, e := pts[k], pts[k+1]
		for next < len(order) && loads[order[next]].PAddr <= s {
			active = append(active, order[next])
			next++
		}
		owner := -1
		kept := active[:0]
		for _, li := range active {
			if loads[li].PAddr+loads[li].MemSz <= s {
				continue
			}
			kept = append(kept, li)
			if owner < 0 || li < owner {
				owner = li
			}
		}
		active = kept
		if owner < 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].load == owner && out[n-1].end == s {
			out[n-1].end = e
			continue
		}
		out = append(out, piece{s, e, owner})
	}
	return out
}

func uniq(a []uint64) []uint64 {
	out := a[:0]
	for i, v := range a {
		if i == 0 || v != a[i-1] {
			out = append(out, v)
		}
	}
	return out
}
