// Command kdumpctl configures, sizes, builds and loads kdumpkit's capture
// kernel on a production host. See docs/kdumpctl.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/kdumpctl"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

type command struct {
	name, args, help string
	locked           bool // takes the kdumpctl lock
	run              func(ctx context.Context, e *kdumpctl.Env, fl *flags) (int, error)
}

type flags struct {
	force   bool
	offline bool
	kernel  string
	reboot  bool
}

var commands = []command{
	{name: "start", help: "Build the capture initramfs if its inputs changed and load the capture kernel.", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) { return exit(e.Start(ctx)) }},
	{name: "stop", help: "Unload the capture kernel.", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) { return exit(e.Stop(ctx)) }},
	{name: "restart", help: "Unload, then start.", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) {
			if err := e.Stop(ctx); err != nil {
				return kdumpctl.ExitFailure, err
			}
			return exit(e.Start(ctx))
		}},
	{name: "reload", help: "Unload and load the capture kernel again without rebuilding the initramfs (after CPU or memory hotplug).", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) { return exit(e.Reload(ctx)) }},
	{name: "status", help: "Say whether a capture kernel is loaded (exit 0) or not (exit 3), and the last test's result.",
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) { return e.Status(ctx) }},
	{name: "rebuild", help: "Rebuild the capture initramfs even if its inputs did not change.", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) { return exit(e.Rebuild(ctx)) }},
	{name: "propagate", help: "For an ssh target: create the key if missing, record the server's host key, install the key on the server (ssh-copy-id may ask for a password) and check a login.", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) { return exit(e.Propagate(ctx)) }},
	{name: "estimate", help: "Recommend a crashkernel= size from the real capture initramfs, the capture kernel and this machine's RAM.", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) {
			_, err := e.Estimate(ctx)
			return exit(err)
		}},
	{name: "showmem", help: "Print the memory reserved for the crash kernel.",
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) { return exit(e.Showmem(ctx)) }},
	{name: "get-default-crashkernel", help: "Print kdumpkit's default crashkernel= value for this architecture.",
		run: func(ctx context.Context, e *kdumpctl.Env, _ *flags) (int, error) { return exit(e.DefaultCrashkernel()) }},
	{name: "reset-crashkernel", args: "[--kernel VER|PATH|ALL|DEFAULT] [--reboot]", help: "Set the default crashkernel= in the bootloader for the next boot (grubby where installed, else a GRUB drop-in and update-grub).", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, fl *flags) (int, error) {
			k := fl.kernel
			switch {
			case k == "":
				k = "ALL"
			case k != "ALL" && k != "DEFAULT" && !strings.HasPrefix(k, "/"):
				k = "/boot/vmlinuz-" + k
			}
			if err := e.ResetCrashkernel(ctx, k); err != nil {
				return kdumpctl.ExitFailure, err
			}
			if fl.reboot {
				return exit(syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART))
			}
			return kdumpctl.ExitOK, nil
		}},
	{name: "test", args: "[--force]", help: "Panic the kernel on purpose to test the whole chain; the next status shows the result. Asks first unless --force.", locked: true,
		run: func(ctx context.Context, e *kdumpctl.Env, fl *flags) (int, error) { return exit(e.Test(ctx, fl.force)) }},
	{name: "check", args: "[--offline]", help: "Validate the config and, unless --offline, the target, the capture kernel and the reservation, without building or loading anything. Prints FILE:LINE: reason per problem; exit 1 if any.",
		run: func(ctx context.Context, e *kdumpctl.Env, fl *flags) (int, error) {
			probs, err := e.Check(ctx, fl.offline)
			if err != nil {
				return kdumpctl.ExitFailure, err
			}
			if len(probs) > 0 {
				fmt.Fprint(e.Stdout, kdumpctl.FormatProblems(probs))
				return kdumpctl.ExitFailure, nil
			}
			fmt.Fprintf(e.Stdout, "%s: ok\n", e.Config)
			return kdumpctl.ExitOK, nil
		}},
}

func exit(err error) (int, error) {
	if err != nil {
		return kdumpctl.ExitFailure, err
	}
	return kdumpctl.ExitOK, nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: kdumpctl COMMAND [--config FILE] [options]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-24s %s\n", c.name, c.help)
	}
	fmt.Fprintf(w, "\n`kdumpctl COMMAND --help` describes one command. Exit status: 0 ok, 1 failure, 2 usage, 3 status: not loaded.\n")
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return kdumpctl.ExitUsage
		}
		return kdumpctl.ExitOK
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "kdumpctl: unknown command %q\n", args[0])
		usage(stderr)
		return kdumpctl.ExitUsage
	}
	exe, _ := os.Executable()
	e := &kdumpctl.Env{
		Arch:           runtime.GOARCH,
		Loader:         kdumpctl.KexecLoader{},
		InterfaceAddrs: interfaceAddrs,
		Executable:     exe,
		Now:            time.Now,
		Stdin:          stdin,
		Stdout:         stdout,
		Stderr:         stderr,
	}
	var fl flags
	fs := flag.NewFlagSet("kdumpctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: kdumpctl %s [--config FILE] %s\n\n%s\n\noptions:\n", cmd.name, cmd.args, cmd.help)
		fs.PrintDefaults()
	}
	fs.StringVar(&e.Config, "config", "/etc/kdump.conf", "kdump.conf `file`")
	fs.StringVar(&e.Root, "root", "/", "act on the system under `dir` (for tests and image builds)")
	fs.StringVar(&e.KernelRelease, "kernel-release", "", "capture kernel `release` (default: the running kernel)")
	fs.StringVar(&e.CaptureInit, "capture-init", "", "capture-init `binary` (default /usr/lib/kdumpkit/capture-init, or next to kdumpctl)")
	switch cmd.name {
	case "test":
		fs.BoolVar(&fl.force, "force", false, "do not ask for confirmation")
	case "check":
		fs.BoolVar(&fl.offline, "offline", false, "only validate the config file")
	case "reset-crashkernel":
		fs.StringVar(&fl.kernel, "kernel", "", "kernel `VER`sion, image path, ALL or DEFAULT (default ALL)")
		fs.BoolVar(&fl.reboot, "reboot", false, "reboot when done")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return kdumpctl.ExitOK
		}
		return kdumpctl.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kdumpctl %s: unexpected argument %q\n", cmd.name, fs.Arg(0))
		return kdumpctl.ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd.locked {
		unlock, err := e.Lock(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "kdumpctl: %v\n", err)
			return kdumpctl.ExitFailure
		}
		defer unlock()
	}
	code, err := cmd.run(ctx, e, &fl)
	if err != nil {
		fmt.Fprintf(stderr, "kdumpctl %s: %v\n", cmd.name, err)
		if code == kdumpctl.ExitOK {
			code = kdumpctl.ExitFailure
		}
	}
	return code
}

// interfaceAddrs lists the addresses of a network interface.
func interfaceAddrs(name string) ([]netip.Prefix, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				ones, _ := n.Mask.Size()
				out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
	}
	return out, nil
}
