package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runArgs calls run in-process and returns its exit status and output.
func runArgs(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestRejects: command lines makedumpfile rejects exit 1 with its
// "Commandline parameter is invalid." and the failure line; refused
// options exit 1 naming the option (collector's tests hold the full
// table).
func TestRejects(t *testing.T) {
	tests := []struct {
		args        []string
		unsupported bool
	}{
		{nil, false},
		{[]string{"vmcore"}, false},
		{[]string{"--bogus", "vmcore", "dump"}, false},
		{[]string{"-E", "-c", "vmcore", "dump"}, false},
		{[]string{"-l", "-E", "-F", "vmcore"}, false},
		{[]string{"-F", "vmcore", "dump"}, false},
		{[]string{"-R", "-d", "31", "a"}, false},
		{[]string{"--partial-dmesg", "vmcore", "log"}, false},
		{[]string{"--dump-dmesg", "--dry-run", "vmcore", "log"}, false},
		{[]string{"--num-threads", "2", "--split", "vmcore", "a", "b"}, false},
		{[]string{"-x", "vmlinux", "-i", "vmcoreinfo", "vmcore", "dump"}, false},
		{[]string{"-x", "vmlinux", "vmcore", "dump"}, true},
		{[]string{"-g", "vmcoreinfo", "-x", "vmlinux"}, true},
		{[]string{"-X", "vmcore", "dump"}, true},
		{[]string{"--diskset=sda", "--diskset=sdb", "dump"}, true},
		{[]string{"--eppic", "m.c", "-x", "vmlinux", "vmcore", "dump"}, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runArgs(t, nil, tt.args...)
			if mentionsFlatten(tt.args) {
				// Messages go to stderr, after the error.
				stdout = stderr[strings.IndexByte(stderr, '\n')+1:]
				stderr = stderr[:strings.IndexByte(stderr, '\n')+1]
			}
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			if !strings.HasSuffix(stdout, "\nmakedumpfile Failed.\n") {
				t.Errorf("stdout does not end with the failure line:\n%s", stdout)
			}
			if !tt.unsupported && !strings.Contains(stdout, "Commandline parameter is invalid.") {
				t.Errorf("stdout lacks makedumpfile's invalid-parameter message:\n%s", stdout)
			}
			if tt.unsupported && !strings.Contains(stderr, "not supported") {
				t.Errorf("stderr does not say the option is not supported: %q", stderr)
			}
			if !strings.HasPrefix(stderr, "makedumpfile: ") {
				t.Errorf("stderr does not explain: %q", stderr)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, stdout, _ := runArgs(t, nil, "--help")
	if code != 0 || !strings.Contains(stdout, "makedumpfile -R DUMPFILE") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runArgs(t, nil, "-v")
	if code != 0 || !strings.HasPrefix(stdout, "makedumpfile (kdumpkit) version ") {
		t.Errorf("-v: exit %d\n%s", code, stdout)
	}
}

func TestCheckParams(t *testing.T) {
	code, stdout, stderr := runArgs(t, nil, "--check-params", "-l", "-d", "31", "/nonexistent/vmcore", "/nonexistent/dump")
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestExistingDumpfile: without -f an existing DUMPFILE is an error, found
// before the input is even opened, and the file is left alone.
func TestExistingDumpfile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "dump")
	if err := os.WriteFile(name, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-d", "31", filepath.Join(dir, "vmcore"), name},
		{"--split", filepath.Join(dir, "vmcore"), filepath.Join(dir, "other"), name},
		{"-R", name},
		{"--reassemble", "a", "b", name},
	} {
		code, stdout, stderr := runArgs(t, nil, args...)
		if code != 1 || !strings.Contains(stderr, "exists; use -f") || !strings.HasSuffix(stdout, "makedumpfile Failed.\n") {
			t.Errorf("%v: exit %d\nstdout %s\nstderr %s", args, code, stdout, stderr)
		}
	}
	if b, _ := os.ReadFile(name); string(b) != "precious" {
		t.Errorf("dumpfile changed to %q", b)
	}
}

// TestFlattenMessagesOnStderr: with -F, standard output is the dump, so
// every message goes to standard error, bad command lines included.
func TestFlattenMessagesOnStderr(t *testing.T) {
	for _, args := range [][]string{
		{"-F", "-d", "31", "/nonexistent/vmcore"},
		{"-F", "-E", "-c", "/nonexistent/vmcore"},
		{"-cF", "/nonexistent/vmcore", "extra"},
	} {
		code, stdout, stderr := runArgs(t, nil, args...)
		if code != 1 || stdout != "" || !strings.HasSuffix(stderr, "makedumpfile Failed.\n") {
			t.Errorf("%v: exit %d\nstdout %q\nstderr %s", args, code, stdout, stderr)
		}
	}
}

// TestMessageLevel: level 0 silences everything but the exit status;
// the error bit alone prints the error and not the final line.
func TestMessageLevel(t *testing.T) {
	code, stdout, stderr := runArgs(t, nil, "--message-level", "0", "-d", "31", "/nonexistent/vmcore", filepath.Join(t.TempDir(), "dump"))
	if code != 1 || stdout != "" || stderr != "" {
		t.Errorf("level 0: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runArgs(t, nil, "--message-level", "4", "-d", "31", "/nonexistent/vmcore", filepath.Join(t.TempDir(), "dump"))
	if code != 1 || stdout != "" || !strings.Contains(stderr, "/nonexistent/vmcore") {
		t.Errorf("level 4: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestRearrangeGarbage: -R of a stream that is not flattened fails with
// exit status 1.
func TestRearrangeGarbage(t *testing.T) {
	name := filepath.Join(t.TempDir(), "dump")
	code, stdout, stderr := runArgs(t, bytes.Repeat([]byte("not a dump "), 1000), "-R", name)
	if code != 1 || !strings.HasSuffix(stdout, "makedumpfile Failed.\n") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}
