package codec

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// lzo2 runs testdata/lzo2oracle.c (liblzo2 behind a pipe) as the reference
// LZO implementation. The oracle is compiled with gcc on first use; tests
// that need it skip when gcc or liblzo2-dev is missing. We use a separate
// process rather than cgo so that no cgo code exists in the module, not
// even in tests.
type lzo2 struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  *bufio.Writer
	out *bufio.Reader
}

var (
	oracleOnce sync.Once
	oracle     *lzo2
	oracleErr  error
	oracleDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if oracle != nil {
		oracle.cmd.Process.Kill()
		oracle.cmd.Wait()
	}
	if oracleDir != "" {
		os.RemoveAll(oracleDir)
	}
	os.Exit(code)
}

// getOracle returns the liblzo2 oracle or skips the test.
func getOracle(tb testing.TB) *lzo2 {
	tb.Helper()
	if tryOracle() == nil {
		tb.Skipf("liblzo2 oracle not available (needs gcc and liblzo2-dev): %v", oracleErr)
	}
	return oracle
}

// tryOracle starts the oracle once and returns it, or nil.
func tryOracle() *lzo2 {
	oracleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lzo2oracle")
		if err != nil {
			oracleErr = err
			return
		}
		oracleDir = dir
		bin := filepath.Join(dir, "lzo2oracle")
		out, err := exec.Command("gcc", "-O2", "-o", bin, "testdata/lzo2oracle.c", "-llzo2").CombinedOutput()
		if err != nil {
			oracleErr = fmt.Errorf("gcc: %v: %s", err, out)
			return
		}
		cmd := exec.Command(bin)
		w, err := cmd.StdinPipe()
		if err != nil {
			oracleErr = err
			return
		}
		r, err := cmd.StdoutPipe()
		if err != nil {
			oracleErr = err
			return
		}
		if err := cmd.Start(); err != nil {
			oracleErr = err
			return
		}
		oracle = &lzo2{cmd: cmd, in: bufio.NewWriter(w), out: bufio.NewReader(r)}
	})
	return oracle
}

func (o *lzo2) call(op byte, capacity int, data []byte) (rc int32, out []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b [4]byte
	o.in.WriteByte(op)
	if op == 'd' {
		binary.LittleEndian.PutUint32(b[:], uint32(capacity))
		o.in.Write(b[:])
	}
	binary.LittleEndian.PutUint32(b[:], uint32(len(data)))
	o.in.Write(b[:])
	o.in.Write(data)
	if err := o.in.Flush(); err != nil {
		panic(fmt.Sprintf("lzo2 oracle: %v", err))
	}
	var hdr [8]byte
	if _, err := io.ReadFull(o.out, hdr[:]); err != nil {
		panic(fmt.Sprintf("lzo2 oracle: %v", err))
	}
	out = make([]byte, binary.LittleEndian.Uint32(hdr[4:]))
	if _, err := io.ReadFull(o.out, out); err != nil {
		panic(fmt.Sprintf("lzo2 oracle: %v", err))
	}
	return int32(binary.LittleEndian.Uint32(hdr[:])), out
}

// Compress returns lzo1x_1_compress(data).
func (o *lzo2) Compress(tb testing.TB, data []byte) []byte {
	rc, out := o.call('c', 0, data)
	if rc != 0 {
		tb.Fatalf("lzo1x_1_compress: rc %d", rc)
	}
	return out
}

// Decompress returns lzo1x_decompress_safe(src) into capacity bytes and
// liblzo2's result code (0 = LZO_E_OK).
func (o *lzo2) Decompress(src []byte, capacity int) (int32, []byte) {
	return o.call('d', capacity, src)
}

// CompressTiming has the oracle run lzo1x_1_compress over data in
// page-sized pieces, iters times, and returns the elapsed and thread CPU
// times the C side measured and the total compressed size of one pass.
func (o *lzo2) CompressTiming(iters, page int, data []byte) (ns, cpuNs, compressed int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b [12]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(iters))
	binary.LittleEndian.PutUint32(b[4:], uint32(page))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(data)))
	o.in.WriteByte('t')
	o.in.Write(b[:])
	o.in.Write(data)
	if err := o.in.Flush(); err != nil {
		panic(fmt.Sprintf("lzo2 oracle: %v", err))
	}
	var reply [32]byte
	if _, err := io.ReadFull(o.out, reply[:]); err != nil {
		panic(fmt.Sprintf("lzo2 oracle: %v", err))
	}
	if rc := int32(binary.LittleEndian.Uint32(reply[0:])); rc != 0 {
		panic(fmt.Sprintf("lzo2 oracle: timing rc %d", rc))
	}
	return int64(binary.LittleEndian.Uint64(reply[8:])), int64(binary.LittleEndian.Uint64(reply[24:])),
		int64(binary.LittleEndian.Uint64(reply[16:]))
}
