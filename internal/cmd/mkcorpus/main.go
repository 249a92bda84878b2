package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/corpus"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("mkcorpus", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: mkcorpus [flags]\n\nBuilds the real-kernel dump corpus and prints its directory.\n\n")
		fl.PrintDefaults()
	}
	var opt corpus.Options
	fl.IntVar(&opt.MemoryMiB, "mem", corpus.DefaultMemoryMiB, "guest RAM in `MiB`")
	kernel := fl.String("kernel", string(corpus.Kernel61), "kernel `series`: 6.1 (bookworm's cloud kernel, makedumpfile 1.7.2) or 6.12 (bookworm-backports' cloud kernel, sid's makedumpfile from a chroot)")
	fl.StringVar(&opt.Package, "package", "", "kernel image `package` (default: the newest cloud-amd64-unsigned image of the -kernel series)")
	fl.StringVar(&opt.CacheDir, "cache", "", "cache `dir` (default $KDUMPKIT_CACHE or /var/cache/kdumpkit)")
	fl.StringVar(&opt.CPU, "cpu", "", "QEMU -cpu `model` (default: QEMU's for 6.1, qemu64,-cx16 for newer kernels)")
	force := fl.Bool("force", false, "rebuild even if the corpus exists")
	timeout := fl.Duration("timeout", 30*time.Minute, "give up after this long")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 0 {
		fl.Usage()
		return 2
	}
	switch k := corpus.Kernel(*kernel); k {
	case corpus.Kernel61:
		// The zero value: the default corpus (and its default link).
	case corpus.Kernel612:
		opt.Kernel = k
	default:
		fmt.Fprintf(stderr, "mkcorpus: unknown -kernel %q (want %s or %s)\n", *kernel, corpus.Kernel61, corpus.Kernel612)
		return 2
	}
	if missing := corpus.MissingToolsFor(opt); len(missing) > 0 {
		fmt.Fprintf(stderr, "mkcorpus: missing programs: %v\n", missing)
		return 1
	}
	opt.Log = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := corpus.Build(ctx, opt, *force)
	if err != nil {
		fmt.Fprintf(stderr, "mkcorpus: %v\n", err)
		return 1
	}
	for _, f := range c.Manifest.Files {
		fmt.Fprintf(stderr, "%12d  %-11s %s\n", f.Size, f.Kind, f.Name)
	}
	fmt.Fprintln(stdout, c.Dir)
	return 0
}
