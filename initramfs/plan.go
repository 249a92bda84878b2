package initramfs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/kdumpkit/kdumpkit/internal/cpio"
)

// TargetKind says how the capture kernel reaches the dump target, which
// decides the drivers the image needs.
type TargetKind string

const (
	// TargetBlock is a file system on a local block device.
	TargetBlock TargetKind = "block"
	// TargetRaw is a raw block device (no file system module).
	TargetRaw TargetKind = "raw"
	// TargetNFS is an NFS export reached over the network.
	TargetNFS TargetKind = "nfs"
	// TargetSSH is an SSH server reached over the network.
	TargetSSH TargetKind = "ssh"
)

// Target is the dump target as the builder needs it.
type Target struct {
	Kind TargetKind
	// Device is the block device of TargetBlock and TargetRaw: a name
	// under /sys/class/block ("vda1") or a kdump.conf device (/dev/...,
	// UUID=, LABEL=, PARTUUID=, PARTLABEL=).
	Device string
	// FSType is the file system of TargetBlock ("ext4", "xfs", ...).
	FSType string
	// Interface is the network interface for TargetNFS and TargetSSH.
	// When empty, the interface the host routes Addr through is used.
	Interface string
	// Addr is the server's address (used when Interface is empty).
	Addr netip.Addr
}

// Compression of the image.
type Compression string

const (
	CompressAuto Compression = ""
	CompressZstd Compression = "zstd"
	CompressGzip Compression = "gzip"
	CompressNone Compression = "none"
)

// Spec is everything the image is built from. File paths (Init,
// ModulesDir, KernelConfig, KernelImage, SSHKey, Programs, FirmwareDir)
// are paths on the build machine; Host is only where devices, mounts and
// routes are looked up.
type Spec struct {
	Host          Host
	KernelRelease string // the capture kernel's release, e.g. 6.1.0-56-cloud-amd64
	ModulesDir    string // default /lib/modules/<KernelRelease>
	FirmwareDir   string // default /lib/firmware
	// KernelConfig is the capture kernel's .config; it decides the
	// compression. Default /boot/config-<KernelRelease>.
	KernelConfig string
	// KernelImage is hashed with the other inputs, so a new kernel build
	// of the same release rebuilds the image. Optional.
	KernelImage string
	Compression Compression // CompressAuto: zstd if the kernel has CONFIG_RD_ZSTD, else gzip

	Init       string   // the capture-init binary
	Config     []byte   // kdump.conf text stored at ConfigPath
	Target     Target   // decides the drivers and file system modules
	SSHKey     string   // private key file for ssh targets, stored at SSHKeyPath
	KnownHosts []byte   // stored at KnownHostsPath when not nil
	Programs   []string // hooks and extra_bins: stored at their own paths with what they need
	// ExtraModules are added with their dependencies (extra_modules).
	ExtraModules []string
}

// Entry is one member of the archive.
type Entry struct {
	Name   string // path in the archive, no leading "/"
	Mode   uint32 // cpio.TypeReg/TypeDir/TypeSymlink/TypeChar | permission bits
	Source string // file whose content is stored; "" means Data
	// Decompress stores Source decompressed (by its .xz, .zst or .gz
	// suffix), for modules and firmware.
	Decompress bool
	Data       []byte // content (or link target) when Source is ""
	RDev       [2]uint32
	Why        string // why the entry is there, for the manifest
}

// Plan is the complete content of an image, before any byte is written.
type Plan struct {
	KernelRelease string
	KernelImage   string
	Compression   Compression
	Entries       []Entry  // sorted by Name; every parent directory listed
	Modules       []string // module names in load order
	Firmware      []string // firmware files, relative to FirmwareDir
	Devices       []Device // the devices behind the target
	Warnings      []string
}

