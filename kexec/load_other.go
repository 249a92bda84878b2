//go:build !(linux && (amd64 || arm64 || riscv64 || loong64 || ppc64 || ppc64le || s390x))

package kexec

import (
	"fmt"
	"runtime"
)

// Method names how a capture kernel was loaded or unloaded.
type Method string

// LoadCrash is not supported on this platform.
func LoadCrash(kernel, initrd, cmdline string) (Method, error) {
	return "", fmt.Errorf("kexec load: not supported on %s/%s", runtime.GOOS, runtime.GOARCH)
}

// UnloadCrash is not supported on this platform.
func UnloadCrash() (Method, error) {
	return "", fmt.Errorf("kexec unload: not supported on %s/%s", runtime.GOOS, runtime.GOARCH)
}
