// Package dump moves page data: it reads the pages a filter.Plan keeps,
// drops zero pages, compresses them and hands them in pfn order to a
// format writer (kdump-compressed, flattened, split set, ELF). It is the
// one place page data flows through, shared by cmd/makedumpfile and
// cmd/capture-init. It is not a filter (package filter decides which
// pages go) and not a file format (packages kdumpfile and elfcore).
//
// # Entry points
//
//	WriteKdumpWith(ctx, src, plan, codec.LZO, out, dump.Options{})
//	WriteKdumpFlatWith(ctx, src, plan, codec.Zlib, stdout, opt)
//	WriteKdumpSplit(ctx, src, plan, m, outs, dump.SplitOptions{Options: opt})
//	WriteELF(ctx, src, plan, out)
//
// WriteKdump and WriteKdumpFlat are the With forms with the zero
// Options. Options.Workers is makedumpfile's --num-threads (0: one per
// CPU), Options.Progress is called after each batch with pages done and
// total, and Options.ReadError once per run of pages the input could not
// give. makedumpfile's --cyclic-buffer is the plan's budget
// (filter.Options.Budget): the writers take one-pass and cyclic plans
// alike.
//
// # The engine
//
// The kept pfns are cut into batches of 16 pages. With one worker the
// caller's goroutine reads, zero-checks, compresses and writes each
// batch in turn: no goroutines, no channels, as suits a capture kernel
// booted with nr_cpus=1. With N workers, N goroutines (the caller's
// among them) each fill the next batch, process it and, when it is the
// oldest batch not yet written, write it and the finished ones after it,
// in pfn order, so the output is byte for byte the inline engine's. No
// goroutine only writes: a worker waits only when it is a whole ring of
// batches ahead of the writing. Batches and their
// buffers are allocated once per dump (two per worker) and reused;
// each worker has one
// codec.Encoder and one scratch page, so the page loop does not
// allocate. Runs of consecutive pfns are read with one read where the
// dump supports it (vmcore's ELF ReadPages), and a compressed page is
// copied back over its raw page in the batch, so a batch is 16 pages of
// memory.
//
// # Read errors
//
// A page the input cannot give (EIO from pread, a *vmcore.FaultError
// from a mapped page the old kernel cannot provide) is written as lost:
// its descriptor stays zero, the dump goes on and is marked incomplete
// at the end. Runs of such pages (kept pages in a row, whatever lies
// between them) are reported once each through Options.ReadError, and
// the dump's error wraps ErrUnreadable and mem.ErrLost. A page that was
// already lost in the input (refiltering an incomplete dump) stays lost
// without a report. ELF output (-E) has no lost-page marker: there such
// pages are written as zeros, reported the same way, and the file is
// flagged incomplete in e_flags (WriteELFWith).
//
// # Memory
//
// The engine itself holds a fixed amount: the batches, one encoder per
// worker (32 KiB for LZO, 256 KiB for zlib) and the format writer's
// buffers (64 KiB of page data, 12 KiB of descriptors, allocated once).
// The per-page bitmaps the plan and the input carry
// (the input's RAM map, its "stored" map and the pages to keep) are
// mem.Bitmaps, which hold memory only for chunks of 32 Ki pages whose
// bits are mixed: a 1 TiB machine whose memory is one run of RAM, or
// whose pages are mostly excluded, costs a few hundred KiB of chunk and
// rank tables rather than 32 MiB per bitmap. The kdump writer writes the
// bitmaps through its data buffer. docs/bench.md has the numbers.
//
// A machine whose keep map would still be too large (many TiB at -d 31,
// kernel pages in every chunk) gets a cyclic plan (filter.Plan.Cyclic),
// as in makedumpfile's cyclic mode: the writers then take the kept pfns
// window by window, each window classified again as the engine reaches
// it (mem_map's second walk; the first, in filter.Exclude, counted the
// pages so the descriptor table could be placed), and write its part of
// the 2nd bitmap into every output as it comes. Only one window's keep
// map is held. The output is byte for byte the one-pass output: single
// file, flattened (the bitmap records come out of offset order, which
// the stream allows) and --split (all members are opened first, each
// window's bitmap goes to all of them, and the pages to the member whose
// range holds them; the members are closed, and checked whole, at the
// end). ELF output (-E) needs the whole keep map (its program headers
// depend on every excluded run) and refuses a cyclic plan
// (ErrCyclicELF): plan it with no budget.
package dump
