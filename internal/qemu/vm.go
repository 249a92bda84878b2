package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Drive is a disk attached to the guest as a virtio block device
// (/dev/vda, /dev/vdb, ... in attachment order).
type Drive struct {
	Path     string
	Format   string // "raw" if empty
	ReadOnly bool
}

// Config describes a VM.
type Config struct {
	Binary    string // qemu-system-x86_64 if empty
	CPU       string // -cpu model, e.g. "qemu64,-cx16"; QEMU's default if empty
	SMP       int    // vCPUs; 1 if zero
	MemoryMiB int    // guest RAM; 1024 if zero
	Kernel    string // -kernel
	Initrd    string // -initrd, optional
	Append    string // kernel command line
	Drives    []Drive
	// VMCoreInfo adds -device vmcoreinfo so that dump-guest-memory writes a
	// VMCOREINFO note (the guest must load qemu_fw_cfg).
	VMCoreInfo bool
	// ConsoleLog, if set, receives a copy of everything the guest writes to
	// its serial console.
	ConsoleLog string
	// Dir holds the QMP socket; a temporary directory if empty.
	Dir string
	// Extra arguments appended to the QEMU command line.
	Extra []string
}

// VM is a running QEMU process.
type VM struct {
	cmd     *exec.Cmd
	args    []string
	qmpPath string
	tmpDir  string // removed on Close if we created it

	console *console
	stderr  *tailBuffer
	logFile *os.File

	exited  chan struct{} // closed when the process has exited
	waitErr error         // valid after exited is closed

	qmpMu sync.Mutex
	qmp   *QMP

	closeOnce sync.Once
}

// Args returns the QEMU command line for cfg, with the QMP socket at qmpPath.
func Args(cfg Config, qmpPath string) []string {
	smp := cfg.SMP
	if smp == 0 {
		smp = 1
	}
	mem := cfg.MemoryMiB
	if mem == 0 {
		mem = 1024
	}
	a := []string{
		"-accel", "tcg",
		"-nodefaults",
		"-display", "none",
		"-no-reboot",
		"-m", strconv.Itoa(mem),
		"-smp", strconv.Itoa(smp),
		"-serial", "stdio",
		"-qmp", "unix:" + qmpPath + ",server=on,wait=off",
	}
	if cfg.CPU != "" {
		a = append(a, "-cpu", cfg.CPU)
	}
	if cfg.Kernel != "" {
		a = append(a, "-kernel", cfg.Kernel)
	}
	if cfg.Initrd != "" {
		a = append(a, "-initrd", cfg.Initrd)
	}
	if cfg.Append != "" {
		a = append(a, "-append", cfg.Append)
	}
	for _, d := range cfg.Drives {
		format := d.Format
		if format == "" {
			format = "raw"
		}
		spec := "file=" + d.Path + ",format=" + format + ",if=virtio"
		if d.ReadOnly {
			spec += ",readonly=on"
		}
		a = append(a, "-drive", spec)
	}
	if cfg.VMCoreInfo {
		a = append(a, "-device", "vmcoreinfo")
	}
	return append(a, cfg.Extra...)
}

// Start starts QEMU. The process is killed when ctx ends or Close is
// called, whichever comes first.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	bin := cfg.Binary
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	vm := &VM{exited: make(chan struct{}), console: newConsole(), stderr: &tailBuffer{max: 64 << 10}}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "kdumpkit-qemu-")
		if err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
		dir, vm.tmpDir = d, d
	}
	vm.qmpPath = filepath.Join(dir, "qmp.sock")
	os.Remove(vm.qmpPath)
	vm.args = Args(cfg, vm.qmpPath)

	var out io.Writer = vm.console
	if cfg.ConsoleLog != "" {
		f, err := os.Create(cfg.ConsoleLog)
		if err != nil {
			vm.cleanup()
			return nil, fmt.Errorf("qemu: console log: %w", err)
		}
		vm.logFile = f
		out = io.MultiWriter(f, vm.console)
	}
	vm.cmd = exec.Command(bin, vm.args...)
	vm.cmd.Stdin = nil
	vm.cmd.Stdout = out
	vm.cmd.Stderr = vm.stderr
	if err := vm.cmd.Start(); err != nil {
		vm.cleanup()
		return nil, fmt.Errorf("qemu: start %s: %w", bin, err)
	}
	go func() {
		vm.waitErr = vm.cmd.Wait()
		vm.console.close()
		close(vm.exited)
	}()
	go func() {
		select {
		case <-ctx.Done():
			vm.kill()
		case <-vm.exited:
		}
	}()
	return vm, nil
}

// PID returns the QEMU process ID.
func (vm *VM) PID() int { return vm.cmd.Process.Pid }

// CommandLine returns the QEMU arguments, for logs and manifests.
func (vm *VM) CommandLine() []string {
	return append([]string{vm.cmd.Path}, vm.args...)
}

// QMPPath returns the path of the QMP socket.
func (vm *VM) QMPPath() string { return vm.qmpPath }

// Console returns everything the guest has written to the serial console
// so far.
func (vm *VM) Console() string { return vm.console.text() }

// Stderr returns the last bytes QEMU wrote to its standard error.
func (vm *VM) Stderr() string { return vm.stderr.String() }

