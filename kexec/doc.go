// Package kexec loads and unloads the capture (crash) kernel and reports
// whether one is loaded.
//
// Loading uses kexec_file_load(2) with KEXEC_FILE_ON_CRASH only: the kernel
// then verifies the image itself (so it works under lockdown and Secure
// Boot), builds the ELF core headers for /proc/vmcore from its own memory
// map and passes elfcorehdr= to the capture kernel. The kexec-tools binary
// (`kexec -p`) is a fallback for kernels without that system call (ENOSYS)
// and nothing else. Errors are translated into sentences a host owner can
// act on (signature rejected, lockdown, reservation too small).
//
// CaptureCmdline builds the capture kernel's command line from the running
// kernel's; it is a pure function. State reads /sys/kernel/kexec_crash_loaded
// and /sys/kernel/kexec_crash_size from any fs.FS, so callers and tests can
// use fixture trees. Only the *_linux.go files touch the real system.
//
// It does not build the initramfs (package initramfs), size or change the
// crashkernel= reservation (package crashkernel), or reboot into a kernel.
package kexec
