package elfcore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/mem"
)

// MinExcludedRun is the shortest run of excluded pages makedumpfile -E
// leaves out of the file (PFN_EXCLUDED). Shorter runs inside a segment
// are written with their real contents, which keeps the number of
// program headers down.
const MinExcludedRun = 256

// Load is one PT_LOAD of an output core and where its bytes come from.
type Load struct {
	Prog
	// SrcOff is the input file offset of the segment's first byte.
	SrcOff uint64
	// SrcLen is how many of the p_filesz bytes the input file holds;
	// the rest are written as zeros. It is less than FileSz only when
	// the input itself lacks data there (a filesz < memsz input segment).
	SrcLen uint64
}

// Layout is a complete plan of an ELF64 core as makedumpfile -E writes
// it: Ehdr, program headers (the PT_NOTE first), section header 0 when
// extended numbering is needed, the note data, then the PT_LOAD data
// back to back, not page aligned. Everything is decided before a byte is
// written, so the file can be written front to back or in place.
type Layout struct {
	// Ehdr is the input's ELF header; Encode overwrites e_phoff, e_phnum
	// and the section-header fields, and keeps the rest (ident, machine,
	// e_flags, ...) as makedumpfile does.
	Ehdr [EhdrSize]byte
	// Note is the output PT_NOTE header: the input's first PT_NOTE with
	// p_offset moved. NoteData is its content.
	Note     Prog
	NoteData []byte
	Loads    []Load
	// PageSize is the page size the loads were split by.
	PageSize uint64
}

// Phnum is the number of program headers, the PT_NOTE included.
func (l *Layout) Phnum() int { return 1 + len(l.Loads) }

// ExtNumber reports whether e_phnum overflows and the real count goes
// into section header 0 (PN_XNUM).
func (l *Layout) ExtNumber() bool { return l.Phnum() >= PNXNum }

// HeaderSize is the size of everything before the note data.
func (l *Layout) HeaderSize() uint64 {
	n := uint64(EhdrSize) + uint64(l.Phnum())*PhdrSize
	if l.ExtNumber() {
		n += ShdrSize
	}
	return n
}

// DataOff is where the first PT_LOAD's data starts.
func (l *Layout) DataOff() uint64 { return l.HeaderSize() + uint64(len(l.NoteData)) }

// Size is the length of the whole file.
func (l *Layout) Size() uint64 {
	end := l.DataOff()
	for _, ld := range l.Loads {
		if ld.FileSz > 0 {
			end = max(end, ld.Off+ld.FileSz)
		}
	}
	return end
}

// NewLayout plans the output core for input headers: ehdr is the input's
// raw ELF header, note its first PT_NOTE (noteData that segment's bytes),
// loads its PT_LOADs in file order. keep says whether the page at a pfn
// goes into the dump (makedumpfile's 2nd bitmap, zero pages already
// cleared for dump levels with bit 1). pageSize must be a power of two.
//
// Each input PT_LOAD is split as makedumpfile's write_elf_pages_cyclic
// does: a partial first page is always kept; a run of fewer than
// MinExcludedRun excluded pages is written with its real contents; a
// longer run ends the segment (p_memsz covers the run, p_filesz does not)
// and the next segment starts at the next kept page; excluded pages at
// the end of an input segment only count in p_memsz. A segment that is
// closed with no data gets p_offset 0, except the last of an input
// segment, which gets the running offset (as in makedumpfile).
//
// Two deviations, both for inputs on which makedumpfile reads outside the
// input segment: a partial first page is clamped to the segment's size,
// and a kept partial last page right after a split counts its real
// length, not a whole page.
func NewLayout(ehdr [EhdrSize]byte, note Prog, noteData []byte, loads []Prog, pageSize uint64, keep func(mem.PFN) bool) (*Layout, error) {
	if pageSize == 0 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("elf layout: page size %d is not a power of two", pageSize)
	}
	l := &Layout{Ehdr: ehdr, Note: note, NoteData: noteData, PageSize: pageSize}
	l.Note.Type = PTNote
	l.Note.FileSz = uint64(len(noteData))
	var fixed []bool
	l.Loads, fixed = splitLoads(loads, pageSize, keep)
	// Offsets were counted from the start of the data; where the data
	// starts depends on how many headers the split produced.
	l.Note.Off = l.HeaderSize()
	base := l.DataOff()
	for i := range l.Loads {
		if !fixed[i] {
			l.Loads[i].Off += base
		}
	}
	return l, nil
}

