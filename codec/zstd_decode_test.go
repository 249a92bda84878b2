package codec

import (
	"bytes"
	"errors"
	"math/rand"
	"os/exec"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdDecodeInputs are pages and blocks of the shapes zstd encoders treat
// differently: tiny, one byte repeated (RLE), incompressible (raw
// blocks, raw literals), page-like (Huffman literals, FSE tables), and
// over one 128 KiB block.
func zstdDecodeInputs(t testing.TB) map[string][]byte {
	page := pagelikePage(t)
	rng := rand.New(rand.NewSource(11))
	random := make([]byte, 4096)
	rng.Read(random)
	text := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog; kworker/0:1 "), 80)
	skewed := make([]byte, 4096) // few symbols, long Huffman codes for rare ones
	for i := range skewed {
		switch r := rng.Intn(1000); {
		case r < 700:
			skewed[i] = 0
		case r < 900:
			skewed[i] = 0xff
		default:
			skewed[i] = byte(rng.Intn(256))
		}
	}
	big := make([]byte, 200<<10)
	for i := 0; i < len(big); i += 4096 {
		copy(big[i:], page)
		rng.Read(big[i : i+256])
	}
	in := map[string][]byte{
		"page": page, "test": testPage(), "random": random, "zeros": make([]byte, 4096),
		"text": text, "skewed": skewed, "big": big, "one": {7}, "short": page[:37],
		"half-random": append(append([]byte{}, page[:2048]...), random[:2048]...),
	}
	return in
}

// TestZstdDecodeKlauspost decodes what github.com/klauspost/compress
// encodes at every level, with and without the checksum, as single
// frames and as a frame followed by a skippable frame and another frame.
func TestZstdDecodeKlauspost(t *testing.T) {
	levels := []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression, zstd.SpeedBestCompression}
	var z zstdDecoder
	for name, src := range zstdDecodeInputs(t) {
		for _, lv := range levels {
			for _, crc := range []bool{false, true} {
				enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lv), zstd.WithEncoderCRC(crc), zstd.WithSingleSegment(false))
				if err != nil {
					t.Fatal(err)
				}
				frame := enc.EncodeAll(src, nil)
				enc.Close()
				out := make([]byte, len(src))
				if err := z.decode(out, frame); err != nil || !bytes.Equal(out, src) {
					t.Errorf("%s, %v, crc %v: %v (equal %v)", name, lv, crc, err, bytes.Equal(out, src))
					continue
				}
				if crc {
					bad := bytes.Clone(frame)
					bad[len(bad)-1] ^= 1
					if err := z.decode(out, bad); !errors.Is(err, ErrCorrupt) {
						t.Errorf("%s, %v: a wrong checksum gave %v", name, lv, err)
					}
				}
				// Two frames with a skippable frame between them.
				two := append(bytes.Clone(frame), 0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3)
				two = append(two, frame...)
				out2 := make([]byte, 2*len(src))
				if err := z.decode(out2, two); err != nil || !bytes.Equal(out2[:len(src)], src) || !bytes.Equal(out2[len(src):], src) {
					t.Errorf("%s, %v: two frames: %v", name, lv, err)
				}
			}
		}
	}
}

// TestZstdDecodeLibzstd decodes frames from the zstd command (libzstd)
// at levels 1 to 19, when the command is installed.
func TestZstdDecodeLibzstd(t *testing.T) {
	zbin, err := exec.LookPath("zstd")
	if err != nil {
		t.Skip("needs the zstd command:", err)
	}
	var z zstdDecoder
	for name, src := range zstdDecodeInputs(t) {
		for _, lv := range []string{"-1", "-3", "-9", "-19", "--fast=3"} {
			for _, check := range []string{"--no-check", "--check"} {
				cmd := exec.Command(zbin, "-q", "-c", lv, check)
				cmd.Stdin = bytes.NewReader(src)
				frame, err := cmd.Output()
				if err != nil {
					t.Fatalf("zstd %s: %v", lv, err)
				}
				out := make([]byte, len(src))
				if err := z.decode(out, frame); err != nil || !bytes.Equal(out, src) {
					t.Errorf("%s, zstd %s %s: %v (equal %v)", name, lv, check, err, bytes.Equal(out, src))
				}
			}
		}
	}
}

