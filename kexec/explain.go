//go:build linux

package kexec

import (
	"errors"
	"fmt"
	"syscall"
)

// LoadContext is what Explain needs to turn a failed load into advice.
type LoadContext struct {
	Kernel, Initrd           string // paths of the images
	KernelBytes, InitrdBytes int64  // their sizes
	State                    State  // the crash kernel state before the load
}

// LoadError is a failed load or unload with the reason in words.
type LoadError struct {
	Op     string // "load" or "unload"
	Err    error  // the errno from the kernel or the fallback's failure
	Reason string // what it means and what to do
}

func (e *LoadError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("kexec %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("kexec %s: %v: %s", e.Op, e.Err, e.Reason)
}

func (e *LoadError) Unwrap() error { return e.Err }

const mib = 1 << 20

// Explain wraps an error of kexec_file_load into a LoadError saying what
// it means on this host.
func Explain(op string, err error, c LoadContext) error {
	if err == nil {
		return nil
	}
	le := &LoadError{Op: op, Err: err}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return le
	}
	switch errno {
	case syscall.EKEYREJECTED, syscall.ENOKEY, syscall.EBADMSG, syscall.ENOPKG, syscall.ELIBBAD, syscall.EMSGSIZE:
		le.Reason = fmt.Sprintf("the kernel refused the signature of %s: with Secure Boot or lockdown (%s) "+
			"kexec_file_load only accepts a kernel signed by a key in the kernel's platform, secondary or MOK keyring; "+
			"use the distribution's signed kernel image, or enroll the key that signed this one", c.Kernel, lockdownWord(c.State.Lockdown))
	case syscall.EPERM:
		switch {
		case c.State.KexecLoadDisabled:
			le.Reason = "kernel.kexec_load_disabled is set; it cannot be cleared until reboot, so kexec is off for this boot"
		case c.State.Lockdown == "integrity" || c.State.Lockdown == "confidentiality":
			le.Reason = fmt.Sprintf("the kernel is locked down (%s) and rejected the load; it needs a signed kernel image", c.State.Lockdown)
		default:
			le.Reason = "loading a kernel needs CAP_SYS_BOOT: run as root (and outside a container that drops it)"
		}
	case syscall.EBUSY:
		le.Reason = "another kexec load or unload is running, or the crash kernel is in use; try again"
	case syscall.ENOMEM, syscall.EADDRNOTAVAIL:
		le.Reason = reservationReason(c)
	case syscall.ENOEXEC:
		le.Reason = fmt.Sprintf("%s is not a kernel image this kernel can load with kexec_file_load (x86_64 wants a bzImage, arm64 an Image or zboot PE)", c.Kernel)
	case syscall.ETXTBSY:
		le.Reason = "an image file is open for writing; kexec_file_load refuses files that are being written"
	case syscall.EINVAL:
		if c.State.ReservedBytes == 0 {
			le.Reason = noReservation
		} else {
			le.Reason = "the kernel rejected the arguments (is the initramfs a valid cpio archive and the command line shorter than the limit?)"
		}
	case syscall.ENOENT:
		le.Reason = "an image file disappeared during the load"
	}
	return le
}

const noReservation = "no memory is reserved for a crash kernel: boot with crashkernel= (see `kdumpctl reset-crashkernel`)"

func reservationReason(c LoadContext) string {
	res := c.State.ReservedBytes
	if res == 0 {
		return noReservation
	}
	k, i := roundMiB(c.KernelBytes), roundMiB(c.InitrdBytes)
	if uint64(c.KernelBytes+c.InitrdBytes) > res {
		return fmt.Sprintf("crashkernel reservation too small: initramfs %d MiB + kernel %d MiB > reservation %d MiB",
			i, k, res/mib)
	}
	return fmt.Sprintf("crashkernel reservation too small: initramfs %d MiB + kernel %d MiB fit in the reservation of %d MiB, "+
		"but the kernel's decompressed image, its alignment and the ELF core headers do not; reserve more (see `kdumpctl estimate`)",
		i, k, res/mib)
}

func roundMiB(n int64) int64 { return (n + mib - 1) / mib }

func lockdownWord(mode string) string {
	if mode == "" {
		return "lockdown mode unknown"
	}
	return "lockdown=" + mode
}
