// Command guestload is the workload of the real-kernel test corpus. It runs
// inside a QEMU guest (a static binary started by the initramfs /init) and
// reserves 2 MiB hugetlb pages and fills most of them, then fills memory
// with page cache (by reading every file under a directory on a
// real block device), tmpfs files, anonymous memory with non-zero data and
// anonymous pages written with zeros, leaving the rest free. Then it prints
// the ready line the host waits for and sleeps until the host dumps and
// stops the guest.
//
// It is test infrastructure built by internal/corpus, not a tool for users.
package main
