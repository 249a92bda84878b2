package cpio

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// member is one entry parsed back from an archive.
type member struct {
	name string
	mode uint32
	rdev [2]uint32
	data string
}

// parse reads a newc archive; it is a test oracle, strict about padding.
func parse(t *testing.T, b []byte) []member {
	t.Helper()
	var out []member
	off := 0
	for {
		if off%4 != 0 {
			t.Fatalf("header at %d is not 4-byte aligned", off)
		}
		if len(b)-off < headerSize {
			t.Fatalf("truncated header at %d", off)
		}
		h := b[off : off+headerSize]
		if string(h[:6]) != magic {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, namesize := field(1), int(field(6)), int(field(11))
		nameStart := off + headerSize
		name := string(b[nameStart : nameStart+namesize-1])
		if b[nameStart+namesize-1] != 0 {
			t.Fatalf("name %q not NUL terminated", name)
		}
		dataStart := (nameStart + namesize + 3) &^ 3
		if name == trailerName {
			if end := (dataStart + 3) &^ 3; end != len(b) {
				t.Fatalf("archive has %d bytes after trailer", len(b)-end)
			}
			return out
		}
		out = append(out, member{name: name, mode: mode, rdev: [2]uint32{field(9), field(10)},
			data: string(b[dataStart : dataStart+size])})
		off = (dataStart + size + 3) &^ 3
	}
}

func TestWriterRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		build func(w *Writer) error
		want  []member
	}{
		{
			name:  "empty archive",
			build: func(w *Writer) error { return nil },
		},
		{
			name: "dir file symlink device",
			build: func(w *Writer) error {
				if err := w.WriteDir("bin", 0o755); err != nil {
					return err
				}
				if err := w.WriteFile("/bin/init", 0o755, []byte("#!/bin/sh\n")); err != nil {
					return err
				}
				if err := w.WriteSymlink("bin/sh", "busybox"); err != nil {
					return err
				}
				return w.WriteCharDev("dev/console", 0o600, 5, 1)
			},
			want: []member{
				{name: "bin", mode: TypeDir | 0o755},
				{name: "bin/init", mode: TypeReg | 0o755, data: "#!/bin/sh\n"},
				{name: "bin/sh", mode: TypeSymlink | 0o777, data: "busybox"},
				{name: "dev/console", mode: TypeChar | 0o600, rdev: [2]uint32{5, 1}},
			},
		},
		{
			name: "name and data lengths around the padding",
			build: func(w *Writer) error {
				for i := 0; i < 8; i++ {
					if err := w.WriteFile(strings.Repeat("n", i+1), 0o644, []byte(strings.Repeat("d", i))); err != nil {
						return err
					}
				}
				return nil
			},
			want: func() []member {
				var m []member
				for i := 0; i < 8; i++ {
					m = append(m, member{name: strings.Repeat("n", i+1), mode: TypeReg | 0o644, data: strings.Repeat("d", i)})
				}
				return m
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			if err := tt.build(w); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := parse(t, buf.Bytes())
			if len(got) != len(tt.want) {
				t.Fatalf("got %d members %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("member %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(w *Writer) error
	}{
		{"short data", func(w *Writer) error {
			if err := w.WriteHeader(&Header{Name: "f", Mode: TypeReg, Size: 4}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("ab")); err != nil {
				t.Fatal(err)
			}
			return w.Close()
		}},
		{"too much data", func(w *Writer) error {
			if err := w.WriteHeader(&Header{Name: "f", Mode: TypeReg, Size: 1}); err != nil {
				t.Fatal(err)
			}
			_, err := w.Write([]byte("ab"))
			return err
		}},
		{"empty name", func(w *Writer) error { return w.WriteDir("/", 0o755) }},
		{"header after close", func(w *Writer) error {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			return w.WriteDir("d", 0o755)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.build(NewWriter(&bytes.Buffer{})); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestSystemCpioExtracts checks the archive against GNU cpio, the reference
// reader besides the kernel.
func TestSystemCpioExtracts(t *testing.T) {
	cpioBin, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("needs the cpio binary")
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	host := filepath.Join(t.TempDir(), "host")
	if err := os.WriteFile(host, []byte("copied\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	steps := []error{
		w.WriteDir("etc", 0o755),
		w.WriteFile("etc/hello", 0o644, []byte("hello\n")),
		w.CopyFile("etc/copied", host),
		w.WriteSymlink("etc/link", "hello"),
		w.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(cpioBin, "-idm", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"etc/hello": "hello\n", "etc/copied": "copied\n", "etc/link": "hello\n"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "etc/link")); err != nil || target != "hello" {
		t.Errorf("etc/link -> %q, %v; want hello", target, err)
	}
	st, err := os.Stat(filepath.Join(dir, "etc/copied"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("etc/copied mode %v, want 0640", st.Mode().Perm())
	}
}
