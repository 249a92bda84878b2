package codec

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

func TestZZSpeed(t *testing.T) {
	if os.Getenv("ZZSPEED") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var b testing.B
	for _, set := range lzoBenchSets(&b) {
		var c LZOCompressor
		dst := make([]byte, LZOMaxCompressedLen(4096))
		best := time.Duration(1 << 62)
		for r := 0; r < 15; r++ {
			t0 := threadCPU()
			for it := 0; it < 5; it++ {
				for p := 0; p < len(set.data); p += 4096 {
					c.Compress(dst, set.data[p:p+4096])
				}
			}
			best = min(best, (threadCPU()-t0)/5)
		}
		o := tryOracle()
		cbest := int64(1 << 62)
		for r := 0; r < 15; r++ {
			_, cpu, _ := o.CompressTiming(5, 4096, set.data)
			cbest = min(cbest, cpu/5)
		}
		t.Logf("%-8s go %7.0f MB/s  C %7.0f MB/s", set.name, float64(len(set.data))/best.Seconds()/1e6, float64(len(set.data))/float64(cbest)*1e3)
	}
}
