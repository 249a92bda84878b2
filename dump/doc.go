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
// CPU), Options.CyclicBuffer its --cyclic-buffer in bytes,
// Options.Progress is called after each batch with pages done and total,
// and Options.ReadError once per run of pages the input could not give.
//
// # The engine
//
// The kept pfns are cut into batches of 16 pages. With one worker the
// caller's goroutine reads, zero-checks, compresses and writes each
// batch in turn: no goroutines, no channels, as suits a capture kernel
// booted with nr_cpus=1. With N workers, N goroutines take batches from
// a queue and the caller's goroutine writes them back in pfn order, so
// the output is byte for byte the inline engine's. Batches and their
// buffers are allocated once per dump (two per worker by default,
// CyclicBuffer can raise that) and reused; each worker has one
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
// worker (64 KiB for LZO, 256 KiB for zlib) and the format writer's
// buffers (64 KiB of page data, 12 KiB of descriptors, allocated once).
// The per-page bitmaps the plan and the input carry
// (the input's RAM map, its "stored" map and the pages to keep) are
// mem.Bitmaps, which hold memory only for chunks of 32 Ki pages whose
// bits are mixed: a 1 TiB machine whose memory is one run of RAM, or
// whose pages are mostly excluded, costs a few hundred KiB of chunk and
// rank tables rather than 32 MiB per bitmap. The kdump writer writes the
// bitmaps through its data buffer. docs/bench.md has the numbers.
package dump
