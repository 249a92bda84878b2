package filter

import (
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// TestCorpusUtsname: init_uts_ns read through our page tables gives the
// release VMCOREINFO states and the machine the kdump header records.
func TestCorpusUtsname(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	c := corpus.Ensure(t)
	d, err := vmcore.Open(c.Path(corpus.SourceName))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	vi, err := kernel.ParseVMCOREINFO(d.VMCOREINFO())
	if err != nil {
		t.Fatal(err)
	}
	x, err := kernel.NewX86_64(vi, d)
	if err != nil {
		t.Fatal(err)
	}
	u, err := kernel.ReadUtsname(vi, x)
	if err != nil {
		t.Fatal(err)
	}
	if u.Field(kernel.UtsSysname) != "Linux" || u.Field(kernel.UtsRelease) != vi.OSRelease() || u.Field(kernel.UtsMachine) != "x86_64" {
		t.Fatalf("utsname %q %q %q, want Linux %q x86_64", u.Field(kernel.UtsSysname), u.Field(kernel.UtsRelease), u.Field(kernel.UtsMachine), vi.OSRelease())
	}
	// The C makedumpfile copied the same 390 bytes into its header.
	ref, err := vmcore.Open(c.Path("makedumpfile-l-d31.kdump"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	in, err := vmcore.Describe(ref)
	if err != nil {
		t.Fatal(err)
	}
	if in.Release != u.Field(kernel.UtsRelease) || in.Machine != u.Field(kernel.UtsMachine) {
		t.Fatalf("kdump header says %q %q, we read %q %q", in.Release, in.Machine, u.Field(kernel.UtsRelease), u.Field(kernel.UtsMachine))
	}
}
