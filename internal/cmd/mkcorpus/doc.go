// Command mkcorpus builds the real-kernel dump corpus (`make corpus`): it
// boots a Debian cloud kernel (6.1 by default, 6.12 with -kernel 6.12) in
// QEMU under a memory workload, dumps it with QEMU's dump-guest-memory and
// runs the C makedumpfile that knows that kernel (Debian 12's for 6.1,
// sid's from a chroot for 6.12) on the ELF dump. See docs/corpus.md and
// package internal/corpus.
//
// Usage:
//
//	go run ./internal/cmd/mkcorpus [-kernel 6.1|6.12] [-mem MiB] [-package NAME] [-cache DIR] [-cpu MODEL] [-force]
//
// It prints the corpus directory on standard output. Without -force it does
// nothing if the corpus already exists and is complete.
package main
