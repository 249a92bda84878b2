// Package mem holds the small vocabulary every other kdumpkit package
// shares: physical page frame numbers, physical and virtual addresses,
// half-open address ranges and the one-bit-per-page Bitmap used for "which
// pages exist" and "which pages a dump holds".
//
// It knows nothing about any file format; the bitmap's byte form (bit N
// of byte N/8, least significant bit first) happens to be the layout of the
// kdump-compressed format, so kdumpfile reads and writes it directly
// (ReadBitmap, Bitmap.ReadAt). A Bitmap stores its bits in chunks and
// shares the all-clear and all-set ones, so it costs memory where its
// bits are mixed, not in proportion to the machine's size.
package mem
