package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/kdumpkit/kdumpkit/kernel"
)

// dumpDmesg is --dump-dmesg [--partial-dmesg] VMCORE LOGFILE (or -F
// VMCORE, to standard output): the kernel log as makedumpfile 1.7.5 and
// later write it, the caller field included when the kernel recorded
// callers. A corrupt log buffer writes the messages before the fault,
// keeps the file and fails, as the C tool does.
func (r *runner) dumpDmesg() error {
	if err := r.checkOutputs(); err != nil {
		return err
	}
	orig, src, err := r.openInput()
	if err != nil {
		return err
	}
	defer orig.Close()
	log, err := kernel.ReadDumpLog(src.VMCOREINFO(), src, kernel.LogOptions{Partial: r.cfg.PartialDmesg})
	if errors.Is(err, kernel.ErrNoVMCOREINFO) {
		return fmt.Errorf("%s: %w (-i gives one)", r.cfg.VMCORE, err)
	}
	if log == nil {
		return err
	}
	r.m.debug("kernel log: %s, %d records\n", log.Format, len(log.Records))
	var w io.Writer = r.stdout
	name := "STDOUT"
	if !r.cfg.Flatten {
		o, oerr := r.openOutput(r.cfg.DumpFile)
		if oerr != nil {
			return oerr
		}
		w, name = io.Discard, r.cfg.DumpFile // --dry-run opens no file
		if o.f != nil {
			w = o.f
		}
	}
	werr := log.WriteDmesg(w, kernel.DmesgOptions{CallerID: true})
	if err = errors.Join(err, werr, r.closeOutputs()); err != nil {
		return err
	}
	r.m.msg("\nThe dmesg log is saved to %s.\n", name)
	return nil
}
