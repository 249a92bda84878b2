// Package writeback starts the write-back of a dump file while the dump
// is still being written, so that the final fsync has little left to do
// and the page cache does not fill with dirty pages of the output.
//
// Without it, a dump of 2 GB sits in the page cache until the fsync at
// the end, and the disk idles while pages are compressed: on the 4 GiB
// corpus at -d 1 the fsync alone took about a second after the last
// write. In a capture kernel, whose memory is a crashkernel= reservation
// of about 100 MiB, dirty pages of the output are also memory that
// cannot be reclaimed until they reach the disk.
//
// A File passes writes through to its *os.File and, after every Window
// bytes, asks the kernel to start writing back what is dirty
// (sync_file_range with SYNC_FILE_RANGE_WRITE, which does not wait for
// the data to reach the disk). It is not a durability mechanism: Sync
// still fsyncs. Where the call is not supported (other systems, file
// systems that refuse it) the kick is skipped and only Sync writes.
package writeback
