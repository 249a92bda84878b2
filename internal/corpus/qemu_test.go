package corpus

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestCorpusQEMU builds (or finds) the real-kernel corpus and checks what
// the manifest promises.
func TestCorpusQEMU(t *testing.T) {
	c := Ensure(t)
	checkCommon(t, c)
	if c.Manifest.Kernel != Kernel61 || !strings.Contains(c.Manifest.MakedumpfileVersion, "1.7.2") || c.Manifest.MakedumpfileChroot != "" {
		t.Errorf("kernel %q, makedumpfile %q in %q; want 6.1 and the host's 1.7.2", c.Manifest.Kernel, c.Manifest.MakedumpfileVersion, c.Manifest.MakedumpfileChroot)
	}
	m := c.Manifest
	info, err := c.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	if rel := ParseVMCOREINFO(info)["OSRELEASE"]; rel != m.KernelRelease || rel == "" {
		t.Errorf("VMCOREINFO OSRELEASE %q, manifest kernel release %q", rel, m.KernelRelease)
	}
	for _, name := range []string{QEMUELFName, SourceName} {
		got, err := ReadVMCOREINFO(c.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		if got != info {
			t.Errorf("%s: VMCOREINFO differs from %s", name, VMCOREINFOName)
		}
	}
	want := []string{
		QEMUELFName, SourceName, "qemu-kdump-zlib.flat",
		"makedumpfile-c-d0.kdump", "makedumpfile-l-d0.kdump",
		"makedumpfile-c-d1.kdump", "makedumpfile-l-d1.kdump",
		"makedumpfile-c-d31.kdump", "makedumpfile-l-d31.kdump",
		"makedumpfile-F-c-d31.flat", "makedumpfile-F-l-d1.flat", "makedumpfile-E-d31.elf",
	}
	for _, name := range want {
		f, ok := c.File(name)
		if !ok {
			t.Errorf("corpus lacks %s", name)
			continue
		}
		if f.Size == 0 || f.ExitCode != 0 || f.SHA256 == "" {
			t.Errorf("%s: size %d, exit %d, sha256 %q", name, f.Size, f.ExitCode, f.SHA256)
		}
	}
	sets := c.SplitSets()
	if len(sets) != 1 || len(sets[0]) != 2 {
		t.Errorf("split sets %v, want one set of 2", sets)
	}
	inc := c.Files(KindIncomplete)
	if len(inc) != 1 || inc[0].ExitCode != 1 || !slices.Contains(inc[0].Command, "-L") {
		t.Errorf("incomplete dumps %+v, want one from -L with exit code 1", inc)
	}
	full, _ := c.File("makedumpfile-c-d1.kdump")
	if len(inc) == 1 && inc[0].Size >= full.Size {
		t.Errorf("incomplete dump %d bytes, complete one %d", inc[0].Size, full.Size)
	}
	// Filtering must shrink the dump: -d 31 keeps far less than -d 0.
	d0, _ := c.File("makedumpfile-c-d0.kdump")
	d31, _ := c.File("makedumpfile-c-d31.kdump")
	if d31.Size*4 > d0.Size {
		t.Errorf("-d 31 dump %d bytes is not much smaller than -d 0 dump %d bytes", d31.Size, d0.Size)
	}
	for _, f := range c.Files() {
		if err := checkSignature(c.Path(f.Name), f); err != nil {
			t.Error(err)
		}
	}
}

// TestCorpusQEMU612 is TestCorpusQEMU for the 6.12 corpus, whose oracle is
// sid's makedumpfile.
func TestCorpusQEMU612(t *testing.T) {
	c := EnsureWith(t, Options{Kernel: Kernel612})
	checkCommon(t, c)
	m := c.Manifest
	if m.Kernel != Kernel612 || !strings.HasPrefix(m.KernelRelease, "6.12.") || m.MakedumpfileChroot == "" {
		t.Errorf("kernel %q release %q, makedumpfile chroot %q", m.Kernel, m.KernelRelease, m.MakedumpfileChroot)
	}
	if f, ok := c.File("makedumpfile-c-d31.kdump"); !ok || f.ExitCode != 0 {
		t.Errorf("no makedumpfile-c-d31.kdump: %+v", f)
	}
}

// checkCommon checks what every corpus has: VMCOREINFO matching the
// manifest, the hugetlb workload and the per-level outputs with stats.
func checkCommon(t *testing.T, c *Corpus) {
	t.Helper()
	m := c.Manifest
	info, err := c.VMCOREINFO()
	if err != nil {
		t.Fatal(err)
	}
	if rel := ParseVMCOREINFO(info)["OSRELEASE"]; rel != m.KernelRelease || rel == "" {
		t.Errorf("VMCOREINFO OSRELEASE %q, manifest kernel release %q", rel, m.KernelRelease)
	}
	for _, name := range []string{QEMUELFName, SourceName} {
		got, err := ReadVMCOREINFO(c.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		if got != info {
			t.Errorf("%s: VMCOREINFO differs from %s", name, VMCOREINFOName)
		}
	}
	if m.PageSize != 4096 || m.GuestRAMMiB == 0 {
		t.Errorf("page size %d, guest RAM %d MiB", m.PageSize, m.GuestRAMMiB)
	}
	w := m.Workload
	if w.HugetlbPages == 0 || w.HugePagesTotal != w.HugetlbPages || w.HugePagesFree != w.HugetlbPages-w.HugetlbUsedPages {
		t.Errorf("hugetlb workload %+v", w)
	}
	levels := c.LevelDumps()
	if len(levels) != len(StatsLevels) {
		t.Fatalf("%d per-level dumps, want %d", len(levels), len(StatsLevels))
	}
	pages := uint64(m.GuestRAMMiB) << 20 / uint64(m.PageSize)
	for i, f := range levels {
		s := f.Stats
		if f.DumpLevel != StatsLevels[i] || f.Name != fmt.Sprintf("makedumpfile-l-d%d.kdump", f.DumpLevel) || f.Compression != CompressionLZO {
			t.Errorf("per-level dump %d: %s level %d %s", i, f.Name, f.DumpLevel, f.Compression)
		}
		if _, ok := c.File(f.StatsLog); !ok {
			t.Errorf("%s: stats log %q not in the corpus", f.Name, f.StatsLog)
		}
		if s.Total < pages*9/10 || s.Excluded+s.Remaining != s.Original {
			t.Errorf("%s: stats %+v", f.Name, *s)
		}
		// Each class is counted only at the levels that exclude it.
		l := f.DumpLevel
		for _, c := range []struct {
			name string
			n    uint64
			bits int
		}{{"zero", s.Zero, 1}, {"non-private cache", s.NonPrivateCache, 6}, {"private cache", s.PrivateCache, 4},
			{"user data", s.UserData, 8}, {"free", s.Free, 16}} {
			if (c.n != 0) != (l&c.bits != 0) && !(c.name == "private cache" && c.n == 0) {
				t.Errorf("%s: %d %s pages at -d %d", f.Name, c.n, c.name, l)
			}
		}
	}
	// The workload's hugetlb pages are user data: -d 8 excludes at least
	// the used ones, -d 31 at least all of the anonymous and hugetlb
	// memory.
	d8, _ := c.LevelDump(8)
	if huge := uint64(w.HugetlbUsedPages * w.HugePageKiB * 1024 / m.PageSize); d8.Stats.UserData < huge {
		t.Errorf("-d 8 excludes %d user pages, fewer than the %d hugetlb pages in use", d8.Stats.UserData, huge)
	}
	for _, f := range c.Files() {
		if err := checkSignature(c.Path(f.Name), f); err != nil {
			t.Error(err)
		}
	}
}
