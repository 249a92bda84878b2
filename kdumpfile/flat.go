package kdumpfile

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// The flattened format (makedumpfile -F): a 4096-byte header, then records
// {int64 offset, int64 size} (big-endian) each followed by size bytes that
// belong at offset in the real file, then the end marker {-1, -1}.
const (
	FlatHeaderSize       = 4096
	flatRecordHeaderSize = 16
	// MaxFlatRecord caps one record's size. makedumpfile writes at most a
	// write cache (64 KiB by default) or a bitmap chunk per record.
	MaxFlatRecord = 1 << 32
)

// FlatSignature starts a flattened file: "makedumpfile" padded with NULs
// to 16 bytes, followed by big-endian int64 type 1 and version 1.
const FlatSignature = "makedumpfile\x00\x00\x00\x00"

// IsFlattened reports whether b, the first bytes of a file (at least 24),
// start a flattened makedumpfile stream.
func IsFlattened(b []byte) bool {
	return len(b) >= 24 && string(b[:16]) == FlatSignature && binary.BigEndian.Uint64(b[16:]) == 1
}

// checkFlatHeader checks the 4096-byte header like makedumpfile -R: the
// signature and type 1 (version is not checked by -R; libkdumpfile wants
// 1, we accept any positive value).
func checkFlatHeader(b []byte) error {
	if string(b[:16]) != FlatSignature {
		return &FormatError{Where: "flattened header", Off: 0, Msg: fmt.Sprintf("signature %q is not %q", cstring(b[:16]), "makedumpfile"), Err: ErrNotKdump}
	}
	if t := int64(binary.BigEndian.Uint64(b[16:])); t != 1 {
		return formatErr("flattened header", 16, "type %d is not 1", t)
	}
	if v := int64(binary.BigEndian.Uint64(b[24:])); v <= 0 {
		return formatErr("flattened header", 24, "version %d is not positive", v)
	}
	return nil
}

// parseFlatRecord decodes the record header at stream offset pos. end is
// true for the end marker.
func parseFlatRecord(b []byte, pos int64) (off, size int64, end bool, err error) {
	off = int64(binary.BigEndian.Uint64(b[0:]))
	size = int64(binary.BigEndian.Uint64(b[8:]))
	switch {
	case off == -1 && size == -1:
		return 0, 0, true, nil
	case off < 0:
		return 0, 0, false, formatErr("flattened record", pos, "offset %d is negative", off)
	case size <= 0:
		return 0, 0, false, formatErr("flattened record", pos, "size %d is not positive", size)
	case size > MaxFlatRecord:
		return 0, 0, false, formatErr("flattened record", pos, "size %d exceeds the %d-byte limit", size, int64(MaxFlatRecord))
	case off > math.MaxInt64-size:
		return 0, 0, false, formatErr("flattened record", pos, "offset %#x + size %d overflows", off, size)
	}
	return off, size, false, nil
}

// flatSeg maps image bytes [off, off+n) to flattened file bytes at src.
type flatSeg struct {
	off, n, src int64
}

// FlatImage is the rearranged image of a flattened file, read in place:
// an io.ReaderAt as if makedumpfile -R had been run. Where records
// overlap, the later one wins (makedumpfile -R writes records in order);
// bytes no record covers read as zeros.
type FlatImage struct {
	r    io.ReaderAt
	segs []flatSeg // sorted, non-overlapping
	size int64
}

// OpenFlattened scans the record headers of the flattened file r of the
// given size and builds the offset index. Use the result with Open.
func OpenFlattened(r io.ReaderAt, size int64) (*FlatImage, error) {
	if size < FlatHeaderSize {
		return nil, &FormatError{Where: "flattened header", Off: 0, Msg: fmt.Sprintf("file of %d bytes is shorter than the %d-byte header", size, FlatHeaderSize), Err: ErrNotKdump}
	}
	var hb [32]byte
	if err := readFull(r, hb[:], 0); err != nil {
		return nil, fmt.Errorf("read flattened header: %w", err)
	}
	if err := checkFlatHeader(hb[:]); err != nil {
		return nil, err
	}
	var recs []flatRec
	pos := int64(FlatHeaderSize)
	var rb [flatRecordHeaderSize]byte
	for {
		if size-pos < flatRecordHeaderSize {
			return nil, formatErr("flattened record", pos, "file ends without the end marker")
		}
		if err := readFull(r, rb[:], pos); err != nil {
			return nil, fmt.Errorf("read flattened record at %#x: %w", pos, err)
		}
		off, n, end, err := parseFlatRecord(rb[:], pos)
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
		data := pos + flatRecordHeaderSize
		if n > size-data {
			return nil, formatErr("flattened record", pos, "%d bytes of data for offset %#x run past the end of the %d-byte file", n, off, size)
		}
		recs = append(recs, flatRec{off: off, n: n, src: data, seq: len(recs)})
		pos = data + n
	}
	fi := &FlatImage{r: r}
	fi.segs = resolveFlat(recs)
	if k := len(fi.segs); k > 0 {
		fi.size = fi.segs[k-1].off + fi.segs[k-1].n
	}
	return fi, nil
}

type flatRec struct {
	off, n, src int64
	seq         int
}

