package capture

import (
	"strings"
	"testing"
)

func TestStatusKiB(t *testing.T) {
	status := "Name:\tcapture-init\nVmPeak:\t  10000 kB\nVmHWM:\t    9876 kB\n"
	if n, err := StatusKiB(strings.NewReader(status), "VmHWM"); err != nil || n != 9876 {
		t.Errorf("VmHWM = %d, %v", n, err)
	}
	if _, err := StatusKiB(strings.NewReader(status), "VmRSS"); err == nil {
		t.Error("missing field: no error")
	}
	if _, err := StatusKiB(strings.NewReader("VmHWM: 12 pages\n"), "VmHWM"); err == nil {
		t.Error("bad unit: no error")
	}
}

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		meminfo string
		want    int64
	}{
		{"MemTotal: 200000 kB\nMemAvailable: 116384 kB\n", (116384 - 16384) * 3 / 4 << 10},
		{"MemAvailable: 20000 kB\n", 16 << 20}, // floor
		{"MemTotal: 1 kB\n", 0},                // no MemAvailable
	}
	for _, tt := range tests {
		if got := MemoryLimit(strings.NewReader(tt.meminfo)); got != tt.want {
			t.Errorf("MemoryLimit(%q) = %d, want %d", tt.meminfo, got, tt.want)
		}
	}
}
