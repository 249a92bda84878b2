// Command capture-init is PID 1 of kdumpkit's capture initramfs. See
// docs/capture-init.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/kdumpkit/kdumpkit/initramfs"
	"github.com/kdumpkit/kdumpkit/internal/capture"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

const usage = `usage: capture-init [-config FILE] [-modules FILE] [-vmcore FILE]

capture-init runs as /init of the capture initramfs after a kernel panic: it
saves vmcore-dmesg.txt, the dump (vmcore) and its own log (kexec-dmesg.log)
to the target kdump.conf names, then takes final_action (or, after a
failure, kdump_emergency and failure_action). See docs/capture-init.md.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("capture-init", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usage); fl.PrintDefaults() }
	confPath := fl.String("config", "/"+initramfs.ConfigPath, "the kdump.conf baked into the initramfs")
	modPath := fl.String("modules", "/"+initramfs.ModulesPath, "the list of modules to load, in order")
	vmcorePath := fl.String("vmcore", "/proc/vmcore", "the crashed kernel's memory")
	notInit := fl.Bool("not-init", false, "run although this is not PID 1 (it still mounts, loads modules and powers off: only in a throwaway VM)")
	if err := fl.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if os.Getpid() != 1 && !*notInit {
		fmt.Fprintln(stderr, "capture-init: not PID 1: it runs as /init of the capture initramfs (it mounts, loads modules and reboots); -not-init overrides")
		return 2
	}
	console, _ := stdout.(*os.File)
	if console == nil {
		console = os.Stdout
	}
	sys := capture.NewLinux(console)
	sys.VmcorePath = *vmcorePath
	logf := func(format string, a ...any) { fmt.Fprintf(stdout, "capture-init: "+format+"\n", a...) }
	sys.Logf = logf
	start := time.Now()
	logf("starting, pid %d", os.Getpid())
	if err := sys.MountPseudo(); err != nil {
		logf("%v", err)
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		if l := capture.SetMemoryLimit(f, os.Getenv); l > 0 {
			logf("memory limit %d MiB", l>>20)
		}
		f.Close()
	}
	cfg, err := readConfig(*confPath, *modPath, logf)
	if err != nil {
		// Without a configuration nothing can be saved; reboot, the
		// default failure_action.
		logf("%v; rebooting", err)
		return halt(sys, kdumpconf.ActionReboot, logf)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A backstop for a step that ignores its deadline (a hung mount or
	// read): after the deadline and a minute of grace, end the machine.
	if cfg.Deadline > 0 {
		go func() {
			time.Sleep(cfg.Deadline + time.Minute - time.Since(start))
			a := cfg.Conf.FailureAction
			if a != kdumpconf.ActionHalt && a != kdumpconf.ActionPoweroff {
				a = kdumpconf.ActionReboot
			}
			logf("deadline %v passed and the capture did not end; %s", cfg.Deadline, a)
			sys.Finish(a)
		}()
	}
	r := &capture.Runner{Sys: sys, Config: cfg, Console: stdout}
	// The watchdog driver may be among the modules: look after loading.
	r.AfterModules = func(logf func(string, ...any)) {
		if capture.StartWatchdog(ctx, "/dev/watchdog", 10*time.Second, logf) {
			logf("petting /dev/watchdog every 10s")
		}
	}
	res := r.Run(ctx)
	// Run returns only if the final action failed (or not as PID 1).
	if os.Getpid() != 1 {
		if res.Err != nil {
			return 1
		}
		return 0
	}
	return halt(sys, res.Action, logf)
}

func readConfig(confPath, modPath string, logf func(string, ...any)) (*capture.Config, error) {
	kc, err := kdumpconf.ParseFile(confPath)
	if kc != nil {
		for _, w := range kc.Warnings {
			logf("%v", w)
		}
	}
	if err != nil {
		return nil, err
	}
	var mods []string
	if f, err := os.Open(modPath); err == nil {
		mods, err = capture.ReadModules(f, modPath)
		f.Close()
		if err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return capture.NewConfig(kc, mods)
}

// halt ends the machine; PID 1 must not return (the kernel would panic),
// so if that fails it waits forever for the watchdog or an operator.
func halt(sys *capture.Linux, a kdumpconf.Action, logf func(string, ...any)) int {
	if os.Getpid() != 1 {
		return 1
	}
	if err := sys.Finish(a); err != nil {
		logf("%s: %v", a, err)
	}
	for {
		time.Sleep(time.Hour)
	}
}
