package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/kdumpkit/kdumpkit/filter"
)

// memUsage is --mem-usage VMCORE: the page counts per class, as the C
// tool prints them for /proc/kcore. Here VMCORE may be any dump the
// reader opens (the C tool accepts only a live /proc/kcore on a system
// with crashkernel memory reserved); the counts come from a level-31
// filter with every remaining page tested for zeros, as in the C tool.
func (r *runner) memUsage() error {
	orig, src, err := r.openInput()
	if err != nil {
		return fmt.Errorf("--mem-usage: %w", err)
	}
	defer orig.Close()
	ctx := context.Background()
	p, err := filter.Exclude(ctx, src, filter.MaxLevel, filter.Options{})
	if err != nil {
		return err
	}
	if err := filter.DropZeroPages(ctx, src, p, runtime.GOMAXPROCS(0)); err != nil {
		return err
	}
	c := p.Counts
	ps := uint64(src.PageSize())
	r.m.msg("\n")
	r.m.msg("TYPE\t\tPAGES\t\t\tEXCLUDABLE\tDESCRIPTION\n")
	r.m.msg("----------------------------------------------------------------------\n")
	r.m.msg("ZERO\t\t%-16d\tyes\t\tPages filled with zero\n", c.Zero)
	r.m.msg("NON_PRI_CACHE\t%-16d\tyes\t\tCache pages without private flag\n", c.Cache)
	r.m.msg("PRI_CACHE\t%-16d\tyes\t\tCache pages with private flag\n", c.CachePrivate)
	r.m.msg("USER\t\t%-16d\tyes\t\tUser process pages\n", c.User)
	r.m.msg("FREE\t\t%-16d\tyes\t\tFree pages\n", c.Free)
	r.m.msg("KERN_DATA\t%-16d\tno\t\tDumpable kernel data \n", p.Original-min(c.Excluded(), p.Original))
	r.m.msg("\n")
	r.m.msg("page size:\t\t%-16d\n", ps)
	r.m.msg("Total pages on system:\t%-16d\n", p.Original)
	r.m.msg("Total size on system:\t%-16d Byte\n", p.Original*ps)
	return nil
}
