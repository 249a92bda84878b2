// Package stream reads and writes the whole-stream containers around a
// dump (xz and lz4), as Debian's kdump-tools writes `makedumpfile -F | xz`
// and capture-init's stream_compression does. It is not a page codec
// (package codec has those, and detects the containers).
//
// Importing it registers its readers with codec.OpenStream, so that
// vmcore.Open and the targets read wrapped dumps in every program that
// links it. cmd/makedumpfile does not: the xz and lz4 libraries would add
// about 250 KB to the binary the capture kernel runs, for input the C
// makedumpfile does not read either (it wants `xz -dc | makedumpfile -R`).
package stream
