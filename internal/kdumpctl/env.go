package kdumpctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/flock"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
	"github.com/kdumpkit/kdumpkit/kexec"
)

// Exit codes shared by the commands.
const (
	ExitOK        = 0
	ExitFailure   = 1
	ExitUsage     = 2
	ExitNotLoaded = 3 // status: no capture kernel loaded (LSB "not running")
)

// Default locations on the running system (inside Env.Root).
const (
	DefaultStateDir    = "/var/lib/kdump"
	DefaultLockFile    = "/run/lock/kdump"
	DefaultCaptureInit = "/usr/lib/kdumpkit/capture-init"
)

// Loader loads and unloads the capture kernel. The real one is
// package kexec's; tests use one that records the calls.
type Loader interface {
	Load(kernel, initrd, cmdline string) (string, error)
	Unload() (string, error)
}

// KexecLoader is the Loader of the running system.
type KexecLoader struct{}

// Load calls kexec.LoadCrash.
func (KexecLoader) Load(kernel, initrd, cmdline string) (string, error) {
	m, err := kexec.LoadCrash(kernel, initrd, cmdline)
	return string(m), err
}

// Unload calls kexec.UnloadCrash.
func (KexecLoader) Unload() (string, error) {
	m, err := kexec.UnloadCrash()
	return string(m), err
}

// Env is where and how kdumpctl runs.
type Env struct {
	Root   string // "/" in production
	Config string // kdump.conf, inside Root; default /etc/kdump.conf
	// KernelRelease of the capture kernel; default the running one.
	KernelRelease string
	// Kernel image of the capture kernel, inside Root; default
	// /boot/vmlinuz-<release>.
	Kernel string
	// CaptureInit is the capture-init binary, inside Root; default
	// /usr/lib/kdumpkit/capture-init, else capture-init next to the
	// running executable.
	CaptureInit string
	StateDir    string // inside Root; default /var/lib/kdump
	LockFile    string // inside Root; default /run/lock/kdump
	Arch        string // GOARCH of the capture kernel
	Loader      Loader
	// InterfaceAddrs lists the addresses of a network interface (the
	// running system's in production), for net_config auto.
	InterfaceAddrs func(name string) ([]netip.Prefix, error)
	// Executable is the running program's path, to find capture-init
	// beside it.
	Executable string
	Now        func() time.Time
	// RunCommand runs a host program (ssh-copy-id, ssh) for propagate;
	// nil runs it with the terminal attached.
	RunCommand func(ctx context.Context, name string, args ...string) error

	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// path returns p (absolute on the target system) under Root.
func (e *Env) path(p string) string {
	if e.Root == "" || e.Root == "/" {
		return p
	}
	return filepath.Join(e.Root, p)
}

func (e *Env) rootFS() fs.FS {
	if e.Root == "" {
		return os.DirFS("/")
	}
	return os.DirFS(e.Root)
}

func (e *Env) configFile() string {
	if e.Config != "" {
		return e.Config
	}
	return kdumpconf.DefaultFile
}

func (e *Env) stateDir() string {
	if e.StateDir != "" {
		return e.StateDir
	}
	return DefaultStateDir
}

func (e *Env) printf(format string, a ...any) { fmt.Fprintf(e.Stdout, format, a...) }

func (e *Env) warnf(format string, a ...any) { fmt.Fprintf(e.Stderr, "kdumpctl: "+format+"\n", a...) }

// LoadConfig parses the config file, printing its warnings.
func (e *Env) LoadConfig() (*kdumpconf.Config, error) {
	name := e.configFile()
	f, err := os.Open(e.path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist: kdumpctl needs a config (see kdump.conf.example)", name)
		}
		return nil, err
	}
	defer f.Close()
	cfg, err := kdumpconf.Parse(f, name)
	for _, w := range cfg.Warnings {
		e.warnf("warning: %s", w)
	}
	return cfg, err
}

// Lock takes the kdumpctl lock, so concurrent runs queue instead of
// loading and unloading over each other. It says so when it has to wait.
func (e *Env) Lock(ctx context.Context) (func(), error) {
	name := e.LockFile
	if name == "" {
		name = DefaultLockFile
	}
	p := e.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	quick, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	unlock, err := flock.Lock(quick, p)
	cancel()
	if err == nil {
		return unlock, nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	e.warnf("another kdumpctl holds %s; waiting", name)
	return flock.Lock(ctx, p)
}

// release returns the capture kernel's release.
func (e *Env) release() (string, error) {
	if e.KernelRelease != "" {
		return e.KernelRelease, nil
	}
	b, err := os.ReadFile(e.path("/proc/sys/kernel/osrelease"))
	if err != nil {
		return "", fmt.Errorf("running kernel release: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (e *Env) kernelImage(release string) string {
	if e.Kernel != "" {
		return e.Kernel
	}
	return "/boot/vmlinuz-" + release
}

// captureInit finds the capture-init binary (a path inside Root).
func (e *Env) captureInit() (string, error) {
	if e.CaptureInit != "" {
		return e.CaptureInit, nil
	}
	cands := []string{DefaultCaptureInit}
	if e.Executable != "" {
		dir := filepath.Dir(e.Executable)
		cands = append(cands, filepath.Join(dir, "capture-init"), filepath.Join(dir, "..", "lib", "kdumpkit", "capture-init"))
	}
	for _, c := range cands {
		if fi, err := os.Stat(e.path(c)); err == nil && fi.Mode().IsRegular() {
			return c, nil
		}
	}
	return "", fmt.Errorf("capture-init not found (looked at %s)", strings.Join(cands, ", "))
}
