package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// collectorCase is one command line as a distribution's kdump runs it.
// In args, VMCORE and OUT (OUT1, OUT2 for --split) stand for the files.
type collectorCase struct {
	name   string
	args   []string
	stdout bool   // the dump goes to standard output (-F), then -R
	format string // vmcore.Format of the result
	level  int    // recorded dump level; -1 for none (ELF)
	codec  string // page codec expected among the stored pages ("" for ELF)
	// cReads says whether Debian 12's C makedumpfile (lzo, no snappy or
	// zstd; one input file) can read the result.
	cReads bool
}

var collectorCases = []collectorCase{
	{name: "rhel", args: []string{"-l", "--message-level", "7", "-d", "31", "VMCORE", "OUT"}, format: "kdump", level: 31, codec: "lzo", cReads: true},
	{name: "debian", args: []string{"-F", "-c", "-d", "31", "VMCORE"}, stdout: true, format: "kdump", level: 31, codec: "zlib", cReads: true},
	{name: "kdumpst", args: []string{"-z", "-d", "31", "VMCORE", "OUT"}, format: "kdump", level: 31, codec: "zstd"},
	{name: "elf", args: []string{"-E", "-d", "31", "VMCORE", "OUT"}, format: "elf", level: -1, cReads: true},
	{name: "split", args: []string{"--split", "-l", "-d", "31", "--splitblock-size", "65536", "VMCORE", "OUT1", "OUT2"}, format: "kdump-split", level: 31, codec: "lzo"},
	{name: "zlib-d1", args: []string{"-d", "1", "-c", "VMCORE", "OUT"}, format: "kdump", level: 1, codec: "zlib", cReads: true},
	{name: "snappy", args: []string{"-p", "-d", "31", "VMCORE", "OUT"}, format: "kdump", level: 31, codec: "snappy"},
	{name: "flat-elf", args: []string{"-F", "-E", "-d", "31", "VMCORE"}, stdout: true, format: "elf", level: -1, cReads: true},
}

// TestCorpusCollectorLines is issue 5's acceptance table: the
// distributions' core_collector lines (RHEL's -l --message-level 7 -d 31,
// Debian's -F -c -d 31 to a pipe then -R, kdumpst's -z -d 31) and the
// common combinations run unchanged against the real 6.1 dump, and their
// results are read back with our reader, with python3-libkdumpfile and,
// for the codecs it has, with the C makedumpfile (--dump-dmesg of our
// file equals its --dump-dmesg of the source); --dump-dmesg itself is
// TestCorpusDumpDmesg.
func TestCorpusCollectorLines(t *testing.T) {
	_, src := corpusSource(t)
	mdf := dumptest.CMakedumpfile(t)
	if !oracle.HaveLibkdumpfile() {
		t.Fatal("python3-libkdumpfile is not installed (scripts/install-deps.sh installs it)")
	}
	srcDump, err := vmcore.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer srcDump.Close()
	dir := t.TempDir()
	srcLog := filepath.Join(dir, "source-dmesg.txt")
	if out, err := exec.Command(mdf, "--dump-dmesg", src, srcLog).CombinedOutput(); err != nil {
		t.Fatalf("C makedumpfile --dump-dmesg: %v\n%s", err, out)
	}
	for _, tc := range collectorCases {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(dir, tc.name)
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			var outs []string
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				switch a {
				case "VMCORE":
					args[i] = src
				case "OUT", "OUT1", "OUT2":
					args[i] = filepath.Join(d, strings.ToLower(a))
					outs = append(outs, args[i])
				default:
					args[i] = a
				}
			}
			var stdout, stderr bytes.Buffer
			if code := run(args, nil, &stdout, &stderr); code != 0 {
				t.Fatalf("makedumpfile %s: exit %d\n%s%s", strings.Join(tc.args, " "), code, stdout.String(), stderr.String())
			}
			msgs := stdout.String()
			if tc.stdout {
				msgs = stderr.String()
				out := filepath.Join(d, "out")
				mustRun(t, 0, stdout.Bytes(), "-R", out)
				outs = []string{out}
			}
			if !strings.HasSuffix(msgs, "\nmakedumpfile Completed.\n") {
				t.Errorf("messages end:\n%s", msgs)
			}
			checkOurReader(t, srcDump, tc, outs)
			// This python3-libkdumpfile opens one file at a time, and
			// each member of a --split set is a dump of its own range.
			ranges := splitRanges(t, outs)
			for i, out := range outs {
				checkLibkdumpfile(t, srcDump, d, []string{out}, ranges[i])
			}
			if tc.cReads {
				log := filepath.Join(d, "dmesg.txt")
				if out, err := exec.Command(mdf, "--dump-dmesg", outs[0], log).CombinedOutput(); err != nil {
					t.Fatalf("C makedumpfile --dump-dmesg of our file: %v\n%s", err, out)
				}
				sameFile(t, log, srcLog)
			}
		})
	}
}

