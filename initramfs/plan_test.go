package initramfs

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/cpio"
)

func TestModuleDBClosure(t *testing.T) {
	dir, _ := fixtureModules(t)
	db, err := LoadModuleDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		names   []string
		want    []string
		wantErr string
	}{
		{names: []string{"virtio_blk"}, want: []string{"virtio", "virtio_ring", "virtio_blk"}},
		// libcrc32c's soft pre-dependency "crc32c" is an alias of crc32c_generic.
		{names: []string{"xfs"}, want: []string{"crc32c_generic", "libcrc32c", "xfs"}},
		{names: []string{"ext4", "dm-mod"}, want: []string{"dm_mod"}},
		{names: []string{"nfsv4"}, want: []string{"sunrpc", "lockd", "nfs", "nfsv4"}},
		{names: []string{"virtio_pci", "virtio_blk"}, want: []string{"virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci", "virtio_blk"}},
		{names: []string{"nosuch"}, wantErr: "module nosuch: not in"},
	}
	for _, tt := range tests {
		got, err := db.Closure(tt.names)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Closure(%v) err = %v, want %q", tt.names, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Closure(%v) = %v, want %v", tt.names, got, tt.want)
		}
	}
	if names, builtin := db.Lookup("ext4"); !builtin || len(names) != 1 {
		t.Errorf("Lookup(ext4) = %v, %v; want built in", names, builtin)
	}
	if names, _ := db.Lookup("pci:v00001AF4d00001041sv00001AF4sd00001100bc01sc00i00"); !reflect.DeepEqual(names, []string{"virtio_pci"}) {
		t.Errorf("modalias lookup = %v", names)
	}
}

func TestModuleDBCycleAndErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("modules.dep", "a.ko: b.ko\nb.ko: a.ko\n")
	db, err := LoadModuleDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Closure([]string{"a"}); err == nil || !strings.Contains(err.Error(), "cycle: request → a → b → a") {
		t.Errorf("cycle: err = %v", err)
	}
	for _, bad := range []struct{ file, text, want string }{
		{"modules.dep", "no colon here\n", "modules.dep:1: want"},
		{"modules.dep", "ok.ko:\n../../etc/x.ko:\n", "modules.dep:2: module path \"../../etc/x.ko\" leaves"},
		{"modules.alias", "alias only-two\n", "modules.alias:1: want"},
		{"modules.softdep", "softdep\n", "modules.softdep:1: want"},
	} {
		write("modules.dep", "ok.ko:\n")
		write("modules.alias", "")
		write("modules.softdep", "")
		write(bad.file, bad.text)
		if _, err := LoadModuleDB(dir); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s %q: err = %v, want %q", bad.file, bad.text, err, bad.want)
		}
	}
	if _, err := LoadModuleDB(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "run depmod") {
		t.Errorf("missing dir: %v", err)
	}
}

func TestFnmatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"virtio:d00000002v*", "virtio:d00000002v00001AF4", true},
		{"virtio:d00000002v*", "virtio:d00000001v00001AF4", false},
		{"pci:v*d*sv*sd*bc01sc*i*", "pci:v8086d2922sv1AF4sd1100bc01sc06i01", true},
		{"scsi:t-0x0[0ef]*", "scsi:t-0x0e", true},
		{"scsi:t-0x0[0ef]*", "scsi:t-0x05", false},
		{"scsi:t-0x0[!0]*", "scsi:t-0x05", true},
		{"a[0-9]b", "a7b", true},
		{"a*/*c", "ab/xc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[", "[", true},
		{"*", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := fnmatch(tt.pat, tt.s); got != tt.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

func TestHostResolve(t *testing.T) {
	h := Host{Root: "testdata/root"}
	tests := map[string]string{
		"/sys/class/block/vda1":                      "/sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1",
		"/sys/class/net/bond0/lower_eth0/device":     "/sys/devices/pci0000:00/0000:00:03.0/virtio0",
		"/dev/mapper/vg-crash":                       "/dev/dm-0",
		"/sys/class/block/vda/../../../../../../dev": "/dev",
	}
	for in, want := range tests {
		got, err := h.Resolve(in)
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := h.Resolve("/sys/class/block/nosuch"); err == nil {
		t.Error("Resolve of a missing path succeeded")
	}
	for spec, want := range map[string]string{
		"UUID=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0": "vda1", "LABEL=dumps": "vda1", "/dev/vda1": "vda1", "/dev/mapper/vg-crash": "dm-0",
	} {
		if got, err := h.BlockDevice(spec); err != nil || got != want {
			t.Errorf("BlockDevice(%s) = %q, %v; want %s", spec, got, err, want)
		}
	}
	for _, bad := range []string{"vda1", "UUID=nosuch", "/dev/null"} {
		if _, err := h.BlockDevice(bad); err == nil {
			t.Errorf("BlockDevice(%s) succeeded", bad)
		}
	}
}

func TestMountsAndRoutes(t *testing.T) {
	h := Host{Root: "testdata/root"}
	mounts, err := h.Mounts()
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"/var/crash/x": "/var/crash", "/var/crashes": "/", "/mnt/dumps here/a": "/mnt/dumps here", "/": "/"} {
		m, ok := MountOf(mounts, p)
		if !ok || m.MountPoint != want {
			t.Errorf("MountOf(%s) = %+v, want %s", p, m, want)
		}
	}
	m, _ := MountOf(mounts, "/var/crash")
	if dev, err := h.BlockDeviceOfMount(m); err != nil || dev != "dm-0" || m.FSType != "xfs" {
		t.Errorf("/var/crash: %s %s %v", dev, m.FSType, err)
	}
	m, _ = MountOf(mounts, "/mnt/dumps here")
	if _, err := h.BlockDeviceOfMount(m); err == nil {
		t.Error("an NFS mount resolved to a block device")
	}
	for dst, want := range map[string]string{"10.0.2.2": "bond0", "192.0.2.9": "eth0", "203.0.113.1": "bond0", "fd00::5": "eth0", "2001:db8::1": "bond0"} {
		got, err := h.RouteInterface(netip.MustParseAddr(dst))
		if err != nil || got != want {
			t.Errorf("RouteInterface(%s) = %q, %v; want %s", dst, got, err, want)
		}
	}
	if _, err := ParseMountinfo([]byte("1 2 3\n"), "mi"); err == nil || !strings.Contains(err.Error(), "mi:1:") {
		t.Errorf("bad mountinfo: %v", err)
	}
}

func TestPlanTargets(t *testing.T) {
	modDir, _ := fixtureModules(t)
	tests := []struct {
		name     string
		target   Target
		extra    []string
		modules  []string
		firmware []string
		wantErr  string
	}{
		{
			name:     "ext4 on vda1 by UUID: ext4 built in",
			target:   Target{Kind: TargetBlock, Device: "UUID=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", FSType: "ext4"},
			modules:  []string{"virtio", "virtio_ring", "virtio_blk", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci"},
			firmware: []string{"fixture/nic.bin"}, // the fixture's virtio_pci names it
		},
		{
			name:     "xfs on device-mapper over vda2",
			target:   Target{Kind: TargetBlock, Device: "dm-0", FSType: "xfs"},
			modules:  []string{"crc32c_generic", "libcrc32c", "xfs", "virtio", "virtio_ring", "virtio_blk", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "dm_mod"},
			firmware: []string{"fixture/nic.bin"},
		},
		{
			name:     "raw device: no file system, extra module by alias",
			target:   Target{Kind: TargetRaw, Device: "/dev/vda1"},
			extra:    []string{"scsi:t-0x00"},
			modules:  []string{"virtio", "virtio_ring", "virtio_blk", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "sd_mod"},
			firmware: []string{"fixture/nic.bin"},
		},
		{
			name:     "ssh through bond0 found by route",
			target:   Target{Kind: TargetSSH, Addr: netip.MustParseAddr("10.0.2.2")},
			modules:  []string{"af_packet", "failover", "net_failover", "virtio", "virtio_ring", "virtio_net", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "bonding"},
			firmware: []string{"fixture/nic.bin"},
		},
		{
			name:     "nfs over IPv6 on eth0",
			target:   Target{Kind: TargetNFS, Addr: netip.MustParseAddr("fd00::7")},
			modules:  []string{"af_packet", "sunrpc", "lockd", "nfs", "nfsv4", "failover", "net_failover", "virtio", "virtio_ring", "virtio_net", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci"},
			firmware: []string{"fixture/nic.bin"},
		},
		{name: "unknown file system", target: Target{Kind: TargetBlock, Device: "vda1", FSType: "zfs"}, wantErr: "module fs-zfs is neither"},
		{name: "missing extra module", target: Target{Kind: TargetRaw, Device: "vda1"}, extra: []string{"nosuch"}, wantErr: "extra_modules: module nosuch"},
		{name: "missing device", target: Target{Kind: TargetBlock, Device: "LABEL=none", FSType: "ext4"}, wantErr: "block device LABEL=none"},
		{name: "missing interface", target: Target{Kind: TargetSSH, Interface: "wlan0"}, wantErr: "network interface wlan0"},
		{name: "no target", target: Target{}, wantErr: "no dump target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := fixtureSpec(t, modDir, tt.target)
			spec.ExtraModules = tt.extra
			p, err := MakePlan(spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Modules, tt.modules) {
				t.Errorf("modules\n got %v\nwant %v", p.Modules, tt.modules)
			}
			if !reflect.DeepEqual(p.Firmware, tt.firmware) {
				t.Errorf("firmware %v, want %v", p.Firmware, tt.firmware)
			}
			if p.Compression != CompressZstd {
				t.Errorf("compression %s", p.Compression)
			}
			checkEntries(t, p)
		})
	}
}

// checkEntries checks the invariants of every plan: sorted unique names,
// parents before children, the fixed files present, and a module list
// that names exactly the module entries in load order.
func checkEntries(t *testing.T, p *Plan) {
	t.Helper()
	byName := map[string]Entry{}
	for i, e := range p.Entries {
		if i > 0 && p.Entries[i-1].Name >= e.Name {
			t.Fatalf("entries not sorted: %q then %q", p.Entries[i-1].Name, e.Name)
		}
		if d := filepath.Dir(e.Name); d != "." {
			if pe, ok := byName[d]; !ok || pe.Mode&cpio.TypeMask != cpio.TypeDir {
				t.Errorf("%s: parent %s missing or listed later", e.Name, d)
			}
		}
		byName[e.Name] = e
	}
	for _, n := range []string{InitPath, ConfigPath, ModulesPath, ManifestPath, "dev/console", "proc", "sys", "tmp"} {
		if _, ok := byName[n]; !ok {
			t.Errorf("%s missing", n)
		}
	}
	var want []string
	for _, m := range p.Modules {
		for name, e := range byName {
			if strings.HasPrefix(name, ModulesDirPrefix+"/") && ModuleName(name) == m && e.Decompress {
				want = append(want, "/"+name)
			}
		}
	}
	if got := strings.Fields(string(byName[ModulesPath].Data)); !reflect.DeepEqual(got, want) {
		t.Errorf("module list\n got %v\nwant %v", got, want)
	}
	for _, n := range want {
		if strings.HasSuffix(n, ".xz") || strings.HasSuffix(n, ".zst") || !strings.HasSuffix(n, ".ko") {
			t.Errorf("module stored as %s, want a plain .ko", n)
		}
	}
}

func TestPlanSSHFiles(t *testing.T) {
	modDir, _ := fixtureModules(t)
	spec := fixtureSpec(t, modDir, Target{Kind: TargetSSH, Interface: "eth0"})
	key := filepath.Join(t.TempDir(), "id")
	os.WriteFile(key, []byte("PRIVATE KEY"), 0o644)
	spec.SSHKey = key
	spec.KnownHosts = []byte("10.0.2.2 ssh-ed25519 AAAA\n")
	p, err := MakePlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range p.Entries {
		switch e.Name {
		case SSHKeyPath, KnownHostsPath, ConfigPath:
			found++
			if e.Mode != cpio.TypeReg|0o600 {
				t.Errorf("%s mode %o, want regular 0600", e.Name, e.Mode)
			}
		}
	}
	if found != 3 {
		t.Errorf("found %d of key, known_hosts and config", found)
	}
}

func TestPlanPrograms(t *testing.T) {
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		t.Skip("needs /bin/sh")
	}
	modDir, _ := fixtureModules(t)
	spec := fixtureSpec(t, modDir, Target{Kind: TargetRaw, Device: "vda1"})
	hook := filepath.Join(t.TempDir(), "pre.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\necho pre\n"), 0o700)
	spec.Programs = []string{hook}
	p, err := MakePlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Entry{}
	for _, e := range p.Entries {
		names["/"+e.Name] = e
	}
	if e, ok := names[hook]; !ok || e.Mode != cpio.TypeReg|0o700 {
		t.Errorf("hook %s: %+v", hook, e)
	}
	if _, ok := names[sh]; !ok {
		t.Errorf("interpreter %s missing", sh)
	}
	// /bin/sh is dynamically linked on Debian: its loader must be there.
	loader := false
	for n := range names {
		if strings.Contains(n, "ld-linux") || strings.Contains(n, "ld-musl") {
			loader = true
		}
	}
	if !loader {
		t.Log("no dynamic loader found; /bin/sh may be static here")
	}
	spec.Programs = []string{"relative/prog"}
	if _, err := MakePlan(spec); err == nil {
		t.Error("relative program accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.sh")
	os.WriteFile(bad, []byte("#!\n"), 0o755)
	spec.Programs = []string{bad}
	if _, err := MakePlan(spec); err == nil || !strings.Contains(err.Error(), "no absolute interpreter") {
		t.Errorf("bad #!: %v", err)
	}
}

func TestChooseCompression(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "config")
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	tests := []struct {
		config string
		want   Compression
		warn   bool
	}{
		{"CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n", CompressZstd, false},
		{"CONFIG_RD_GZIP=y\n# CONFIG_RD_ZSTD is not set\n", CompressGzip, false},
		{"CONFIG_RD_XZ=y\n", CompressNone, true},
	}
	for _, tt := range tests {
		got, warn, err := chooseCompression(CompressAuto, write(tt.config))
		if err != nil || got != tt.want || (warn != "") != tt.warn {
			t.Errorf("%q: %s %q %v", tt.config, got, warn, err)
		}
	}
	if got, warn, _ := chooseCompression(CompressAuto, filepath.Join(dir, "missing")); got != CompressGzip || warn == "" {
		t.Errorf("missing config: %s %q", got, warn)
	}
	if _, _, err := chooseCompression("lzma", ""); err == nil {
		t.Error("unknown compression accepted")
	}
}

