package qemu

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestConsoleWait(t *testing.T) {
	c := newConsole()
	ctx := context.Background()
	// Lines arrive in pieces and with CRLF, as from a serial port.
	for _, p := range []string{"Linux version 6.1", ".0\r\nfirst", " READY\r\n", "second READY\n", "partial"} {
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		re   string
		want string
	}{
		{`^Linux version`, "Linux version 6.1.0"},
		{`READY$`, "first READY"},
		{`READY$`, "second READY"}, // the first match was consumed
	}
	for _, tt := range tests {
		got, err := c.wait(ctx, regexp.MustCompile(tt.re))
		if err != nil || got != tt.want {
			t.Fatalf("wait(%q) = %q, %v; want %q", tt.re, got, err, tt.want)
		}
	}
	c.close()
	// The partial line counts once the output ends.
	if got, err := c.wait(ctx, regexp.MustCompile(`partial`)); err != nil || got != "partial" {
		t.Fatalf("wait(partial) = %q, %v", got, err)
	}
	if _, err := c.wait(ctx, regexp.MustCompile(`never`)); !errors.Is(err, errExited) {
		t.Fatalf("wait after close: %v, want errExited", err)
	}
}

func TestConsoleWaitCanceled(t *testing.T) {
	c := newConsole()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.wait(ctx, regexp.MustCompile(`x`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestArgs(t *testing.T) {
	got := Args(Config{
		CPU: "qemu64,-cx16", SMP: 1, MemoryMiB: 2048,
		Kernel: "/k", Initrd: "/i", Append: "console=ttyS0",
		Drives:     []Drive{{Path: "/d.img", ReadOnly: true}, {Path: "/e.qcow2", Format: "qcow2"}},
		VMCoreInfo: true,
	}, "/run/q.sock")
	line := strings.Join(got, " ")
	for _, want := range []string{
		"-accel tcg", "-m 2048", "-smp 1", "-cpu qemu64,-cx16", "-kernel /k", "-initrd /i",
		"-append console=ttyS0", "-drive file=/d.img,format=raw,if=virtio,readonly=on",
		"-drive file=/e.qcow2,format=qcow2,if=virtio", "-device vmcoreinfo",
		"-qmp unix:/run/q.sock,server=on,wait=off", "-serial stdio", "-no-reboot",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("args %q lack %q", line, want)
		}
	}
	if slices.Contains(got, "-enable-kvm") {
		t.Error("args enable KVM")
	}
}

// TestQEMUStartQuit starts a real QEMU with no guest, talks QMP and quits.
func TestQEMUStartQuit(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("needs qemu-system-x86_64")
	}
	ctx := context.Background()
	vm, err := Start(ctx, Config{MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	q, err := vm.QMP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		Status string `json:"status"`
	}
	if err := q.Execute(ctx, "query-status", nil, &status); err != nil {
		t.Fatal(err)
	}
	if status.Status == "" {
		t.Error("query-status returned no status")
	}
	formats, err := q.DumpFormats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(formats, "elf") {
		t.Errorf("dump formats %v lack elf", formats)
	}
	if err := vm.Quit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestQEMUCloseKills checks that Close ends a running QEMU.
func TestQEMUCloseKills(t *testing.T) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("needs qemu-system-x86_64")
	}
	vm, err := Start(context.Background(), Config{MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	vm.Close()
	select {
	case <-vm.Exited():
	default:
		t.Fatal("QEMU still running after Close")
	}
}

func TestConsoleLinesTimes(t *testing.T) {
	c := newConsole()
	c.Write([]byte("one\r\ntwo\npart"))
	c.close()
	got := c.snapshot()
	if len(got) != 3 || got[0].Text != "one" || got[1].Text != "two" || got[2].Text != "part" {
		t.Fatalf("lines = %+v", got)
	}
	for i, l := range got {
		if l.Time.IsZero() {
			t.Errorf("line %d has no time", i)
		}
		if i > 0 && l.Time.Before(got[i-1].Time) {
			t.Errorf("line %d is older than line %d", i, i-1)
		}
	}
}
