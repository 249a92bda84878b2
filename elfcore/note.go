package elfcore

import (
	"bytes"
	"encoding/binary"
)

// Note is one ELF note.
type Note struct {
	Name string // without the terminating NUL
	Type uint32
	Desc []byte
	// DescOff is the file offset of Desc (makedumpfile records the
	// VMCOREINFO descriptor's offset in the kdump sub header).
	DescOff int64
}

// Note names and types kdump cares about.
const (
	NameCore       = "CORE"
	NameVMCOREINFO = "VMCOREINFO"
)

// ParseNotes splits a PT_NOTE segment into notes. base is the segment's
// file offset, used for DescOff and error messages. Trailing zero padding
// (the kernel pads its note buffers) ends the list without error.
func ParseNotes(b []byte, base int64) ([]Note, error) {
	var notes []Note
	le := binary.LittleEndian
	off := 0
	for off < len(b) {
		rest := b[off:]
		if allZero(rest) {
			break
		}
		if len(rest) < 12 {
			return notes, formatErr(base+int64(off), "note header needs 12 bytes, %d left in PT_NOTE", len(rest))
		}
		namesz := uint64(le.Uint32(rest[0:]))
		descsz := uint64(le.Uint32(rest[4:]))
		typ := le.Uint32(rest[8:])
		nameEnd := 12 + align4(namesz)
		descEnd := nameEnd + align4(descsz)
		if nameEnd > uint64(len(rest)) || 12+namesz > uint64(len(rest)) {
			return notes, formatErr(base+int64(off), "note name of %d bytes runs past the PT_NOTE end (%d bytes left)", namesz, len(rest))
		}
		if nameEnd+descsz > uint64(len(rest)) {
			return notes, formatErr(base+int64(off)+4, "note descriptor of %d bytes runs past the PT_NOTE end (%d bytes left)", descsz, uint64(len(rest))-nameEnd)
		}
		name := rest[12 : 12+namesz]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		notes = append(notes, Note{
			Name:    string(name),
			Type:    typ,
			Desc:    rest[nameEnd : nameEnd+descsz : nameEnd+descsz],
			DescOff: base + int64(off) + int64(nameEnd),
		})
		if descEnd > uint64(len(rest)) {
			// The last descriptor's padding may be cut off; nothing follows.
			break
		}
		off += int(descEnd)
	}
	return notes, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Find returns the first note with the given name and type.
func Find(notes []Note, name string, typ uint32) (Note, bool) {
	for _, n := range notes {
		if n.Name == name && n.Type == typ {
			return n, true
		}
	}
	return Note{}, false
}

// VMCOREINFO returns the VMCOREINFO note's text, or nil.
func VMCOREINFO(notes []Note) []byte {
	n, ok := Find(notes, NameVMCOREINFO, 0)
	if !ok {
		return nil
	}
	return n.Desc
}

// CountCPUs counts the NT_PRSTATUS notes named "CORE", one per CPU that
// was online at the crash (makedumpfile's nr_cpus).
func CountCPUs(notes []Note) int {
	c := 0
	for _, n := range notes {
		if n.Name == NameCore && n.Type == NTPRStatus {
			c++
		}
	}
	return c
}
