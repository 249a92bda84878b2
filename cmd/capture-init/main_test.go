package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunRefusesOutsidePID1(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, strings.NewReader(""), &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "not PID 1") {
		t.Errorf("stderr %q", errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("wrote to stdout: %q", out.String())
	}
}

func TestRunHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"usage: capture-init", "-config", "-modules", "-vmcore", "docs/capture-init.md"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, errb.String())
		}
	}
	if code := run([]string{"-bogus"}, strings.NewReader(""), &out, &errb); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
}
