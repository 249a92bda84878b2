// Package kdumpfile reads the kdump-compressed dump format written by
// makedumpfile (and QEMU's dump-guest-memory -z/-l/-s): the disk_dump_header,
// the kdump_sub_header, the RAM and "dumped" bitmaps, the page descriptors
// and the compressed pages they point to. It also reads sets of files made
// with makedumpfile --split (OpenSet) and the flattened format of
// makedumpfile -F (OpenFlattened gives a random-access view, Rearrange does
// what makedumpfile -R does).
//
// It only understands the container. ELF notes and VMCOREINFO are handed out
// as raw bytes for package elfcore and the kernel packages to parse; the
// write side lives elsewhere. Only the 64-bit little-endian layout (x86_64
// and other LP64 LE machines) is supported.
//
// # Security
//
// Dump files come from crashed machines and from strangers; the parsers
// treat every byte as hostile. Every field is checked before use, offsets
// and sizes go through overflow-checked arithmetic and are checked against
// the file size before anything is allocated, malformed input yields an
// error (a *FormatError for structural problems, naming the file offset),
// and no input makes the package panic.
package kdumpfile
