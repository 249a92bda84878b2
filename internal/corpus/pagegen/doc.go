// Package pagegen fills memory with deterministic, non-zero page contents
// of mixed compressibility for the real-kernel test corpus: the workload in
// the guest and the disk image built on the host use it so that dumps hold
// pages that compress well, pages that compress a little and pages that do
// not compress at all.
//
// It favours speed over statistical quality (it runs under QEMU's TCG,
// where every instruction counts) and is not a random number generator for
// any other use.
package pagegen
