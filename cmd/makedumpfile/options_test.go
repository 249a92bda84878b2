package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
)

// runArgs calls run in-process and returns its exit status and output.
func runArgs(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestParseArgs(t *testing.T) {
	lv := func(l ...filter.Level) []filter.Level { return l }
	tests := []struct {
		args []string
		want config
	}{
		{[]string{"vmcore", "dump"}, config{mode: modeCreate, levels: lv(0), msgLevel: 7, vmcore: "vmcore", dumpfile: "dump"}},
		{[]string{"-l", "-d", "31", "vmcore", "dump"}, config{mode: modeCreate, method: codec.LZO, compressed: true, levels: lv(31), levelsSet: true, msgLevel: 7, vmcore: "vmcore", dumpfile: "dump"}},
		// Bundled short options, an attached argument, the last
		// compression wins, options after the operands.
		{[]string{"-cld31", "vmcore", "dump", "-z"}, config{mode: modeCreate, method: codec.Zstd, compressed: true, levels: lv(31), levelsSet: true, msgLevel: 7, vmcore: "vmcore", dumpfile: "dump"}},
		{[]string{"-p", "-d", "1,31", "-L", "1G", "-f", "vmcore", "dump"}, config{mode: modeCreate, method: codec.Snappy, compressed: true, levels: lv(1, 31), levelsSet: true, limit: 1 << 30, force: true, msgLevel: 7, vmcore: "vmcore", dumpfile: "dump"}},
		{[]string{"-E", "-d", "31", "vmcore", "dump"}, config{mode: modeCreate, elf: true, levels: lv(31), levelsSet: true, msgLevel: 7, vmcore: "vmcore", dumpfile: "dump"}},
		{[]string{"-F", "-c", "vmcore"}, config{mode: modeCreate, flatten: true, method: codec.Zlib, compressed: true, levels: lv(0), msgLevel: 7, vmcore: "vmcore"}},
		{[]string{"-F", "-E", "vmcore"}, config{mode: modeCreate, flatten: true, elf: true, levels: lv(0), msgLevel: 7, vmcore: "vmcore"}},
		{[]string{"-R", "dump"}, config{mode: modeRearrange, levels: lv(0), msgLevel: 7, dumpfile: "dump"}},
		{[]string{"-R", "-f", "-L", "0x100", "dump"}, config{mode: modeRearrange, force: true, limit: 256, levels: lv(0), msgLevel: 7, dumpfile: "dump"}},
		{[]string{"--split", "-c", "--splitblock-size=1024", "vmcore", "a", "b", "c"}, config{mode: modeSplit, method: codec.Zlib, compressed: true, splitBlock: 1 << 20, levels: lv(0), msgLevel: 7, vmcore: "vmcore", dumpfiles: []string{"a", "b", "c"}}},
		{[]string{"--reassemble", "a", "b", "out"}, config{mode: modeReassemble, levels: lv(0), msgLevel: 7, members: []string{"a", "b"}, dumpfile: "out"}},
		// -D and --show-stats add to the message level; abbreviated
		// long options.
		{[]string{"--mess", "1", "-D", "--show-stats", "vmcore", "dump"}, config{mode: modeCreate, levels: lv(0), msgLevel: 1 | 8 | 16, showStats: true, vmcore: "vmcore", dumpfile: "dump"}},
		{[]string{"--message-level=0", "--dry-run", "--check-params", "--non-mmap", "vmcore", "dump"}, config{mode: modeCreate, levels: lv(0), msgLevel: 0, dryRun: true, checkOnly: true, noMmap: true, vmcore: "vmcore", dumpfile: "dump"}},
		{[]string{"-d", "31", "--", "-vmcore", "dump"}, config{mode: modeCreate, levels: lv(31), levelsSet: true, msgLevel: 7, vmcore: "-vmcore", dumpfile: "dump"}},
		{[]string{"-h"}, config{mode: modeHelp, levels: lv(0), msgLevel: 7}},
		{[]string{"--help", "-x", "vmlinux"}, config{mode: modeHelp, levels: lv(0), msgLevel: 7}},
		{[]string{"-v"}, config{mode: modeVersion, levels: lv(0), msgLevel: 7}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := parseArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

// TestParseArgsRejects: command lines makedumpfile rejects (a usage
// error) and options we refuse (naming the option).
func TestParseArgsRejects(t *testing.T) {
	tests := []struct {
		args        []string
		unsupported string // the option named, or "" for a usage error
	}{
		{nil, ""},
		{[]string{"vmcore"}, ""},
		{[]string{"vmcore", "a", "b"}, ""},
		{[]string{"-Q", "vmcore", "dump"}, ""},
		{[]string{"--bogus", "vmcore", "dump"}, ""},
		{[]string{"--s", "vmcore", "a", "b"}, ""}, // ambiguous: --split, --splitblock-size, --show-stats
		{[]string{"--split=1", "vmcore", "a", "b"}, ""},
		{[]string{"-d"}, ""},
		{[]string{"-d", "32", "vmcore", "dump"}, ""},
		{[]string{"-d", "x", "vmcore", "dump"}, ""},
		{[]string{"-L", "0", "vmcore", "dump"}, ""},
		{[]string{"-L", "1Q", "vmcore", "dump"}, ""},
		{[]string{"-L", "0b101", "vmcore", "dump"}, ""},
		{[]string{"--message-level", "32", "vmcore", "dump"}, ""},
		{[]string{"--message-level", "x", "vmcore", "dump"}, ""},
		{[]string{"--splitblock-size", "0", "--split", "vmcore", "a", "b"}, ""},
		// Conflicts, as makedumpfile's check_param_for_*.
		{[]string{"-E", "-c", "vmcore", "dump"}, ""},
		{[]string{"-l", "-E", "-F", "vmcore"}, ""},
		{[]string{"-F", "vmcore", "dump"}, ""},
		{[]string{"-F", "--split", "vmcore", "a", "b"}, ""},
		{[]string{"-E", "--split", "vmcore", "a", "b"}, ""},
		{[]string{"--split", "vmcore", "a"}, ""},
		{[]string{"-R"}, ""},
		{[]string{"-R", "a", "b"}, ""},
		{[]string{"-R", "-d", "31", "a"}, ""},
		{[]string{"-R", "-c", "a"}, ""},
		{[]string{"-R", "--split", "a", "b", "c"}, ""},
		{[]string{"--reassemble", "a"}, ""},
		{[]string{"--reassemble", "-c", "a", "b", "c"}, ""},
		{[]string{"--dry-run", "--reassemble", "a", "b", "c"}, ""},
		{[]string{"--partial-dmesg", "vmcore", "log"}, ""},
		{[]string{"--num-threads", "2", "-E", "vmcore", "dump"}, ""},
		{[]string{"--num-threads", "2", "--split", "vmcore", "a", "b"}, ""},
		{[]string{"-x", "vmlinux", "-i", "vmcoreinfo", "vmcore", "dump"}, ""},
		{[]string{"--config", "f", "vmcore", "dump"}, ""},
		{[]string{"-e", "vmcore", "dump"}, ""},
		// Refused.
		{[]string{"-x", "vmlinux", "vmcore", "dump"}, "-x"},
		{[]string{"-i", "vmcoreinfo", "vmcore", "dump"}, "-i"},
		{[]string{"-g", "vmcoreinfo", "-x", "vmlinux"}, "-g"},
		{[]string{"-X", "vmcore", "dump"}, "-X"},
		{[]string{"--xen-syms", "x", "vmcore", "dump"}, "--xen-syms"},
		{[]string{"--xen-vmcoreinfo", "x", "vmcore", "dump"}, "--xen-vmcoreinfo"},
		{[]string{"--xen_phys_start", "0x1000", "vmcore", "dump"}, "--xen_phys_start"},
		{[]string{"--diskset=sda", "--diskset=sdb", "dump"}, "--diskset"},
		{[]string{"--eppic", "m.c", "-x", "vmlinux", "vmcore", "dump"}, "--eppic"},
		{[]string{"-e", "--work-dir", "/tmp", "vmcore", "dump"}, "-e"},
		{[]string{"--work-dir", "/tmp", "vmcore", "dump"}, "--work-dir"},
		{[]string{"-b", "4", "vmcore", "dump"}, "-b"},
		{[]string{"--num-threads", "4", "vmcore", "dump"}, "--num-threads"},
		{[]string{"--cyclic-buffer", "1024", "vmcore", "dump"}, "--cyclic-buffer"},
		{[]string{"--dump-dmesg", "vmcore", "log"}, "--dump-dmesg"},
		{[]string{"--dump-dmesg", "--partial-dmesg", "vmcore", "log"}, "--dump-dmesg"},
		{[]string{"--mem-usage", "/proc/kcore"}, "--mem-usage"},
		{[]string{"--vtop", "0xffffffff81000000", "vmcore"}, "--vtop"},
		{[]string{"--check-params", "--num-threads", "4", "vmcore", "dump"}, "--num-threads"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseArgs(tt.args)
			if err == nil {
				t.Fatal("accepted")
			}
			var ue *usageError
			switch {
			case tt.unsupported == "" && !errors.As(err, &ue):
				t.Fatalf("%v: not a usage error", err)
			case tt.unsupported != "" && !errors.Is(err, errUnsupported):
				t.Fatalf("%v: not an unsupported-option error", err)
			case tt.unsupported != "" && !strings.Contains(err.Error(), "option "+tt.unsupported+" "):
				t.Fatalf("%v: does not name %s", err, tt.unsupported)
			}

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
			if tt.unsupported == "" && !strings.Contains(stdout, "Commandline parameter is invalid.") {
				t.Errorf("stdout lacks makedumpfile's invalid-parameter message:\n%s", stdout)
			}
			if !strings.HasPrefix(stderr, "makedumpfile: ") {
				t.Errorf("stderr does not explain: %q", stderr)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // 0: rejected
	}{
		{"1", 1},
		{"100000", 100000},
		{"0x10", 16},
		{"010", 8},
		{"1k", 1 << 10},
		{"1K", 1 << 10},
		{"3M", 3 << 20},
		{"2g", 2 << 30},
		{"1T", 1 << 40},
		{"1P", 1 << 50},
		{"7E", 7 << 60},
		{"0x1E", 30}, // strtoull takes the E as a hex digit
		{"0x10K", 16 << 10},
		{"8E", 0},
		{"0", 0},
		{"", 0},
		{"K", 0},
		{"-1", 0},
		{"+1", 0},
		{"1_000", 0},
		{"0o7", 0},
		{"1KB", 0},
		{"1.5G", 0},
		{"18446744073709551616", 0},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("parseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
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