// MakePlan computes the image content for spec.
func MakePlan(spec Spec) (*Plan, error) {
	if spec.KernelRelease == "" {
		return nil, errors.New("initramfs: no kernel release")
	}
	if spec.Init == "" {
		return nil, errors.New("initramfs: no capture-init binary")
	}
	if spec.ModulesDir == "" {
		spec.ModulesDir = "/lib/modules/" + spec.KernelRelease
	}
	if spec.FirmwareDir == "" {
		spec.FirmwareDir = "/lib/firmware"
	}
	if spec.KernelConfig == "" {
		spec.KernelConfig = "/boot/config-" + spec.KernelRelease
	}
	p := &Plan{KernelRelease: spec.KernelRelease, KernelImage: spec.KernelImage}
	b := newBuilder()

	c, warn, err := chooseCompression(spec.Compression, spec.KernelConfig)
	if err != nil {
		return nil, err
	}
	p.Compression = c
	if warn != "" {
		p.Warnings = append(p.Warnings, warn)
	}

	if err := b.file(InitPath, 0o755, spec.Init, "capture-init"); err != nil {
		return nil, err
	}
	b.data(ConfigPath, 0o600, spec.Config, "effective kdump.conf")
	b.add(Entry{Name: "dev/console", Mode: cpio.TypeChar | 0o600, RDev: [2]uint32{5, 1}, Why: "console for /init before devtmpfs is mounted"})
	if spec.SSHKey != "" {
		if err := b.file(SSHKeyPath, 0o600, spec.SSHKey, "ssh private key"); err != nil {
			return nil, err
		}
	}
	if spec.KnownHosts != nil {
		b.data(KnownHostsPath, 0o600, spec.KnownHosts, "ssh known_hosts")
	}
	for _, prog := range spec.Programs {
		files, err := programFiles(prog)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		for i, f := range files {
			why := "program"
			if i > 0 {
				why = "needed by " + prog
			}
			if err := b.file(strings.TrimPrefix(f, "/"), 0, f, why); err != nil {
				return nil, err
			}
		}
	}

	db, err := LoadModuleDB(spec.ModulesDir)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	mods, err := p.selectModules(spec, db)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	order, err := db.Closure(mods.names)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	p.Modules = order
	var list bytes.Buffer
	for _, m := range order {
		rel := db.Path[m]
		for _, ext := range []string{".xz", ".zst", ".gz"} {
			rel = strings.TrimSuffix(rel, ext)
		}
		name := path.Join(ModulesDirPrefix, spec.KernelRelease, rel)
		b.add(Entry{Name: name, Mode: cpio.TypeReg | 0o644, Source: path.Join(spec.ModulesDir, db.Path[m]), Decompress: true, Why: "module " + m + mods.why[m]})
		fmt.Fprintf(&list, "/%s\n", name)
	}
	b.data(ModulesPath, 0o644, list.Bytes(), "module load order")

	fw, err := firmwareFor(spec, db, mods.drivers)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	for _, f := range fw {
		b.add(Entry{Name: path.Join(FirmwareDir, f.name), Mode: cpio.TypeReg | 0o644, Source: f.source, Decompress: true, Why: "firmware of " + f.module})
		p.Firmware = append(p.Firmware, f.name)
	}

	var man bytes.Buffer
	for _, e := range b.sorted() {
		if e.Source != "" {
			fmt.Fprintf(&man, "%s\t%s\t%s\n", e.Name, e.Source, e.Why)
		}
	}
	b.data(ManifestPath, 0o644, man.Bytes(), "this list")
	for _, d := range baseDirs {
		b.dir(d)
	}
	p.Entries = b.sorted()
	return p, nil
}

type moduleChoice struct {
	names   []string
	why     map[string]string
	drivers []string // modules bound to the target's devices
}