// splitLoads walks each input PT_LOAD page by page (see NewLayout). The
// offsets it returns count from the start of the segment data, except
// where fixed says p_offset is the absolute 0 of a segment without data.
func splitLoads(in []Prog, ps uint64, keep func(mem.PFN) bool) (out []Load, fixed []bool) {
	var off uint64
	for _, src := range in {
		cur := Load{Prog: src}
		emit := func(memsz, filesz uint64, last bool) {
			cur.MemSz, cur.FileSz = memsz, filesz
			cur.Off = off
			noData := filesz == 0 && !last
			if noData {
				cur.Off = 0
			}
			fixed = append(fixed, noData)
			rel := cur.PAddr - src.PAddr
			cur.SrcOff = src.Off + rel
			cur.SrcLen = 0
			if rel < src.FileSz {
				cur.SrcLen = min(filesz, src.FileSz-rel)
			}
			out = append(out, cur)
			off += filesz
			cur.PAddr += memsz
			cur.VAddr += memsz
		}
		end := src.PAddr + src.MemSz
		pfnStart, pfnEnd := src.PAddr/ps, end/ps
		fracTail := end % ps
		var memsz, filesz, excluded uint64
		if head := src.PAddr % ps; head != 0 {
			memsz = min(ps-head, src.MemSz)
			filesz = memsz
			pfnStart++
		}
		if fracTail != 0 {
			pfnEnd++
		}
		for pfn := pfnStart; pfn < pfnEnd; pfn++ {
			size := ps
			if pfn == pfnEnd-1 && fracTail != 0 {
				size = fracTail
			}
			if !keep(mem.PFN(pfn)) {
				excluded++
				memsz += size
				continue
			}
			switch {
			case excluded == 0:
				memsz += size
				filesz += size
			case excluded < MinExcludedRun:
				memsz += size
				filesz += excluded*ps + size
				excluded = 0
			default:
				emit(memsz, filesz, false)
				excluded = 0
				memsz, filesz = size, size
			}
		}
		emit(memsz, filesz, true)
	}
	return out, fixed
}

// Encode returns the ELF header, program headers and section header 0
// (when needed): the first HeaderSize bytes of the file.
func (l *Layout) Encode() []byte {
	b := make([]byte, 0, l.HeaderSize())
	b = l.appendEhdr(b, 0)
	b = appendPhdr(b, l.Note)
	for _, ld := range l.Loads {
		b = appendPhdr(b, ld.Prog)
	}
	if l.ExtNumber() {
		b = l.appendShdr0(b)
	}
	return b
}

// appendEhdr appends the output ELF header with extra e_flags bits set.
func (l *Layout) appendEhdr(b []byte, flags uint32) []byte {
	le := binary.LittleEndian
	h := l.Ehdr
	// makedumpfile keeps the input's e_phoff and writes the program
	// headers right after the ELF header; they are equal for every core
	// the kernel or QEMU writes, and 64 is the one that is right.
	le.PutUint64(h[32:], EhdrSize)
	le.PutUint32(h[48:], le.Uint32(h[48:])|flags)
	le.PutUint16(h[54:], PhdrSize)
	if l.ExtNumber() {
		le.PutUint64(h[40:], l.HeaderSize()-ShdrSize) // e_shoff
		le.PutUint16(h[56:], PNXNum)
		le.PutUint16(h[58:], ShdrSize) // e_shentsize
		le.PutUint16(h[60:], 1)        // e_shnum
		le.PutUint16(h[62:], 0)        // e_shstrndx = SHN_UNDEF
	} else {
		le.PutUint16(h[56:], uint16(l.Phnum()))
		if le.Uint64(h[40:]) != 0 {
			// The input's section headers are not copied; makedumpfile
			// would leave e_shoff pointing into our program headers.
			le.PutUint64(h[40:], 0)
			le.PutUint16(h[58:], 0)
			le.PutUint16(h[60:], 0)
			le.PutUint16(h[62:], 0)
		}
	}
	return append(b, h[:]...)
}

func appendPhdr(b []byte, p Prog) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, p.Type)
	b = le.AppendUint32(b, p.Flags)
	b = le.AppendUint64(b, p.Off)
	b = le.AppendUint64(b, p.VAddr)
	b = le.AppendUint64(b, p.PAddr)
	b = le.AppendUint64(b, p.FileSz)
	b = le.AppendUint64(b, p.MemSz)
	return le.AppendUint64(b, p.Align)
}

// appendShdr0 appends the SHT_NULL section header that carries the real
// program header count (sh_info) under extended numbering.
func (l *Layout) appendShdr0(b []byte) []byte {
	var sh [ShdrSize]byte
	le := binary.LittleEndian
	le.PutUint64(sh[32:], 1)                 // sh_size = e_shnum
	le.PutUint32(sh[44:], uint32(l.Phnum())) // sh_info
	return append(b, sh[:]...)
}

// copyChunk is how much segment data moves per read and write. It was
// 1 MiB, a fifth of makedumpfile -E's peak memory; at 256 KiB the
// 4 GiB corpus at -E -d 31 costs the same CPU time, and at -E -d 1
// (2.5 GB copied) about 4% more system time, measured.
const copyChunk = 256 << 10

