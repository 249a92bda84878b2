// Package dump moves page data: it reads the pages a filter.Plan keeps,
// drops zero pages, compresses and hands them in pfn order to a format
// writer. It is the one place page data flows through, shared by
// cmd/makedumpfile and cmd/capture-init.
//
// Today it is a straight sequential loop; the parallel, memory-bounded
// engine comes with the makedumpfile command.
package dump
