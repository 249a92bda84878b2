package initramfs

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

const fixtureRelease = "6.1.0-test-amd64"

// makeKO returns a minimal ELF64 relocatable object with a .modinfo
// section holding the given "key=value" strings, which is all the builder
// reads from a module.
func makeKO(modinfo ...string) []byte {
	var info bytes.Buffer
	for _, kv := range modinfo {
		info.WriteString(kv)
		info.WriteByte(0)
	}
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	le := binary.LittleEndian
	var b bytes.Buffer
	b.Write(make([]byte, 64))
	infoOff := b.Len()
	b.Write(info.Bytes())
	strOff := b.Len()
	b.Write(shstr)
	for b.Len()%8 != 0 {
		b.WriteByte(0)
	}
	shoff := b.Len()
	sh := func(name, typ uint32, off, size int) {
		var s [64]byte
		le.PutUint32(s[0:], name)
		le.PutUint32(s[4:], typ)
		le.PutUint64(s[24:], uint64(off))
		le.PutUint64(s[32:], uint64(size))
		le.PutUint64(s[48:], 1)
		b.Write(s[:])
	}
	sh(0, 0, 0, 0)
	sh(1, 1, infoOff, info.Len()) // .modinfo, SHT_PROGBITS
	sh(10, 3, strOff, len(shstr)) // .shstrtab, SHT_STRTAB
	out := b.Bytes()
	copy(out, "\x7fELF\x02\x01\x01")
	le.PutUint16(out[16:], 1)  // ET_REL
	le.PutUint16(out[18:], 62) // EM_X86_64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[40:], uint64(shoff))
	le.PutUint16(out[52:], 64)
	le.PutUint16(out[58:], 64)
	le.PutUint16(out[60:], 3)
	le.PutUint16(out[62:], 2)
	return out
}

// fixtureModules writes a modules directory: the text files from
// testdata/modules and a synthesized module file for every modules.dep
// line, compressed by its suffix. It returns the directory and the
// uncompressed module bytes by name.
func fixtureModules(t testing.TB) (string, map[string][]byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lib/modules", fixtureRelease)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"modules.dep", "modules.builtin", "modules.alias", "modules.softdep"} {
		b, err := os.ReadFile(filepath.Join("testdata/modules", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dep, _ := os.ReadFile(filepath.Join(dir, "modules.dep"))
	plain := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(dep)), "\n") {
		file, _, _ := strings.Cut(line, ":")
		name := ModuleName(file)
		info := []string{"name=" + name, "license=GPL"}
		if name == "virtio_net" {
			info = append(info, "firmware=fixture/nic.bin", "firmware=fixture/missing.bin")
		}
		if name == "virtio_pci" {
			info = append(info, "firmware=fixture/nic.bin") // a driver of the target too; named twice, stored once
		}
		ko := makeKO(info...)
		plain[name] = ko
		var out bytes.Buffer
		switch {
		case strings.HasSuffix(file, ".xz"):
			w, err := xz.NewWriter(&out)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(ko)
			w.Close()
		case strings.HasSuffix(file, ".zst"):
			w, _ := zstd.NewWriter(&out)
			w.Write(ko)
			w.Close()
		case strings.HasSuffix(file, ".gz"):
			w := gzip.NewWriter(&out)
			w.Write(ko)
			w.Close()
		default:
			out.Write(ko)
		}
		p := filepath.Join(dir, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, plain
}

// fixtureSpec is a Spec for the fixture root with a fake capture-init.
func fixtureSpec(t testing.TB, modDir string, target Target) Spec {
	t.Helper()
	dir := t.TempDir()
	initBin := filepath.Join(dir, "capture-init")
	if err := os.WriteFile(initBin, []byte("\x7fELF fake capture-init\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, []byte("CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Spec{
		Host:          Host{Root: "testdata/root"},
		KernelRelease: fixtureRelease,
		ModulesDir:    modDir,
		FirmwareDir:   "testdata/firmware",
		KernelConfig:  cfg,
		Init:          initBin,
		Config:        []byte("path /var/crash\n"),
		Target:        target,
	}
}
