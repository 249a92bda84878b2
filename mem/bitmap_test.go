package mem

import (
	"math/rand"
	"testing"
)

func TestBitmapRankAgainstScan(t *testing.T) {
	for _, n := range []PFN{0, 1, 7, 8, 9, 4095, 4096, 4097, 3*rankStride + 13} {
		rng := rand.New(rand.NewSource(int64(n)))
		m := NewBitmap(n)
		var want []bool
		for p := PFN(0); p < n; p++ {
			on := rng.Intn(3) == 0
			if on {
				m.Set(p)
			}
			want = append(want, on)
		}
		m.Freeze()
		var c uint64
		for p := PFN(0); p <= n; p++ {
			if got := m.Rank(p); got != c {
				t.Fatalf("n=%d: Rank(%d) = %d, want %d", n, p, got, c)
			}
			if p < n && want[p] {
				c++
			}
		}
		if m.Count() != c {
			t.Fatalf("n=%d: Count = %d, want %d", n, m.Count(), c)
		}
	}
}

func TestBitmapRangesAndNext(t *testing.T) {
	m := NewBitmap(100)
	m.SetRange(3, 20)
	m.SetRange(64, 65)
	m.SetRange(90, 200)
	got := m.Ranges()
	want := []PFNRange{{3, 20}, {64, 65}, {90, 100}}
	if len(got) != len(want) {
		t.Fatalf("Ranges = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Ranges = %v, want %v", got, want)
		}
	}
	c := NewBitmap(100)
	c.SetRange(0, 100)
	c.ClearRange(3, 20)
	c.ClearRange(64, 65)
	c.ClearRange(90, 200)
	if got := c.Ranges(); len(got) != 3 || got[0] != (PFNRange{0, 3}) || got[1] != (PFNRange{20, 64}) || got[2] != (PFNRange{65, 90}) {
		t.Fatalf("after ClearRange: %v", got)
	}
	if p, ok := m.Next(20); !ok || p != 64 {
		t.Fatalf("Next(20) = %d,%v want 64,true", p, ok)
	}
	if _, ok := m.Next(100); ok {
		t.Fatal("Next past end found a bit")
	}
	if m.Test(100) || m.Test(1<<40) {
		t.Fatal("bits past Len must read clear")
	}
}

func TestBitmapFromBytesTooShort(t *testing.T) {
	if _, err := BitmapFromBytes(make([]byte, 1), 9); err == nil {
		t.Fatal("want error for short bitmap")
	}
}
