//go:build linux

package kexec

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestExplain(t *testing.T) {
	c := LoadContext{Kernel: "/boot/vmlinuz-6.1", KernelBytes: 7 << 20, InitrdBytes: 90 << 20, State: State{ReservedBytes: 64 << 20}}
	tests := []struct {
		name string
		err  error
		c    LoadContext
		want string
	}{
		{"too small", syscall.ENOMEM, c, "crashkernel reservation too small: initramfs 90 MiB + kernel 7 MiB > reservation 64 MiB"},
		{"fits on paper", syscall.ENOMEM, LoadContext{KernelBytes: 7 << 20, InitrdBytes: 3 << 20, State: State{ReservedBytes: 12 << 20}},
			"initramfs 3 MiB + kernel 7 MiB fit in the reservation of 12 MiB"},
		{"no reservation", syscall.EINVAL, LoadContext{}, "no memory is reserved"},
		{"signature", syscall.EKEYREJECTED, LoadContext{Kernel: "/k", State: State{Lockdown: "integrity"}}, "refused the signature of /k: with Secure Boot or lockdown (lockdown=integrity)"},
		{"lockdown", syscall.EPERM, LoadContext{State: State{Lockdown: "confidentiality"}}, "locked down (confidentiality)"},
		{"disabled", syscall.EPERM, LoadContext{State: State{KexecLoadDisabled: true, Lockdown: "integrity"}}, "kexec_load_disabled"},
		{"not root", syscall.EPERM, LoadContext{}, "CAP_SYS_BOOT"},
		{"busy", syscall.EBUSY, LoadContext{}, "another kexec load"},
		{"not a kernel", syscall.ENOEXEC, LoadContext{Kernel: "/x"}, "/x is not a kernel image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Explain("load", tt.err, tt.c)
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v does not wrap %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
	if Explain("load", nil, c) != nil {
		t.Error("Explain(nil) != nil")
	}
}
