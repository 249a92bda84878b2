// Command makedumpfile makes a small dump file out of a kernel memory dump:
// it drops the pages a dump level says are not needed, compresses the rest
// page by page, and writes the kdump-compressed format (or ELF with -E) that
// crash, drgn and the C makedumpfile read. Its options, messages and exit
// codes follow the C tool's, so kdump scripts can call either.
//
// Synopsis:
//
//	makedumpfile [-c|-l|-p|-z|-E] [-d DL[,DL...]] [-L SIZE] [-f] VMCORE DUMPFILE
//	makedumpfile -F [-c|-l|-p|-z|-E] [-d DL] VMCORE > STREAM
//	makedumpfile -R DUMPFILE < STREAM
//	makedumpfile --split [OPTION...] VMCORE DUMPFILE1 DUMPFILE2 [DUMPFILE3...]
//	makedumpfile --reassemble DUMPFILE1 DUMPFILE2 [...] DUMPFILE
//
// See docs/makedumpfile.md.
package main

import (
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is main without the process: it returns the exit status (0 done, 1
// failed or incomplete, as makedumpfile's).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(args, stdin, stdout, stderr)
}
