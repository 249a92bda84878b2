package e2e

import (
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
