package targets

import (
	"os/exec"
	"strings"
	"testing"
)

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "with space", "it's", `a"b`, "$(rm -rf /)", "`x`", "new\nline", `back\slash`, "'''"} {
		q := shellQuote(s)
		out, err := exec.Command("sh", "-c", "printf %s "+q).Output()
		if err != nil {
			t.Fatalf("sh -c printf %%s %s: %v", q, err)
		}
		if string(out) != s {
			t.Errorf("shellQuote(%q) = %s, the shell read it as %q", s, q, out)
		}
	}
}

func TestParseDFAvail(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		bad  bool
	}{
		{"Filesystem     1024-blocks    Used Available Capacity Mounted on\n/dev/vda1         20510332 8150068  11295304      42% /\n", 11295304 * 1024, false},
		{"Filesystem 1024-blocks Used Available Capacity Mounted on\nmy disk 7 name 100 50 49 50% /mnt/a 1 2 3 4% b\n", 49 * 1024, false}, // blanks in both names
		{"Filesystem 1024-blocks Used Available Capacity Mounted on\nserver:/export 100 50 42 50% /mnt\n", 42 * 1024, false},
		{"", 0, true},
		{"header only\n", 0, true},
		{"h\n/dev/x 1 2 notanumber 4% /\n", 0, true},
		{"h\n/dev/x 1 2 3 -4% /\n", 0, true},
		{"h\n/dev/x 1 2 99999999999999999999 4% /\n", 0, true},
		{"h\n/dev/x 1 2 18014398509481984 4% /\n", 0, true}, // overflows when turned into bytes
	}
	for _, tt := range tests {
		got, err := parseDFAvail([]byte(tt.in))
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("parseDFAvail(%q) = %d, %v; want %d bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestParseLs(t *testing.T) {
	ents := parseLs([]byte("vmcore\n10.0.0.1-2026-01-01-00:00:00/\nb c/\n\n/\n.hidden\n"))
	var got []string
	for _, e := range ents {
		s := e.Name()
		if e.IsDir() {
			s += "/"
		}
		got = append(got, s)
	}
	if want := ".hidden 10.0.0.1-2026-01-01-00:00:00/ b c/ vmcore"; strings.Join(got, " ") != want {
		t.Fatalf("parseLs = %q, want %q", strings.Join(got, " "), want)
	}
}

// FuzzParseDFAvail: df and ls output come from the server; any bytes give
// a value or an error, never a panic.
func FuzzParseDFAvail(f *testing.F) {
	f.Add([]byte("Filesystem     1024-blocks    Used Available Capacity Mounted on\n/dev/vda1         20510332 8150068  11295304      42% /\n"))
	f.Add([]byte("a\nb/\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := parseDFAvail(b); err == nil && n%1024 != 0 {
			t.Fatalf("%d bytes is not whole KiB", n)
		}
		for _, e := range parseLs(b) {
			if e.Name() == "" || strings.Contains(e.Name(), "\n") {
				t.Fatalf("entry %q", e.Name())
			}
		}
	})
}
