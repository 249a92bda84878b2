// Package kernel answers what a dump says about the kernel that crashed.
// For now that is the VMCOREINFO note: the kernel's own list of symbol
// addresses, structure sizes and member offsets, page flag numbers, release
// and crash time, which is all a dump tool may rely on without a debug
// vmlinux.
//
// It does not read dump files itself; callers pass the note text they got
// from package vmcore.
package kernel
