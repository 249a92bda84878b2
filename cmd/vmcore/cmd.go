package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	_ "github.com/kdumpkit/kdumpkit/codec/stream" // vmcore.Open unwraps xz and lz4
	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

const usage = `usage: vmcore COMMAND [ARGS]

Inspect a kernel memory dump: an ELF core (/proc/vmcore, QEMU
dump-guest-memory, makedumpfile -E), a kdump-compressed file, a flattened
(makedumpfile -F) stream, or the files of a --split set.

Commands:
  info [--json] DUMP [DUMP...]   what the dump is: format, kernel release,
                                 page counts, codecs, dump level, complete?
  read DUMP PADDR LEN            copy LEN bytes of physical memory at PADDR
                                 (decimal or 0x hex) to standard output
  verify DUMP [DUMP...]          decode every stored page and check the
                                 structure; exit 1 naming the first fault
  dmesg [--partial] [--caller=false] [DUMP...]
                                 print the kernel log of the crashed kernel
                                 as makedumpfile --dump-dmesg writes it
                                 (default DUMP: /proc/vmcore)

Exit status: 0 on success, 1 on any error, 2 on bad usage.
`

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "info":
		return cmdInfo(args[1:], stdout, stderr)
	case "read":
		return cmdRead(args[1:], stdout, stderr)
	case "verify":
		return cmdVerify(args[1:], stdout, stderr)
	case "dmesg":
		return cmdDmesg(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "vmcore: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vmcore "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func cmdInfo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("info", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "usage: vmcore info [--json] DUMP [DUMP...]\n")
		return 2
	}
	d, err := vmcore.OpenFiles(fs.Args()...)
	if err != nil {
		fmt.Fprintf(stderr, "vmcore info: %v\n", err)
		return 1
	}
	defer d.Close()
	in, err := vmcore.Describe(d)
	if err != nil {
		fmt.Fprintf(stderr, "vmcore info: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(in); err != nil {
			fmt.Fprintf(stderr, "vmcore info: %v\n", err)
			return 1
		}
		return 0
	}
	printInfo(stdout, in)
	return 0
}

func printInfo(w io.Writer, in vmcore.Info) {
	row := func(k string, format string, a ...any) {
		fmt.Fprintf(w, "%-14s "+format+"\n", append([]any{k + ":"}, a...)...)
	}
	row("format", "%s", in.Format)
	row("release", "%s", orNone(in.Release))
	row("machine", "%s", orNone(in.Machine))
	row("page size", "%d", in.PageSize)
	row("max pfn", "%#x", in.MaxPFN)
	row("RAM pages", "%d (%s)", in.RAMPages, human(in.RAMPages*uint64(in.PageSize)))
	row("dumped pages", "%d (%s)", in.DumpedPages, human(in.DumpedPages*uint64(in.PageSize)))
	row("page codecs", "%s", codecList(in.Codecs))
	if in.HeaderCodec != "" {
		row("header codec", "%s", in.HeaderCodec)
	}
	if in.DumpLevel >= 0 {
		row("dump level", "%d", in.DumpLevel)
	} else {
		row("dump level", "none recorded")
	}
	if in.Complete {
		row("complete", "yes")
	} else {
		row("complete", "NO: the dump is incomplete")
	}
	if in.CrashTime != 0 {
		row("crash time", "%s (%d)", in.CrashTimeS, in.CrashTime)
	} else {
		row("crash time", "unknown")
	}
	row("cpus", "%d", in.CPUs)
	row("vmcoreinfo", "%v", in.VMCOREINFO)
	for i, s := range in.Split {
		row(fmt.Sprintf("split file %d", i+1), "pfn [%#x, %#x)", s.StartPFN, s.EndPFN)
	}
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func codecList(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func human(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func parseUint(s string) (uint64, error) {
	return strconv.ParseUint(s, 0, 64)
}

func cmdRead(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("read", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 3 {
		fmt.Fprint(stderr, "usage: vmcore read DUMP PADDR LEN\n")
		return 2
	}
	paddr, err := parseUint(fs.Arg(1))
	if err != nil {
		fmt.Fprintf(stderr, "vmcore read: PADDR %q: want a number (decimal or 0x hex)\n", fs.Arg(1))
		return 2
	}
	n, err := parseUint(fs.Arg(2))
	if err != nil {
		fmt.Fprintf(stderr, "vmcore read: LEN %q: want a number (decimal or 0x hex)\n", fs.Arg(2))
		return 2
	}
	if paddr+n < paddr {
		fmt.Fprintf(stderr, "vmcore read: PADDR %#x + LEN %#x overflows\n", paddr, n)
		return 2
	}
	d, err := vmcore.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "vmcore read: %v\n", err)
		return 1
	}
	defer d.Close()
	if err := readPhys(d, paddr, n, stdout); err != nil {
		fmt.Fprintf(stderr, "vmcore read: %v\n", err)
		return 1
	}
	return 0
}

// readPhys copies [paddr, paddr+n) page by page.
func readPhys(d vmcore.Dump, paddr, n uint64, w io.Writer) error {
	ps := uint64(d.PageSize())
	page := make([]byte, ps)
	for n > 0 {
		pfn := mem.PFN(paddr / ps)
		if err := d.ReadPage(pfn, page); err != nil {
			return fmt.Errorf("physical address %#x: %w", paddr, err)
		}
		in := paddr % ps
		k := min(ps-in, n)
		if _, err := w.Write(page[in : in+k]); err != nil {
			return err
		}
		paddr += k
		n -= k
	}
	return nil
}

func cmdVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "usage: vmcore verify DUMP [DUMP...]\n")
		return 2
	}
	d, err := vmcore.OpenFiles(fs.Args()...)
	if err != nil {
		fmt.Fprintf(stderr, "vmcore verify: %v\n", err)
		return 1
	}
	defer d.Close()
	res, err := vmcore.Verify(d, nil)
	if err != nil {
		fmt.Fprintf(stderr, "vmcore verify: %s: %v\n", strings.Join(fs.Args(), " "), err)
		return 1
	}
	status := "ok"
	if res.Lost > 0 {
		status = fmt.Sprintf("ok, but the dump is incomplete: %d pages were never written", res.Lost)
	}
	fmt.Fprintf(stdout, "%s: %d pages verified, %s\n", strings.Join(fs.Args(), " "), res.Pages, status)
	return 0
}

func cmdDmesg(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("dmesg", stderr)
	partial := fs.Bool("partial", false, "only the messages since the log was last cleared (dmesg --clear)")
	caller := fs.Bool("caller", true, "print the [    T123] caller field when the kernel recorded callers (makedumpfile 1.7.5 and later do)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{vmcore.ProcVMCORE}
	}
	d, err := vmcore.OpenFiles(files...)
	if err != nil {
		fmt.Fprintf(stderr, "vmcore dmesg: %v\n", err)
		return 1
	}
	defer d.Close()
	l, err := kernel.ReadDumpLog(d.VMCOREINFO(), d, kernel.LogOptions{Partial: *partial})
	if l != nil {
		// A corrupt buffer still gives the records before the fault.
		if werr := l.WriteDmesg(stdout, kernel.DmesgOptions{CallerID: *caller}); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "vmcore dmesg: %s: %v\n", strings.Join(files, " "), err)
		return 1
	}
	return 0
}