// WriteTo streams the file front to back to w (a pipe, or the flattened
// format's record writer), reading segment data from src, the input core.
// It returns the number of bytes written.
func (l *Layout) WriteTo(ctx context.Context, w io.Writer, src io.ReaderAt) (int64, error) {
	cw := &countWriter{w: w}
	err := l.write(ctx, cw, src)
	return cw.n, err
}

// WriteAt writes the file to out. If writing segment data fails (a full
// disk, a cancelled ctx), it marks the file the way makedumpfile marks an
// incomplete ELF dump, e_flags |= FlagIncomplete, cuts the program
// headers down to the data that did reach the file, and returns an error
// wrapping mem.ErrLost and the cause.
func (l *Layout) WriteAt(ctx context.Context, out io.WriterAt, src io.ReaderAt) error {
	cw := &countWriter{w: io.NewOffsetWriter(out, 0)}
	err := l.write(ctx, cw, src)
	if err == nil {
		return nil
	}
	if uint64(cw.n) < l.DataOff() {
		return err // nothing to mark: the headers are not complete
	}
	if perr := l.markIncomplete(out, uint64(cw.n)); perr != nil {
		return fmt.Errorf("%w (%w); marking the dump incomplete failed too: %v", mem.ErrLost, err, perr)
	}
	return fmt.Errorf("%w: %w", mem.ErrLost, err)
}

// markIncomplete rewrites the headers of a file whose data reached only
// offset written: segments keep the whole pages they got, later ones get
// p_filesz 0, and e_flags gets FlagIncomplete.
func (l *Layout) markIncomplete(out io.WriterAt, written uint64) error {
	t := *l
	t.Loads = make([]Load, len(l.Loads))
	copy(t.Loads, l.Loads)
	for i := range t.Loads {
		ld := &t.Loads[i]
		if ld.Off+ld.FileSz <= written {
			continue
		}
		if ld.FileSz == 0 {
			ld.Off = 0 // past the end of what was written
			continue
		}
		n := uint64(0)
		if written > ld.Off {
			n = written - ld.Off
		}
		// Keep whole pages only, as a reader counts a page stored
		// when any of it is in the file.
		ps := max(l.PageSize, 1)
		if n > 0 {
			n = (ld.PAddr+n)&^(ps-1) - ld.PAddr
			if ld.PAddr+n < ld.PAddr || n > ld.FileSz {
				n = 0
			}
		}
		ld.FileSz = n
		if n == 0 {
			ld.Off = 0
		}
	}
	b := t.appendEhdr(nil, FlagIncomplete)
	b = appendPhdr(b, t.Note)
	for _, ld := range t.Loads {
		b = appendPhdr(b, ld.Prog)
	}
	_, err := out.WriteAt(b, 0)
	return err
}

func (l *Layout) write(ctx context.Context, w io.Writer, src io.ReaderAt) error {
	if err := l.writeHeaders(w); err != nil {
		return err
	}
	if _, err := w.Write(l.NoteData); err != nil {
		return fmt.Errorf("write elf notes: %w", err)
	}
	buf := make([]byte, copyChunk)
	for i, ld := range l.Loads {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := copySegment(ctx, w, src, ld, buf); err != nil {
			return fmt.Errorf("PT_LOAD %d (paddr %#x): %w", i+1, ld.PAddr, err)
		}
	}
	return nil
}

// writeHeaders writes Ehdr, Phdrs and section header 0 in pieces, so a
// dump with millions of segments does not need them all in one buffer.
func (l *Layout) writeHeaders(w io.Writer) error {
	const batch = 512
	b := make([]byte, 0, EhdrSize+batch*PhdrSize)
	b = l.appendEhdr(b, 0)
	b = appendPhdr(b, l.Note)
	for i, ld := range l.Loads {
		b = appendPhdr(b, ld.Prog)
		if i%batch == batch-1 {
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("write elf program headers: %w", err)
			}
			b = b[:0]
		}
	}
	if l.ExtNumber() {
		b = l.appendShdr0(b)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write elf headers: %w", err)
	}
	return nil
}

func copySegment(ctx context.Context, w io.Writer, src io.ReaderAt, ld Load, buf []byte) error {
	for done := uint64(0); done < ld.FileSz; {
		n := min(uint64(len(buf)), ld.FileSz-done)
		chunk := buf[:n]
		fromFile := uint64(0)
		if done < ld.SrcLen {
			fromFile = min(n, ld.SrcLen-done)
		}
		if fromFile > 0 {
			off := ld.SrcOff + done
			got, err := src.ReadAt(chunk[:fromFile], int64(off))
			if got < int(fromFile) {
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("read input offset %#x: %w", off, err)
			}
		}
		clear(chunk[fromFile:])
		if _, err := w.Write(chunk); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		done += n
		if done < ld.FileSz {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// countWriter counts the bytes that reached w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
