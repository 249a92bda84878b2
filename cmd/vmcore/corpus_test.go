package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// kdumpFacts are read straight from a kdump-compressed file's bytes with
// the offsets of makedumpfile's diskdump_mod.h, independently of package
// kdumpfile.
type kdumpFacts struct {
	release   string
	dumpLevel int
	dumped    uint64 // set bits of the 2nd bitmap
}

func readKdumpFacts(t *testing.T, path string) kdumpFacts {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if string(b[:8]) != "KDUMP   " {
		t.Fatalf("%s: signature %q", path, b[:8])
	}
	rel := b[12+2*65 : 12+3*65]
	if i := bytes.IndexByte(rel, 0); i >= 0 {
		rel = rel[:i]
	}
	block := int(le.Uint32(b[428:]))
	subHdrSize := int(le.Uint32(b[432:]))
	bitmapBlocks := int(le.Uint32(b[436:]))
	f := kdumpFacts{release: string(rel), dumpLevel: int(int32(le.Uint32(b[block+8:])))}
	half := bitmapBlocks * block / 2
	second := (1+subHdrSize)*block + half
	for _, c := range b[second : second+half] {
		f.dumped += uint64(bits.OnesCount8(c))
	}
	return f
}

// TestCorpusInfoJSON: vmcore info --json on each single-file kdump the C
// makedumpfile made reports the dumped-page count, release and dump level
// the file itself records (parsed here by hand) and the manifest expects.
func TestCorpusInfoJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	c := corpus.Ensure(t)
	n := 0
	for _, f := range c.Manifest.Files {
		if f.Producer != corpus.ProducerMakedumpfile || f.Format != "kdump" || f.Kind == corpus.KindSplit || f.Kind == corpus.KindFlattened {
			continue
		}
		n++
		t.Run(f.Name, func(t *testing.T) {
			code, out, errOut := runCmd("info", "--json", c.Path(f.Name))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var in vmcore.Info
			if err := json.Unmarshal([]byte(out), &in); err != nil {
				t.Fatal(err)
			}
			want := readKdumpFacts(t, c.Path(f.Name))
			if in.DumpedPages != want.dumped {
				t.Errorf("dumped pages %d, file's bitmap says %d", in.DumpedPages, want.dumped)
			}
			if in.Release != want.release || in.Release != c.Manifest.KernelRelease {
				t.Errorf("release %q, file says %q, manifest %q", in.Release, want.release, c.Manifest.KernelRelease)
			}
			if in.DumpLevel != want.dumpLevel || in.DumpLevel != f.DumpLevel {
				t.Errorf("dump level %d, file says %d, manifest %d", in.DumpLevel, want.dumpLevel, f.DumpLevel)
			}
			if in.Complete != (f.Kind != corpus.KindIncomplete) {
				t.Errorf("complete = %v for a %s file", in.Complete, f.Kind)
			}
			// No CRASHTIME: QEMU dumped a live guest, and the kernel adds
			// CRASHTIME only when it panics into a loaded crash kernel.
			if in.CPUs < 1 || !in.VMCOREINFO {
				t.Errorf("cpus %d, vmcoreinfo %v", in.CPUs, in.VMCOREINFO)
			}
		})
	}
	if n < 6 {
		t.Fatalf("only %d makedumpfile kdump files in the corpus", n)
	}
}

// TestCorpusDmesg: vmcore dmesg --caller=false on the 6.1 corpus's ELF
// core and kdump-compressed files prints what the C makedumpfile 1.7.2
// --dump-dmesg writes, byte for byte.
func TestCorpusDmesg(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	c := corpus.Ensure(t)
	want := filepath.Join(t.TempDir(), "dmesg.txt")
	if out, err := exec.Command(dumptest.CMakedumpfile(t), "--dump-dmesg", c.Path(corpus.SourceName), want).CombinedOutput(); err != nil {
		t.Fatalf("makedumpfile --dump-dmesg: %v\n%s", err, out)
	}
	theirs, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{corpus.SourceName, "makedumpfile-l-d31.kdump", "makedumpfile-F-c-d31.flat"} {
		code, out, errOut := runCmd("dmesg", "--caller=false", c.Path(name))
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errOut)
		}
		if out != string(theirs) {
			t.Errorf("%s: %d bytes differ from makedumpfile's %d", name, len(out), len(theirs))
		}
	}
	t.Logf("%d lines identical", strings.Count(string(theirs), "\n"))
}