// selectModules picks the modules the target needs before closure.
func (p *Plan) selectModules(spec Spec, db *ModuleDB) (moduleChoice, error) {
	mc := moduleChoice{why: map[string]string{}}
	seen := map[string]bool{}
	add := func(m, why string, driver bool) {
		m = ModuleName(m)
		if !seen[m] {
			seen[m] = true
			mc.names = append(mc.names, m)
			mc.why[m] = " (" + why + ")"
		}
		if driver {
			mc.drivers = append(mc.drivers, m)
		}
	}
	// required adds a module that must exist as a file or be built in.
	required := func(name, why string) error {
		names, builtin := db.Lookup(name)
		if builtin {
			return nil
		}
		if len(names) == 0 {
			return fmt.Errorf("%s: module %s is neither in %s/modules.dep nor built in", why, name, spec.ModulesDir)
		}
		for _, n := range names {
			if _, ok := db.Path[n]; ok {
				add(n, why, false)
			} else if !db.Builtin[n] {
				return fmt.Errorf("%s: module %s (for %s) is not in %s/modules.dep", why, n, name, spec.ModulesDir)
			}
		}
		return nil
	}
	optional := func(name, why string) {
		if names, builtin := db.Lookup(name); !builtin {
			for _, n := range names {
				if _, ok := db.Path[n]; ok {
					add(n, why, false)
				}
			}
		}
	}
	t := spec.Target
	var devs []Device
	var stack []string
	var err error
	switch t.Kind {
	case TargetBlock, TargetRaw:
		name := t.Device
		if strings.Contains(name, "/") || strings.Contains(name, "=") {
			if name, err = spec.Host.BlockDevice(t.Device); err != nil {
				return mc, err
			}
		}
		if devs, stack, err = spec.Host.BlockDrivers(name); err != nil {
			return mc, err
		}
		if t.Kind == TargetBlock {
			if t.FSType == "" {
				return mc, fmt.Errorf("target %s: no file system type", t.Device)
			}
			if err := p.fsModule(db, t.FSType, required); err != nil {
				return mc, err
			}
		}
	case TargetNFS, TargetSSH:
		ifname := t.Interface
		if ifname == "" {
			if !t.Addr.IsValid() {
				return mc, fmt.Errorf("%s target: no interface and no server address", t.Kind)
			}
			if ifname, err = spec.Host.RouteInterface(t.Addr); err != nil {
				return mc, err
			}
		}
		if devs, stack, err = spec.Host.NetDrivers(ifname); err != nil {
			return mc, err
		}
		// DHCP and raw ARP use packet sockets.
		optional("af_packet", "packet sockets for DHCP")
		if t.Kind == TargetNFS {
			if err := required("nfs", "nfs target"); err != nil {
				return mc, err
			}
			optional("nfsv3", "nfs target")
			optional("nfsv4", "nfs target")
		}
	case "":
		return mc, errors.New("no dump target")
	default:
		return mc, fmt.Errorf("unknown target kind %q", t.Kind)
	}
	p.Devices = devs
	for _, d := range devs {
		if err := p.deviceModules(db, d, add); err != nil {
			return mc, err
		}
	}
	for _, m := range stack {
		if err := required(m, "stacked device"); err != nil {
			return mc, err
		}
	}
	for _, m := range spec.ExtraModules {
		if err := required(m, "extra_modules"); err != nil {
			return mc, err
		}
	}
	return mc, nil
}

// deviceModules adds the module that drives d in the capture kernel.
// The running kernel's bound module is the best evidence; when the
// driver is built into the running kernel (no module link) its name is
// tried as a module of the capture kernel, and last the device's
// modalias is resolved through the capture kernel's modules.alias, so a
// capture kernel that differs from the running one still gets drivers.
func (p *Plan) deviceModules(db *ModuleDB, d Device, add func(m, why string, driver bool)) error {
	for _, cand := range []string{d.Module, d.Driver} {
		if cand == "" {
			continue
		}
		m := ModuleName(cand)
		if _, ok := db.Path[m]; ok {
			add(m, "driver of "+d.SysPath, true)
			return nil
		}
		if db.Builtin[m] {
			return nil
		}
	}
	if d.Modalias != "" {
		names, builtin := db.Lookup(d.Modalias)
		if builtin {
			return nil
		}
		found := false
		for _, n := range names {
			if _, ok := db.Path[n]; ok {
				add(n, "modalias of "+d.SysPath, true)
				found = true
			} else if db.Builtin[n] {
				found = true
			}
		}
		if found {
			return nil
		}
	}
	if d.Driver != "" {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s: driver %s has no module for this kernel and its modalias %q matches none; assuming it is built in", d.SysPath, d.Driver, d.Modalias))
	}
	return nil
}

// fsModule adds the module of a file system type; ext2 and ext3 are
// served by ext4 through its fs-ext2/fs-ext3 aliases on kernels without
// their own modules.
func (p *Plan) fsModule(db *ModuleDB, fstype string, required func(string, string) error) error {
	if names, builtin := db.Lookup(fstype); builtin || len(names) > 0 {
		return required(fstype, "file system "+fstype)
	}
	return required("fs-"+fstype, "file system "+fstype)
}

type firmwareFile struct{ name, source, module string }

