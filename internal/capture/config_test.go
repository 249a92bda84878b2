package capture

import (
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

func TestNewConfigCollector(t *testing.T) {
	tests := []struct {
		collector string
		level     filter.Level
		method    codec.Method
		flat      bool
		err       string
	}{
		{"makedumpfile -l --message-level 7 -d 31", 31, codec.LZO, false, ""},
		{"makedumpfile -c -d 17 -F", 17, codec.Zlib, true, ""},
		{"makedumpfile -l -d 1,31", 1, codec.LZO, false, ""},
		{"/usr/sbin/makedumpfile -z -d1", 1, codec.Zstd, false, ""},
		{"makedumpfile -d 99", 0, 0, false, `dump level "99"`},
		{"makedumpfile --split", 0, 0, false, "--split needs VMCORE and at least two DUMPFILEs"},
		{"makedumpfile -d", 0, 0, false, `dump level "/proc/vmcore"`},
		{"makedumpfile -E -d 31", 0, 0, false, "-E (ELF output) is not supported"},
		{"makedumpfile -L 1G -d 31", 0, 0, false, "-L is not supported"},
		{"cp", 0, 0, false, "only makedumpfile collectors"},
	}
	for _, tt := range tests {
		kc, err := kdumpconf.Parse(strings.NewReader("core_collector "+tt.collector+"\n"), "kdump.conf")
		if err != nil {
			t.Fatalf("%q: %v", tt.collector, err)
		}
		c, err := NewConfig(kc, nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "kdump.conf:1: core_collector") {
				t.Errorf("%q: err %v, want %q at kdump.conf:1", tt.collector, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.collector, err)
			continue
		}
		if c.Level != tt.level || c.Method != tt.method || c.Flatten != tt.flat {
			t.Errorf("%q: level %d method %v flat %v", tt.collector, c.Level, c.Method, c.Flatten)
		}
	}
}

// TestNewConfigCyclicBuffer: the collector's --cyclic-buffer (KiB) is the
// keep map's budget in bytes; without it the dump uses the automatic one.
func TestNewConfigCyclicBuffer(t *testing.T) {
	for _, tc := range []struct {
		collector string
		want      int64
	}{
		{"makedumpfile -l -d 31 --cyclic-buffer 1024", 1 << 20},
		{"makedumpfile -l -d 31 --cyclic-buffer=8", 8 << 10},
		{"makedumpfile -l -d 31", 0},
	} {
		kc, err := kdumpconf.Parse(strings.NewReader("core_collector "+tc.collector+"\n"), "kdump.conf")
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewConfig(kc, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.collector, err)
		}
		if c.CyclicBuffer != tc.want {
			t.Errorf("%q: CyclicBuffer %d, want %d", tc.collector, c.CyclicBuffer, tc.want)
		}
	}
}

func TestReadModules(t *testing.T) {
	got, err := ReadModules(strings.NewReader("/lib/modules/a.ko\n\n# c\n/lib/modules/b.ko\n"), "modules")
	if err != nil || len(got) != 2 || got[1] != "/lib/modules/b.ko" {
		t.Errorf("ReadModules = %v, %v", got, err)
	}
	if _, err := ReadModules(strings.NewReader("/a.ko\nb.ko\n"), "modules"); err == nil || !strings.Contains(err.Error(), "modules:2") {
		t.Errorf("relative path: %v", err)
	}
}
