package targets

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var crashTime = time.Date(2026, 11, 22, 6, 43, 13, 0, time.UTC)

func TestDirName(t *testing.T) {
	tests := []struct {
		host   string
		t      time.Time
		want   string
		suffix string
	}{
		{"127.0.0.1", crashTime, "127.0.0.1-2026-11-22-06:43:13", ""},
		{"192.168.242.53", time.Date(2024, 11, 14, 7, 57, 28, 0, time.UTC), "192.168.242.53-2024-11-14-07:57:28", ""},
		{"2001:db8::1", crashTime, "2001:db8::1-2026-11-22-06:43:13", ".7"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := DirName(tt.host, tt.t)
			if got != tt.want {
				t.Fatalf("DirName = %q, want %q", got, tt.want)
			}
			host, tm, suf, ok := ParseDirName(got + tt.suffix)
			if !ok || host != tt.host || !tm.Equal(tt.t) {
				t.Fatalf("ParseDirName(%q) = %q %v %d %v", got+tt.suffix, host, tm, suf, ok)
			}
			if (suf != 0) != (tt.suffix != "") {
				t.Fatalf("ParseDirName(%q) suffix = %d", got+tt.suffix, suf)
			}
		})
	}
	for _, bad := range []string{"", "vmcore", "127.0.0.1", "-2026-11-22-06:43:13", "h-2026-13-22-06:43:13", "h-2026-11-22-06:43:13.0", "h-2026-11-22-06:43:13.100", "h-2026-11-22-06:43"} {
		if _, _, _, ok := ParseDirName(bad); ok {
			t.Errorf("ParseDirName(%q) ok, want not a dump name", bad)
		}
	}
}

func TestIncompleteName(t *testing.T) {
	for in, want := range map[string]string{
		"vmcore":           "vmcore-incomplete",
		"vmcore-dmesg.txt": "vmcore-dmesg-incomplete.txt",
		"kexec-dmesg.log":  "kexec-dmesg-incomplete.log",
		".hidden":          ".hidden-incomplete",
	} {
		if got := IncompleteName(in); got != want {
			t.Errorf("IncompleteName(%q) = %q, want %q", in, got, want)
		}
	}
}

func newLocal(t *testing.T) *Local {
	t.Helper()
	l, err := NewLocal(filepath.Join(t.TempDir(), "var", "crash"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestLocalDump walks the capture sequence on a local directory: dmesg,
// vmcore written by offset (out of order, as the kdump writer patches the
// header last), finish, log.
func TestLocalDump(t *testing.T) {
	l := newLocal(t)
	d, err := Begin(l, Options{Host: "127.0.0.1", Time: crashTime})
	if err != nil {
		t.Fatal(err)
	}
	if d.Dir() != "127.0.0.1-2026-11-22-06:43:13" || d.Flattened() || d.VmcoreName() != VmcoreName {
		t.Fatalf("dump dir %q flattened %v name %q", d.Dir(), d.Flattened(), d.VmcoreName())
	}
	if err := d.WriteFile(DmesgName, strings.NewReader("[    0.000000] Linux version 6.1\n")); err != nil {
		t.Fatal(err)
	}
	f, err := d.CreateVmcore()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(l.Root(), d.Dir())
	if _, err := os.Stat(filepath.Join(dir, VmcoreIncompleteName)); err != nil {
		t.Fatalf("vmcore-incomplete not there while writing: %v", err)
	}
	want := payload(1<<20+123, 1)
	if _, err := f.WriteAt(want[4096:], 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(want[:4096], 0); err != nil {
		t.Fatal(err)
	}
	if err := d.FinishVmcore(f); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(LogName, strings.NewReader("capture log\n")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, VmcoreName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("vmcore differs from what was written (%d bytes, want %d)", len(got), len(want))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		if m := mode(t, filepath.Join(dir, e.Name())); m != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), m)
		}
	}
	if wantNames := []string{LogName, VmcoreName, DmesgName}; !slices.Equal(names, wantNames) {
		t.Errorf("dump dir holds %q, want %q", names, wantNames)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dump dir mode %v, want 0700", m)
	}
	if m := mode(t, l.Root()); m != 0o700 {
		t.Errorf("root mode %v, want 0700", m)
	}
	infos, err := List(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || !infos[0].Complete || infos[0].Host != "127.0.0.1" {
		t.Fatalf("List = %+v", infos)
	}
}

// TestBeginNeverReuses: a second dump in the same second gets a suffix,
// and an existing file of the new dump's name is never truncated.
func TestBeginNeverReuses(t *testing.T) {
	l := newLocal(t)
	var dirs []string
	for i := 0; i < 3; i++ {
		d, err := Begin(l, Options{Host: "10.0.2.15", Time: crashTime})
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d.Dir())
		f, err := d.CreateVmcore()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.CreateVmcore(); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("second CreateVmcore: %v, want fs.ErrExist", err)
		}
	}
	want := []string{"10.0.2.15-2026-11-22-06:43:13", "10.0.2.15-2026-11-22-06:43:13.1", "10.0.2.15-2026-11-22-06:43:13.2"}
	if !slices.Equal(dirs, want) {
		t.Fatalf("dirs %q, want %q", dirs, want)
	}
	for i, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(l.Root(), dir, VmcoreIncompleteName))
		if err != nil || len(b) != 1 || b[0] != byte(i) {
			t.Fatalf("%s: %v %v", dir, b, err)
		}
	}
	// Rename onto an existing name is refused.
	if err := os.WriteFile(filepath.Join(l.Root(), dirs[0], VmcoreName), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := l.Rename(dirs[0]+"/"+VmcoreIncompleteName, dirs[0]+"/"+VmcoreName)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rename onto existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(l.Root(), dirs[0], VmcoreName)); string(b) != "old" {
		t.Fatalf("existing vmcore clobbered: %q", b)
	}
}