// Exited is closed when the QEMU process has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// Lines returns the complete console lines so far, each with the host time
// it arrived: the harness measures guest events (panic, capture start, dump
// saved) on the host clock, since the capture kernel's clock restarts.
func (vm *VM) Lines() []Line { return vm.console.snapshot() }

// WaitConsole waits until a console line not consumed by an earlier
// WaitConsole call matches re, and returns it. It fails if ctx ends or QEMU
// exits first; the error includes the end of the console output.
func (vm *VM) WaitConsole(ctx context.Context, re *regexp.Regexp) (string, error) {
	line, err := vm.console.wait(ctx, re)
	if err != nil {
		return "", fmt.Errorf("qemu: waiting for console line %q: %w\n--- console tail ---\n%s\n--- qemu stderr ---\n%s",
			re, err, tail(vm.Console(), 3000), vm.Stderr())
	}
	return line, nil
}

// WaitConsoleString is WaitConsole for a line containing s.
func (vm *VM) WaitConsoleString(ctx context.Context, s string) (string, error) {
	return vm.WaitConsole(ctx, regexp.MustCompile(regexp.QuoteMeta(s)))
}

// QMP returns a QMP client connected to the VM, connecting and doing the
// capabilities handshake on the first call.
func (vm *VM) QMP(ctx context.Context) (*QMP, error) {
	vm.qmpMu.Lock()
	defer vm.qmpMu.Unlock()
	if vm.qmp != nil {
		return vm.qmp, nil
	}
	c, err := DialQMP(ctx, vm.qmpPath)
	if err != nil {
		return nil, err
	}
	vm.qmp = c
	return c, nil
}

// Wait waits for QEMU to exit by itself and returns its exit error.
func (vm *VM) Wait(ctx context.Context) error {
	select {
	case <-vm.exited:
		if vm.waitErr != nil {
			return fmt.Errorf("qemu: %w: %s", vm.waitErr, strings.TrimSpace(vm.Stderr()))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("qemu: waiting for exit: %w", ctx.Err())
	}
}

// Quit asks QEMU to exit through QMP and waits for it; it kills the process
// if that does not work before ctx ends.
func (vm *VM) Quit(ctx context.Context) error {
	q, err := vm.QMP(ctx)
	if err == nil {
		err = q.Execute(ctx, "quit", nil, nil)
	}
	if err == nil {
		err = vm.Wait(ctx)
	}
	if err != nil {
		vm.kill()
		<-vm.exited
	}
	return err
}

// Close kills QEMU if it is still running, waits for it to exit and
// removes temporary files. It is safe to call more than once.
func (vm *VM) Close() error {
	vm.closeOnce.Do(func() {
		vm.kill()
		<-vm.exited
		vm.qmpMu.Lock()
		if vm.qmp != nil {
			vm.qmp.Close()
		}
		vm.qmpMu.Unlock()
		vm.cleanup()
	})
	return nil
}

// kill sends SIGKILL to the QEMU process (by its own PID only).
func (vm *VM) kill() {
	select {
	case <-vm.exited:
	default:
		vm.cmd.Process.Kill()
	}
}

func (vm *VM) cleanup() {
	if vm.logFile != nil {
		vm.logFile.Close()
	}
	if vm.tmpDir != "" {
		os.RemoveAll(vm.tmpDir)
	}
}

// console collects serial output as lines and wakes waiters.
type console struct {
	mu      sync.Mutex
	buf     bytes.Buffer // all output
	lines   []string     // complete lines, without "\r\n"
	times   []time.Time  // when each line was complete, by index
	partial []byte
	cursor  int           // first line not consumed by wait
	changed chan struct{} // closed and replaced when lines grow or on close
	done    bool
}

func newConsole() *console { return &console{changed: make(chan struct{})} }

func (c *console) Write(p []byte) (int, error) {
	n := len(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	grew := false
	now := time.Now()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.partial = append(c.partial, p...)
			break
		}
		line := append(c.partial, p[:i]...)
		c.lines = append(c.lines, strings.TrimRight(string(line), "\r"))
		c.times = append(c.times, now)
		c.partial = c.partial[:0]
		p = p[i+1:]
		grew = true
	}
	if grew {
		close(c.changed)
		c.changed = make(chan struct{})
	}
	return n, nil
}

func (c *console) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.lines = append(c.lines, strings.TrimRight(string(c.partial), "\r"))
		c.times = append(c.times, time.Now())
		c.partial = nil
	}
	c.done = true
	close(c.changed)
	c.changed = make(chan struct{})
}

// Line is one console line and the host time it was complete.
type Line struct {
	Time time.Time
	Text string
}

func (c *console) snapshot() []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Line, len(c.lines))
	for i := range c.lines {
		out[i] = Line{Time: c.times[i], Text: c.lines[i]}
	}
	return out
}

func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

var errExited = errors.New("qemu exited")

func (c *console) wait(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		c.mu.Lock()
		for i := c.cursor; i < len(c.lines); i++ {
			if re.MatchString(c.lines[i]) {
				c.cursor = i + 1
				c.mu.Unlock()
				return c.lines[i], nil
			}
		}
		done, changed := c.done, c.changed
		c.mu.Unlock()
		if done {
			return "", errExited
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
