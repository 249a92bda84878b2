// Package capture is the logic of capture-init, PID 1 of the capture
// initramfs: after a panic the capture kernel runs it to save the crashed
// kernel's memory. Run performs the steps in order (mount the pseudo file
// systems, load modules, run kdump_pre, reach the target, save
// vmcore-dmesg.txt, dump /proc/vmcore as vmcore-incomplete, fsync, rename to
// vmcore, run kdump_post, save kexec-dmesg.log) and ends with the final
// action, or on any failure with kdump_emergency and the failure action.
//
// Everything that touches the machine sits behind the System interface; the
// Linux implementation (NewLinux) is in system_linux.go, so the sequencing
// and failure handling are tested with fakes. It is not a configuration
// parser or a dump engine: it takes a resolved Config and calls package dump.
package capture
