package mem

import "errors"

// Errors a page read can end in. Every dump reader returns one of these
// (wrapped with the pfn) so callers can tell the cases apart with errors.Is.
var (
	// ErrNotRAM: the pfn is not in any RAM range of the dump.
	ErrNotRAM = errors.New("page is not RAM")
	// ErrExcluded: the page exists but the dump left it out on purpose
	// (filtered by dump level, or beyond p_filesz of an ELF segment).
	ErrExcluded = errors.New("page was excluded from the dump")
	// ErrLost: the dump meant to hold the page but stopped before writing
	// it (an incomplete kdump-compressed file: descriptor offset 0).
	ErrLost = errors.New("page was lost: the dump is incomplete")
)
