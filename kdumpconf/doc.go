// Package kdumpconf reads and writes /etc/kdump.conf in the syntax of
// RHEL's kdump-utils, plus a few directives of kdumpkit's own.
//
// Parse validates strictly: an unknown or removed directive, a directive
// given twice (failure_action and its old name default count as one), two
// dump targets, a missing or malformed value, or options that contradict
// each other are all errors. Parse collects every problem of a file, not
// just the first, and returns them as Errors, each printed "FILE:LINE:
// reason". Things kdumpkit accepts but does not act on (dracut_args,
// fence_kdump_*, the deprecated default) are returned as Config.Warnings
// in the same form.
//
// The result is a typed Config with RHEL's defaults filled in (path
// /var/crash, failure_action and final_action reboot, the makedumpfile
// collector with -F added for ssh and raw targets). Canonical renders a
// Config as a kdump.conf text in a fixed order with every effective value
// spelled out; kdumpctl bakes that text into the capture initramfs and
// capture-init parses it with the same Parse, so both sides agree on
// every default. Parse(Canonical(c)) yields c again.
//
// The directives, ours included, are documented in docs/kdump.conf.md and
// kdump.conf.example. This package only reads text: it does not look at
// devices, mounts, keys or the network, and it does not decide what to do
// with a directive at capture time. Checks that need the running system
// (does the device exist, is the hook executable) belong to kdumpctl,
// which can name the offending line through Config.Line.
//
// Typical use:
//
//	cfg, err := kdumpconf.ParseFile("/etc/kdump.conf")
//	for _, w := range cfg.Warnings { log.Print(w) }
//	if err != nil { return err } // err lists every problem, one per line
//	switch cfg.Target.Kind { case kdumpconf.TargetSSH: ... }
package kdumpconf
