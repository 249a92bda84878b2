// Command mkcorpus builds the real-kernel dump corpus (`make corpus`): it
// boots a Debian 6.1 cloud kernel in QEMU under a memory workload, dumps it
// with QEMU's dump-guest-memory and runs Debian's makedumpfile on the ELF
// dump. See docs/corpus.md and package internal/corpus.
//
// Usage:
//
//	go run ./internal/cmd/mkcorpus [-mem MiB] [-package NAME] [-cache DIR] [-cpu MODEL] [-force]
//
// It prints the corpus directory on standard output. Without -force it does
// nothing if the corpus already exists and is complete.
package main
