// Package debkernel fetches Debian kernel image packages for tests that boot
// a real kernel in QEMU: it resolves the newest package of a flavour with
// apt-cache, downloads it with apt-get download, extracts it with dpkg-deb
// and runs depmod so modules.dep exists. Results are cached by package name
// and Debian version under a cache directory outside the source tree.
//
// It is test infrastructure, not part of the dump tools: it shells out to
// apt-get, dpkg-deb and depmod and needs network access on a cache miss.
package debkernel