// resolveFlat turns records (in stream order) into sorted non-overlapping
// segments where the latest record covering a byte wins.
func resolveFlat(recs []flatRec) []flatSeg {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].off < recs[j].off })
	overlap := false
	for i := 1; i < len(recs); i++ {
		if recs[i].off < recs[i-1].off+recs[i-1].n {
			overlap = true
			break
		}
	}
	segs := make([]flatSeg, 0, len(recs))
	if !overlap { // the normal case
		for _, r := range recs {
			segs = append(segs, flatSeg{r.off, r.n, r.src})
		}
		return segs
	}
	// Sweep over all record boundaries keeping the active records in a
	// heap ordered by stream position (latest first).
	bounds := make([]int64, 0, 2*len(recs))
	for _, r := range recs {
		bounds = append(bounds, r.off, r.off+r.n)
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
	var active recHeap
	next := 0
	for bi := 0; bi+1 < len(bounds); bi++ {
		b, e := bounds[bi], bounds[bi+1]
		if b == e {
			continue
		}
		for next < len(recs) && recs[next].off <= b {
			heap.Push(&active, recs[next])
			next++
		}
		for len(active) > 0 && active[0].off+active[0].n <= b {
			heap.Pop(&active)
		}
		if len(active) == 0 {
			continue
		}
		w := active[0]
		src := w.src + (b - w.off)
		if k := len(segs); k > 0 && segs[k-1].off+segs[k-1].n == b && segs[k-1].src+segs[k-1].n == src {
			segs[k-1].n += e - b
			continue
		}
		segs = append(segs, flatSeg{b, e - b, src})
	}
	return segs
}

// recHeap orders records latest first. Records that ended stay in the
// heap until they reach the top, so the top must be checked for expiry.
type recHeap []flatRec

func (h recHeap) Len() int           { return len(h) }
func (h recHeap) Less(i, j int) bool { return h[i].seq > h[j].seq }
func (h recHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recHeap) Push(x any)        { *h = append(*h, x.(flatRec)) }
func (h *recHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Size returns the size of the rearranged image (the end of the highest
// record).
func (fi *FlatImage) Size() int64 { return fi.size }

// Records returns the number of index segments (for diagnostics).
func (fi *FlatImage) Records() int { return len(fi.segs) }

// ReadAt reads the rearranged image. Holes read as zeros; reading at or
// beyond Size returns io.EOF.
func (fi *FlatImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("flattened image: negative offset")
	}
	if off >= fi.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > fi.size-off {
		p = p[:fi.size-off]
	}
	// First segment ending after off.
	i := sort.Search(len(fi.segs), func(i int) bool { return fi.segs[i].off+fi.segs[i].n > off })
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if i >= len(fi.segs) || fi.segs[i].off >= pos+int64(len(p)-done) {
			clear(p[done:])
			done = len(p)
			break
		}
		s := fi.segs[i]
		if s.off > pos { // hole before the segment
			k := int(s.off - pos)
			clear(p[done : done+k])
			done += k
			continue
		}
		k := min(int64(len(p)-done), s.off+s.n-pos)
		if err := readFull(fi.r, p[done:done+int(k)], s.src+(pos-s.off)); err != nil {
			return done, fmt.Errorf("flattened image at %#x: %w", pos, err)
		}
		done += int(k)
		i++
	}
	if done < want {
		return done, io.EOF
	}
	return done, nil
}

// Rearrange copies the flattened stream src into dst the way makedumpfile
// -R does: each record's data is written at its offset, in stream order
// (so later records win), and bytes no record covers are left as dst has
// them (holes in a new file). It stops at the end marker and does not read
// past it. A stream that ends early is an error, not a wait.
func Rearrange(src io.Reader, dst io.WriterAt) error {
	hdr := make([]byte, FlatHeaderSize)
	if n, err := io.ReadFull(src, hdr); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return &FormatError{Where: "flattened header", Off: int64(n), Msg: fmt.Sprintf("stream ended after %d bytes of the %d-byte header", n, FlatHeaderSize), Err: ErrNotKdump}
		}
		return fmt.Errorf("read flattened header: %w", err)
	}
	if err := checkFlatHeader(hdr); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	pos := int64(FlatHeaderSize)
	var rb [flatRecordHeaderSize]byte
	for {
		if _, err := io.ReadFull(src, rb[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return formatErr("flattened record", pos, "flattened stream ended at offset %d without the end marker", pos)
			}
			return fmt.Errorf("read flattened record at %#x: %w", pos, err)
		}
		off, n, end, err := parseFlatRecord(rb[:], pos)
		if err != nil {
			return err
		}
		if end {
			return nil
		}
		pos += flatRecordHeaderSize
		for n > 0 {
			k := int(min(n, int64(len(buf))))
			got, err := io.ReadFull(src, buf[:k])
			if err != nil {
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					return formatErr("flattened record", pos+int64(got), "flattened stream ended at offset %d inside a record, without the end marker", pos+int64(got))
				}
				return fmt.Errorf("read flattened data at %#x: %w", pos, err)
			}
			if _, err := dst.WriteAt(buf[:k], off); err != nil {
				return fmt.Errorf("write rearranged data at %#x: %w", off, err)
			}
			off += int64(k)
			n -= int64(k)
			pos += int64(k)
		}
	}
}
