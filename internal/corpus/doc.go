// Package corpus builds and finds the real-kernel dump corpora: dumps of a
// Debian cloud kernel (6.1 from bookworm, or 6.12 from bookworm-backports)
// booted in QEMU (TCG) under a workload that fills memory with page cache,
// tmpfs, anonymous, zero and hugetlb pages. A corpus holds QEMU's ELF dump
// (with the VMCOREINFO note), QEMU's kdump-compressed dumps and the outputs
// of the C makedumpfile that is the filtering oracle for that kernel
// (Debian 12's 1.7.2 for 6.1, sid's 1.7.8 from a chroot for 6.12) at every
// dump level of interest, with its --show-stats page counts per class, all
// described by manifest.json. docs/corpus.md lists the files.
//
// Tests call Ensure (6.1) or EnsureWith(tb, Options{Kernel: Kernel612}) to
// get a corpus, which builds it on first use (a few minutes) under a file
// lock; `make corpus` builds the 6.1 one with internal/cmd/mkcorpus. The corpus lives in the cache directory
// ($KDUMPKIT_CACHE, default /var/cache/kdumpkit), never in the source tree.
//
// It is test infrastructure only: it shells out to apt-get, dpkg-deb,
// depmod, mkfs.ext4, go, qemu-system-x86_64 and makedumpfile (and, for
// 6.12, xz, debootstrap, chroot and unshare).
package corpus
