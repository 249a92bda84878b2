package codec

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
)

// snappyInputs are inputs of the shapes the encoder must handle: empty,
// shorter than a match search, page-like, incompressible, long runs (the
// copy splitting), and longer than one 64 KiB piece.
func snappyInputs(t testing.TB) map[string][]byte {
	page := pagelikePage(t)
	rng := rand.New(rand.NewSource(7))
	random := make([]byte, 5000)
	rng.Read(random)
	big := make([]byte, 200<<10)
	for i := 0; i < len(big); i += 4096 {
		copy(big[i:], page)
		if i%3 == 0 {
			rng.Read(big[i : i+512])
		}
	}
	short := make(map[string][]byte)
	in := map[string][]byte{
		"empty":    {},
		"page":     page,
		"test":     testPage(),
		"random":   random,
		"zeros":    make([]byte, 4096),
		"run300":   bytes.Repeat([]byte{'a'}, 300),
		"period3":  bytes.Repeat([]byte("abc"), 1400),
		"big":      big,
		"64K+1":    big[:snappyBlock+1],
		"literal1": {'x'},
	}
	for n := 1; n <= 40; n++ {
		short[string(rune('A'+n))] = page[:n]
	}
	for k, v := range short {
		in["short-"+k] = v
	}
	return in
}

// TestSnappyOracle checks our block codec against klauspost's snappy
// package both ways, and that ours compresses as well as
// s2.EncodeSnappy, the encoder it replaced (within 1%), on inputs up to
// 64 KiB (pages). Longer inputs we cut into 64 KiB pieces matched
// separately, as the reference encoder does; s2 matches across them.
func TestSnappyOracle(t *testing.T) {
	var e snappyEncoder
	for name, src := range snappyInputs(t) {
		t.Run(name, func(t *testing.T) {
			dst := make([]byte, snappyMaxEncodedLen(len(src)))
			n := e.encode(dst, src)
			got, err := snappy.Decode(nil, dst[:n])
			if err != nil {
				t.Fatalf("reference decoder rejects our block: %v", err)
			}
			if !bytes.Equal(got, src) {
				t.Fatal("reference decoder reads our block as other bytes")
			}
			ref := snappy.Encode(nil, src)
			out := make([]byte, len(src))
			if err := decodeSnappy(out, ref); err != nil {
				t.Fatalf("our decoder rejects the reference block: %v", err)
			}
			if !bytes.Equal(out, src) {
				t.Fatal("our decoder reads the reference block as other bytes")
			}
			if old := s2.EncodeSnappy(nil, src); len(src) >= 4096 && len(src) <= snappyBlock && n > len(old)+len(old)/100 {
				t.Errorf("our block is %d bytes, s2.EncodeSnappy's %d", n, len(old))
			}
		})
	}
}

func TestSnappyDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		dstN int
		src  []byte
	}{
		{"no preamble", 4, nil},
		{"bad varint", 4, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}},
		{"length mismatch", 4, []byte{5, 16, 'a', 'b', 'c', 'd', 'e'}},
		{"short literal", 4, []byte{4, 12, 'a', 'b', 'c'}},
		{"literal length cut", 4, []byte{4, 61 << 2, 3}},
		{"literal past dst", 4, []byte{4, 16, 'a', 'b', 'c', 'd', 'e'}},
		{"copy before start", 8, []byte{8, 1, 9, 2<<2 | 1, 0}},
		{"offset 0", 8, []byte{8, 0, 'a', 3<<2 | 2, 0, 0}},
		{"copy1 cut", 8, []byte{8, 0, 'a', 1}},
		{"copy2 cut", 8, []byte{8, 0, 'a', 2, 1}},
		{"copy4 cut", 8, []byte{8, 0, 'a', 3, 1, 0, 0}},
		{"copy4 huge offset", 8, []byte{8, 0, 'a', 3<<2 | 3, 0xff, 0xff, 0xff, 0xff}},
		{"copy past dst", 4, []byte{4, 0, 'a', 7<<2 | 2, 1, 0}},
		{"short output", 4, []byte{4, 0, 'a'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeSnappy(make([]byte, tc.dstN), tc.src)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want an error wrapping ErrCorrupt", err)
			}
		})
	}
	// An overlapping copy (offset 1) repeats the last byte.
	out := make([]byte, 6)
	if err := decodeSnappy(out, []byte{6, 0, 'a', 1<<2 | 1, 1}); err != nil || string(out) != "aaaaaa" {
		t.Fatalf("overlapping copy: %q, %v", out, err)
	}
}

// FuzzSnappy: arbitrary data round-trips through our encoder and both
// decoders, and as a block, arbitrary data decodes with ours exactly when
// it does with the reference's strict decoder (snappy.Decode also takes
// S2's extensions, such as offset 0 for "the last offset again", which
// no snappy page holds), to the same bytes.
func FuzzSnappy(f *testing.F) {
	for _, src := range snappyInputs(f) {
		if len(src) <= 8192 {
			f.Add(src)
		}
	}
	f.Add(snappy.Encode(nil, testPage()))
	var e snappyEncoder
	f.Fuzz(func(t *testing.T, data []byte) {
		dst := make([]byte, snappyMaxEncodedLen(len(data)))
		n := e.encode(dst, data)
		got, err := snappy.Decode(nil, dst[:n])
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("reference decoder: %v (round trip equal: %v)", err, bytes.Equal(got, data))
		}
		out := make([]byte, len(data))
		if err := decodeSnappy(out, dst[:n]); err != nil || !bytes.Equal(out, data) {
			t.Fatalf("our decoder: %v", err)
		}

		dn, err := snappy.DecodedLen(data)
		if err != nil || dn > 1<<20 {
			return
		}
		ref, refErr := snappy.DecodeStrict(make([]byte, dn), data)
		ours := make([]byte, dn)
		ourErr := decodeSnappy(ours, data)
		if (refErr == nil) != (ourErr == nil) {
			t.Fatalf("reference decoder: %v, ours: %v", refErr, ourErr)
		}
		if ourErr == nil && !bytes.Equal(ours, ref) {
			t.Fatal("decoders disagree on the bytes")
		}
		if ourErr != nil && !errors.Is(ourErr, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", ourErr)
		}
	})
}
