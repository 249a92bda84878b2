package kernel_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/debkernel"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// ourDmesg reads the log of the dump in files with kdumpkit.
func ourDmesg(t *testing.T, opt kernel.LogOptions, callers bool, files ...string) []byte {
	t.Helper()
	d, err := vmcore.OpenFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	vi, err := kernel.ParseVMCOREINFO(d.VMCOREINFO())
	if err != nil {
		t.Fatal(err)
	}
	x, err := kernel.NewX86_64(vi, d)
	if err != nil {
		t.Fatal(err)
	}
	l, err := kernel.ReadLog(vi, x, opt)
	if err != nil {
		t.Fatalf("%s: %v", files[0], err)
	}
	var b bytes.Buffer
	if err := l.WriteDmesg(&b, kernel.DmesgOptions{CallerID: callers}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cDmesg runs a C makedumpfile --dump-dmesg (with extra flags) on src.
func cDmesg(t *testing.T, m *oracle.Makedumpfile, src string, extra ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	// The chroot sees only dir, so the source is linked (or copied) in.
	in := filepath.Join(dir, "vmcore")
	if err := os.Link(src, in); err != nil {
		if err := exec.Command("cp", "--reflink=auto", src, in).Run(); err != nil {
			t.Fatalf("copy %s: %v", src, err)
		}
	}
	args := append(append([]string{"--dump-dmesg"}, extra...), "vmcore", "dmesg.txt")
	cmd, err := m.Command(context.Background(), dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", m, args, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "dmesg.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameLog(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		t.Logf("%s: byte-identical, %d lines, %d bytes", what, bytes.Count(got, []byte("\n")), len(got))
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Fatalf("%s: line %d differs:\nours:   %q\ntheirs: %q", what, i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("%s: ours has %d lines, theirs %d", what, len(gl), len(wl))
}

// TestCorpusDmesg61 is the acceptance test: on the real 6.1 dump our log
// is byte-identical to Debian 12's C makedumpfile 1.7.2 --dump-dmesg (no
// caller field) and --partial-dmesg, read from the ELF core and from the
// kdump-compressed, flattened and split files of the corpus.
func TestCorpusDmesg61(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	c := corpus.Ensure(t)
	host := &oracle.Makedumpfile{Path: dumptest.CMakedumpfile(t)}
	src := c.Path(corpus.SourceName)
	want := cDmesg(t, host, src)
	sameLog(t, "elf", ourDmesg(t, kernel.LogOptions{}, false, src), want)
	sameLog(t, "elf --partial-dmesg", ourDmesg(t, kernel.LogOptions{Partial: true}, false, src), cDmesg(t, host, src, "--partial-dmesg"))
	for _, f := range c.Files(corpus.KindKdump, corpus.KindFlattened) {
		sameLog(t, f.Name, ourDmesg(t, kernel.LogOptions{}, false, c.Path(f.Name)), want)
	}
	for _, set := range c.SplitSets() {
		var paths []string
		for _, n := range set {
			paths = append(paths, c.Path(n))
		}
		sameLog(t, "split "+strings.Join(set, ","), ourDmesg(t, kernel.LogOptions{}, false, paths...), want)
	}
}

// TestCorpusDmesgCallerSid: with the caller field, ours is byte-identical
// to Debian sid's makedumpfile (1.7.8) on the 6.1 and 6.12 dumps, and on
// 6.12 every kernel line the guest's console printed is in the log.
func TestCorpusDmesgCallerSid(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpora and a sid chroot; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for the sid makedumpfile chroot (CI runs it as root)")
	}
	sid, err := oracle.SidMakedumpfile(context.Background(), debkernel.CacheDir(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []corpus.Kernel{corpus.Kernel61, corpus.Kernel612} {
		t.Run(string(k), func(t *testing.T) {
			c := corpus.EnsureWith(t, corpus.Options{Kernel: k})
			src := c.Path(corpus.SourceName)
			sameLog(t, sid.Version, ourDmesg(t, kernel.LogOptions{}, true, src), cDmesg(t, sid, src))
			sameLog(t, sid.Version+" --partial-dmesg", ourDmesg(t, kernel.LogOptions{Partial: true}, true, src), cDmesg(t, sid, src, "--partial-dmesg"))
			if k == corpus.Kernel612 {
				checkConsole(t, c.Path("console.log"), ourDmesg(t, kernel.LogOptions{}, false, src))
			}
		})
	}
}

// checkConsole checks that each kernel line of the serial console log
// ("[    1.234567] text") is a line of the log read from the dump.
func checkConsole(t *testing.T, console string, log []byte) {
	t.Helper()
	f, err := os.Open(console)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := map[string]bool{}
	for _, l := range strings.Split(string(log), "\n") {
		lines[l] = true
	}
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if !strings.HasPrefix(l, "[") || !strings.Contains(l, "] ") {
			continue // user space output of the guest
		}
		if !lines[l] {
			t.Errorf("console line not in the dump's log: %q", l)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d kernel lines in %s", n, console)
	}
	t.Logf("%d console lines all in the %d-line log", n, len(lines)-1)
}
