package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunSmall runs the whole workload at 1 MiB sizes in temporary
// directories (no tmpfs needed: any directory works).
func TestRunSmall(t *testing.T) {
	cache, shm := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(cache, "data"), bytes.Repeat([]byte("x"), 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := options{cacheDir: cache, tmpfsDir: shm, tmpfsMiB: 17, anonMiB: 1, zeroMiB: 1, seed: 5}
	if err := load(o, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"page cache: 3 MiB", "tmpfs: 17 MiB", "anonymous: 1 MiB", "anonymous zero: 1 MiB"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	files, err := os.ReadDir(shm)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 { // 16 MiB + 1 MiB
		t.Errorf("tmpfs dir has %d files, want 2", len(files))
	}
}

func TestRunBadFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-no-such-flag"}, &stdout, &stderr); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}

// TestHugetlbReserve checks the pool-size step against a fake sysctl file
// (mapping hugetlb pages would need a pool on the test machine).
func TestHugetlbReserve(t *testing.T) {
	sysctl := filepath.Join(t.TempDir(), "nr_hugepages")
	var out bytes.Buffer
	o := options{hugetlbPages: 6, hugetlbSysctl: sysctl, seed: 1}
	if err := load(o, &out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(sysctl); strings.TrimSpace(string(b)) != "6" {
		t.Errorf("sysctl file holds %q, want 6", b)
	}
	if !strings.Contains(out.String(), "hugetlb: 0 MiB") {
		t.Errorf("output lacks the hugetlb step:\n%s", out.String())
	}
	o.hugetlbUsed = 7
	if err := load(o, &out); err == nil {
		t.Error("accepted more used hugetlb pages than reserved")
	}
}
