// Package crashkernel handles the crashkernel= kernel parameter and the
// memory it reserves: parsing and printing its values (sizes with K..E
// suffixes, size@offset, range lists with exclusive ends, ,high ,low
// ,cma), working out what a command line reserves on a machine exactly as
// the kernel's parse_crashkernel does (Resolve, Spec.SizeFor), reading the
// running reservation (/sys/kernel/kexec_crash_size,
// /sys/kernel/kexec_crash_loaded, the "Crash kernel" lines of
// /proc/iomem), kdumpkit's default values (Default), a size model for the
// capture kernel (EstimateSize, with its constants in Calibration), the
// bootloader change behind kdumpctl reset-crashkernel (a GRUB drop-in or
// grubby command lines) and shrinking an oversized reservation.
//
// Everything that reads the system has a twin taking an fs.FS or a root
// directory (ReadReservation, ReadCmdline, ReadSystemRAM, ShrinkAt,
// WriteGrubDropIn) so tests run unprivileged on fixture trees; the thin
// wrappers on the live system (Current, RunningCmdline, Shrink,
// ApplyBootloader) are in system_linux.go.
//
// It does not load kernels (package kexec does), build the initramfs
// whose size feeds the estimate (package initramfs), or decide when to
// act (cmd/kdumpctl).
package crashkernel
