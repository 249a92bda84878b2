package corpus

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Leading bytes of the dump formats.
const (
	magicELF       = "\x7fELF"
	magicKdump     = "KDUMP   "
	magicFlattened = "makedumpfile\x00"
)

// kdump header status flag of a dump cut short (makedumpfile's
// DUMP_DH_COMPRESSED_INCOMPLETE).
const kdumpStatusIncomplete = 0x8

// offset of the status word in struct disk_dump_header on 64-bit hosts:
// signature 8, header_version 4, utsname 6*65, padding to 8, timeval 16.
const kdumpStatusOffset = 424

// checkSignature fails if the file at path does not start with the magic
// of the format f says it has, or an incomplete kdump file lacks the
// incomplete flag.
func checkSignature(path string, f File) error {
	if !f.IsDump() {
		return nil
	}
	var want string
	switch {
	case f.Kind == KindFlattened:
		want = magicFlattened
	case f.Format == "elf":
		want = magicELF
	default:
		want = magicKdump
	}
	fd, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fd.Close()
	head := make([]byte, kdumpStatusOffset+4)
	n, err := io.ReadFull(fd, head)
	if err != nil && n < len(want) {
		return fmt.Errorf("%s: read header: %w", f.Name, err)
	}
	if string(head[:len(want)]) != want {
		return fmt.Errorf("%s: starts with %q, want %q for kind %s", f.Name, head[:len(want)], want, f.Kind)
	}
	if want == magicKdump {
		status := binary.LittleEndian.Uint32(head[kdumpStatusOffset:])
		if inc := status&kdumpStatusIncomplete != 0; inc != (f.Kind == KindIncomplete) {
			return fmt.Errorf("%s: kdump status %#x: incomplete flag %v, but kind is %s", f.Name, status, inc, f.Kind)
		}
	}
	return nil
}
