package main

import (
	"bytes"
	"testing"
)

func TestRunUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"-no-such-flag"}, {"extra"}, {"-mem", "lots"}, {"-kernel", "5.10"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) wrote to stdout: %q", args, stdout.String())
		}
	}
}
