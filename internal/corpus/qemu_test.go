package corpus

import (
	"slices"
	"testing"
)

// TestCorpusQEMU builds (or finds) the real-kernel corpus and checks what
// the manifest promises.
func TestCorpusQEMU(t *testing.T) {
	c := Ensure(t)
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