// checkOurReader opens the result and compares a sample of its pages
// with the source's.
func checkOurReader(t *testing.T, src vmcore.Dump, tc collectorCase, outs []string) {
	t.Helper()
	d, err := vmcore.OpenFiles(outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in, err := vmcore.Describe(d)
	if err != nil {
		t.Fatal(err)
	}
	if string(in.Format) != tc.format || in.DumpLevel != tc.level || !in.Complete {
		t.Errorf("format %s, level %d, complete %v; want %s, %d, complete", in.Format, in.DumpLevel, in.Complete, tc.format, tc.level)
	}
	if tc.codec != "" && in.Codecs[tc.codec] == 0 {
		t.Errorf("no %s pages: %v", tc.codec, in.Codecs)
	}
	a, b := make([]byte, d.PageSize()), make([]byte, src.PageSize())
	n := 0
	for _, pfn := range sample(d.Stored(), 200) {
		if err := d.ReadPage(pfn, a); err != nil {
			t.Fatalf("pfn %#x: %v", uint64(pfn), err)
		}
		if err := src.ReadPage(pfn, b); err != nil {
			t.Fatalf("source pfn %#x: %v", uint64(pfn), err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("pfn %#x differs from the source", uint64(pfn))
		}
		n++
	}
	t.Logf("our reader: %s, %d pages stored (%v), %d sampled pages equal to the source", in.Format, in.DumpedPages, in.Codecs, n)
}

// splitRanges returns the pfn range of each file: its own for a
// --split member, everything otherwise.
func splitRanges(t *testing.T, outs []string) []vmcore.SplitMember {
	t.Helper()
	d, err := vmcore.OpenFiles(outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in, err := vmcore.Describe(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Split) == len(outs) {
		return in.Split
	}
	return []vmcore.SplitMember{{StartPFN: 0, EndPFN: ^uint64(0)}}
}

// checkLibkdumpfile reads a sample of the pages of outs in r with
// libkdumpfile.
func checkLibkdumpfile(t *testing.T, src vmcore.Dump, dir string, outs []string, r vmcore.SplitMember) {
	t.Helper()
	d, err := vmcore.OpenFiles(outs...)
	if err != nil {
		t.Fatal(err)
	}
	var pfns []mem.PFN
	for _, p := range sample(d.Stored(), 400) {
		if uint64(p) >= r.StartPFN && uint64(p) < r.EndPFN {
			pfns = append(pfns, p)
		}
	}
	d.Close()
	if len(pfns) == 0 {
		t.Fatalf("%s: no stored page in pfn [%#x, %#x)", outs[0], r.StartPFN, r.EndPFN)
	}
	res, err := oracle.LibkdumpfilePages(dir, src.PageSize(), outs, pfns)
	if err != nil {
		t.Fatal(err)
	}
	page := make([]byte, src.PageSize())
	for _, pfn := range pfns {
		if err := src.ReadPage(pfn, page); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(page)
		if r := res[pfn]; r.Err != "" || r.SHA256 != hex.EncodeToString(s[:]) {
			t.Fatalf("libkdumpfile pfn %#x: %+v", uint64(pfn), r)
		}
	}
	t.Logf("libkdumpfile: %s: %d sampled pages equal to the source", filepath.Base(outs[0]), len(pfns))
}

// sample picks about n pfns spread over the set bits of b.
func sample(b *mem.Bitmap, n int) []mem.PFN {
	var all []mem.PFN
	for p, ok := b.Next(0); ok; p, ok = b.Next(p + 1) {
		all = append(all, p)
	}
	step := max(len(all)/n, 1)
	var out []mem.PFN
	for i := 0; i < len(all); i += step {
		out = append(out, all[i])
	}
	return out
}
