package filter

import (
	"fmt"
	"io"
)

// WriteReport prints the page counts the way makedumpfile --show-stats
// does, from "Original pages" to "Total pages", so scripts that parse the
// C tool's report read ours. The writer adds "Write bytes" itself.
func (p *Plan) WriteReport(w io.Writer) error {
	c := p.Counts
	excluded := c.Excluded()
	hole := uint64(p.MaxPFN) - p.Original
	var b []byte
	line := func(format string, a ...any) { b = fmt.Appendf(b, format, a...) }
	line("\n")
	line("Original pages  : 0x%016x\n", p.Original)
	line("  Excluded pages   : 0x%016x\n", excluded)
	line("    Pages filled with zero  : 0x%016x\n", c.Zero)
	line("    Non-private cache pages : 0x%016x\n", c.Cache)
	line("    Private cache pages     : 0x%016x\n", c.CachePrivate)
	line("    User process data pages : 0x%016x\n", c.User)
	line("    Free pages              : 0x%016x\n", c.Free)
	line("    Hwpoison pages          : 0x%016x\n", c.Hwpoison)
	line("    Offline pages           : 0x%016x\n", c.Offline)
	// Counts may include holes inside excluded ranges, as in makedumpfile,
	// so the subtraction is its, wrap-around included.
	line("  Remaining pages  : 0x%016x\n", p.Original-excluded)
	if p.Original != 0 {
		line("  (The number of pages is reduced to %d%%.)\n", (p.Original-excluded)*100/p.Original)
	}
	line("Memory Hole     : 0x%016x\n", hole)
	line("--------------------------------------------------\n")
	line("Total pages     : 0x%016x\n", uint64(p.MaxPFN))
	_, err := w.Write(b)
	return err
}