// freeTarget reports a chosen free-space figure over a real local target.
type freeTarget struct {
	*Local
	free uint64
	err  error
}

func (f freeTarget) Free(string) (uint64, error) { return f.free, f.err }

func TestBeginFreeSpace(t *testing.T) {
	tests := []struct {
		free, minFree, estimate uint64
		ok                      bool
	}{
		{free: 0, ok: true}, // no check asked for
		{free: 100, minFree: 100, ok: true},
		{free: 99, minFree: 100},
		{free: 1 << 30, minFree: 1 << 29, estimate: 1 << 29, ok: true},
		{free: 1 << 30, minFree: 1 << 29, estimate: 1<<29 + 1},
		{free: 1 << 62, minFree: 1 << 63, estimate: 1 << 63}, // overflow refused
	}
	for _, tt := range tests {
		l := newLocal(t)
		_, err := Begin(freeTarget{l, tt.free, nil}, Options{Host: "127.0.0.1", Time: crashTime, MinFree: tt.minFree, Estimate: tt.estimate})
		if tt.ok != (err == nil) {
			t.Errorf("free %d min %d estimate %d: err %v", tt.free, tt.minFree, tt.estimate, err)
		}
		if err != nil && tt.estimate != 1<<63 && !errors.Is(err, ErrNoSpace) {
			t.Errorf("free %d: %v does not match ErrNoSpace", tt.free, err)
		}
		if err != nil {
			if ents, _ := os.ReadDir(l.Root()); len(ents) != 0 {
				t.Errorf("refused dump left %d entries", len(ents))
			}
		}
	}
	// A target that cannot tell its free space is tried, not refused;
	// other failures to ask are errors.
	if _, err := Begin(freeTarget{newLocal(t), 0, fmt.Errorf("statvfs: %w", errors.ErrUnsupported)}, Options{Host: "h", Time: crashTime, MinFree: 1}); err != nil {
		t.Errorf("Begin with free space unknown: %v", err)
	}
	if _, err := Begin(freeTarget{newLocal(t), 0, errors.New("connection reset")}, Options{Host: "h", Time: crashTime, MinFree: 1}); err == nil {
		t.Errorf("Begin with a failing free-space query succeeded")
	}
	// The real statfs figure is positive on the test's own filesystem.
	l := newLocal(t)
	if free, err := l.Free("."); err != nil || free == 0 {
		t.Fatalf("Free = %d, %v", free, err)
	}
}

