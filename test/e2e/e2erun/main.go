// Command e2erun runs kdumpkit's end-to-end cases from the command line and
// prints what they measured: the back end of make demo, make e2e and
// make e2e-min-crashkernel. See docs/e2e.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kdumpkit/kdumpkit/test/e2e"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("e2erun", flag.ContinueOnError)
	fl.SetOutput(stderr)
	kernels := fl.String("kernel", "6.1", "kernel series, comma-separated: 6.1, 6.12")
	targets := fl.String("target", "local", "targets, comma-separated: local, ssh, nfs")
	mems := fl.String("mem", "2048", "guest memory sizes in MiB, comma-separated")
	ck := fl.String("crashkernel", "256M", "crashkernel= size")
	work := fl.String("work", filepath.Join(os.TempDir(), "kdumpkit-e2e"), "work `dir`")
	demo := fl.Bool("demo", false, "print the demo report for each case")
	minCK := fl.Bool("min-crashkernel", false, "bisect the smallest working crashkernel= (MiB) per case instead")
	minLo := fl.Int("min-lo", 32, "with -min-crashkernel: a size in MiB assumed to fail")
	minHi := fl.Int("min-hi", 512, "with -min-crashkernel: a size in MiB that must work")
	atEstimate := fl.Bool("at-estimate", false, "run each case twice: first at -crashkernel to read `kdumpctl estimate` in the guest, then at exactly the size it recommended")
	ktest := fl.Bool("kdumpctl-test", false, "local target: panic with `kdumpctl test --force`, boot the guest again and check that `kdumpctl status` reports the test's success")
	verbose := fl.Bool("v", false, "log harness steps")
	watchdog := fl.Bool("watchdog", false, "add softdog to the capture initramfs; capture-init must pet /dev/watchdog")
	useDHCP := fl.Bool("dhcp", false, "network targets: the capture kernel asks DHCP (net_config dhcp) instead of a static address")
	agentLoad := fl.Bool("agent-load", false, "load the capture kernel from the guest agent with a harness-built initramfs instead of kdumpctl start")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	var cases []e2e.Case
	for _, k := range split(*kernels) {
		for _, t := range split(*targets) {
			for _, m := range split(*mems) {
				var mem int
				if _, err := fmt.Sscan(m, &mem); err != nil || mem <= 0 {
					fmt.Fprintf(stderr, "e2erun: -mem %q: want MiB\n", m)
					return 2
				}
				cases = append(cases, e2e.Case{Kernel: e2e.Kernel(k), Target: t, MemoryMiB: mem, CrashKernel: *ck, AgentLoad: *agentLoad, DHCP: *useDHCP, Watchdog: *watchdog, KdumpctlTest: *ktest})
			}
		}
	}
	var log io.Writer = io.Discard
	if *verbose {
		log = stderr
	}
	h, err := e2e.New(*work, log)
	if err != nil {
		fmt.Fprintf(stderr, "e2erun: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer h.Close()
	if *minCK {
		fail := 0
		for _, c := range cases {
			mib, err := h.MinCrashKernelIn(ctx, c, stdout, *minLo, *minHi)
			if err != nil {
				fmt.Fprintf(stderr, "e2erun: %s: %v\n", c.Name(), err)
				fail++
				continue
			}
			fmt.Fprintf(stdout, "smallest working crashkernel= for %s %s %d MiB: %dM\n", c.Kernel, c.Target, c.MemoryMiB, mib)
		}
		return min(fail, 1)
	}
	var results []*e2e.Result
	for _, c := range cases {
		fmt.Fprintf(stderr, "e2erun: running %s ...\n", c.Name())
		r := h.Run(ctx, c)
		if *atEstimate {
			if r.EstimateMiB == 0 {
				fmt.Fprintf(stderr, "e2erun: %s: no kdumpctl estimate in the guest (%v)\n", c.Name(), r.Err)
				results = append(results, r)
				continue
			}
			c.CrashKernel = fmt.Sprintf("%dM", r.EstimateMiB)
			fmt.Fprintf(stderr, "e2erun: running %s at the guest's estimate ...\n", c.Name())
			r = h.Run(ctx, c)
			verdict := "works"
			if r.Err != nil {
				verdict = "fails: " + strings.SplitN(r.Err.Error(), "\n", 2)[0]
			}
			fmt.Fprintf(stdout, "%s %s %d MiB: capture at the estimate crashkernel=%s: %s\n", c.Kernel, c.Target, c.MemoryMiB, c.CrashKernel, verdict)
		}
		results = append(results, r)
		if *demo {
			e2e.WriteDemoReport(stdout, r)
		}
		if r.Err != nil {
			fmt.Fprintf(stderr, "e2erun: %s: %v\n", c.Name(), r.Err)
		}
		if r.EstimateMiB != 0 {
			fmt.Fprintf(stdout, "%s: kdumpctl estimate in the guest: %dM; inputs: %s\n", c.Name(), r.EstimateMiB, r.EstimateInputs)
		}
	}
	fmt.Fprintln(stdout)
	e2e.WriteTable(stdout, results)
	for _, r := range results {
		if r.Err != nil {
			return 1
		}
	}
	return 0
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
