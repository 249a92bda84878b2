package crashkernel

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBzImageInitSizeCorpus reads init_size from the real Debian kernels
// in the kdumpkit cache (internal/debkernel puts them there) and, where
// the matching -dbg vmlinux is cached too, checks that init_size covers
// the image's memory span (first PT_LOAD to the end of the last), which
// is what the estimate needs it to mean.
func TestBzImageInitSizeCorpus(t *testing.T) {
	cache := os.Getenv("KDUMPKIT_CACHE")
	if cache == "" {
		cache = "/var/cache/kdumpkit"
	}
	images, _ := filepath.Glob(filepath.Join(cache, "debkernel", "*", "boot", "vmlinuz-*"))
	if len(images) == 0 {
		t.Skipf("no Debian kernels cached under %s/debkernel (make corpus fetches them)", cache)
	}
	checked := 0
	for _, img := range images {
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		size, err := BzImageInitSize(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", img, err)
			continue
		}
		if size < Size(st.Size()) || size > 512*M {
			t.Errorf("%s: init_size %v for a %d-byte image", img, size, st.Size())
		}
		// .../linux-image-<rel>-unsigned_<ver>/boot/vmlinuz-<rel> →
		// .../linux-image-<rel>-dbg_<ver>/vmlinux-<rel>
		pkg := filepath.Base(filepath.Dir(filepath.Dir(img)))
		rel := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		dbg := filepath.Join(cache, "debkernel", strings.Replace(pkg, "-unsigned_", "-dbg_", 1), "vmlinux-"+rel)
		ef, err := elf.Open(dbg)
		if err != nil {
			t.Logf("%s: init_size %v (no debug vmlinux to compare)", filepath.Base(img), size)
			continue
		}
		var lo, hi uint64 = ^uint64(0), 0
		for _, p := range ef.Progs {
			if p.Type == elf.PT_LOAD {
				lo = min(lo, p.Paddr)
				hi = max(hi, p.Paddr+p.Memsz)
			}
		}
		ef.Close()
		span := Size(hi - lo)
		if size < span {
			t.Errorf("%s: init_size %v below the vmlinux load span %v", img, size, span)
		}
		t.Logf("%s: init_size %v, vmlinux span %v", filepath.Base(img), size, span)
		checked++
	}
	if checked == 0 {
		t.Log("no debug vmlinux cached: only the range check ran")
	}
}
