package kdumpfile

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestFlatWriterGolden: a kdump file written through FlatWriter
// rearranges (with Rearrange, and read in place with OpenFlattened) to the
// direct file, and so does makedumpfile's own -F stream of the same run.
func TestFlatWriterGolden(t *testing.T) {
	direct := readGz(t, "lzo-d1.gz")
	var stream bytes.Buffer
	fw, err := NewFlatWriter(&stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := Reassemble(openBytes(t, direct), fw); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if fw.Size() != int64(stream.Len()) {
		t.Errorf("Size %d, stream has %d bytes", fw.Size(), stream.Len())
	}
	for name, s := range map[string][]byte{"ours": stream.Bytes(), "makedumpfile's": readGz(t, "lzo-d1-flat.gz")} {
		t.Run(name, func(t *testing.T) {
			var out writerAt
			if err := Rearrange(bytes.NewReader(s), &out); err != nil {
				t.Fatal(err)
			}
			firstDiff(t, out.b, direct)
			fi, err := OpenFlattened(bytes.NewReader(s), int64(len(s)))
			if err != nil {
				t.Fatal(err)
			}
			img := make([]byte, fi.Size())
			if _, err := fi.ReadAt(img, 0); err != nil {
				t.Fatal(err)
			}
			firstDiff(t, img, direct)
		})
	}
}

func TestFlatWriterRecords(t *testing.T) {
	var stream bytes.Buffer
	fw, err := NewFlatWriter(&stream)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{7}, maxFlatWrite+10)
	for _, w := range []struct {
		p   []byte
		off int64
	}{{nil, 5}, {[]byte("abc"), 100}, {big, 1 << 40}} {
		if n, err := fw.WriteAt(w.p, w.off); err != nil || n != len(w.p) {
			t.Fatalf("WriteAt(%d bytes, %#x) = %d, %v", len(w.p), w.off, n, err)
		}
	}
	if _, err := fw.WriteAt([]byte{1}, -1); err == nil {
		t.Error("negative offset accepted")
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	b := stream.Bytes()
	if !IsFlattened(b) || binary.BigEndian.Uint64(b[24:]) != 1 {
		t.Fatalf("bad header %q", b[:32])
	}
	type rec struct{ off, n int64 }
	var got []rec
	for pos := FlatHeaderSize; ; {
		off, n := int64(binary.BigEndian.Uint64(b[pos:])), int64(binary.BigEndian.Uint64(b[pos+8:]))
		pos += 16
		if off == -1 && n == -1 {
			if pos != len(b) {
				t.Errorf("%d bytes after the end marker", len(b)-pos)
			}
			break
		}
		got = append(got, rec{off, n})
		pos += int(n)
	}
	want := []rec{{100, 3}, {1 << 40, maxFlatWrite}, {1<<40 + maxFlatWrite, 10}}
	if len(got) != len(want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("records %v, want %v", got, want)
		}
	}
}

// FuzzFlatWriterRoundTrip: any sequence of positioned writes, sent
// through FlatWriter and rearranged, gives the file the writes make
// directly.
func FuzzFlatWriterRoundTrip(f *testing.F) {
	f.Add([]byte{0, 10, 3, 1, 2, 3, 5, 2, 9, 9})
	f.Add([]byte{200, 4, 0, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var direct writerAt
		var stream bytes.Buffer
		fw, err := NewFlatWriter(&stream)
		if err != nil {
			t.Fatal(err)
		}
		for len(ops) >= 2 {
			off, n := int64(ops[0])*7, int(ops[1])%32
			ops = ops[2:]
			n = min(n, len(ops))
			p := ops[:n]
			ops = ops[n:]
			if n > 0 { // an empty pwrite does not extend a file
				direct.WriteAt(p, off)
			}
			if _, err := fw.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		var out writerAt
		if err := Rearrange(bytes.NewReader(stream.Bytes()), &out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.b, direct.b) {
			t.Fatalf("rearranged %x, direct %x", out.b, direct.b)
		}
	})
}
