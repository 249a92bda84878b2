package kdumpconf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must not panic, every
// problem must carry the file name and a reason, and whatever parses must
// survive the Canonical round trip unchanged.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good/*.conf", "testdata/bad/*.conf"} {
		files, _ := filepath.Glob(dir)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("ssh a@[::1]\nnet_config static ::1/128 - ::2\nssh_host_key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"))
	f.Add([]byte("core_collector \"makedumpfile -l\" 'x y' \"a\\\"b\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(bytes.NewReader(data), "f.conf")
		if cfg == nil {
			t.Fatal("nil Config")
		}
		for _, w := range cfg.Warnings {
			if !strings.HasPrefix(w.Error(), "f.conf") || w.Msg == "" {
				t.Fatalf("bad warning %+v", w)
			}
		}
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %v is not a non-empty Errors", err)
			}
			for _, p := range errs {
				if p.File != "f.conf" || p.Msg == "" {
					t.Fatalf("bad problem %+v", p)
				}
			}
			return
		}
		text := Canonical(cfg)
		again, err := Parse(bytes.NewReader(text), "canonical")
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\ninput: %q\ncanonical:\n%s", err, data, text)
		}
		if !sameConfig(cfg, again) {
			t.Fatalf("round trip changed the config\ninput: %q\ncanonical:\n%s", data, text)
		}
		if !bytes.Equal(Canonical(again), text) {
			t.Fatalf("canonical form not stable for %q", data)
		}
	})
}
