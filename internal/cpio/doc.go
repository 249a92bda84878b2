// Package cpio writes cpio archives in the "newc" (SVR4, magic 070701)
// format, the only format the Linux kernel unpacks as an initramfs.
//
// It is a writer only: it builds initramfs images for test guests and, later,
// capture initramfs images. It does not read archives and does not compress
// them; wrap the destination in a compressor if one is wanted.
package cpio
