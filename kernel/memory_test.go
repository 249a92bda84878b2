package kernel_test

import (
	"runtime"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
)

// TestTranslatorMemory: a translator holds page buffers only for the
// cache slots it used. Setting one up and translating a few addresses
// (what the dump engine's translator does) must not allocate the whole
// 64-slot cache (256 KiB of 4 KiB pages), which two translators per run
// once did.
func TestTranslatorMemory(t *testing.T) {
	k := fakekernel.New(fakekernel.Config{Era: fakekernel.EraByName("6.12")})
	addrs := []uint64{k.PageOffset + 0x1000, k.Vmemmap + 0x40, k.Vmalloc + 0x3000, k.DataVA + 0x10}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := newFakeX86(t, k)
	for _, va := range addrs {
		if _, err := x.VtoP(va); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(x)
	// Each walk reads at most five table pages; a few are shared.
	const limit = 24 * 4096
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("set-up and %d translations allocated %d bytes, want at most %d", len(addrs), got, limit)
	}
}
