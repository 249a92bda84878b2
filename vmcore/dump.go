package vmcore

import (
	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/mem"
)

// Page read errors; see package mem. They are re-exported here because
// callers of Dump.ReadPage think in terms of vmcore, not mem.
var (
	ErrNotRAM   = mem.ErrNotRAM
	ErrExcluded = mem.ErrExcluded
	ErrLost     = mem.ErrLost
)

// Dump is one view of physical memory, whatever file it came from.
type Dump interface {
	// Format names the container, e.g. "elf", "kdump", "flattened kdump".
	Format() Format
	// PageSize is the page size in bytes (4096 on x86_64).
	PageSize() int
	// MaxPFN is one past the highest pfn the dump describes.
	MaxPFN() mem.PFN
	// RAM has a bit set for every page that exists in the machine.
	RAM() *mem.Bitmap
	// Stored has a bit set for every page the file holds (== RAM for an
	// unfiltered ELF core or /proc/vmcore).
	Stored() *mem.Bitmap
	// ReadPage copies page pfn into dst (len(dst) >= PageSize). Errors
	// wrap ErrNotRAM, ErrExcluded or ErrLost where those apply.
	ReadPage(pfn mem.PFN, dst []byte) error
	// Notes are the ELF notes the dump carries (NT_PRSTATUS per CPU,
	// VMCOREINFO, ...).
	Notes() []elfcore.Note
	// VMCOREINFO is the raw VMCOREINFO note text, or nil.
	VMCOREINFO() []byte
	Close() error
}

// NoteSource is implemented by dumps that carry raw ELF note data; writers
// copy it verbatim into their headers, as makedumpfile does.
type NoteSource interface {
	// NoteData returns the notes as stored and the file offset they
	// were read from (Note.DescOff values are relative to the same file).
	NoteData() (data []byte, off int64)
}
