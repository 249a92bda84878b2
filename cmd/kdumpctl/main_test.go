package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureRoot copies the kdumpctl package's fixture system.
func fixtureRoot(t *testing.T, conf string) string {
	t.Helper()
	src := "../../internal/kdumpctl/testdata/root"
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o755)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "etc/kdump.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		conf   string
		code   int
		stdout string
		stderr string
	}{
		{name: "no command", args: nil, code: 2, stdout: "usage: kdumpctl COMMAND"},
		{name: "help", args: []string{"--help"}, code: 0, stdout: "get-default-crashkernel"},
		{name: "unknown", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "command help", args: []string{"test", "--help"}, code: 0, stderr: "usage: kdumpctl test [--config FILE] [--force]"},
		{name: "stray argument", args: []string{"status", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{name: "status not loaded", args: []string{"status"}, conf: "path /var/crash\n", code: 3, stdout: "Kdump is not operational: no capture kernel loaded"},
		{name: "check good", args: []string{"check"}, conf: "path /var/crash\n", code: 0, stdout: "/etc/kdump.conf: ok"},
		{name: "check bad", args: []string{"check", "--offline"}, conf: "path /var/crash\npath /again\nfinal_action shell\n", code: 1,
			stdout: "/etc/kdump.conf:2:"},
		{name: "check other config", args: []string{"check", "--config", "/etc/other.conf"}, conf: "path /var/crash\n", code: 1,
			stdout: "/etc/other.conf: open"},
		{name: "showmem", args: []string{"showmem"}, code: 0, stdout: "Reserved 256MB memory for crash kernel"},
		{name: "default crashkernel", args: []string{"get-default-crashkernel"}, code: 0, stdout: "G:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fixtureRoot(t, tt.conf)
			args := tt.args
			if len(args) > 0 && !strings.HasPrefix(args[0], "-") && tt.name != "unknown" {
				args = append([]string{args[0], "--root", root, "--capture-init", "/usr/lib/kdumpkit/capture-init"}, args[1:]...)
			}
			var out, errb bytes.Buffer
			code := run(args, strings.NewReader(""), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, &out, &errb)
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, &out)
			}
			if !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, &errb)
			}
		})
	}
}
