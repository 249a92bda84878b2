// Package targets is where dump bytes land: a directory on a local
// filesystem (mounted by device path, UUID= or LABEL=), an NFS export
// mounted with mount(2), a directory on an SSH server (SFTP with seekable
// writes, or exec of dd with a flattened stream when the server has no SFTP
// subsystem), or a raw block device holding one flattened dump.
//
// A Target is a directory tree with a small set of operations (mkdir,
// create, rename without clobbering, list, free space). Begin lays out one
// dump directory on it, <host-ip>-<YYYY-mm-dd-HH:MM:SS>, after a free-space
// check; the vmcore is written as vmcore-incomplete and renamed only after
// it is synced. Files are 0600 and directories 0700. Nothing here ever
// overwrites or deletes a dump except Prune, which removes only complete
// dumps of the same host beyond the number to keep, and
// Dump.RecreateVmcore, which replaces the vmcore-incomplete of a failed
// attempt of the same dump (makedumpfile's retry at the next -d level).
//
// The package does not produce dump data (package dump does), bring up the
// network or load kernel modules (cmd/capture-init does), or parse
// kdump.conf (package kdumpconf).
package targets
