// Package codec decodes the per-page compression methods of the
// kdump-compressed format: zlib (page flag 0x1, an RFC 1950 stream), LZO
// (0x2, a raw LZO1X block as made by lzo1x_1_compress), snappy (0x4, the raw
// snappy block format, not the framing format) and zstd (0x20, zstd frames).
// These four are the only methods crash, libkdumpfile and makedumpfile know.
//
// A Decoder holds reusable state (zlib and zstd decoders, nothing for LZO
// and snappy) so that decoding a page does not allocate; use one Decoder per
// goroutine. LZO1X decoding is our own implementation (DecodeLZO1X): no Go
// LZO library with a usable licence exists. The zstd frame decoder is our
// own too (zstd_decode.go): the library's package would link its encoders,
// crypto/rand and log into every program that reads pages. Decoding a
// page takes about twice its time (15 against 7 µs of CPU for a 4 KiB
// kernel page; it decodes sequences and Huffman streams in assembly),
// which matters only when reading zstd dumps.
//
// On the write side an Encoder (one per goroutine, allocation-free after
// warm-up) compresses pages with all four methods; EncodePage applies
// makedumpfile's rule of storing a page raw unless its compressed form is
// strictly smaller. Snappy is our own block codec (snappy.go: a library
// would link crypto and encoding/json into every binary, for a framing
// format we never use). LZO uses LZOCompressor, our own LZO1X-1
// compressor (byte-identical to liblzo2's lzo1x_1_compress on everything
// tested, so makedumpfile -l output sizes match the C tool's). Zstd uses
// our own page encoder (one frame and one block per page, libzstd level
// 1's match finding), as small as libzstd level 1's pages on kernel memory
// or smaller; a page over 128 KiB (a zstd block's limit) is stored raw.
//
// Whole-stream containers (xz, lz4) are not page methods: no reader knows
// such a page flag. DetectStream, OpenStream and NewStreamWriter detect,
// unwrap and write them around whole flattened (-F) or ELF streams, the
// way Debian's kdump-tools compresses its dump stream.
//
// # Security
//
// Compressed input is treated as hostile: every read of src and every write
// to dst is bounds-checked, malformed input yields an error wrapping
// ErrCorrupt, nothing is written past len(dst), and no input makes the
// decoders panic or allocate more than a fixed bound.
package codec
