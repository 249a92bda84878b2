// Package corpus builds and finds the real-kernel dump corpus: dumps of a
// Debian 6.1 cloud kernel booted in QEMU (TCG) under a workload that fills
// memory with page cache, tmpfs, anonymous and zero pages. The corpus holds
// QEMU's ELF dump (with the VMCOREINFO note), QEMU's kdump-compressed dumps
// (zlib, lzo, snappy) and Debian's C makedumpfile outputs of the ELF at
// several dump levels and formats (kdump, flattened, ELF, split, incomplete),
// all described by manifest.json. docs/corpus.md lists the files.
//
// Tests call Ensure to get the corpus, which builds it on first use (a few
// minutes) under a file lock; `make corpus` builds it with
// internal/cmd/mkcorpus. The corpus lives in the cache directory
// ($KDUMPKIT_CACHE, default /var/cache/kdumpkit), never in the source tree.
//
// It is test infrastructure only: it shells out to apt-get, dpkg-deb,
// depmod, mkfs.ext4, go, qemu-system-x86_64 and makedumpfile.
package corpus
