package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/qemu"
)

func TestMeasure(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64, text string) qemu.Line {
		return qemu.Line{Time: t0.Add(time.Duration(s * float64(time.Second))), Text: text}
	}
	lines := []qemu.Line{
		at(0, "guestagent: kernel 6.1.0"),
		at(10, "KDUMPKIT-AGENT-PANIC"),
		at(10.1, "[   12.3] sysrq: Trigger a crash"),
		at(13, "capture-init: starting, pid 1"),
		at(14, "capture-init: [   1.00s] dump: 50% (1 of 2 pages)"),
		at(15.5, "capture-init: [   2.50s] dump: done in 1.75s"),
		at(15.6, "capture-init: [   2.60s] saved 127.0.0.1-x/vmcore (123 bytes); peak memory 13020 KiB"),
		at(15.7, "capture-init: [   2.70s] poweroff"),
	}
	var r Result
	(&Harness{}).measure(lines, &r)
	if r.PanicToStart != 3*time.Second || r.PanicToSaved != 5600*time.Millisecond ||
		r.DumpDuration != 1750*time.Millisecond || r.PeakKiB != 13020 {
		t.Errorf("measured %+v", r)
	}
	var none Result
	(&Harness{}).measure(lines[:1], &none)
	if none.PanicToStart != 0 || none.PanicToSaved != 0 {
		t.Errorf("times without the panic line: %+v", none)
	}
}

func TestWriteTable(t *testing.T) {
	rs := []*Result{
		{Case: Case{Kernel: Kernel61, Target: TargetLocal, MemoryMiB: 2048, CrashKernel: "96M"},
			PanicToStart: 3 * time.Second, PanicToSaved: 8 * time.Second, DumpDuration: 2 * time.Second,
			PeakKiB: 13 << 10, InitramfsBytes: 3 << 20, DumpBytes: 40 << 20, Checks: map[string]string{"crash": "ok", "drgn": "ok"}},
		{Case: Case{Kernel: Kernel612, Target: TargetNFS, MemoryMiB: 1024, CrashKernel: "256M"},
			Err: errTest, Checks: map[string]string{"crash": "no sysrq line"}},
	}
	var b strings.Builder
	WriteTable(&b, rs)
	out := b.String()
	for _, want := range []string{
		"6.1    local   2048M    96M yes       3.0s     2.0s      8.0s     13.0       3072      40960  crash:ok drgn:ok",
		"6.12   nfs     1024M   256M NO           -        -         -      0.0          0          0  crash:FAIL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

var errTest = errString("boom")

type errString string

func (e errString) Error() string { return string(e) }

func TestCheckLifecycle(t *testing.T) {
	good := []string{
		"guestagent: kernel 6.1.0",
		"kdump: initramfs /var/lib/kdump/initramfs-6.1.img built (3049472 bytes, 2.9 MiB, gzip, 2 modules)",
		"kdump: capture kernel 6.1.0 loaded with kexec_file_load, reservation 128 MiB",
		"guestagent: kdumpctl start: exit 0, 1.20s",
		"Kdump is operational (reservation 128 MiB)",
		"guestagent: kdumpctl status: exit 0, 0.10s",
		"Recommended crashkernel: 92M",
		"guestagent: kdumpctl estimate: exit 0, 0.30s",
		"kdump: capture kernel unloaded with kexec_file_load",
		"guestagent: kdumpctl stop: exit 0, 0.05s",
		"Kdump is not operational: no capture kernel loaded",
		"guestagent: kdumpctl status: exit 3, 0.05s",
		"KDUMPKIT-AGENT-STOPPED status=3 kexec_crash_loaded=0",
		"kdump: initramfs /var/lib/kdump/initramfs-6.1.img up to date (3049472 bytes, 2.9 MiB, gzip, 2 modules)",
		"kdump: capture kernel 6.1.0 loaded with kexec_file_load, reservation 128 MiB",
		"guestagent: kdumpctl start: exit 0, 0.40s",
		"KDUMPKIT-AGENT-LOADED crash_size=134217728",
	}
	lines := func(ss []string) []qemu.Line {
		var out []qemu.Line
		for _, s := range ss {
			out = append(out, qemu.Line{Text: s})
		}
		return out
	}
	if err := checkLifecycle(lines(good)); err != nil {
		t.Fatalf("good sequence: %v", err)
	}
	drop := func(i int) []string { return append(slices.Clone(good[:i]), good[i+1:]...) }
	rebuilt := slices.Clone(good)
	rebuilt[13] = strings.Replace(rebuilt[13], "up to date", "built", 1)
	stillLoaded := slices.Clone(good)
	stillLoaded[12] = "KDUMPKIT-AGENT-STOPPED status=3 kexec_crash_loaded=1"
	for name, tc := range map[string]struct {
		lines []string
		want  string
	}{
		"no stop":              {drop(8), "kdumpctl stop unloads"},
		"status not 3":         {drop(11), "status exits 3"},
		"still loaded":         {stillLoaded, "kexec_crash_loaded is 0"},
		"rebuilt":              {rebuilt, "rebuilt the image"},
		"second start missing": {good[:13], "second kdumpctl start reports"},
	} {
		err := checkLifecycle(lines(tc.lines))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

func TestCheckKdumpctlTest(t *testing.T) {
	lines := func(ss ...string) []qemu.Line {
		var out []qemu.Line
		for _, s := range ss {
			out = append(out, qemu.Line{Text: s})
		}
		return out
	}
	first := lines(
		"kdump: capture kernel 6.1.0 reloaded with kexec_file_load",
		"kdump: test 1763797428000000000: triggering a kernel panic now",
		`capture-init: [   2.10s] kdump test 1763797428000000000: recorded "success" in kdump-test-1763797428000000000/vmcore-creation.status`,
	)
	second := lines("KDUMPKIT-AGENT-SECOND-BOOT", "Last kdump test 1763797428000000000: success (/mnt/var/crash/x/kdump-test-1763797428000000000/vmcore-creation.status)")
	if err := checkKdumpctlTest(first, second); err != nil {
		t.Fatalf("good boots: %v", err)
	}
	for name, tc := range map[string]struct {
		first, second []qemu.Line
		want          string
	}{
		"no trigger":   {first[2:], second, "did not say"},
		"not recorded": {first[:2], second, `recorded ""`},
		"pending":      {first, lines("KDUMPKIT-AGENT-SECOND-BOOT", "Last kdump test 1763797428000000000: pending (no result yet at /x)"), "want test"},
		"other id":     {first, lines("KDUMPKIT-AGENT-SECOND-BOOT", "Last kdump test 5: success"), "want test"},
		"no status":    {first, lines("KDUMPKIT-AGENT-SECOND-BOOT"), "no \"Last kdump test"},
	} {
		err := checkKdumpctlTest(tc.first, tc.second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}
