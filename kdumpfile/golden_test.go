package kdumpfile

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/mem"
)

var update = flag.Bool("update", false, "regenerate testdata/*.gz with the C makedumpfile (see testdata/README)")

// goldenCase is one makedumpfile run over the synthetic core.
type goldenCase struct {
	name    string
	args    []string // makedumpfile options
	outputs int      // files written (split); 0 = one file; -1 = -F to stdout
	level   int
	methods []codec.Method
	incompl bool
}

var goldenCases = []goldenCase{
	{name: "raw-d0", args: []string{"-d", "0"}, level: 0},
	{name: "raw-d1", args: []string{"-d", "1"}, level: 1},
	{name: "zlib-d1", args: []string{"-c", "-d", "1"}, level: 1, methods: []codec.Method{codec.Zlib}},
	{name: "lzo-d0", args: []string{"-l", "-d", "0"}, level: 0, methods: []codec.Method{codec.LZO}},
	{name: "lzo-d1", args: []string{"-l", "-d", "1"}, level: 1, methods: []codec.Method{codec.LZO}},
	{name: "lzo-d1-flat", args: []string{"-F", "-l", "-d", "1"}, outputs: -1, level: 1, methods: []codec.Method{codec.LZO}},
	{name: "lzo-d1-split", args: []string{"--split", "--splitblock-size", "128", "-l", "-d", "1"}, outputs: 3, level: 1, methods: []codec.Method{codec.LZO}},
	{name: "lzo-d0-incomplete", args: []string{"-l", "-d", "0", "-L", "60K"}, level: 0, methods: []codec.Method{codec.LZO}, incompl: true},
}

func (c goldenCase) files() []string {
	if c.outputs > 0 {
		var fs []string
		for i := 0; i < c.outputs; i++ {
			fs = append(fs, fmt.Sprintf("%s.%d.gz", c.name, i))
		}
		return fs
	}
	return []string{c.name + ".gz"}
}

