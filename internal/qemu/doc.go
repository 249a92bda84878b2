// Package qemu runs qemu-system-x86_64 guests for tests: it starts a VM
// with a kernel, initramfs and optional virtio disks, copies the serial
// console to a log file while letting callers wait for a line, talks QMP
// (the JSON machine protocol) over a unix socket, and kills the QEMU process
// by its PID when a context ends or the VM is closed.
//
// It uses TCG only: KVM hangs on the machines this project tests on. It is
// test infrastructure, not part of the dump tools.
package qemu
