package vmcore

// Format names a dump container.
type Format string

// Formats Open recognises.
const (
	FormatELF           Format = "elf"
	FormatKdump         Format = "kdump"
	FormatDiskdump      Format = "diskdump"
	FormatFlattenedELF  Format = "flattened-elf"
	FormatFlattenedKdmp Format = "flattened-kdump"
	FormatSplitKdump    Format = "kdump-split"
)
