package capture

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/kexec"
)

func TestParseTestID(t *testing.T) {
	for _, tc := range []struct {
		cmdline, id string
		bad         bool
	}{
		{"console=ttyS0 irqpoll", "", false},
		{"console=ttyS0 kdump_test_id=1763797428000000000 nr_cpus=1", "1763797428000000000", false},
		{"kdump_test_id=1 kdump_test_id=2", "2", false}, // the last one counts, as the kernel reads parameters
		{"xkdump_test_id=1", "", false},
		{"kdump_test_id=", "", false},
		{"kdump_test_id=a_b-C9", "a_b-C9", false},
		{"kdump_test_id=../../etc", "", true},
		{"kdump_test_id=a/b", "", true},
		{"kdump_test_id=" + strings.Repeat("1", 65), "", true},
	} {
		id, err := ParseTestID(tc.cmdline)
		if (err != nil) != tc.bad || id != tc.id {
			t.Errorf("ParseTestID(%q) = %q, %v; want %q, bad %v", tc.cmdline, id, err, tc.id, tc.bad)
		}
	}
}

// cmdlineSys is the fake system with a command line.
type cmdlineSys struct {
	*fakeSys
	cmdline string
}

func (s cmdlineSys) Cmdline() (string, error) { return s.cmdline, nil }

func TestRunRecordsTestResult(t *testing.T) {
	const id = "1763797428000000000"
	status := func(s *fakeSys) string {
		b, err := os.ReadFile(filepath.Join(s.roots[MainTarget], "var/crash", kexec.TestDirPrefix+id, kexec.TestStatusFile))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	s := newFakeSys(t)
	var console bytes.Buffer
	res := (&Runner{Sys: cmdlineSys{s, "console=ttyS0 " + kexec.TestIDParam + "=" + id}, Config: baseConfig(), Console: &console}).Run(context.Background())
	if res.Err != nil || !res.Saved {
		t.Fatalf("Run: %+v", res)
	}
	if got, want := status(s), "success "+res.Dir+"/vmcore\n"; got != want {
		t.Errorf("status after a saved dump %q, want %q", got, want)
	}
	if !strings.Contains(console.String(), `kdump test `+id+`: recorded "success"`) {
		t.Errorf("console does not say the result was recorded:\n%s", console.String())
	}

	s = newFakeSys(t)
	s.fail["dump"] = errors.New("disk on fire")
	res = (&Runner{Sys: cmdlineSys{s, kexec.TestIDParam + "=" + id}, Config: baseConfig()}).Run(context.Background())
	if res.Err == nil {
		t.Fatal("Run with a failing dump succeeded")
	}
	if got := status(s); !strings.HasPrefix(got, "fail dump: ") || !strings.Contains(got, "disk on fire") {
		t.Errorf("status after a failed dump %q, want fail and the reason", got)
	}
}

func TestRunWithoutTestIDRecordsNothing(t *testing.T) {
	for _, cl := range []string{"console=ttyS0", kexec.TestIDParam + "=../x"} {
		s := newFakeSys(t)
		var console bytes.Buffer
		res := (&Runner{Sys: cmdlineSys{s, cl}, Config: baseConfig(), Console: &console}).Run(context.Background())
		if res.Err != nil {
			t.Fatalf("%q: Run: %v", cl, res.Err)
		}
		ents, err := os.ReadDir(filepath.Join(s.roots[MainTarget], "var/crash"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), kexec.TestDirPrefix) {
				t.Errorf("%q: %s made on the target", cl, e.Name())
			}
		}
		if strings.Contains(cl, "../") && !strings.Contains(console.String(), "no result recorded") {
			t.Errorf("%q: the bad id is not reported:\n%s", cl, console.String())
		}
	}
}

func TestRunTestTargetNeverReached(t *testing.T) {
	s := newFakeSys(t)
	s.fail["target"] = errors.New("no such device")
	var console bytes.Buffer
	(&Runner{Sys: cmdlineSys{s, kexec.TestIDParam + "=7"}, Config: baseConfig(), Console: &console}).Run(context.Background())
	if !strings.Contains(console.String(), "kdump test 7: the target was never reached") {
		t.Errorf("console:\n%s", console.String())
	}
}

func FuzzParseTestID(f *testing.F) {
	f.Add("console=ttyS0 kdump_test_id=1763797428000000000")
	f.Add("kdump_test_id=../x kdump_test_id=")
	f.Fuzz(func(t *testing.T, cmdline string) {
		id, err := ParseTestID(cmdline)
		if err != nil || id == "" {
			return
		}
		if len(id) > 64 || strings.ContainsAny(id, "/.\x00 ") {
			t.Fatalf("accepted id %q", id)
		}
		if p := TestStatusPath(id); filepath.Dir(p) != kexec.TestDirPrefix+id {
			t.Fatalf("status path %q leaves its directory", p)
		}
	})
}
