// Package e2e is kdumpkit's end-to-end harness: it boots a real Debian
// kernel in QEMU (TCG) with crashkernel= reserved, lets a guest agent arm
// the capture kernel and panic the machine with sysrq, lets capture-init
// save the dump to a virtio disk (and, as they are wired, over SSH and NFS),
// collects the files on the host and checks them with independent readers:
// `vmcore verify`, crash (log and bt show the sysrq panic), drgn (finds the
// crashed thread) and the C makedumpfile --dump-dmesg. It measures panic →
// capture-init start, the dump's duration, panic → saved, capture-init's
// peak memory and the capture initramfs size.
//
// The tests run only with KDUMPKIT_E2E=1 (make e2e); e2erun is the
// command-line front end used by make demo and make e2e-min-crashkernel.
// It is test infrastructure, not part of the tools. docs/e2e.md describes
// it.
package e2e
