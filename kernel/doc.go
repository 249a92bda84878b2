// Package kernel answers what a dump says about the kernel that crashed.
// For now that is the VMCOREINFO note: the kernel's own list of symbol
// addresses, structure sizes and member offsets, page flag numbers, release
// and crash time, which is all a dump tool may rely on without a debug
// vmlinux. With those and the kernel's page tables it reads the kernel log
// (ReadLog: the lockless printk ring buffer of 5.10+, the printk_log records
// of 3.5 to 5.9 and the plain log_buf before) and writes it as makedumpfile
// --dump-dmesg does (Log.WriteDmesg).
//
// It does not read dump files itself; callers pass the note text they got
// from package vmcore.
package kernel
