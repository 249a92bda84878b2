// Package mem holds the small vocabulary every other kdumpkit package
// shares: physical page frame numbers, physical and virtual addresses,
// half-open address ranges and the one-bit-per-page Bitmap used for "which
// pages exist" and "which pages a dump holds".
//
// It knows nothing about any file format; the bitmap's byte layout (bit N
// of byte N/8, least significant bit first) happens to be the layout of the
// kdump-compressed format, so kdumpfile can load it without conversion.
package mem
