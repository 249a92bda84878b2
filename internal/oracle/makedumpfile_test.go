package oracle

import (
	"reflect"
	"strings"
	"testing"
)

// report172 is makedumpfile 1.7.2's --show-stats output for -l -d 31 on
// the 6.1 corpus (1.7.8 prints the same layout).
const report172 = `The kernel version is not supported.
The makedumpfile operation may be incomplete.
STEP [Checking for memory holes  ] : 0.000753 seconds
STEP [Excluding unnecessary pages] : 0.025208 seconds
STEP [Copying data               ] : 0.518179 seconds
STEP [Copying data               ] : 0.000020 seconds

Original pages  : 0x0000000000040000
  Excluded pages   : 0x000000000003bd5a
    Pages filled with zero  : 0x0000000000000d96
    Non-private cache pages : 0x00000000000184d1
    Private cache pages     : 0x0000000000000013
    User process data pages : 0x0000000000010447
    Free pages              : 0x0000000000012699
    Hwpoison pages          : 0x0000000000000000
    Offline pages           : 0x0000000000000000
  Remaining pages  : 0x00000000000042a6
  (The number of pages is reduced to 6%.)
Memory Hole     : 0x0000000000000000
--------------------------------------------------
Total pages     : 0x0000000000040000
Write bytes     : 23704891

Cache hit: 10721, miss: 24072, hit rate: 30.8%


The dumpfile is saved to makedumpfile-l-d31.kdump.

makedumpfile Completed.
`

func TestParseStats(t *testing.T) {
	s, err := ParseStats(report172)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Original: 0x40000, Excluded: 0x3bd5a, Zero: 0xd96, NonPrivateCache: 0x184d1, PrivateCache: 0x13,
		UserData: 0x10447, Free: 0x12699, Remaining: 0x42a6, Total: 0x40000, WriteBytes: 23704891}
	got := *s
	got.All = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if s.All["Free pages"] != 0x12699 || len(s.All) != 13 {
		t.Errorf("All = %v", s.All)
	}
}

func TestParseStatsDecimalAndNewClass(t *testing.T) {
	// Decimal counts and a class this version of Stats does not name.
	r := strings.NewReplacer("0x0000000000040000", "262144", "    Offline pages           : 0x0000000000000000\n",
		"    Offline pages           : 0x0000000000000000\n    Unaccepted pages        : 0x0000000000000010\n",
		"0x000000000003bd5a", "0x000000000003bd6a", "0x00000000000042a6", "0x0000000000004296")
	s, err := ParseStats(r.Replace(report172))
	if err != nil {
		t.Fatal(err)
	}
	if s.Original != 0x40000 || s.Total != 0x40000 || s.All["Unaccepted pages"] != 16 {
		t.Errorf("got %+v", s)
	}
}

func TestParseStatsErrors(t *testing.T) {
	for name, text := range map[string]string{
		"no report":   "makedumpfile Completed.\n",
		"missing":     strings.Replace(report172, "Free pages", "Freed", 1),
		"bad sum":     strings.Replace(report172, "0x0000000000000d96", "0x0000000000000d97", 1),
		"bad remains": strings.Replace(report172, "0x00000000000042a6", "0x00000000000042a7", 1),
	} {
		if _, err := ParseStats(text); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNeedsNewMakedumpfile(t *testing.T) {
	for rel, want := range map[string]bool{
		"6.1.0-56-cloud-amd64":       false,
		"5.10.0-30-amd64":            false,
		"6.2.0":                      true,
		"6.12.117+deb12-cloud-amd64": true,
		"7.0.1-amd64":                true,
		"weird":                      true,
	} {
		if got := NeedsNewMakedumpfile(rel); got != want {
			t.Errorf("NeedsNewMakedumpfile(%q) = %v", rel, got)
		}
	}
}

func TestMirror(t *testing.T) {
	deb822 := `Types: deb
# http://archive.example/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
`
	if got := mirrorFromDeb822(deb822); got != "http://mirror.example/debian" {
		t.Errorf("deb822: %q", got)
	}
	if got := mirrorFromDeb822("Types: deb\nURIs: https://apt.example.com/node_20.x\n"); got != "" {
		t.Errorf("third-party deb822: %q", got)
	}
	oneLine := "deb https://packages.example.com/apt x main\ndeb [arch=amd64] http://mirror.example/debian/ bookworm main\n"
	if got := mirrorFromOneLine(oneLine); got != "http://mirror.example/debian/" {
		t.Errorf("one-line: %q", got)
	}
}

func TestChrootCommand(t *testing.T) {
	m := &Makedumpfile{Root: "/r", Path: "/usr/bin/makedumpfile"}
	cmd, err := m.Command(t.Context(), "/work/x", "-l", "-d", "31", "in", "out")
	if err != nil {
		t.Skip(err) // no unshare here
	}
	args := strings.Join(cmd.Args, " ")
	if !strings.Contains(args, "--mount") || !strings.HasSuffix(args, "sh /r /work/x /usr/bin/makedumpfile -l -d 31 in out") {
		t.Errorf("args %q", cmd.Args)
	}
	h := &Makedumpfile{Path: "/usr/sbin/makedumpfile"}
	cmd, _ = h.Command(t.Context(), "/work/x", "-v")
	if cmd.Dir != "/work/x" || strings.Join(cmd.Args, " ") != "/usr/sbin/makedumpfile -v" {
		t.Errorf("host command %q in %q", cmd.Args, cmd.Dir)
	}
}