// firmwareFor lists the firmware files the drivers of the target's
// devices name in their .modinfo and that exist on the build machine.
// Library modules further down the closure do not drive the target's
// devices, so their firmware is left out.
func firmwareFor(spec Spec, db *ModuleDB, drivers []string) ([]firmwareFile, error) {
	var out []firmwareFile
	seen := map[string]bool{}
	dirs := []string{path.Join(spec.FirmwareDir, "updates", spec.KernelRelease), path.Join(spec.FirmwareDir, "updates"),
		path.Join(spec.FirmwareDir, spec.KernelRelease), spec.FirmwareDir}
	for _, m := range drivers {
		ko, err := ReadMaybeCompressed(path.Join(spec.ModulesDir, db.Path[m]))
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", m, err)
		}
		mi, err := ParseModinfo(ko)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", m, err)
		}
		for _, fw := range mi.Firmware {
			if seen[fw] || strings.Contains("/"+fw+"/", "/../") || strings.HasPrefix(fw, "/") {
				continue
			}
			seen[fw] = true
		search:
			for _, d := range dirs {
				for _, ext := range []string{"", ".zst", ".xz"} {
					src := path.Join(d, fw) + ext
					if fi, err := os.Stat(src); err == nil && fi.Mode().IsRegular() {
						out = append(out, firmwareFile{name: fw, source: src, module: m})
						break search
					}
				}
			}
		}
	}
	return out, nil
}

// chooseCompression picks the image compression from the capture
// kernel's config: zstd when CONFIG_RD_ZSTD=y (smaller and faster to
// unpack), else gzip, which every distribution kernel has.
func chooseCompression(want Compression, configPath string) (Compression, string, error) {
	switch want {
	case CompressZstd, CompressGzip, CompressNone:
		return want, "", nil
	case CompressAuto:
	default:
		return "", "", fmt.Errorf("initramfs: unknown compression %q (want zstd, gzip or none)", want)
	}
	cfg, err := readKernelConfig(configPath)
	if err != nil {
		return CompressGzip, fmt.Sprintf("kernel config %s unreadable (%v): using gzip", configPath, err), nil
	}
	switch {
	case cfg["CONFIG_RD_ZSTD"] == "y":
		return CompressZstd, "", nil
	case cfg["CONFIG_RD_GZIP"] == "y":
		return CompressGzip, "", nil
	}
	return CompressNone, fmt.Sprintf("%s has neither CONFIG_RD_ZSTD nor CONFIG_RD_GZIP: image left uncompressed", configPath), nil
}

// readKernelConfig reads a kernel .config, plain or gzipped (/proc/config.gz).
func readKernelConfig(name string) (map[string]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = gr
	}
	cfg := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "CONFIG_") {
			cfg[k] = v
		}
	}
	return cfg, sc.Err()
}

// builder collects entries by name; the first entry for a name wins.
type builder struct {
	byName map[string]Entry
}

func newBuilder() *builder { return &builder{byName: map[string]Entry{}} }

func (b *builder) add(e Entry) {
	e.Name = strings.TrimPrefix(path.Clean("/"+e.Name), "/")
	if _, ok := b.byName[e.Name]; ok {
		return
	}
	b.byName[e.Name] = e
	for d := path.Dir(e.Name); d != "." && d != "/"; d = path.Dir(d) {
		b.dir(d)
	}
}

func (b *builder) dir(name string) {
	if _, ok := b.byName[name]; !ok {
		b.byName[name] = Entry{Name: name, Mode: cpio.TypeDir | 0o755}
		if d := path.Dir(name); d != "." {
			b.dir(d)
		}
	}
}

func (b *builder) data(name string, perm uint32, data []byte, why string) {
	b.add(Entry{Name: name, Mode: cpio.TypeReg | perm, Data: append([]byte(nil), data...), Why: why})
}

// file adds a copy of src; perm 0 keeps src's permission bits.
func (b *builder) file(name string, perm uint32, src, why string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("initramfs: %s: %w", why, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s: %s is not a regular file", why, src)
	}
	if perm == 0 {
		perm = uint32(fi.Mode().Perm())
	}
	b.add(Entry{Name: name, Mode: cpio.TypeReg | perm, Source: src, Why: why})
	return nil
}

func (b *builder) sorted() []Entry {
	out := make([]Entry, 0, len(b.byName))
	for _, e := range b.byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
