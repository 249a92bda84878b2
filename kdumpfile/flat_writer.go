package kdumpfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FlatWriter turns positioned writes into a flattened stream (makedumpfile
// -F): every WriteAt becomes one or more records {offset, size} followed
// by the data, so a Writer can stream a kdump file to a pipe. Close writes
// the end marker. Rearranging the stream (makedumpfile -R, Rearrange)
// gives the file the same writes would have made through an *os.File.
//
// A FlatWriter is not safe for concurrent use.
type FlatWriter struct {
	w   *bufio.Writer
	n   int64 // stream bytes written, header included
	err error
}

// maxFlatWrite caps the data of one record; larger writes become several
// records. It is well below MaxFlatRecord, which readers enforce.
const maxFlatWrite = 16 << 20

// NewFlatWriter writes the 4096-byte flattened header to w.
func NewFlatWriter(w io.Writer) (*FlatWriter, error) {
	fw := &FlatWriter{w: bufio.NewWriterSize(w, 1<<20)}
	var h [FlatHeaderSize]byte
	copy(h[:], FlatSignature)
	binary.BigEndian.PutUint64(h[16:], 1) // type
	binary.BigEndian.PutUint64(h[24:], 1) // version
	if err := fw.write(h[:]); err != nil {
		return nil, err
	}
	return fw, nil
}

func (fw *FlatWriter) write(b []byte) error {
	if fw.err != nil {
		return fw.err
	}
	n, err := fw.w.Write(b)
	fw.n += int64(n)
	if err != nil {
		fw.err = fmt.Errorf("flattened stream at %#x: %w", fw.n, err)
	}
	return fw.err
}

// WriteAt emits p as records for offset off. Empty writes emit nothing
// (readers reject records of size 0).
func (fw *FlatWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("flattened stream: negative offset")
	}
	done := 0
	for done < len(p) {
		k := min(len(p)-done, maxFlatWrite)
		var rh [flatRecordHeaderSize]byte
		binary.BigEndian.PutUint64(rh[0:], uint64(off+int64(done)))
		binary.BigEndian.PutUint64(rh[8:], uint64(k))
		if err := fw.write(rh[:]); err != nil {
			return done, err
		}
		if err := fw.write(p[done : done+k]); err != nil {
			return done, err
		}
		done += k
	}
	return done, nil
}

// Size is the number of stream bytes written so far (header and record
// headers included; buffered bytes count).
func (fw *FlatWriter) Size() int64 { return fw.n }

// Close writes the end marker {-1, -1} and flushes. It does not close the
// underlying writer.
func (fw *FlatWriter) Close() error {
	var end [flatRecordHeaderSize]byte
	for i := range end {
		end[i] = 0xff
	}
	if err := fw.write(end[:]); err != nil {
		return err
	}
	if err := fw.w.Flush(); err != nil {
		fw.err = fmt.Errorf("flattened stream: %w", err)
		return fw.err
	}
	return nil
}