func TestParseModinfo(t *testing.T) {
	mi, err := ParseModinfo(makeKO("name=virtio_net", "depends=net_failover,virtio", "firmware=a.bin", "firmware=b.bin", "softdep=pre: crc32c", "noequals"))
	if err != nil {
		t.Fatal(err)
	}
	want := Modinfo{Name: "virtio_net", Firmware: []string{"a.bin", "b.bin"}, Depends: []string{"net_failover", "virtio"}, Softdep: []string{"pre: crc32c"}}
	if !reflect.DeepEqual(mi, want) {
		t.Errorf("got %+v, want %+v", mi, want)
	}
	if _, err := ParseModinfo([]byte("not elf")); err == nil {
		t.Error("non-ELF accepted")
	}
	if _, err := ParseModinfo(bytes.Repeat([]byte{0x7f}, 100)); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzParseModinfo(f *testing.F) {
	f.Add(makeKO("name=x", "firmware=y"))
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseModinfo(b) // must not panic or allocate without bound
	})
}

func FuzzModuleDB(f *testing.F) {
	dep, _ := os.ReadFile("testdata/modules/modules.dep")
	alias, _ := os.ReadFile("testdata/modules/modules.alias")
	soft, _ := os.ReadFile("testdata/modules/modules.softdep")
	f.Add(dep, alias, soft, "virtio_blk")
	f.Fuzz(func(t *testing.T, dep, alias, soft []byte, name string) {
		db := &ModuleDB{Path: map[string]string{}, Deps: map[string][]string{}, Builtin: map[string]bool{},
			SoftPre: map[string][]string{}, SoftPst: map[string][]string{}}
		if db.parseDep(bytes.NewReader(dep), "dep") != nil || db.parseAlias(bytes.NewReader(alias), "alias") != nil ||
			db.parseSoftdep(bytes.NewReader(soft), "soft") != nil {
			return
		}
		order, err := db.Closure([]string{name})
		if err != nil {
			return
		}
		pos := map[string]int{}
		for i, m := range order {
			pos[m] = i
		}
		for _, m := range order {
			for _, d := range db.Deps[m] {
				if j, ok := pos[d]; ok && j > pos[m] {
					t.Fatalf("%s loaded before its dependency %s: %v", m, d, order)
				}
			}
		}
	})
}

// FuzzProcParsers feeds mountinfo and route tables to their parsers:
// they must fail with an error, never panic.
func FuzzProcParsers(f *testing.F) {
	for _, name := range []string{"testdata/root/proc/self/mountinfo", "testdata/root/proc/net/route", "testdata/root/proc/net/ipv6_route"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ms, err := ParseMountinfo(b, "mountinfo"); err == nil {
			MountOf(ms, "/var/crash")
		}
		parseRoute4(b)
		parseRoute6(b)
	})
}
