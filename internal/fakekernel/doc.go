// Package fakekernel builds synthetic x86_64 kernel memory for tests: a
// few MiB of physical memory in PT_LOAD segments holding page tables
// (4- or 5-level, optionally with an SME bit in every entry), a sparsemem
// mem_section table and struct pages laid out as one of the kernel
// versions in makedumpfile.md §4.8, with pages of every class the dump
// filter tells apart placed at known pfns. It is code for tests only: no
// command imports it, and it builds what the kernel would have written,
// not a parser or classifier of its own.
package fakekernel
