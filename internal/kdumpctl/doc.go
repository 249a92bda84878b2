// Package kdumpctl is the logic behind the kdumpctl command: it reads
// kdump.conf, resolves the dump target on the running system, builds the
// capture initramfs when its inputs change, loads or unloads the capture
// kernel, reports status, sizes the reservation, and runs the end-to-end
// test whose result the next status shows.
//
// Every path is resolved under Env.Root ("/" in production), and the
// kexec calls go through Env.Loader, so the tests run unprivileged on
// fixture trees; the real loader is package kexec's. cmd/kdumpctl only
// parses flags and calls the methods here.
//
// It is not the capture side (cmd/capture-init) and it does not parse
// kdump.conf itself (package kdumpconf) or build images itself (package
// initramfs).
package kdumpctl
