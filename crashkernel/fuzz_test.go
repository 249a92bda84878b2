package crashkernel

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: any value either fails with an error naming it, or parses
// into a Spec whose String parses back to the same Spec; SizeFor and
// Resolve never panic and never return more than the RAM.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"256M", "64M@16M", "0x10000000", "512M,high", "0,low", "1G,cma", "2G-64G:256M,64G-:512M",
		"512M-2G:64M,2G-:128M@16M", "1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M", "010", "8E", "auto",
	} {
		f.Add(s, uint64(4<<30))
	}
	f.Fuzz(func(t *testing.T, v string, ram uint64) {
		sp, err := Parse(v)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "crashkernel="+v+": ") {
				t.Fatalf("error %q does not name the value", err)
			}
		} else {
			again, err := Parse(sp.String())
			if err != nil || !reflect.DeepEqual(again, sp) {
				t.Fatalf("%q → %+v → %q → %+v, %v", v, sp, sp.String(), again, err)
			}
			if size, err := sp.SizeFor(Size(ram)); err == nil && size != 0 && size >= Size(ram) {
				t.Fatalf("%q on %d: %v not below RAM", v, ram, size)
			}
		}
		for _, arch := range Arches {
			req, err := Resolve("root=/dev/sda crashkernel="+v+" quiet", Size(ram), arch)
			if err == nil && req.Size != 0 && req.Size >= Size(ram) {
				t.Fatalf("Resolve %q on %d: %v", v, ram, req.Size)
			}
		}
	})
}

// FuzzParseIomem: no panic; every entry is a half-open, non-reversed range.
func FuzzParseIomem(f *testing.F) {
	f.Add("00000000-00000fff : Reserved\n00100000-bffdbfff : System RAM\n  a3000000-b2ffffff : Crash kernel\n")
	f.Add("00000000-00000000 : System RAM\n")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseIomem(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.End <= e.Start {
				t.Fatalf("entry %+v", e)
			}
		}
		SystemRAM(entries)
		CrashRegions(entries)
	})
}
