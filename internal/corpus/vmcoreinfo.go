package corpus

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// ReadVMCOREINFO returns the text of the VMCOREINFO note of an ELF core
// file. It is a small reader for building and checking the corpus, not the
// project's ELF core parser.
func ReadVMCOREINFO(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_CORE {
		return "", fmt.Errorf("%s: ELF type %v, want ET_CORE", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		if p.Filesz > 64<<20 {
			return "", fmt.Errorf("%s: PT_NOTE of %d bytes", path, p.Filesz)
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			return "", fmt.Errorf("%s: read notes: %w", path, err)
		}
		if desc, ok := findNote(data, "VMCOREINFO"); ok {
			return string(bytes.TrimRight(desc, "\x00")), nil
		}
	}
	return "", fmt.Errorf("%s: no VMCOREINFO note (did the guest run with -device vmcoreinfo and load qemu_fw_cfg?)", path)
}

// findNote returns the descriptor of the first note called name in an ELF
// note segment.
func findNote(b []byte, name string) ([]byte, bool) {
	for len(b) >= 12 {
		namesz := uint64(binary.LittleEndian.Uint32(b[0:]))
		descsz := uint64(binary.LittleEndian.Uint32(b[4:]))
		nameEnd := 12 + namesz
		descStart := 12 + (namesz+3)&^3
		descEnd := descStart + descsz
		next := descStart + (descsz+3)&^3
		if descEnd > uint64(len(b)) || nameEnd > uint64(len(b)) {
			return nil, false
		}
		if strings.TrimRight(string(b[12:nameEnd]), "\x00") == name {
			return b[descStart:descEnd], true
		}
		if next > uint64(len(b)) {
			return nil, false
		}
		b = b[next:]
	}
	return nil, false
}

// ParseVMCOREINFO splits VMCOREINFO text into KEY=VALUE pairs, e.g.
// "OSRELEASE" or "SYMBOL(swapper_pg_dir)".
func ParseVMCOREINFO(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}
