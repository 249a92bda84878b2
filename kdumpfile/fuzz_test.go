package kdumpfile

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/mem"
)

// FuzzOpen opens a fuzzed file and reads every page; nothing may panic,
// and page errors must be one of the documented kinds.
func FuzzOpen(f *testing.F) {
	f.Add(buildSynth(synthDefault(), nil))
	for _, name := range []string{"lzo-d1.gz", "zlib-d1.gz", "lzo-d0-incomplete.gz", "lzo-d1-split.1.gz"} {
		f.Add(readGz(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		file.VMCOREINFO()
		file.Notes()
		file.Eraseinfo()
		file.DescStats()
		dst := make([]byte, file.PageSize())
		n := 0
		for pfn, ok := file.RAM().Next(0); ok && n < 4096; pfn, ok = file.RAM().Next(pfn + 1) {
			n++
			err := file.ReadPage(pfn, dst)
			if err != nil && errors.Is(err, mem.ErrNotRAM) {
				t.Fatalf("pfn %#x is in the RAM bitmap but read as not RAM: %v", pfn, err)
			}
		}
		file.ReadPage(file.MaxPFN(), dst)
		OpenSet([]*File{file})
	})
}

var _ = codec.ErrCorrupt
