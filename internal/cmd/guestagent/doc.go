// Command guestagent is /init of the first (crashing) kernel in the
// end-to-end tests (test/e2e): it mounts the pseudo file systems, loads
// the modules listed in its configuration, arms the capture kernel (with
// `kdumpctl start` when the initramfs has kdumpctl, else by loading it
// itself with kexec_file_load and KEXEC_FILE_ON_CRASH), fills memory with a
// workload (anonymous pages, tmpfs page cache, zero pages) so the dump
// levels have something to drop, and panics the kernel with
// `echo c > /proc/sysrq-trigger`.
//
// It prints marker lines (Marker*) the host harness waits for. It is test
// infrastructure, not a tool for users.
package main
