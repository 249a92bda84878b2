// Package initramfs builds kdumpkit's capture initramfs: a cpio "newc"
// archive, compressed with zstd or gzip as the capture kernel supports,
// holding the static capture-init binary as /init, the effective kdump
// config, the SSH key and known_hosts for ssh targets, hooks and extra
// programs with their shared libraries, and the kernel modules (with
// firmware where a driver names it) that the capture kernel needs to reach
// the dump target.
//
// Building is split in two. Plan looks at the host (a root directory, "/"
// in production, a fixture tree in tests): it resolves the dump target's
// block device or network interface through /sys to the drivers behind
// it, computes the module closure from the capture kernel's modules.dep,
// modules.alias, modules.builtin and modules.softdep, and returns the
// sorted list of archive entries. Write turns a Plan into bytes with fixed
// inode numbers, owners and times, so equal inputs give equal images.
// Build adds the rebuild decision: it hashes the content of every input
// (not mtimes) and rewrites the image only when that hash changes.
//
// The layout inside the image is the contract with capture-init; see the
// Path constants. Everything the capture side must know is resolved here,
// at build time, so the capture kernel never probes or guesses.
//
// It does not parse kdump.conf (package kdumpconf), decide which device is
// the target (the caller names it), or load the image (package kexec).
package initramfs
