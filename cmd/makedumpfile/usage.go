package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

const usage = `Usage:
  Creating DUMPFILE:
  # makedumpfile    [-c|-l|-p|-z|-E] [-d DL] [-L SIZE] [-f] VMCORE DUMPFILE

  Outputting the dump data in the flattened format to the standard output:
  # makedumpfile -F [-c|-l|-p|-z|-E] [-d DL] VMCORE

  Rearranging the dump data in the flattened format to a readable DUMPFILE
  (unwrap an xz or lz4 stream first: xz -dc STREAM.xz | makedumpfile -R ...):
  # makedumpfile -R DUMPFILE

  Split the dump data to multiple DUMPFILEs:
  # makedumpfile --split [OPTION] VMCORE DUMPFILE1 DUMPFILE2 [DUMPFILE3 ..]

  Reassemble multiple DUMPFILEs:
  # makedumpfile --reassemble DUMPFILE1 DUMPFILE2 [DUMPFILE3 ..] DUMPFILE

  Extracting the kernel log (dmesg):
  # makedumpfile --dump-dmesg [--partial-dmesg] [-i VMCOREINFO] VMCORE LOGFILE

  Showing the page counts per class:
  # makedumpfile --mem-usage VMCORE

  VMCORE may be /proc/vmcore, an ELF core, a kdump-compressed file (to
  filter it again), a flattened stream or the files of a --split set.

Available options:
  [-c|-l|-p|-z]:
      Compress each page with zlib (-c), lzo (-l), snappy (-p) or zstd (-z).
      A page that does not shrink is stored uncompressed. The last one wins.

  [-d DL[,DL...]]:
      Dump level: a sum of the page classes to exclude (default 0).
          1: pages filled with zero    2: non-private cache pages
          4: all cache pages           8: user process data pages
         16: free pages
      With a list, makedumpfile tries the levels from left to right: when
      the dump does not fit (no space left, or -L reached) it deletes the
      incomplete DUMPFILE and tries the next level. Levels above 1 need
      the kernel's VMCOREINFO in VMCORE.

  [-E]:
      Write an ELF core instead of the kdump-compressed format (needs an
      ELF VMCORE; no compression).

  [-F]:
      Write the kdump-compressed (or with -E, ELF) file as a flattened
      stream to standard output. Messages then go to standard error.

  [-R]:
      Rearrange a flattened stream read from standard input into DUMPFILE.

  [-L SIZE]:
      Stop writing at SIZE bytes (K, M, G, T, P, E suffixes allowed). A
      dump that does not fit is kept, marked incomplete, and the exit
      status is 1.

  [-f]:
      Overwrite an existing DUMPFILE.

  [--split]:
      Split the dump into DUMPFILE1 DUMPFILE2 ... of about equal numbers of
      pages (written one after the other).

  [--splitblock-size KB]:
      Granularity of --split in KiB (default 1048576, 1 GiB).

  [--reassemble]:
      Join the files of a --split set into one DUMPFILE.

  [--message-level ML]:
      Which messages to print, a sum of 1 progress, 2 common, 4 error,
      8 debug and 16 report messages (default 7, max 31).

  [-D]:
      Print debug messages too (message level | 8).

  [--show-stats]:
      Print the page counts per class and the bytes written.

  [--dry-run]:
      Do everything but write DUMPFILE.

  [--check-params]:
      Only check the command line.

  [--non-mmap]:
      Read /proc/vmcore with read(2) instead of mmap(2).

  [-i VMCOREINFO]:
      Use the VMCOREINFO text in this file (the kernel's
      /sys/kernel/vmcoreinfo note, or the C tool's -g output) instead of
      the note in VMCORE. When the kernel release in VMCORE's memory is not
      the file's OSRELEASE, makedumpfile fails with exit status 2.

  [--dump-dmesg]:
      Write the kernel log of VMCORE to LOGFILE, as "[    1.234567] text"
      lines (lockless printk ring buffer, printk_log records or the plain
      log_buf of old kernels). The caller field "[    T123] " follows the
      time when the kernel recorded callers, as in makedumpfile 1.7.5+.

  [--partial-dmesg]:
      With --dump-dmesg: only the messages since the log was last cleared.

  [--mem-usage]:
      Print the number of pages of each class (zero, cache, user, free,
      kernel data) of VMCORE and whether a dump level can exclude them.

  [--cyclic-buffer KB]:
      The memory, in KiB, the bitmap of pages to keep may hold. When the
      bitmap of the whole machine would be larger (it holds 4 KiB for each
      128 MiB of memory where kept and excluded pages mix), the dump is
      made in cycles: mem_map is walked once to count the pages, then
      again a window of KB*8 pages at a time while they are written. The
      dump is the same either way. Without this option the budget is 60%
      of MemAvailable, at most 4 MiB; below 4 KiB it counts as 4 KiB.
      -E always walks mem_map once, with the whole bitmap.

  [--num-threads N]:
      Threads that read and compress pages (default: one per CPU).

  [--work-dir DIR], [-b ORDER]:
      Accepted for compatibility; kdumpkit's engine sizes its buffers
      itself and needs no scratch files.

  [-v]:
      Show the version.

  [-h, --help]:
      Show this text.

Not supported (each fails with exit status 1 and says why): the options
that need a vmlinux's DWARF debug information (-x, -g, --config), -e,
--vtop, Xen (-X, --xen-syms, --xen-vmcoreinfo, --xen_phys_start), sadump
(--diskset) and eppic (--eppic).

Exit status: 0 on success; 1 on any failure, an incomplete dump included;
2 when the -i VMCOREINFO file is for another kernel release.
See docs/makedumpfile.md.
`

// version is this build's version: the module version when built from a
// tagged module, else the VCS revision, else "devel".
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}

// printVersion prints the version line and, as makedumpfile -v does, which
// page compressors are built in (all of them, here).
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "makedumpfile (kdumpkit) version %s\n", version())
	fmt.Fprint(w, "lzo\tenabled\nsnappy\tenabled\nzstd\tenabled\n\n")
}
