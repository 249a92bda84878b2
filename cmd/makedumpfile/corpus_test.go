package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/vmcore"
	"github.com/ulikunitz/xz"
)

// corpusSource returns the real-kernel corpus and the path of its
// makedumpfile input.
func corpusSource(t *testing.T) (*corpus.Corpus, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the real-kernel corpus; skipped with -short")
	}
	c := corpus.Ensure(t)
	return c, c.Path(corpus.SourceName)
}

// mustRun runs makedumpfile in-process and fails unless it exits with
// want.
func mustRun(t *testing.T, want int, stdin []byte, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runArgs(t, stdin, args...)
	if code != want {
		t.Fatalf("makedumpfile %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s (%d bytes) and %s (%d bytes) differ", a, len(x), b, len(y))
	}
}

// reportOf cuts the --show-stats report out of makedumpfile's messages:
// from "Original pages" to "Write bytes".
func reportOf(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, "Original pages")
	j := strings.Index(out, "Write bytes")
	if i < 0 || j < i {
		t.Fatalf("no report in:\n%s", out)
	}
	k := strings.IndexByte(out[j:], '\n')
	if k < 0 {
		k = len(out) - j
	}
	return out[i : j+k]
}

// TestCorpusLZOLevel31: -l -d 31 writes the C tool's file byte for byte,
// and --show-stats prints its report, "Write bytes" included.
func TestCorpusLZOLevel31(t *testing.T) {
	c, src := corpusSource(t)
	out := filepath.Join(t.TempDir(), "dump")
	stdout, _ := mustRun(t, 0, nil, "--show-stats", "-l", "-d", "31", src, out)
	sameFile(t, out, c.Path("makedumpfile-l-d31.kdump"))
	if !strings.HasSuffix(stdout, "\nThe dumpfile is saved to "+out+".\n\nmakedumpfile Completed.\n") {
		t.Errorf("stdout ends:\n%s", stdout)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("dumpfile mode: %v %v", st.Mode(), err)
	}
	theirs, err := os.ReadFile(c.Path("makedumpfile-l-d31.stats.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reportOf(t, stdout), reportOf(t, string(theirs)); got != want {
		t.Errorf("report:\n%s\nmakedumpfile's:\n%s", got, want)
	}

	// --dry-run does all of it but the file.
	dry := filepath.Join(t.TempDir(), "dry")
	stdout, _ = mustRun(t, 0, nil, "--dry-run", "--show-stats", "-l", "-d", "31", src, dry)
	if _, err := os.Stat(dry); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--dry-run made %s: %v", dry, err)
	}
	if got, want := reportOf(t, stdout), reportOf(t, string(theirs)); got != want {
		t.Errorf("--dry-run report:\n%s\nmakedumpfile's:\n%s", got, want)
	}

	// -f overwrites (our zlib bytes are not the C tool's, so the
	// reference is a fresh file).
	mustRun(t, 1, nil, "-l", "-d", "31", src, out)
	mustRun(t, 0, nil, "-f", "-c", "-d", "31", src, out)
	fresh := filepath.Join(t.TempDir(), "fresh")
	mustRun(t, 0, nil, "-c", "-d", "31", src, fresh)
	sameFile(t, out, fresh)
}

// TestCorpusELFLevel31: -E -d 31 is the C tool's ELF file byte for byte,
// also through -F -E and -R.
func TestCorpusELFLevel31(t *testing.T) {
	c, src := corpusSource(t)
	out := filepath.Join(t.TempDir(), "dump.elf")
	mustRun(t, 0, nil, "-E", "-d", "31", src, out)
	sameFile(t, out, c.Path("makedumpfile-E-d31.elf"))

	// -F -E flattens it; -R restores it.
	var stream, msgs bytes.Buffer
	if code := run([]string{"-F", "-E", "-d", "31", src}, nil, &stream, &msgs); code != 0 {
		t.Fatalf("-F -E: exit %d\n%s", code, msgs.String())
	}
	rearranged := filepath.Join(t.TempDir(), "rearranged.elf")
	mustRun(t, 0, stream.Bytes(), "-R", rearranged)
	sameFile(t, rearranged, out)

	// ELF output needs ELF input; nothing is created otherwise.
	fromKdump := filepath.Join(t.TempDir(), "from-kdump.elf")
	_, stderr := mustRun(t, 1, nil, "-E", "-d", "31", c.Path("makedumpfile-l-d31.kdump"), fromKdump)
	if !strings.Contains(stderr, "ELF output needs an ELF core") {
		t.Errorf("stderr: %s", stderr)
	}
	if _, err := os.Stat(fromKdump); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was created: %v", fromKdump, err)
	}
}

