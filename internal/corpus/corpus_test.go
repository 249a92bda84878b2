package corpus

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/oracle"
)

// note encodes one ELF note.
func note(name string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	n := append([]byte(name), 0)
	binary.Write(&b, binary.LittleEndian, [3]uint32{uint32(len(n)), uint32(len(desc)), typ})
	b.Write(n)
	b.Write(make([]byte, (4-len(n)%4)%4))
	b.Write(desc)
	b.Write(make([]byte, (4-len(desc)%4)%4))
	return b.Bytes()
}

func TestFindNote(t *testing.T) {
	notes := append(note("CORE", 1, make([]byte, 336)), note("VMCOREINFO", 0, []byte("OSRELEASE=6.1.0\nPAGESIZE=4096\n"))...)
	tests := []struct {
		name   string
		data   []byte
		want   string
		wantOK bool
	}{
		{"second note", notes, "OSRELEASE=6.1.0\nPAGESIZE=4096\n", true},
		{"absent", note("CORE", 1, []byte{1, 2, 3}), "", false},
		{"truncated", notes[:len(notes)-8], "", false},
		{"empty", nil, "", false},
		{"huge descsz", []byte{4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 'A', 'B', 'C', 0}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := findNote(tt.data, "VMCOREINFO")
			if ok != tt.wantOK || string(got) != tt.want {
				t.Errorf("findNote = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseVMCOREINFO(t *testing.T) {
	got := ParseVMCOREINFO("OSRELEASE=6.1.0-56-cloud-amd64\nSYMBOL(swapper_pg_dir)=ffffffff8d00a000\nbogus\nNUMBER(phys_base)=-1\n")
	want := map[string]string{
		"OSRELEASE":              "6.1.0-56-cloud-amd64",
		"SYMBOL(swapper_pg_dir)": "ffffffff8d00a000",
		"NUMBER(phys_base)":      "-1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// qemuStyleELF writes an ELF core laid out like QEMU 7.2's: section
// headers right after the ELF header, then program headers, a note segment
// and one PT_LOAD.
func qemuStyleELF(t *testing.T, path string, notes, mem []byte) {
	t.Helper()
	le := binary.LittleEndian
	const shoff, shnum, phoff, phnum = 64, 2, 64 + 2*64, 2
	noteOff := uint64(phoff + phnum*56)
	memOff := noteOff + uint64(len(notes))
	b := make([]byte, memOff)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[0x10:], uint16(elf.ET_CORE))
	le.PutUint16(b[0x12:], uint16(elf.EM_X86_64))
	le.PutUint32(b[0x14:], 1)
	le.PutUint64(b[0x20:], phoff)
	le.PutUint64(b[0x28:], shoff)
	le.PutUint16(b[0x34:], 8) // QEMU 7.2's e_ehsize
	le.PutUint16(b[0x36:], 56)
	le.PutUint16(b[0x38:], phnum)
	le.PutUint16(b[0x3a:], 64)
	le.PutUint16(b[0x3c:], shnum)
	le.PutUint16(b[0x3e:], 0)
	ph := func(i int, typ elf.ProgType, off, paddr, size uint64) {
		p := b[phoff+56*i:]
		le.PutUint32(p[0:], uint32(typ))
		le.PutUint64(p[8:], off)
		le.PutUint64(p[24:], paddr)
		le.PutUint64(p[32:], size)
		le.PutUint64(p[40:], size)
	}
	ph(0, elf.PT_NOTE, noteOff, 0, uint64(len(notes)))
	ph(1, elf.PT_LOAD, memOff, 0x1000, uint64(len(mem)))
	copy(b[noteOff:], notes)
	b = append(b, mem...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFixELFLayout(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "qemu.elf"), filepath.Join(dir, "vmcore.elf")
	mem := bytes.Repeat([]byte("page"), 2048)
	notes := note("VMCOREINFO", 0, []byte("OSRELEASE=6.1.0\n"))
	qemuStyleELF(t, src, notes, mem)
	if err := fixELFLayout(src, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if phoff := le.Uint64(b[0x20:]); phoff != 64 {
		t.Errorf("e_phoff = %d, want 64", phoff)
	}
	if shnum, shoff := le.Uint16(b[0x3c:]), le.Uint64(b[0x28:]); shnum != 0 || shoff != 0 {
		t.Errorf("e_shnum %d e_shoff %d, want 0 0", shnum, shoff)
	}
	f, err := elf.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Progs) != 2 || f.Progs[1].Type != elf.PT_LOAD || f.Progs[1].Paddr != 0x1000 {
		t.Fatalf("program headers %+v", f.Progs)
	}
	got := make([]byte, len(mem))
	if _, err := f.Progs[1].ReadAt(got, 0); err != nil || !bytes.Equal(got, mem) {
		t.Errorf("PT_LOAD data differs: %v", err)
	}
	for _, p := range []string{src, dst} {
		info, err := ReadVMCOREINFO(p)
		if err != nil || info != "OSRELEASE=6.1.0\n" {
			t.Errorf("ReadVMCOREINFO(%s) = %q, %v", filepath.Base(p), info, err)
		}
	}
}

func TestCheckSignature(t *testing.T) {
	dir := t.TempDir()
	kdump := func(status uint32) []byte {
		b := make([]byte, 4096)
		copy(b, magicKdump)
		binary.LittleEndian.PutUint32(b[kdumpStatusOffset:], status)
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		file    File
		wantErr bool
	}{
		{"elf", []byte("\x7fELF\x02\x01\x01\x00"), File{Kind: KindELF, Format: "elf"}, false},
		{"kdump", kdump(1), File{Kind: KindKdump, Format: "kdump"}, false},
		{"flattened", []byte("makedumpfile\x00\x00\x00\x00"), File{Kind: KindFlattened, Format: "kdump"}, false},
		{"incomplete", kdump(1 | kdumpStatusIncomplete), File{Kind: KindIncomplete, Format: "kdump"}, false},
		{"incomplete flag on a complete dump", kdump(kdumpStatusIncomplete), File{Kind: KindKdump, Format: "kdump"}, true},
		{"incomplete without flag", kdump(1), File{Kind: KindIncomplete, Format: "kdump"}, true},
		{"flattened is not kdump", []byte("makedumpfile\x00\x00\x00\x00"), File{Kind: KindKdump, Format: "kdump"}, true},
		{"log is not checked", []byte("x"), File{Kind: KindLog}, false},
		{"short", []byte("\x7fE"), File{Kind: KindELF, Format: "elf"}, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.Repeat("f", i+1))
			if err := os.WriteFile(p, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			tt.file.Name = filepath.Base(p)
			if err := checkSignature(p, tt.file); (err != nil) != tt.wantErr {
				t.Errorf("checkSignature = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.elf", "elfdata")
	write("s.1", "one")
	write("s.2", "two!")
	m := Manifest{Version: ManifestVersion, KernelRelease: "6.1.0-1-cloud-amd64", Files: []File{
		{Name: "a.elf", Kind: KindELF, Format: "elf", Size: 7},
		{Name: "s.1", Kind: KindSplit, Format: "kdump", Size: 3, SplitSet: []string{"s.1", "s.2"}},
		{Name: "s.2", Kind: KindSplit, Format: "kdump", Size: 4, SplitSet: []string{"s.1", "s.2"}, SplitIndex: 1},
	}}
	save := func(m Manifest) {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		write(ManifestName, string(b))
	}
	save(m)
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Files(KindSplit); len(got) != 2 || got[1].Name != "s.2" {
		t.Errorf("Files(split) = %+v", got)
	}
	if got := c.Files(); len(got) != 3 {
		t.Errorf("Files() has %d files, want 3", len(got))
	}
	if got := c.SplitSets(); !reflect.DeepEqual(got, [][]string{{"s.1", "s.2"}}) {
		t.Errorf("SplitSets() = %v", got)
	}
	if f, ok := c.File("a.elf"); !ok || !f.IsDump() {
		t.Errorf("File(a.elf) = %+v, %v", f, ok)
	}
	if c.Path("a.elf") != filepath.Join(dir, "a.elf") {
		t.Errorf("Path = %s", c.Path("a.elf"))
	}

	bad := m
	bad.Files = append([]File(nil), m.Files...)
	bad.Files[0].Size = 8
	save(bad)
	if _, err := Open(dir); err == nil {
		t.Error("Open accepted a size mismatch")
	}
	bad = m
	bad.Version = ManifestVersion + 1
	save(bad)
	if _, err := Open(dir); err == nil {
		t.Error("Open accepted another manifest version")
	}
	save(m)
	os.Remove(filepath.Join(dir, "s.2"))
	if _, err := Open(dir); err == nil {
		t.Error("Open accepted a missing file")
	}
}

func TestDropProgress(t *testing.T) {
	got := dropProgress("Copying : [ 10 %]\rCopying : [100 %]\ndone\n")
	if want := "Copying : [100 %]\ndone\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWorkloadLeavesFreeMemory(t *testing.T) {
	for _, mem := range []int{512, 1024, 4096} {
		w := workload(mem, 1)
		used := w.PageCacheMiB + w.TmpfsMiB + w.AnonMiB + w.ZeroMiB + w.HugetlbPages*w.HugePageKiB/1024
		if used*100 > mem*72 {
			t.Errorf("%d MiB guest: workload uses %d MiB, more than 72%%", mem, used)
		}
		if w.HugetlbUsedPages == 0 || w.HugetlbUsedPages >= w.HugetlbPages {
			t.Errorf("%d MiB guest: %d of %d hugetlb pages used, want some but not all", mem, w.HugetlbUsedPages, w.HugetlbPages)
		}
		if w.PageCacheMiB == 0 || w.TmpfsMiB == 0 || w.AnonMiB == 0 || w.ZeroMiB == 0 {
			t.Errorf("%d MiB guest: empty part in %+v", mem, w)
		}
	}
}

func TestParseHugePages(t *testing.T) {
	w := workload(1024, 1)
	w.Meminfo = []string{"MemTotal: 996612 kB", "HugePages_Total: 24", "HugePages_Free: 4", "Hugepagesize: 2048 kB"}
	if err := w.parseHugePages(); err != nil {
		t.Fatal(err)
	}
	if w.HugePagesTotal != 24 || w.HugePagesFree != 4 {
		t.Errorf("parsed %d total, %d free", w.HugePagesTotal, w.HugePagesFree)
	}
	w.Meminfo = []string{"HugePages_Total: 10", "HugePages_Free: 10"}
	if err := w.parseHugePages(); err == nil {
		t.Error("accepted a pool smaller than asked for")
	}
	w.Meminfo = nil
	if err := w.parseHugePages(); err == nil {
		t.Error("accepted meminfo without HugePages lines")
	}
}

func TestKernelOptions(t *testing.T) {
	tests := []struct {
		opt  Options
		want Kernel
		link string
		cpu  string
	}{
		{Options{}, Kernel61, "default-1024M", ""},
		{Options{Kernel: Kernel61, MemoryMiB: 4096}, Kernel61, "default-4096M", ""},
		{Options{Kernel: Kernel612}, Kernel612, "default-6.12-1024M", "qemu64,-cx16"},
		{Options{Package: "linux-image-6.1.0-9-cloud-amd64-unsigned"}, Kernel61, "", ""},
		{Options{Package: "linux-image-6.12.117+deb12-cloud-amd64-unsigned"}, Kernel612, "", "qemu64,-cx16"},
		{Options{Package: "linux-image-7.0.1-cloud-amd64"}, "", "", "qemu64,-cx16"},
	}
	for _, tt := range tests {
		tt.opt.CacheDir = "/c"
		if got := tt.opt.kernel(); got != tt.want {
			t.Errorf("%+v: kernel %q, want %q", tt.opt, got, tt.want)
		}
		if tt.link != "" && tt.opt.defaultLink() != "/c/corpus/"+tt.link {
			t.Errorf("%+v: default link %s, want %s", tt.opt, tt.opt.defaultLink(), tt.link)
		}
		s, err := tt.opt.spec()
		if err != nil || s.cpu != tt.cpu {
			t.Errorf("%+v: spec cpu %q, %v; want %q", tt.opt, s.cpu, err, tt.cpu)
		}
	}
	if _, err := (Options{Kernel: "5.10"}).spec(); err == nil {
		t.Error("spec accepted an unknown kernel series")
	}
	if got := releaseOf("linux-image-6.12.117+deb12-cloud-amd64-unsigned"); got != "6.12.117+deb12-cloud-amd64" {
		t.Errorf("releaseOf = %q", got)
	}
}

func TestLevelDumps(t *testing.T) {
	c := &Corpus{Manifest: Manifest{Files: []File{
		{Name: "makedumpfile-l-d31.kdump", DumpLevel: 31, Stats: &oracle.Stats{Free: 1}},
		{Name: "makedumpfile-c-d31.kdump", DumpLevel: 31},
		{Name: "makedumpfile-l-d0.kdump", DumpLevel: 0, Stats: &oracle.Stats{}},
	}}}
	got := c.LevelDumps()
	if len(got) != 2 || got[0].DumpLevel != 0 || got[1].Name != "makedumpfile-l-d31.kdump" {
		t.Errorf("LevelDumps = %+v", got)
	}
	if f, ok := c.LevelDump(31); !ok || f.Stats.Free != 1 {
		t.Errorf("LevelDump(31) = %+v, %v", f, ok)
	}
	if _, ok := c.LevelDump(2); ok {
		t.Error("LevelDump(2) found a file")
	}
}
