//go:build linux && (amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le || s390x)

package kexec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFallbackOnlyOnENOSYS replaces the system call: ENOSYS runs the
// kexec program (a script recording its arguments here), any other error
// is explained and the program is not run.
func TestFallbackOnlyOnENOSYS(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "args")
	script := filepath.Join(dir, "kexec")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+log+"\n"), 0o755)
	kernel := filepath.Join(dir, "vmlinuz")
	initrd := filepath.Join(dir, "initrd")
	os.WriteFile(kernel, []byte("k"), 0o644)
	os.WriteFile(initrd, []byte("i"), 0o644)
	oldCall, oldBin := kexecFileLoad, KexecBinary
	t.Cleanup(func() { kexecFileLoad, KexecBinary = oldCall, oldBin })
	KexecBinary = script

	var gotFlags []int
	kexecFileLoad = func(kfd, ifd int, cmdline string, flags int) error {
		gotFlags = append(gotFlags, flags)
		return unix.ENOSYS
	}
	if m, err := LoadCrash(kernel, initrd, "console=ttyS0 nr_cpus=1"); err != nil || m != MethodBinary {
		t.Fatalf("load: %v, %v", m, err)
	}
	if m, err := UnloadCrash(); err != nil || m != MethodBinary {
		t.Fatalf("unload: %v, %v", m, err)
	}
	b, _ := os.ReadFile(log)
	want := "-p " + kernel + " --command-line=console=ttyS0 nr_cpus=1 --initrd=" + initrd + "\n-p -u\n"
	if string(b) != want {
		t.Errorf("kexec ran with\n%s\nwant\n%s", b, want)
	}
	if len(gotFlags) != 2 || gotFlags[0] != unix.KEXEC_FILE_ON_CRASH || gotFlags[1] != unix.KEXEC_FILE_UNLOAD|unix.KEXEC_FILE_ON_CRASH {
		t.Errorf("flags %#v", gotFlags)
	}

	os.Remove(log)
	kexecFileLoad = func(int, int, string, int) error { return unix.EKEYREJECTED }
	_, err := LoadCrash(kernel, "", "x")
	if !errors.Is(err, syscall.EKEYREJECTED) || !strings.Contains(err.Error(), "refused the signature of "+kernel) {
		t.Errorf("signature error: %v", err)
	}
	if _, err := os.Stat(log); err == nil {
		t.Error("kexec program ran for a non-ENOSYS error")
	}
	kexecFileLoad = func(kfd, ifd int, cmdline string, flags int) error {
		if ifd != -1 || flags != unix.KEXEC_FILE_ON_CRASH|unix.KEXEC_FILE_NO_INITRAMFS {
			t.Errorf("no initrd: fd %d flags %#x", ifd, flags)
		}
		return nil
	}
	if m, err := LoadCrash(kernel, "", "x"); err != nil || m != MethodFileLoad {
		t.Errorf("load without initrd: %v %v", m, err)
	}
	if _, err := LoadCrash(filepath.Join(dir, "missing"), "", "x"); err == nil {
		t.Error("missing kernel accepted")
	}
}
