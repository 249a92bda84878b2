package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// synthCore writes a small ELF core: 4 pages at pfn 16 and a segment with
// 2 pages in the file and 2 excluded.
func synthCore(t *testing.T) (path string, data []byte) {
	t.Helper()
	data = make([]byte, 4*4096)
	rand.New(rand.NewSource(1)).Read(data)
	notes := []elfcore.Note{
		{Name: "CORE", Type: elfcore.NTPRStatus, Desc: make([]byte, 336)},
		{Name: "VMCOREINFO", Desc: []byte("OSRELEASE=6.1.0-kdumpkit\nPAGESIZE=4096\nCRASHTIME=1763769600\n")},
	}
	img := elfcore.Build(0, notes, []elfcore.Segment{
		{PAddr: 16 * 4096, Data: data},
		{PAddr: 32 * 4096, Data: data[:2*4096], MemSz: 4 * 4096},
	})
	path = filepath.Join(t.TempDir(), "core.elf")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func TestInfo(t *testing.T) {
	path, _ := synthCore(t)
	code, out, errOut := runCmd("info", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	norm := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"format: elf", "release: 6.1.0-kdumpkit", "RAM pages: 8", "dumped pages: 6", "crash time: 2025-11-22T00:00:00Z", "cpus: 1", "complete: yes"} {
		if !strings.Contains(norm, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCmd("info", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var in vmcore.Info
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatal(err)
	}
	if in.Format != vmcore.FormatELF || in.RAMPages != 8 || in.DumpedPages != 6 || in.DumpLevel != -1 || in.CPUs != 1 || in.MaxPFN != 36 {
		t.Errorf("json info = %+v", in)
	}
}

func TestRead(t *testing.T) {
	path, data := synthCore(t)
	tests := []struct {
		addr, n string
		want    []byte
	}{
		{"0x10000", "4096", data[:4096]},
		{"0x10ff0", "0x20", data[0xff0:0x1010]}, // crosses a page boundary
		{"69632", "3", data[4096:4099]},
	}
	for _, tc := range tests {
		code, out, errOut := runCmd("read", path, tc.addr, tc.n)
		if code != 0 || out != string(tc.want) {
			t.Errorf("read %s %s: exit %d, %d bytes, stderr %q", tc.addr, tc.n, code, len(out), errOut)
		}
	}
	if code, _, errOut := runCmd("read", path, "0x22000", "1"); code != 1 || !strings.Contains(errOut, "excluded") {
		t.Errorf("read of an excluded page: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd("read", path, "0x0", "1"); code != 1 || !strings.Contains(errOut, "not RAM") {
		t.Errorf("read of a hole: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCmd("read", path, "zz", "1"); code != 2 {
		t.Errorf("bad PADDR: exit %d, want 2", code)
	}
}

func TestVerify(t *testing.T) {
	path, _ := synthCore(t)
	code, out, errOut := runCmd("verify", path)
	if code != 0 || !strings.Contains(out, "6 pages verified") {
		t.Fatalf("verify: exit %d, out %q, err %q", code, out, errOut)
	}
	// Truncate the file inside the first segment's data.
	img, _ := os.ReadFile(path)
	bad := filepath.Join(t.TempDir(), "bad.elf")
	os.WriteFile(bad, img[:len(img)-3*4096], 0o600)
	code, _, errOut = runCmd("verify", bad)
	if code != 1 || !strings.Contains(errOut, "past the end of the file") || !strings.Contains(errOut, "at 0x") {
		t.Fatalf("verify truncated: exit %d, stderr %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"info"}, {"read", "x"}, {"verify"}} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, out, _ := runCmd("--help"); code != 0 || !strings.Contains(out, "Commands:") {
		t.Errorf("--help: exit %d", code)
	}
	if code, _, errOut := runCmd("info", "/nonexistent/dump"); code != 1 || !strings.Contains(errOut, "/nonexistent/dump") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

// TestVerifyDamagedKdump damages a makedumpfile-made file (the kdumpfile
// golden fixture) in several ways; verify must fail naming the offset.
func TestVerifyDamagedKdump(t *testing.T) {
	zr, err := os.Open("../../kdumpfile/testdata/lzo-d1.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	gz, err := gzip.NewReader(zr)
	if err != nil {
		t.Fatal(err)
	}
	good, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	block := int(le.Uint32(good[428:]))
	pdOff := (1 + int(le.Uint32(good[432:])) + int(le.Uint32(good[436:]))) * block
	// The first LZO page's descriptor.
	i := 0
	for le.Uint32(good[pdOff+24*i+12:]) != 2 {
		i++
	}
	desc := pdOff + 24*i
	data := int(le.Uint64(good[desc:]))
	size := int(le.Uint32(good[desc+8:]))
	tests := []struct {
		name   string
		damage func(b []byte)
		want   string
	}{
		{"page data", func(b []byte) {
			for j := data; j < data+size; j++ {
				b[j] ^= 0x5a
			}
		}, fmt.Sprintf("lzo data at %#x", data)},
		{"unknown flag", func(b []byte) { le.PutUint32(b[desc+12:], 0x40) }, fmt.Sprintf("descriptor at %#x: flags 0x40", desc)},
		{"size too big", func(b []byte) { le.PutUint32(b[desc+8:], uint32(block+1)) }, fmt.Sprintf("descriptor at %#x: size", desc)},
		{"lost page in complete dump", func(b []byte) { le.PutUint64(b[desc:], 0) }, fmt.Sprintf("descriptor at %#x has offset 0", desc)},
		{"data past end", func(b []byte) { le.PutUint64(b[desc:], uint64(len(b))) }, "past the end"},
		{"bad block size", func(b []byte) { le.PutUint32(b[428:], 3000) }, "0x1ac"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			tc.damage(b)
			path := filepath.Join(t.TempDir(), "bad.kdump")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCmd("verify", path)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errOut, tc.want)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "good.kdump")
	os.WriteFile(path, good, 0o600)
	if code, out, errOut := runCmd("verify", path); code != 0 || !strings.Contains(out, "pages verified, ok") {
		t.Fatalf("undamaged: exit %d, %q %q", code, out, errOut)
	}
}

// TestDmesgErrors: dumps the log cannot be read from fail with exit 1
// and say why.
func TestDmesgErrors(t *testing.T) {
	path, _ := synthCore(t)
	code, out, errOut := runCmd("dmesg", path)
	if code != 1 || out != "" || !strings.Contains(errOut, "SYMBOL(init_top_pgt)") {
		t.Errorf("no page tables: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	k := fakekernel.New(fakekernel.Config{Era: fakekernel.EraByName("6.1")})
	k.Omit("SYMBOL(prb)")
	name := filepath.Join(t.TempDir(), "fake.elf")
	if err := os.WriteFile(name, k.ELF(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd("dmesg", name)
	if code != 1 || !strings.Contains(errOut, "VMCOREINFO lacks [SYMBOL(prb) SYMBOL(log_buf) SYMBOL(log_buf_len)]") {
		t.Errorf("no log symbols: exit %d, stderr %q", code, errOut)
	}

	k.DropVMCOREINFO()
	if err := os.WriteFile(name, k.ELF(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd("dmesg", name)
	if code != 1 || !strings.Contains(errOut, "no VMCOREINFO") {
		t.Errorf("no VMCOREINFO: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCmd("dmesg", "--bogus"); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}
