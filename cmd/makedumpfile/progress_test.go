package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
)

// TestProgressLine: the line's format, its once-a-second rate and the
// estimate, against a fake clock. The 100 % line is the C tool's, as it
// printed it on the corpus.
func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(1000, 0)
	p := &progress{w: &b, now: func() time.Time { return now }}
	p.begin()
	p.report(stepCopy, 0, 100)
	p.report(stepCopy, 10, 100) // the same second: not printed
	now = now.Add(2 * time.Second)
	p.report(stepCopy, 50, 100)
	now = now.Add(200 * time.Second)
	p.report(stepCopy, 51, 100)
	p.finish(stepCopy, true)
	want := "\rCopying data                                      : [  0.0 %] /                  " +
		"\rCopying data                                      : [ 50.0 %] |           eta: 2s" +
		"\rCopying data                                      : [ 51.0 %] \\        eta: 3m14s" +
		"\rCopying data                                      : [100.0 %] -           eta: 0s\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	for secs, want := range map[uint64]string{5: "eta: 5s", 99: "eta: 99s", 100: "eta: 1m40s", 7200: "eta: 2h0m", 200000: "eta: 2d7h", 9000000: "eta: >100day"} {
		if got := etaShort(secs); got != want {
			t.Errorf("etaShort(%d) = %q, want %q", secs, got, want)
		}
	}
}

// TestMessageLevelBits runs a dump of a fake kernel at each message
// level bit: 1 the progress line (stderr), 2 the common messages
// (stdout), 4 errors (stderr), 8 debug, 16 the report.
func TestMessageLevelBits(t *testing.T) {
	k := fakekernel.New(fakekernel.Config{Era: fakekernel.EraByName("6.1")})
	// The kdump header's utsname: init_uts_ns's page, in section 2's
	// RAM that the fake leaves unused.
	k.Map(0xffffffff83812000, 2<<fakekernel.SectionSizeBits, fakekernel.PageSize)
	k.Map(0xffffffff83813000, 2<<fakekernel.SectionSizeBits+fakekernel.PageSize, fakekernel.PageSize)
	dir := t.TempDir()
	src := filepath.Join(dir, "vmcore")
	if err := os.WriteFile(src, k.ELF(), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		level          string
		stdout, stderr []string // substrings; empty list: nothing at all
	}{
		{"0", nil, nil},
		{"1", nil, []string{"\rChecking for memory holes ", "\rExcluding unnecessary pages", "\rCopying data ", "[100.0 %]"}},
		{"2", []string{"The dumpfile is saved to", "makedumpfile Completed."}, nil},
		{"4", nil, nil},
		{"8", []string{"dump_level: 31"}, nil},
		{"16", []string{"Original pages", "Write bytes"}, nil},
		{"31", []string{"dump_level: 31", "Original pages", "makedumpfile Completed."}, []string{"[100.0 %]"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			out := filepath.Join(dir, "dump"+tt.level)
			code, stdout, stderr := runArgs(t, nil, "--message-level", tt.level, "-l", "-d", "31", src, out)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			check := func(name, got string, want []string) {
				if len(want) == 0 && got != "" {
					t.Errorf("%s: want nothing, got %q", name, got)
				}
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("%s lacks %q:\n%q", name, w, got)
					}
				}
			}
			check("stdout", stdout, tt.stdout)
			check("stderr", stderr, tt.stderr)
		})
	}
	// The error bit alone: the error, no final line.
	code, stdout, stderr := runArgs(t, nil, "--message-level", "4", "-l", src, filepath.Join(dir, "dump31"))
	if code != 1 || stdout != "" || !strings.Contains(stderr, "exists") {
		t.Errorf("level 4 error: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
