package kdumpctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/kdumpkit/kdumpkit/crashkernel"
	"github.com/kdumpkit/kdumpkit/initramfs"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

// Check validates the config and, unless offline, whether this system
// can load and use it: the target's device, network route, key and
// host key, the hooks, the capture kernel and its modules, and the
// reservation. Nothing is built or loaded. It returns every problem found,
// each naming the file and line it concerns.
func (e *Env) Check(ctx context.Context, offline bool) ([]kdumpconf.Problem, error) {
	name := e.configFile()
	b, err := os.ReadFile(e.path(name))
	if err != nil {
		return []kdumpconf.Problem{{File: name, Msg: err.Error()}}, nil
	}
	cfg, err := kdumpconf.Parse(bytes.NewReader(b), name)
	for _, w := range cfg.Warnings {
		e.warnf("warning: %s", w)
	}
	if err != nil {
		var errs kdumpconf.Errors
		if errors.As(err, &errs) {
			return errs, nil
		}
		return nil, err
	}
	if offline {
		return nil, nil
	}
	var probs []kdumpconf.Problem
	add := func(directive, format string, a ...any) {
		probs = append(probs, cfg.Problemf(directive, format, a...))
	}
	for d, p := range map[string]string{"kdump_pre": cfg.Hooks.Pre, "kdump_post": cfg.Hooks.Post, "kdump_emergency": cfg.Hooks.Emergency} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(e.path(p)); err != nil {
			add(d, "%v", err)
		} else if fi.Mode().Perm()&0o111 == 0 || !fi.Mode().IsRegular() {
			add(d, "%s is not an executable file", p)
		}
	}
	for _, p := range cfg.ExtraBins {
		if fi, err := os.Stat(e.path(p)); err != nil {
			add("extra_bins", "%v", err)
		} else if fi.Mode().Perm()&0o111 == 0 {
			add("extra_bins", "%s is not executable", p)
		}
	}
	rel, err := e.release()
	if err != nil {
		probs = append(probs, kdumpconf.Problem{File: "/proc/sys/kernel/osrelease", Msg: err.Error()})
		return probs, nil
	}
	if _, err := os.Stat(e.path(e.kernelImage(rel))); err != nil {
		probs = append(probs, kdumpconf.Problem{File: e.kernelImage(rel), Msg: "capture kernel image: " + err.Error()})
	}
	// The capture kernel must be able to run as one: /proc/vmcore needs
	// CONFIG_CRASH_DUMP and CONFIG_PROC_VMCORE. (CONFIG_KEXEC_FILE matters
	// for the running kernel, which ReadState checks.)
	kconf := "/boot/config-" + rel
	if b, err := os.ReadFile(e.path(kconf)); err == nil {
		for _, opt := range []string{"CONFIG_CRASH_DUMP", "CONFIG_PROC_VMCORE"} {
			if !bytes.Contains(append([]byte("\n"), b...), []byte("\n"+opt+"=y\n")) {
				probs = append(probs, kdumpconf.Problem{File: kconf, Msg: opt + " is not set: this kernel cannot serve as a capture kernel"})
			}
		}
	}
	if len(probs) == 0 {
		spec, r, err := e.Spec(ctx, cfg)
		if err != nil {
			probs = append(probs, problemOf(cfg, err))
		} else {
			plan, err := initramfs.MakePlan(spec)
			if err != nil {
				probs = append(probs, problemOf(cfg, err))
			} else {
				for _, w := range plan.Warnings {
					e.warnf("warning: %s", w)
				}
			}
			if r.dumpDir != "" {
				if fi, err := os.Stat(r.dumpDir); err != nil || !fi.IsDir() {
					add("path", "dump directory %s does not exist on the target", cfg.Path)
				}
			}
		}
	}
	st, err := e.state()
	switch {
	case err != nil:
		probs = append(probs, kdumpconf.Problem{File: "/sys/kernel/kexec_crash_size", Msg: err.Error()})
	case st.ReservedBytes == 0:
		probs = append(probs, kdumpconf.Problem{File: "/proc/cmdline", Msg: "no crashkernel= reservation (`kdumpctl reset-crashkernel` sets one for the next boot)"})
	default:
		if ram, err := crashkernel.ReadSystemRAM(e.rootFS()); err == nil {
			in := crashkernel.Inputs{RAM: ram, KernelImageSize: 16 << 20, InitramfsSize: 4 << 20, Network: cfg.Target.Network()}
			if est, err := crashkernel.EstimateSize(in); err == nil && crashkernel.Size(st.ReservedBytes) < est.Total/2 {
				e.warnf("warning: reservation %d MiB is far below the rough estimate %d MiB; run `kdumpctl estimate`", st.ReservedBytes>>20, est.Total.MiB())
			}
		}
	}
	return probs, nil
}

// problemOf turns a resolution error into a Problem: errors that
// already start with "FILE:LINE: " keep that line; others go to the
// directive they concern.
func problemOf(cfg *kdumpconf.Config, err error) kdumpconf.Problem {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, cfg.File+":"); ok {
		num, text, ok := strings.Cut(rest, ": ")
		if n, err := strconv.Atoi(num); ok && err == nil {
			return kdumpconf.Problem{File: cfg.File, Line: n, Msg: text}
		}
	}
	directive := "target"
	switch {
	case strings.Contains(msg, "ssh key"):
		directive = "sshkey"
	case strings.Contains(msg, "known host"):
		directive = "ssh_host_key"
	}
	return cfg.Problemf(directive, "%s", msg)
}

// FormatProblems renders problems one per line.
func FormatProblems(probs []kdumpconf.Problem) string {
	var b bytes.Buffer
	for _, p := range probs {
		fmt.Fprintln(&b, p.Error())
	}
	return b.String()
}
