package elfcore

import "encoding/binary"

// Segment is one PT_LOAD to put in a core built by Build.
type Segment struct {
	PAddr, VAddr uint64
	Data         []byte // p_filesz = len(Data)
	MemSz        uint64 // 0 means len(Data)
}

// EncodeNotes lays notes out as a PT_NOTE segment (4-byte aligned name and
// descriptor, as the kernel writes them).
func EncodeNotes(notes []Note) []byte {
	var b []byte
	le := binary.LittleEndian
	for _, n := range notes {
		namesz := uint32(len(n.Name) + 1)
		b = le.AppendUint32(b, namesz)
		b = le.AppendUint32(b, uint32(len(n.Desc)))
		b = le.AppendUint32(b, n.Type)
		b = append(b, n.Name...)
		b = append(b, make([]byte, align4(uint64(namesz))-uint64(len(n.Name)))...)
		b = append(b, n.Desc...)
		b = append(b, make([]byte, align4(uint64(len(n.Desc)))-uint64(len(n.Desc)))...)
	}
	return b
}

// Build returns a complete in-memory ELF64 x86_64 core: Ehdr, Phdrs (the
// PT_NOTE first, as the kernel and makedumpfile order them), section
// header 0 when extended numbering is needed, the notes, then segment data.
// It exists for tests and fuzz seeds; dumps of real size are written by the
// streaming writer.
func Build(flags uint32, notes []Note, segs []Segment) []byte {
	le := binary.LittleEndian
	phnum := 1 + len(segs)
	ext := phnum >= PNXNum
	noteData := EncodeNotes(notes)
	off := uint64(EhdrSize + phnum*PhdrSize)
	shoff := uint64(0)
	if ext {
		shoff = off
		off += ShdrSize
	}
	b := make([]byte, 0, int(off)+len(noteData))
	// Elf64_Ehdr
	b = append(b, 0x7f, 'E', 'L', 'F', 2, 1, 1, 0)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint16(b, ETCore)
	b = le.AppendUint16(b, EMX86_64)
	b = le.AppendUint32(b, 1) // e_version
	b = le.AppendUint64(b, 0) // e_entry
	b = le.AppendUint64(b, EhdrSize)
	b = le.AppendUint64(b, shoff)
	b = le.AppendUint32(b, flags)
	b = le.AppendUint16(b, EhdrSize)
	b = le.AppendUint16(b, PhdrSize)
	if ext {
		b = le.AppendUint16(b, PNXNum)
		b = le.AppendUint16(b, ShdrSize)
		b = le.AppendUint16(b, 1)
	} else {
		b = le.AppendUint16(b, uint16(phnum))
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, 0)
	}
	b = le.AppendUint16(b, 0) // e_shstrndx
	phdr := func(typ uint32, off, vaddr, paddr, filesz, memsz uint64) {
		b = le.AppendUint32(b, typ)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint64(b, off)
		b = le.AppendUint64(b, vaddr)
		b = le.AppendUint64(b, paddr)
		b = le.AppendUint64(b, filesz)
		b = le.AppendUint64(b, memsz)
		b = le.AppendUint64(b, 0)
	}
	phdr(PTNote, off, 0, 0, uint64(len(noteData)), uint64(len(noteData)))
	data := off + uint64(len(noteData))
	for _, s := range segs {
		memsz := s.MemSz
		if memsz == 0 {
			memsz = uint64(len(s.Data))
		}
		phdr(PTLoad, data, s.VAddr, s.PAddr, uint64(len(s.Data)), memsz)
		data += uint64(len(s.Data))
	}
	if ext {
		sh := make([]byte, ShdrSize)
		le.PutUint32(sh[44:], uint32(phnum)) // sh_info
		b = append(b, sh...)
	}
	b = append(b, noteData...)
	for _, s := range segs {
		b = append(b, s.Data...)
	}
	return b
}
