// Package oracle runs independent readers of dump files (libkdumpfile
// through its Python binding, the C makedumpfile) for tests that compare
// kdumpkit's reads with theirs. It is test support, not product code.
//
// MakedumpfileFor picks the C makedumpfile that filters a kernel release
// correctly: Debian 12's 1.7.2 for 6.1 and older, Debian sid's (1.7.8) for
// newer kernels, run from a debootstrap chroot in the cache directory that
// SidMakedumpfile creates on first use. ParseStats reads its --show-stats
// report.
package oracle
