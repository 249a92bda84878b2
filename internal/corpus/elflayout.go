package corpus

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// ELF64 header field offsets and sizes used by fixELFLayout.
const (
	elf64EhdrSize  = 64
	elf64PhdrSize  = 56
	offPhoff       = 0x20
	offShoff       = 0x28
	offEhsize      = 0x34
	offPhentsize   = 0x36
	offPhnum       = 0x38
	offShentsize   = 0x3a
	offShnum       = 0x3c
	offShstrndx    = 0x3e
	phdrOffsetWord = 8 // p_offset within a program header
)

// fixELFLayout copies the ELF core file src to dst with its program header
// table moved to right after the ELF header and the section header table
// dropped. The notes and memory are byte for byte the same.
//
// QEMU 7.2's dump-guest-memory puts section headers between the ELF header
// and the program headers (and writes e_ehsize 8), but makedumpfile 1.7.2
// reads program header i at offset 64+56*i whatever e_phoff says, so it
// finds no PT_LOAD in QEMU's file. The copy is what the kernel's
// /proc/vmcore layout looks like and what makedumpfile can read.
func fixELFLayout(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	ehdr := make([]byte, elf64EhdrSize)
	if _, err := io.ReadFull(in, ehdr); err != nil {
		return fmt.Errorf("%s: read ELF header: %w", src, err)
	}
	if string(ehdr[:4]) != "\x7fELF" || ehdr[4] != 2 || ehdr[5] != 1 {
		return fmt.Errorf("%s: not a little-endian ELF64 file", src)
	}
	le := binary.LittleEndian
	phoff := le.Uint64(ehdr[offPhoff:])
	phentsize := le.Uint16(ehdr[offPhentsize:])
	phnum := uint64(le.Uint16(ehdr[offPhnum:]))
	if phentsize != elf64PhdrSize || phnum == 0 || phnum == 0xffff {
		return fmt.Errorf("%s: unsupported program headers: e_phentsize %d, e_phnum %d", src, phentsize, phnum)
	}
	phdrs := make([]byte, phnum*elf64PhdrSize)
	if _, err := in.ReadAt(phdrs, int64(phoff)); err != nil {
		return fmt.Errorf("%s: read program headers at %#x: %w", src, phoff, err)
	}
	end := uint64(elf64EhdrSize) + uint64(len(phdrs))
	for i := uint64(0); i < phnum; i++ {
		if off := le.Uint64(phdrs[i*elf64PhdrSize+phdrOffsetWord:]); off < end {
			return fmt.Errorf("%s: segment %d at %#x overlaps the moved program headers (end %#x)", src, i, off, end)
		}
	}

	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		out.Close()
		return err
	}
	// *os.File to *os.File uses copy_file_range where it can.
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	le.PutUint64(ehdr[offPhoff:], elf64EhdrSize)
	le.PutUint64(ehdr[offShoff:], 0)
	le.PutUint16(ehdr[offEhsize:], elf64EhdrSize)
	le.PutUint16(ehdr[offShentsize:], 0)
	le.PutUint16(ehdr[offShnum:], 0)
	le.PutUint16(ehdr[offShstrndx:], 0)
	hdr := append(ehdr, phdrs...)
	// Zero what lay between the new table's end and the old table's end so
	// that no stale section header bytes remain in the header area.
	if old := phoff + uint64(len(phdrs)); old > end {
		hdr = append(hdr, make([]byte, old-end)...)
	}
	if _, err := out.WriteAt(hdr, 0); err != nil {
		out.Close()
		return fmt.Errorf("%s: write headers: %w", dst, err)
	}
	return out.Close()
}