// TestCorpusFlattenRearrange: -F -c -d 31 to a pipe, then -R of that
// stream gives our direct -c -d 31 file. An xz-wrapped stream is refused
// with a hint to unwrap it first, as the C tool needs too: makedumpfile
// does not link the stream containers (codec/stream), and the test
// wraps with the xz package directly so as not to link them either.
func TestCorpusFlattenRearrange(t *testing.T) {
	_, src := corpusSource(t)
	dir := t.TempDir()
	direct := filepath.Join(dir, "direct")
	mustRun(t, 0, nil, "-c", "-d", "31", src, direct)

	var stream, msgs bytes.Buffer
	if code := run([]string{"-F", "-c", "-d", "31", src}, nil, &stream, &msgs); code != 0 {
		t.Fatalf("-F: exit %d\n%s", code, msgs.String())
	}
	if !strings.HasSuffix(msgs.String(), "The dumpfile is saved to STDOUT.\n\nmakedumpfile Completed.\n") {
		t.Errorf("-F messages on stderr:\n%s", msgs.String())
	}
	rearranged := filepath.Join(dir, "rearranged")
	mustRun(t, 0, stream.Bytes(), "-R", rearranged)
	sameFile(t, rearranged, direct)

	var xzs bytes.Buffer
	w, err := xz.NewWriter(&xzs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(stream.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fromXZ := filepath.Join(dir, "from-xz")
	_, stderr := mustRun(t, 1, xzs.Bytes(), "-R", fromXZ)
	if !strings.Contains(stderr, "xz stream") || !strings.Contains(stderr, "xz -dc") {
		t.Errorf("-R of an xz-wrapped stream, stderr:\n%s", stderr)
	}

	// A truncated stream is a failure.
	mustRun(t, 1, stream.Bytes()[:stream.Len()/2], "-R", filepath.Join(dir, "truncated"))
}

// TestCorpusSplitReassemble: --split into three files, then --reassemble,
// gives the single-file dump: the C tool's -l -d 31 file byte for byte.
func TestCorpusSplitReassemble(t *testing.T) {
	c, src := corpusSource(t)
	dir := t.TempDir()
	parts := []string{filepath.Join(dir, "part1"), filepath.Join(dir, "part2"), filepath.Join(dir, "part3")}
	// 64 MiB blocks, so that a 1 GiB guest spreads over all three.
	stdout, _ := mustRun(t, 0, nil, append([]string{"--split", "-l", "-d", "31", "--splitblock-size", "65536", src}, parts...)...)
	if !strings.Contains(stdout, "The dumpfiles are saved to "+parts[0]+", "+parts[1]+", and "+parts[2]+".") {
		t.Errorf("stdout:\n%s", stdout)
	}
	for _, p := range parts {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", filepath.Base(p), st.Size())
	}
	out := filepath.Join(dir, "reassembled")
	mustRun(t, 0, nil, append(append([]string{"--reassemble"}, parts...), out)...)
	sameFile(t, out, c.Path("makedumpfile-l-d31.kdump"))
}

// checkIncomplete is dumptest.CheckIncomplete against the source file.
func checkIncomplete(t *testing.T, srcName, name string) (intact, lost uint64) {
	t.Helper()
	src, err := vmcore.Open(srcName)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return dumptest.CheckIncomplete(t, src, name)
}

// TestCorpusLevelListRetry: -L lets -l -d 31 (24 MB) through but not
// -l -d 1 (580 MB). The levels are tried left to right; a level that
// does not fit is deleted and the next one tried, and only the last
// one's failure stays, as an incomplete file and exit status 1.
func TestCorpusLevelListRetry(t *testing.T) {
	c, src := corpusSource(t)
	dir := t.TempDir()
	const limit = "100M"

	out := filepath.Join(dir, "1,31")
	stdout, stderr := mustRun(t, 0, nil, "-l", "-d", "1,31", "-L", limit, src, out)
	sameFile(t, out, c.Path("makedumpfile-l-d31.kdump"))
	if !strings.Contains(stdout, "Retry to create a dumpfile by dump_level(31).") || !strings.Contains(stderr, "size limit") {
		t.Errorf("no retry message:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}

	out = filepath.Join(dir, "31,1")
	stdout, _ = mustRun(t, 0, nil, "-l", "-d", "31,1", "-L", limit, src, out)
	sameFile(t, out, c.Path("makedumpfile-l-d31.kdump"))
	if strings.Contains(stdout, "Retry to create") {
		t.Errorf("retried although -d 31 fits:\n%s", stdout)
	}

	out = filepath.Join(dir, "1,2")
	stdout, _ = mustRun(t, 1, nil, "-l", "-d", "1,2", "-L", limit, src, out)
	if !strings.HasSuffix(stdout, "makedumpfile Failed.\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatalf("the incomplete dump is gone: %v", err)
	}
	if st.Size() > 100<<20 {
		t.Errorf("%d bytes, above -L %s", st.Size(), limit)
	}
	d, err := vmcore.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	in, err := vmcore.Describe(d)
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	if in.Complete || in.DumpLevel != 2 {
		t.Errorf("complete %v, dump level %d; want an incomplete level-2 dump", in.Complete, in.DumpLevel)
	}

	// With -F there is no retry: the stream cannot be taken back.
	var stream, msgs bytes.Buffer
	if code := run([]string{"-F", "-l", "-d", "1,31", "-L", limit, src}, nil, &stream, &msgs); code != 1 {
		t.Fatalf("-F: exit %d, want 1\n%s", code, msgs.String())
	}
	if strings.Contains(msgs.String(), "Retry to create") {
		t.Errorf("-F retried:\n%s", msgs.String())
	}
}

// TestCorpusRefilter: a kdump file filtered again keeps its own level
// (makedumpfile ORs it in) and gives the file a direct run makes.
func TestCorpusRefilter(t *testing.T) {
	c, _ := corpusSource(t)
	out := filepath.Join(t.TempDir(), "refiltered")
	stdout, _ := mustRun(t, 0, nil, "-l", "-d", "1", c.Path("makedumpfile-l-d31.kdump"), out)
	if !strings.Contains(stdout, "dump_level is changed to 31") {
		t.Errorf("stdout:\n%s", stdout)
	}
	sameFile(t, out, c.Path("makedumpfile-l-d31.kdump"))
}

// TestCorpusFullFilesystemRoot is the acceptance test: filling a
// small file system mid-dump leaves a readable file with the incomplete
// flag set, all written pages intact, and exit status 1.
func TestCorpusFullFilesystemRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs it as root)")
	}
	c, src := corpusSource(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	// A level list retries on ENOSPC as on -L: -d 1 (580 MB) does not
	// fit, -d 31 (24 MB) does, and the full file is deleted first.
	retried := filepath.Join(mnt, "retried")
	stdout, stderr := mustRun(t, 0, nil, "-l", "-d", "1,31", src, retried)
	if !strings.Contains(stdout, "Retry to create a dumpfile by dump_level(31).") || !strings.Contains(stderr, "no space left on device") {
		t.Errorf("no ENOSPC retry:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	sameFile(t, retried, c.Path("makedumpfile-l-d31.kdump"))
	if err := os.Remove(retried); err != nil {
		t.Fatal(err)
	}

	name := filepath.Join(mnt, "vmcore")
	stdout, stderr = mustRun(t, 1, nil, "-d", "1", src, name)
	if !strings.HasSuffix(stdout, "\nmakedumpfile Failed.\n") || !strings.Contains(stdout, "is incomplete") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if !strings.Contains(stderr, "no space left on device") {
		t.Errorf("stderr:\n%s", stderr)
	}
	intact, lost := checkIncomplete(t, src, name)
	st, _ := os.Stat(name)
	t.Logf("%d bytes on a 64 MiB tmpfs: %d pages intact, %d lost", st.Size(), intact, lost)
	if intact < 10000 {
		t.Errorf("only %d pages intact", intact)
	}
}

// TestCorpusDumpDmesg: --dump-dmesg writes the log file, refuses an
// existing one without -f, and with -F writes to standard output; the
// log equals vmcore dmesg's (itself byte-identical to the C tools', see
// package kernel) and, without caller fields, the C makedumpfile 1.7.2's.
func TestCorpusDumpDmesg(t *testing.T) {
	c, src := corpusSource(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "dmesg.txt")
	stdout, _ := mustRun(t, 0, nil, "--dump-dmesg", src, log)
	if !strings.HasSuffix(stdout, "\nThe dmesg log is saved to "+log+".\n\nmakedumpfile Completed.\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	ours, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(log); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	theirs := filepath.Join(dir, "c.txt")
	if out, err := exec.Command(dumptest.CMakedumpfile(t), "--dump-dmesg", src, theirs).CombinedOutput(); err != nil {
		t.Fatalf("C makedumpfile: %v\n%s", err, out)
	}
	cLog, err := os.ReadFile(theirs)
	if err != nil {
		t.Fatal(err)
	}
	// 1.7.2 prints no caller field: strip ours ("[      T0] ") to compare.
	stripped := regexp.MustCompile(`(?m)^(\[[ 0-9]+\.[0-9]{6}\] )\[ *[TC][0-9]+\] `).ReplaceAll(ours, []byte("$1"))
	if !bytes.Equal(stripped, cLog) {
		t.Errorf("without caller fields ours (%d bytes) differs from makedumpfile 1.7.2's (%d bytes)", len(stripped), len(cLog))
	}
	if bytes.Equal(stripped, ours) {
		t.Errorf("no caller fields in ours, although 6.1 records callers")
	}
	t.Logf("%d lines", bytes.Count(ours, []byte("\n")))

	_, stderr := mustRun(t, 1, nil, "--dump-dmesg", src, log)
	if !strings.Contains(stderr, "exists") {
		t.Errorf("existing file: %s", stderr)
	}
	mustRun(t, 0, nil, "-f", "--dump-dmesg", "--partial-dmesg", c.Path("makedumpfile-l-d31.kdump"), log)
	sameFile(t, log, filepath.Join(dir, "dmesg.txt"))

	var out, msgs bytes.Buffer
	if code := run([]string{"-F", "--dump-dmesg", c.Path("makedumpfile-F-c-d31.flat")}, nil, &out, &msgs); code != 0 {
		t.Fatalf("-F --dump-dmesg: exit %d\n%s", code, msgs.String())
	}
	if !bytes.Equal(out.Bytes(), ours) || !strings.Contains(msgs.String(), "saved to STDOUT") {
		t.Errorf("-F --dump-dmesg: %d bytes on stdout, messages:\n%s", out.Len(), msgs.String())
	}
}

// TestCorpusVMCOREINFOFile: -i with the corpus's VMCOREINFO text gives
// the same dump; a file with another OSRELEASE is refused with exit 2,
// as makedumpfile's check_release does.
func TestCorpusVMCOREINFOFile(t *testing.T) {
	c, src := corpusSource(t)
	dir := t.TempDir()
	info := c.Path("vmcoreinfo.txt")
	out := filepath.Join(dir, "dump")
	mustRun(t, 0, nil, "-l", "-d", "31", "-i", info, src, out)
	sameFile(t, out, c.Path("makedumpfile-l-d31.kdump"))

	b, err := os.ReadFile(info)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.txt")
	re := regexp.MustCompile(`(?m)^OSRELEASE=.*$`)
	if err := os.WriteFile(other, re.ReplaceAll(b, []byte("OSRELEASE=5.10.0-99-amd64")), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := mustRun(t, 2, nil, "-l", "-d", "31", "-i", other, src, filepath.Join(dir, "dump2"))
	if !strings.Contains(stderr, "don't match") || !strings.HasSuffix(stdout, "makedumpfile Failed.\n") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	mustRun(t, 2, nil, "--dump-dmesg", "-i", other, src, filepath.Join(dir, "log"))
}

// TestCorpusMemUsage: --mem-usage's table has the page counts of the C
// tool's -d 31 --show-stats report of the same dump.
func TestCorpusMemUsage(t *testing.T) {
	c, src := corpusSource(t)
	stdout, _ := mustRun(t, 0, nil, "--mem-usage", src)
	if strings.Contains(stdout, "Completed") {
		t.Errorf("--mem-usage printed the completion line, which the C tool does not:\n%s", stdout)
	}
	b, err := os.ReadFile(c.Path("makedumpfile-l-d31.stats.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := oracle.ParseStats(string(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []struct {
		name string
		n    uint64
	}{
		{"ZERO", st.Zero}, {"NON_PRI_CACHE", st.NonPrivateCache}, {"PRI_CACHE", st.PrivateCache},
		{"USER", st.UserData}, {"FREE", st.Free}, {"KERN_DATA", st.Remaining},
	} {
		re := regexp.MustCompile(`(?m)^` + row.name + `\t+(\d+) `)
		m := re.FindStringSubmatch(stdout)
		if m == nil || m[1] != strconv.FormatUint(row.n, 10) {
			t.Errorf("%s: got %v, the C tool counted %d", row.name, m, row.n)
		}
	}
	if !strings.Contains(stdout, fmt.Sprintf("Total pages on system:\t%-16d\n", st.Original)) {
		t.Errorf("total pages: want %d in\n%s", st.Original, stdout)
	}
}

// TestCorpusCyclicBuffer: with --cyclic-buffer 4 (KiB: windows of 32 Ki
// pages, so the 1 GiB guest's keep map does not fit and mem_map is
// walked twice), -l -d 31 still writes the C tool's file byte for byte
// with its --show-stats report; so do -F then -R, and --split then
// --reassemble; -E ignores the budget and writes the C tool's ELF file.
func TestCorpusCyclicBuffer(t *testing.T) {
	c, src := corpusSource(t)
	dir := t.TempDir()
	want := c.Path("makedumpfile-l-d31.kdump")
	out := filepath.Join(dir, "dump")
	stdout, _ := mustRun(t, 0, nil, "--cyclic-buffer", "4", "-D", "--show-stats", "-l", "-d", "31", src, out)
	sameFile(t, out, want)
	if !strings.Contains(stdout, "cyclic: the keep map is over the budget; 8 windows of 32768 pages") {
		t.Errorf("-D does not say the dump went cyclic:\n%s", stdout)
	}
	theirs, err := os.ReadFile(c.Path("makedumpfile-l-d31.stats.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reportOf(t, stdout), reportOf(t, string(theirs)); got != want {
		t.Errorf("report:\n%s\nmakedumpfile's:\n%s", got, want)
	}

	var stream, msgs bytes.Buffer
	if code := run([]string{"-F", "--cyclic-buffer=4", "-l", "-d", "31", src}, nil, &stream, &msgs); code != 0 {
		t.Fatalf("-F: exit %d\n%s", code, msgs.String())
	}
	rearranged := filepath.Join(dir, "rearranged")
	mustRun(t, 0, stream.Bytes(), "-R", rearranged)
	sameFile(t, rearranged, want)

	parts := []string{filepath.Join(dir, "part1"), filepath.Join(dir, "part2"), filepath.Join(dir, "part3")}
	mustRun(t, 0, nil, append([]string{"--split", "--cyclic-buffer", "4", "-l", "-d", "31", "--splitblock-size", "65536", src}, parts...)...)
	whole := filepath.Join(dir, "reassembled")
	mustRun(t, 0, nil, append(append([]string{"--reassemble"}, parts...), whole)...)
	sameFile(t, whole, want)

	elf := filepath.Join(dir, "dump.elf")
	mustRun(t, 0, nil, "-E", "--cyclic-buffer", "4", "-d", "31", src, elf)
	sameFile(t, elf, c.Path("makedumpfile-E-d31.elf"))
}
