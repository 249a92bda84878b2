// Package vmcore opens any memory dump kdumpkit understands and presents it
// as one Dump: physical pages by pfn, which pages exist, which the file
// holds, the ELF notes and the VMCOREINFO text.
//
// Open detects the container by its magic: an ELF core (/proc/vmcore,
// QEMU's dump-guest-memory, makedumpfile -E), a kdump-compressed file
// (makedumpfile, QEMU -z/-l/-s), a flattened stream (makedumpfile -F) of
// either, or a --split set. Everything above this package (filtering,
// writing, dmesg) sees only the Dump.
//
// It does not interpret memory contents; that is package kernel's job.
package vmcore
