package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQEMUPanicCapture runs the matrix: each kernel × target × memory
// size boots, panics, is captured by capture-init and checked by crash,
// drgn, makedumpfile and vmcore verify. It runs only with KDUMPKIT_E2E=1
// (make e2e): a run takes minutes and downloads kernels.
//
// KDUMPKIT_E2E_KERNELS, _TARGETS and _MEM (comma-separated) narrow it.
func TestQEMUPanicCapture(t *testing.T) {
	if os.Getenv("KDUMPKIT_E2E") != "1" {
		t.Skip("end-to-end QEMU test: set KDUMPKIT_E2E=1 (make e2e)")
	}
	if miss := MissingTools(); len(miss) > 0 {
		t.Fatalf("missing programs: %v (scripts/install-deps.sh installs them)", miss)
	}
	kernels := list("KDUMPKIT_E2E_KERNELS", "6.1,6.12")
	targets := list("KDUMPKIT_E2E_TARGETS", "local,ssh,nfs")
	mems := list("KDUMPKIT_E2E_MEM", "1024,2048")
	work := os.Getenv("KDUMPKIT_E2E_WORK")
	if work == "" {
		work = filepath.Join(t.TempDir(), "work")
	}
	h, err := New(work, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var results []*Result
	for _, k := range kernels {
		for _, tg := range targets {
			for _, m := range mems {
				c := Case{Kernel: Kernel(k), Target: tg, CrashKernel: "256M"}
				if _, err := fmt.Sscan(m, &c.MemoryMiB); err != nil {
					t.Fatalf("KDUMPKIT_E2E_MEM %q: %v", m, err)
				}
				t.Run(c.Name(), func(t *testing.T) {
					r := h.Run(context.Background(), c)
					results = append(results, r)
					if r.Err != nil {
						t.Fatal(r.Err)
					}
					if r.PanicLine == "" || len(r.Backtrace) == 0 {
						t.Errorf("crash gave no panic line or backtrace")
					}
				})
			}
		}
	}
	var b strings.Builder
	WriteTable(&b, results)
	t.Logf("measured (host wall clock under TCG; noisy):\n%s", b.String())
}

func list(env, def string) []string {
	v := os.Getenv(env)
	if v == "" {
		v = def
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestQEMUCaptureExtras runs the cases beside the matrix once, on 6.1
// with 1 GiB: a raw target with a (soft) watchdog to pet; SSH with the
// capture kernel's address from DHCP; two failure paths: the NFS export
// is missing (failure_action dump_to_rootfs saves the dump on the local
// disk), and the local disk is too small for the dump (vmcore-incomplete
// is kept, marked incomplete, and the failure action taken); and
// `kdumpctl test`, whose result `kdumpctl status` reports after a second
// boot.
func TestQEMUCaptureExtras(t *testing.T) {
	if os.Getenv("KDUMPKIT_E2E") != "1" {
		t.Skip("end-to-end QEMU test: set KDUMPKIT_E2E=1 (make e2e)")
	}
	if miss := MissingTools(); len(miss) > 0 {
		t.Fatalf("missing programs: %v (scripts/install-deps.sh installs them)", miss)
	}
	work := os.Getenv("KDUMPKIT_E2E_WORK")
	if work == "" {
		work = filepath.Join(t.TempDir(), "work")
	}
	h, err := New(work, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var results []*Result
	for _, c := range []Case{
		{Kernel: Kernel61, Target: TargetRaw, MemoryMiB: 1024, CrashKernel: "256M", Watchdog: true},
		{Kernel: Kernel61, Target: TargetSSH, MemoryMiB: 1024, CrashKernel: "256M", DHCP: true},
		{Kernel: Kernel61, Target: TargetNFSDown, MemoryMiB: 1024, CrashKernel: "256M", AgentLoad: true},
		{Kernel: Kernel61, Target: TargetLocalFull, MemoryMiB: 1024, CrashKernel: "256M"},
		{Kernel: Kernel61, Target: TargetLocal, MemoryMiB: 1024, CrashKernel: "256M", KdumpctlTest: true},
	} {
		t.Run(c.Name(), func(t *testing.T) {
			r := h.Run(context.Background(), c)
			results = append(results, r)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if c.Target == TargetNFSDown && r.Checks["fallback"] != "ok" {
				t.Errorf("fallback check: %q", r.Checks["fallback"])
			}
			if c.KdumpctlTest && r.Checks["kdumpctl-test"] != "ok" {
				t.Errorf("kdumpctl-test check: %q", r.Checks["kdumpctl-test"])
			}
		})
	}
	var b strings.Builder
	WriteTable(&b, results)
	t.Logf("measured (host wall clock under TCG; noisy):\n%s", b.String())
}
