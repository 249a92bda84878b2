package pagegen

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"testing"
)

func TestFillIsSplittable(t *testing.T) {
	const n = 8 * PageSize
	whole := make([]byte, n)
	Fill(whole, 42, 0)
	for _, cut := range []int{8, 4096, 4104, 12288, 20000} {
		parts := make([]byte, n)
		Fill(parts[:cut], 42, 0)
		Fill(parts[cut:], 42, uint64(cut))
		if !bytes.Equal(whole, parts) {
			t.Errorf("filling in two parts cut at %d differs from one fill", cut)
		}
	}
}

func TestFillNoZeroWords(t *testing.T) {
	b := make([]byte, 64*PageSize)
	Fill(b, 7, 0)
	for i := 0; i < len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) == 0 {
			t.Fatalf("zero word at %d", i)
		}
	}
}

func TestKindsCompressDifferently(t *testing.T) {
	tests := []struct {
		kind     Kind
		minRatio float64 // compressed/original
		maxRatio float64
	}{
		{Random, 0.99, 1.1},
		{Text, 0.4, 0.8},
		{Pattern, 0, 0.1},
	}
	for _, tt := range tests {
		// Find a page of this kind.
		var page uint64
		for KindOf(1, page) != tt.kind {
			page++
		}
		b := make([]byte, PageSize)
		Fill(b, 1, page*PageSize)
		var out bytes.Buffer
		w, _ := flate.NewWriter(&out, flate.BestSpeed)
		w.Write(b)
		w.Close()
		ratio := float64(out.Len()) / PageSize
		if ratio < tt.minRatio || ratio > tt.maxRatio {
			t.Errorf("kind %d: compression ratio %.2f outside [%.2f, %.2f]", tt.kind, ratio, tt.minRatio, tt.maxRatio)
		}
	}
}

func TestKindMix(t *testing.T) {
	var count [3]int
	const pages = 10000
	for i := uint64(0); i < pages; i++ {
		count[KindOf(3, i)]++
	}
	for k, c := range count {
		if c < pages/10 {
			t.Errorf("kind %d: only %d of %d pages", k, c, pages)
		}
	}
}

func BenchmarkFill(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for i := 0; b.Loop(); i++ {
		Fill(buf, 1, uint64(i)*uint64(len(buf)))
	}
}