// regenerate runs makedumpfile for c and stores gzipped outputs.
func (c goldenCase) regenerate(t *testing.T, core string) {
	tmp := t.TempDir()
	var outs []string
	args := append([]string(nil), c.args...)
	args = append(args, core)
	if c.outputs >= 0 {
		n := max(c.outputs, 1)
		for i := 0; i < n; i++ {
			outs = append(outs, filepath.Join(tmp, fmt.Sprintf("out%d", i)))
		}
		args = append(args, outs...)
	}
	cmd := exec.Command("makedumpfile", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && !c.incompl { // an incomplete dump exits 1
		t.Fatalf("makedumpfile %v: %v\n%s", args, err, stderr.Bytes())
	}
	var datas [][]byte
	if c.outputs < 0 {
		datas = append(datas, stdout.Bytes())
	} else {
		for _, o := range outs {
			b, err := os.ReadFile(o)
			if err != nil {
				t.Fatal(err)
			}
			datas = append(datas, b)
		}
	}
	for i, f := range c.files() {
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(datas[i])
		w.Close()
		if err := os.WriteFile(filepath.Join("testdata", f), gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readGz(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (regenerate with go test -run TestGolden -update)", err)
	}
	defer f.Close()
	r, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenRegenerate(t *testing.T) {
	if !*update {
		t.Skip("only with -update")
	}
	if _, err := exec.LookPath("makedumpfile"); err != nil {
		t.Skip("makedumpfile not installed")
	}
	core := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(core, buildTestELF(false), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenCases {
		c.regenerate(t, core)
	}
}

// openGolden opens a case's fixture(s) as one File.
func openGolden(t *testing.T, c goldenCase) *File {
	t.Helper()
	var files []*File
	for _, name := range c.files() {
		b := readGz(t, name)
		var r io.ReaderAt = bytes.NewReader(b)
		size := int64(len(b))
		if IsFlattened(b) {
			fi, err := OpenFlattened(r, size)
			if err != nil {
				t.Fatal(err)
			}
			r, size = fi, fi.Size()
		}
		f, err := Open(r, size)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files = append(files, f)
	}
	if len(files) == 1 {
		return files[0]
	}
	// Members in reverse order: OpenSet must sort them.
	for i, j := 0, len(files)-1; i < j; i, j = i+1, j-1 {
		files[i], files[j] = files[j], files[i]
	}
	set, err := OpenSet(files)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestGolden reads every page of every makedumpfile fixture and compares
// it with the synthetic core it was made from.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			f := openGolden(t, c)
			h := f.Header()
			if string(h.Signature[:]) != SignatureKdump || h.HeaderVersion != 6 {
				t.Errorf("signature %q version %d", h.Signature, h.HeaderVersion)
			}
			if f.PageSize() != testPageSize || f.MaxPFN() != testMaxPFN || f.NrCPUs() != 2 || f.DumpLevel() != c.level {
				t.Errorf("page size %d max pfn %#x cpus %d level %d", f.PageSize(), f.MaxPFN(), f.NrCPUs(), f.DumpLevel())
			}
			if f.Incomplete() != c.incompl {
				t.Errorf("Incomplete() = %v", f.Incomplete())
			}
			if got := f.Compression(); fmt.Sprint(got) != fmt.Sprint(c.methods) {
				t.Errorf("Compression() = %v, want %v", got, c.methods)
			}
			notes, err := f.Notes()
			if err != nil || !bytes.Equal(notes, testNotes(false)) {
				t.Errorf("Notes() = %d bytes, %v; want the core's PT_NOTE", len(notes), err)
			}
			if vi, err := f.VMCOREINFO(); err != nil || vi != nil {
				t.Errorf("VMCOREINFO() = %q, %v", vi, err)
			}
			dst := make([]byte, testPageSize)
			var lost, ok int
			for pfn := uint64(0); pfn < testMaxPFN+3; pfn++ {
				want, wantErr := testExpect(pfn)
				err := f.ReadPage(mem.PFN(pfn), dst)
				switch {
				case c.incompl && errors.Is(err, mem.ErrLost):
					lost++
				case wantErr != nil:
					if !errors.Is(err, wantErr) {
						t.Fatalf("pfn %#x: err %v, want %v", pfn, err, wantErr)
					}
				case err != nil:
					t.Fatalf("pfn %#x: %v", pfn, err)
				case !bytes.Equal(dst, want):
					t.Fatalf("pfn %#x: data differs", pfn)
				default:
					ok++
				}
			}
			if c.incompl && (lost == 0 || ok == 0) {
				t.Errorf("incomplete dump: %d pages read, %d lost; want both", ok, lost)
			}
			st, err := f.DescStats()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d pages read, %d lost; %+v", ok, lost, st)
			if c.level&1 != 0 && st.Shared == 0 {
				t.Errorf("-d 1 dump without a shared zero page")
			}
		})
	}
}

// TestGoldenFlattenedRearrange: our Rearrange of the -F stream gives the
// same bytes as makedumpfile writing the file directly.
func TestGoldenFlattenedRearrange(t *testing.T) {
	flat := readGz(t, "lzo-d1-flat.gz")
	direct := readGz(t, "lzo-d1.gz")
	var out writerAt
	if err := Rearrange(bytes.NewReader(flat), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.b, direct) {
		t.Fatalf("rearranged %d bytes differ from the direct file of %d bytes", len(out.b), len(direct))
	}
	fi, err := OpenFlattened(bytes.NewReader(flat), int64(len(flat)))
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, fi.Size())
	if n, err := fi.ReadAt(img, 0); n != len(img) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	if !bytes.Equal(img, direct) {
		t.Fatal("flattened image differs from the direct file")
	}
}

// writerAt is an in-memory io.WriterAt.
type writerAt struct{ b []byte }

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(w.b)) {
		w.b = append(w.b, make([]byte, end-int64(len(w.b)))...)
	}
	copy(w.b[off:], p)
	return len(p), nil
}

func TestGoldenSplitErrors(t *testing.T) {
	c := goldenCases[6]
	var ms []*File
	for _, name := range c.files() {
		b := readGz(t, name)
		f, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, f)
	}
	single := readGz(t, "lzo-d1.gz")
	sf, err := Open(bytes.NewReader(single), int64(len(single)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []*File
	}{
		{"missing middle", []*File{ms[0], ms[2]}},
		{"missing last", []*File{ms[0], ms[1]}},
		{"duplicate", []*File{ms[0], ms[1], ms[1], ms[2]}},
		{"not split", []*File{sf, ms[1], ms[2]}},
		{"empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := OpenSet(tc.files); err == nil {
				t.Fatal("no error")
			} else {
				t.Log(err)
			}
		})
	}
}
