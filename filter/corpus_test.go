package filter

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
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

// TestCorpusFilterEqualsMakedumpfile: on real dumps of Debian's 6.1 and
// 6.12 kernels, for every dump level the corpus has a makedumpfile output
// of (0, 1, 2, 4, 8, 16, 31), the pages we keep are exactly the pages the
// C tool wrote (its 2nd bitmap minus the pages it stored as its shared
// zero page), and every per-class count equals its --show-stats report.
// The oracle is makedumpfile 1.7.2 for 6.1 and 1.7.8 (Debian sid) for
// 6.12, the first release that knows that kernel.
func TestCorpusFilterEqualsMakedumpfile(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpora; skipped with -short")
	}
	for _, k := range []corpus.Kernel{corpus.Kernel61, corpus.Kernel612} {
		t.Run(string(k), func(t *testing.T) {
			c := corpus.EnsureWith(t, corpus.Options{Kernel: k})
			src, err := vmcore.Open(c.Path(corpus.SourceName))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			n := 0
			for _, f := range c.Select(func(f corpus.File) bool { return f.Stats != nil }) {
				n++
				t.Run(fmt.Sprintf("d%d", f.DumpLevel), func(t *testing.T) {
					text, err := os.ReadFile(c.Path(f.StatsLog))
					if err != nil {
						t.Fatal(err)
					}
					compareWithC(t, src, c.Path(f.Name), Level(f.DumpLevel), f.Stats, string(text))
				})
			}
			if n < 7 {
				t.Fatalf("corpus has %d makedumpfile outputs with --show-stats, want 7 levels", n)
			}
		})
	}
}

func compareWithC(t *testing.T, src vmcore.Dump, refPath string, level Level, st *oracle.Stats, statsText string) {
	ctx := context.Background()
	p, err := Exclude(ctx, src, level, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if level&ExcludeZero != 0 {
		if err := DropZeroPages(ctx, src, p, 0); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := vmcore.Open(refPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if ref.MaxPFN() != p.MaxPFN {
		t.Fatalf("max pfn %#x, makedumpfile %#x", p.MaxPFN, ref.MaxPFN())
	}
	kf := ref.(interface {
		PageDesc(mem.PFN) (kdumpfile.PageDesc, error)
	})
	// makedumpfile -d 1 writes one zero page first and points every zero
	// page's descriptor at it: the smallest data offset in the file.
	zeroOff := int64(-1)
	if level&ExcludeZero != 0 {
		for pfn, ok := ref.Stored().Next(0); ok; pfn, ok = ref.Stored().Next(pfn + 1) {
			pd, err := kf.PageDesc(pfn)
			if err != nil {
				t.Fatal(err)
			}
			if zeroOff < 0 || pd.Offset < zeroOff {
				zeroOff = pd.Offset
			}
		}
	}
	var diff, theirs uint64
	for pfn := mem.PFN(0); pfn < p.MaxPFN; pfn++ {
		cKeeps := ref.Stored().Test(pfn)
		if cKeeps && zeroOff >= 0 {
			pd, err := kf.PageDesc(pfn)
			if err != nil {
				t.Fatal(err)
			}
			cKeeps = pd.Offset != zeroOff
		}
		if cKeeps {
			theirs++
		}
		if cKeeps != p.Keep.Test(pfn) {
			if diff < 5 {
				t.Errorf("pfn %#x: makedumpfile keeps it: %v, we keep it: %v", pfn, cKeeps, p.Keep.Test(pfn))
			}
			diff++
		}
	}
	if diff > 0 {
		t.Fatalf("%d pages differ from makedumpfile's set of %d", diff, theirs)
	}
	got := p.Counts
	for _, c := range []struct {
		name     string
		ours, cs uint64
	}{
		{"zero", got.Zero, st.Zero},
		{"non-private cache", got.Cache, st.NonPrivateCache},
		{"private cache", got.CachePrivate, st.PrivateCache},
		{"user data", got.User, st.UserData},
		{"free", got.Free, st.Free},
		{"hwpoison", got.Hwpoison, st.Hwpoison},
		{"offline", got.Offline, st.Offline},
		{"remaining", p.Keep.Count(), st.Remaining},
	} {
		if c.ours != c.cs {
			t.Errorf("%s pages: ours %d, makedumpfile --show-stats %d", c.name, c.ours, c.cs)
		}
	}
	// Our report is the C tool's, line for line.
	var rep bytes.Buffer
	if err := p.WriteReport(&rep); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(statsText, "\nOriginal pages")
	j := strings.Index(statsText, "Write bytes")
	if i < 0 || j < i {
		t.Fatalf("no report in makedumpfile's output:\n%s", statsText)
	}
	if want := statsText[i:j]; rep.String() != want {
		t.Errorf("report differs from makedumpfile's:\nours:\n%s\ntheirs:\n%s", rep.String(), want)
	}
	t.Logf("level %2d: kept %d = makedumpfile's %d; zero %d cache %d private %d user %d free %d",
		level, p.Keep.Count(), theirs, got.Zero, got.Cache, got.CachePrivate, got.User, got.Free)
}
