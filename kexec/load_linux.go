//go:build linux && (amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le || s390x)

package kexec

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// Method names how a capture kernel was loaded or unloaded.
type Method string

const (
	MethodFileLoad Method = "kexec_file_load"
	MethodBinary   Method = "kexec -p"
)

// kexecFileLoad is the system call; tests replace it to reach the
// ENOSYS fallback.
var kexecFileLoad = unix.KexecFileLoad

// KexecBinary is the kexec-tools program used when kexec_file_load is
// missing (ENOSYS). It is looked up in PATH.
var KexecBinary = "kexec"

// LoadCrash loads kernel and initrd (may be "") as the capture kernel with
// the given command line. It replaces a capture kernel already loaded.
func LoadCrash(kernel, initrd, cmdline string) (Method, error) {
	st, _ := ReadState(os.DirFS("/"))
	c := LoadContext{Kernel: kernel, Initrd: initrd, State: st}
	kf, err := os.Open(kernel)
	if err != nil {
		return "", fmt.Errorf("kexec load: %w", err)
	}
	defer kf.Close()
	if fi, err := kf.Stat(); err == nil {
		c.KernelBytes = fi.Size()
	}
	initrdFd, flags := -1, unix.KEXEC_FILE_ON_CRASH
	if initrd == "" {
		flags |= unix.KEXEC_FILE_NO_INITRAMFS
	} else {
		f, err := os.Open(initrd)
		if err != nil {
			return "", fmt.Errorf("kexec load: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			c.InitrdBytes = fi.Size()
		}
		initrdFd = int(f.Fd())
	}
	err = kexecFileLoad(int(kf.Fd()), initrdFd, cmdline, flags)
	if errors.Is(err, unix.ENOSYS) {
		args := []string{"-p", kernel, "--command-line=" + cmdline}
		if initrd != "" {
			args = append(args, "--initrd="+initrd)
		}
		return MethodBinary, runKexec(args...)
	}
	if err != nil {
		return MethodFileLoad, Explain("load", err, c)
	}
	return MethodFileLoad, nil
}

// UnloadCrash unloads the capture kernel. Unloading when none is loaded
// succeeds. Under lockdown only the file system call may unload, which is
// why it comes first.
func UnloadCrash() (Method, error) {
	err := kexecFileLoad(-1, -1, "", unix.KEXEC_FILE_UNLOAD|unix.KEXEC_FILE_ON_CRASH)
	if errors.Is(err, unix.ENOSYS) {
		return MethodBinary, runKexec("-p", "-u")
	}
	if err != nil {
		st, _ := ReadState(os.DirFS("/"))
		return MethodFileLoad, Explain("unload", err, LoadContext{State: st})
	}
	return MethodFileLoad, nil
}

func runKexec(args ...string) error {
	path, err := exec.LookPath(KexecBinary)
	if err != nil {
		return &LoadError{Op: "load", Err: err, Reason: "kexec_file_load is missing from this kernel (ENOSYS) and the kexec-tools program is not installed"}
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return &LoadError{Op: "load", Err: fmt.Errorf("%s %v: %w", path, args, err), Reason: string(out)}
	}
	return nil
}
