// Package elfcore reads ELF64 core files of the kind the kernel exports as
// /proc/vmcore and QEMU writes with dump-guest-memory: program headers,
// PT_LOAD memory ranges and PT_NOTE notes (VMCOREINFO, NT_PRSTATUS).
//
// It is not a general ELF library: there are no sections, symbols or
// relocations, only what a memory dump needs. Physical memory is addressed
// by p_paddr; virtual addresses are left to package kernel.
//
// # Security
//
// Input is treated as hostile. Every offset and size taken from the file is
// checked against the file size and against fixed caps before anything is
// allocated, and errors name the file offset that was wrong.
package elfcore