func TestPrune(t *testing.T) {
	l := newLocal(t)
	mk := func(name string, files ...string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(l.Root(), name), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(l.Root(), name, f), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("10.0.0.1-2026-01-01-00:00:00", VmcoreName, DmesgName)            // oldest complete: goes
	mk("10.0.0.1-2026-01-02-00:00:00", VmcoreIncompleteName, DmesgName)  // incomplete: stays
	mk("10.0.0.1-2026-01-03-00:00:00", VmcoreFlatName)                   // complete (flat): goes
	mk("10.0.0.1-2026-01-03-00:00:00.1", VmcoreName)                     // kept
	mk("10.0.0.2-2025-01-01-00:00:00", VmcoreName)                       // other host: stays
	mk("notes", VmcoreName)                                              // not a dump name: stays
	mk("10.0.0.1-2026-01-04-00:00:00", VmcoreName)                       // kept
	mk("10.0.0.1-2026-01-05-00:00:00", VmcoreName, VmcoreIncompleteName) // both: incomplete, stays
	removed, err := Prune(l, "10.0.0.1", 2, "10.0.0.1-2026-01-04-00:00:00")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1-2026-01-01-00:00:00", "10.0.0.1-2026-01-03-00:00:00"}
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %q, want %q", removed, want)
	}
	ents, _ := os.ReadDir(l.Root())
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	wantLeft := []string{"10.0.0.1-2026-01-02-00:00:00", "10.0.0.1-2026-01-03-00:00:00.1", "10.0.0.1-2026-01-04-00:00:00", "10.0.0.1-2026-01-05-00:00:00", "10.0.0.2-2025-01-01-00:00:00", "notes"}
	if !slices.Equal(left, wantLeft) {
		t.Fatalf("left %q, want %q", left, wantLeft)
	}
	// keep 0 keeps everything; a second prune at the same keep removes nothing.
	for _, keep := range []int{0, 2} {
		if removed, err := Prune(l, "10.0.0.1", keep, ""); err != nil || len(removed) != 0 {
			t.Fatalf("Prune keep %d: %q, %v", keep, removed, err)
		}
	}
	// The current dump is never removed even when it is the oldest.
	removed, err = Prune(l, "10.0.0.1", 1, "10.0.0.1-2026-01-03-00:00:00.1")
	if err != nil || len(removed) != 0 {
		t.Fatalf("Prune keeping current: %q, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(l.Root(), "10.0.0.1-2026-01-03-00:00:00.1")); err != nil {
		t.Fatalf("current dump removed: %v", err)
	}
}

func TestLocalRefusesEscapes(t *testing.T) {
	l := newLocal(t)
	for _, name := range []string{"../x", "/etc/passwd", "a/../../x", "a//b"} {
		if _, err := l.Create(name); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Create(%q): %v, want fs.ErrInvalid", name, err)
		}
	}
	if err := l.RemoveAll("."); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("RemoveAll(.): %v, want fs.ErrInvalid", err)
	}
}

// payload is deterministic test data of n bytes that differs per seed and
// does not compress to nothing.
func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// FuzzParseDirName: directory names come from the target (an NFS or SSH
// server shared with others). Any name parses or not without panicking,
// and what parses is what DirName would make.
func FuzzParseDirName(f *testing.F) {
	f.Add("127.0.0.1-2026-11-22-06:43:13")
	f.Add("2001:db8::1-2026-11-22-06:43:13.7")
	f.Add("host-with-dashes-1999-12-31-23:59:59.99")
	f.Fuzz(func(t *testing.T, name string) {
		host, tm, suf, ok := ParseDirName(name)
		if !ok {
			return
		}
		want := DirName(host, tm)
		if suf != 0 {
			want += fmt.Sprintf(".%d", suf)
		}
		if want != name {
			t.Fatalf("ParseDirName(%q) = %q %v %d, which DirName makes %q", name, host, tm, suf, want)
		}
	})
}
