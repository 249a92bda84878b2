package kernel

import (
	"errors"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fuzzseed"
)

const sample = "OSRELEASE=6.1.0-27-cloud-amd64\n" +
	"BUILD-ID=4d2d2a9b1c2e\n" +
	"PAGESIZE=4096\n" +
	"SYMBOL(init_uts_ns)=ffffffff9a412f40\n" +
	"OFFSET(uts_namespace.name)=0\n" +
	"SIZE(page)=64\n" +
	"OFFSET(page.flags)=0\n" +
	"LENGTH(mem_section)=2048\n" +
	"NUMBER(PG_lru)=4\n" +
	"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n" +
	"NUMBER(VMALLOC_START)=0xffffa00000000000\n" +
	"NUMBER(phys_base)=18446744073709551615\n" +
	"SYMBOL(zero_sym)=0\n" +
	"KERNELOFFSET=18a00000\n" +
	"CRASHTIME=1732250000\n" +
	"PAGESIZE=8192\n" +
	"\x00\x00\x00"

func TestParseVMCOREINFO(t *testing.T) {
	v, err := ParseVMCOREINFO([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if v.OSRelease() != "6.1.0-27-cloud-amd64" {
		t.Errorf("OSRelease = %q", v.OSRelease())
	}
	if ps, ok := v.PageSize(); !ok || ps != 4096 {
		t.Errorf("PageSize = %d,%v; want 4096 (first occurrence wins)", ps, ok)
	}
	tests := []struct {
		name string
		got  func() (int64, bool)
		want int64
		ok   bool
	}{
		{"SYMBOL(init_uts_ns)", func() (int64, bool) { u, ok := v.Symbol("init_uts_ns"); return int64(u), ok }, -0x65bed0c0, true},
		{"SYMBOL(zero_sym)", func() (int64, bool) { u, ok := v.Symbol("zero_sym"); return int64(u), ok }, 0, false},
		{"SYMBOL(missing)", func() (int64, bool) { u, ok := v.Symbol("missing"); return int64(u), ok }, 0, false},
		{"SIZE(page)", func() (int64, bool) { return v.Size("page") }, 64, true},
		{"OFFSET(page.flags)", func() (int64, bool) { return v.Offset("page.flags") }, 0, true},
		{"LENGTH(mem_section)", func() (int64, bool) { return v.Length("mem_section") }, 2048, true},
		{"NUMBER(PG_lru)", func() (int64, bool) { return v.Number("PG_lru") }, 4, true},
		{"NUMBER(buddy)", func() (int64, bool) { return v.Number("PAGE_BUDDY_MAPCOUNT_VALUE") }, -129, true},
		{"NUMBER(hex)", func() (int64, bool) { return v.Number("VMALLOC_START") }, -0x600000000000, true},
		{"NUMBER(%lu)", func() (int64, bool) { return v.Number("phys_base") }, -1, true},
		{"KERNELOFFSET", func() (int64, bool) { u, ok := v.KernelOffset(); return int64(u), ok }, 0x18a00000, true},
		{"CRASHTIME", func() (int64, bool) { return v.CrashTime() }, 1732250000, true},
	}
	for _, tc := range tests {
		got, ok := tc.got()
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s = %#x,%v; want %#x,%v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if m := v.Missing("SIZE(page)", "SYMBOL(prb)"); len(m) != 1 || m[0] != "SYMBOL(prb)" {
		t.Errorf("Missing = %v", m)
	}
}

func TestParseVMCOREINFOErrors(t *testing.T) {
	tests := []struct {
		in   string
		line int
	}{
		{"OSRELEASE=x\nno equals sign\n", 2},
		{"SYMBOL(x)=zz\n", 1},
		{"PAGESIZE=4096\nSIZE(page)=-\n", 2},
		{"NUMBER(x)=0xg\n", 1},
		{"=value\n", 1},
		{"SYMBOL(a(b)=1\n", 1},
	}
	for _, tc := range tests {
		_, err := ParseVMCOREINFO([]byte(tc.in))
		var le *LineError
		if !errors.As(err, &le) || le.Line != tc.line {
			t.Errorf("%q: err = %v, want LineError at line %d", tc.in, err, tc.line)
		}
	}
	if _, err := ParseVMCOREINFO(make([]byte, maxVMCOREINFO+1)); err == nil {
		t.Error("oversized note: want error")
	}
}

// FuzzParseVMCOREINFO parses fuzzed note text. Seeds: samples, the
// committed real VMCOREINFO in testdata/fuzz and, when the real-kernel
// corpus is built, its VMCOREINFO.
func FuzzParseVMCOREINFO(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("SYMBOL(x)=ffff\nNUMBER(y)=0x10\n"))
	if s := fuzzseed.Load(f); s != nil {
		for _, sd := range s.VMCOREINFO {
			f.Add(sd.Data)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVMCOREINFO(b)
		if err != nil {
			return
		}
		// Every accessor must be safe on whatever parsed.
		v.OSRelease()
		v.PageSize()
		v.CrashTime()
		v.KernelOffset()
		for _, k := range v.Order {
			if _, ok := v.Raw[k]; !ok {
				t.Fatalf("key %q in Order but not in Raw", k)
			}
		}
		// Re-parsing the canonical form gives the same map.
		var canon []byte
		for _, k := range v.Order {
			canon = append(canon, k+"="+v.Raw[k]+"\n"...)
		}
		v2, err := ParseVMCOREINFO(canon)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v", err)
		}
		if len(v2.Raw) != len(v.Raw) {
			t.Fatalf("canonical re-parse has %d keys, want %d", len(v2.Raw), len(v.Raw))
		}
	})
}
