// Command vmcore inspects kernel memory dumps of any format kdumpkit
// reads: ELF cores, kdump-compressed files, flattened streams and --split
// sets.
//
// Synopsis:
//
//	vmcore info [--json] DUMP [DUMP...]
//	vmcore read DUMP PADDR LEN
//	vmcore verify DUMP [DUMP...]
//	vmcore dmesg [--partial] [--caller=false] [DUMP...]
//
// See docs/vmcore.md.
package main

import (
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is main without the process: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatch(args, stdout, stderr)
}