func TestZstdDecodeErrors(t *testing.T) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	page := zstdDecodeInputs(t)["page"]
	frame := enc.EncodeAll(page, nil)
	var z zstdDecoder
	out := make([]byte, len(page))
	cases := map[string][]byte{
		"empty":      nil,
		"bad magic":  append([]byte{0, 0, 0, 0}, frame[4:]...),
		"cut":        frame[:len(frame)/2],
		"header cut": frame[:5],
		"trailing":   append(bytes.Clone(frame), 1, 2),
		"dictionary": {0x28, 0xb5, 0x2f, 0xfd, 0x21, 1, 0, 1, 0, 0},
	}
	for i := 4; i < len(frame); i += 7 {
		b := bytes.Clone(frame)
		b[i] ^= 0x55
		cases["flip"+string(rune('A'+i%26))+string(rune('a'+i/26%26))] = b
	}
	for name, src := range cases {
		if err := z.decode(out, src); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want an error wrapping ErrCorrupt", name, err)
		}
	}
	// The right frame for a shorter or longer page.
	if err := z.decode(make([]byte, len(page)-1), frame); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short dst: %v", err)
	}
	if err := z.decode(make([]byte, len(page)+1), frame); !errors.Is(err, ErrCorrupt) {
		t.Errorf("long dst: %v", err)
	}
}

// FuzzZstdDecode: on arbitrary input our decoder must not panic; where
// it and klauspost's decoder both decode, the bytes must be the same;
// where they disagree, libzstd (the zstd command, when installed)
// decides: we must decode exactly what it decodes to n bytes. klauspost
// differs from libzstd in places: it refuses some Huffman weight tables
// libzstd takes and windows over its memory limit, and takes empty input
// as no frames.
func FuzzZstdDecode(f *testing.F) {
	for _, src := range zstdDecodeInputs(f) {
		if len(src) > 8192 {
			continue
		}
		for _, lv := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedBestCompression} {
			enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(lv), zstd.WithEncoderCRC(true))
			f.Add(enc.EncodeAll(src, nil), uint16(len(src)))
			enc.Close()
		}
	}
	ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	zbin, _ := exec.LookPath("zstd")
	var z zstdDecoder
	f.Fuzz(func(t *testing.T, src []byte, n uint16) {
		out := make([]byte, n)
		ourErr := z.decode(out, src)
		if ourErr != nil && !errors.Is(ourErr, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", ourErr)
		}
		want, refErr := ref.DecodeAll(src, nil)
		refOK := refErr == nil && len(want) == int(n)
		if refOK && ourErr == nil {
			if !bytes.Equal(out, want) {
				t.Fatal("decoders disagree on the bytes")
			}
			return
		}
		if refOK == (ourErr == nil) || zbin == "" {
			return // both refuse, or no judge
		}
		cmd := exec.Command(zbin, "-q", "-d", "-c")
		cmd.Stdin = bytes.NewReader(src)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		lib, err := cmd.Output()
		if err != nil && bytes.Contains(bytes.ToLower(stderr.Bytes()), []byte("memory")) {
			return // a window libzstd will not allocate: no verdict
		}
		libOK := err == nil && len(lib) == int(n)
		if libOK != (ourErr == nil) || libOK && !bytes.Equal(lib, out) {
			t.Fatalf("for %d bytes: ours %v; klauspost %d bytes, %v; libzstd %d bytes, %v %s",
				n, ourErr, len(want), refErr, len(lib), err, stderr.Bytes())
		}
	})
}
