package initramfs

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildReproducible builds the same image twice, from separately
// synthesized but equal inputs in different directories with different
// file times, and wants the same bytes.
func TestBuildReproducible(t *testing.T) {
	for _, c := range []Compression{CompressZstd, CompressGzip, CompressNone} {
		t.Run(string(c), func(t *testing.T) {
			var images [2][]byte
			for i := range images {
				modDir, _ := fixtureModules(t)
				spec := fixtureSpec(t, modDir, Target{Kind: TargetSSH, Addr: netip.MustParseAddr("10.0.2.2")})
				spec.Compression = c
				// Same content, different times: times must not matter.
				old := time.Date(2001+i, 1, 1, 0, 0, 0, 0, time.UTC)
				os.Chtimes(spec.Init, old, old)
				// The manifest names source paths; make them equal.
				spec.ModulesDir = linkAt(t, modDir, "mods")
				spec.Init = linkAt(t, spec.Init, "init")
				out := filepath.Join(t.TempDir(), "img")
				res, err := Build(spec, out, false)
				if err != nil {
					t.Fatal(err)
				}
				if !res.Rebuilt || res.Bytes == 0 {
					t.Fatalf("result %+v", res)
				}
				images[i], _ = os.ReadFile(out)
			}
			if !bytes.Equal(images[0], images[1]) {
				t.Fatalf("two builds differ: %d and %d bytes", len(images[0]), len(images[1]))
			}
		})
	}
}

// linkAt points a fixed path under the system temp directory at target,
// so two builds can read their inputs through the same name.
func linkAt(t *testing.T, target, name string) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "kdumpkit-initramfs-test-"+strings.ReplaceAll(t.Name(), "/", "-"))
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, name)
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return p
}

// TestImageExtracts unpacks the image with the system's zstd and GNU cpio
// (the kernel's unpacker is tested end to end in QEMU) and checks what
// capture-init will find.
func TestImageExtracts(t *testing.T) {
	for _, tool := range []string{"zstd", "cpio"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	modDir, plain := fixtureModules(t)
	spec := fixtureSpec(t, modDir, Target{Kind: TargetBlock, Device: "dm-0", FSType: "xfs"})
	spec.KnownHosts = []byte("host ssh-ed25519 AAAA\n")
	out := filepath.Join(t.TempDir(), "img")
	if _, err := Build(spec, out, false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "zstd -dc '"+out+"' | cpio -idm --quiet")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unpack: %v\n%s", err, b)
	}
	list, err := os.ReadFile(filepath.Join(dir, ModulesPath))
	if err != nil {
		t.Fatal(err)
	}
	mods := strings.Fields(string(list))
	if len(mods) != 10 {
		t.Errorf("module list has %d entries: %v", len(mods), mods)
	}
	for _, m := range mods {
		got, err := os.ReadFile(filepath.Join(dir, m))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain[ModuleName(m)]) {
			t.Errorf("%s: stored bytes differ from the uncompressed module", m)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ConfigPath)); string(b) != "path /var/crash\n" {
		t.Errorf("config = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "lib/firmware/fixture/nic.bin")); string(b) != "fake NIC firmware\n" {
		t.Errorf("firmware = %q", b)
	}
	if fi, err := os.Stat(filepath.Join(dir, InitPath)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("init: %v %v", fi, err)
	}
	man, _ := os.ReadFile(filepath.Join(dir, ManifestPath))
	if !strings.Contains(string(man), "module xfs (file system xfs)") {
		t.Errorf("manifest lacks the xfs reason:\n%s", man)
	}
}

// TestBuildRebuildsOnContent checks the rebuild decision: file times
// alone never rebuild; a changed input, a missing image or force do.
func TestBuildRebuildsOnContent(t *testing.T) {
	modDir, _ := fixtureModules(t)
	spec := fixtureSpec(t, modDir, Target{Kind: TargetBlock, Device: "vda1", FSType: "ext4"})
	out := filepath.Join(t.TempDir(), "var/lib/kdump", filepath.Base(ImagePath(fixtureRelease)))
	build := func(force bool) *Result {
		t.Helper()
		res, err := Build(spec, out, force)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := build(false)
	if !first.Rebuilt {
		t.Fatal("first build not rebuilt")
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != first.Bytes {
		t.Fatalf("image: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(out + HashSuffix); strings.TrimSpace(string(b)) != first.Hash {
		t.Fatalf("hash file %q, want %s", b, first.Hash)
	}
	now := time.Now().Add(time.Hour)
	os.Chtimes(spec.Init, now, now)
	os.Chtimes(filepath.Join(modDir, "kernel/drivers/block/virtio_blk.ko.xz"), now, now)
	if r := build(false); r.Rebuilt || r.Hash != first.Hash || r.Bytes != first.Bytes {
		t.Errorf("rebuilt after touching inputs: %+v", r)
	}
	steps := []struct {
		name   string
		change func()
		force  bool
	}{
		{"config text", func() { spec.Config = []byte("path /var/crash2\n") }, false},
		{"capture-init binary", func() { os.WriteFile(spec.Init, []byte("new init"), 0o755) }, false},
		{"a module", func() {
			os.WriteFile(filepath.Join(modDir, "kernel/drivers/virtio/virtio.ko"), makeKO("name=virtio", "version=2"), 0o644)
		}, false},
		{"known_hosts", func() { spec.KnownHosts = []byte("x") }, false},
		{"image deleted", func() { os.Remove(out) }, false},
		{"force", func() {}, true},
	}
	prev := first.Hash
	for _, s := range steps {
		s.change()
		r := build(s.force)
		if !r.Rebuilt {
			t.Errorf("%s: not rebuilt", s.name)
		}
		if s.name != "force" && s.name != "image deleted" && r.Hash == prev {
			t.Errorf("%s: hash unchanged", s.name)
		}
		prev = r.Hash
		if r := build(false); r.Rebuilt {
			t.Errorf("%s: rebuilt twice", s.name)
		}
	}
	// No stray temporary files.
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("image directory holds %v", names)
	}
}
