package crashkernel

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
	}{
		{"0", 0}, {"512", 512}, {"64K", 64 * K}, {"64k", 64 * K}, {"256M", 256 * M}, {"2G", 2 * G},
		{"1T", T}, {"1P", 1 << 50}, {"8E", 8 << 60}, {"0x1000", 0x1000}, {"0x10M", 16 * M},
		{"010", 8}, {"0X20", 0x20},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "M", "auto", "16E", "99999999999999999999", "1G5", "-1", "0x"} {
		if v, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, v)
		}
	}
	for _, tt := range []struct {
		s    Size
		want string
	}{{0, "0"}, {256 * M, "256M"}, {1536 * M, "1536M"}, {4 * G, "4G"}, {4097, "4097"}, {T, "1T"}, {8 << 60, "8E"}} {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", uint64(tt.s), got, tt.want)
		}
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in, canon string
		want      Spec
	}{
		{"256M", "256M", Spec{Size: 256 * M}},
		{"64M@16M", "64M@16M", Spec{Size: 64 * M, Offset: 16 * M, HasOffset: true}},
		{"0x10000000", "256M", Spec{Size: 256 * M}},
		{"512M,high", "512M,high", Spec{Size: 512 * M, Suffix: High}},
		{"0,low", "0,low", Spec{Size: 0, Suffix: Low}},
		{"72M,low", "72M,low", Spec{Size: 72 * M, Suffix: Low}},
		{"1G,cma", "1G,cma", Spec{Size: G, Suffix: CMA}},
		{"512M-2G:64M,2G-:128M", "512M-2G:64M,2G-:128M", Spec{Ranges: []Range{{512 * M, 2 * G, 64 * M}, {2 * G, 0, 128 * M}}}},
		{"2G-64G:256M,64G-:512M", "2G-64G:256M,64G-:512M", Spec{Ranges: []Range{{2 * G, 64 * G, 256 * M}, {64 * G, 0, 512 * M}}}},
		{"0-:128M@16M", "0-:128M@16M", Spec{Ranges: []Range{{0, 0, 128 * M}}, Offset: 16 * M, HasOffset: true}},
		{"1024M-4096M:256M", "1G-4G:256M", Spec{Ranges: []Range{{G, 4 * G, 256 * M}}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got.String() != tt.canon {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got.String(), tt.canon)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty value"},
		{"auto", "memory value expected"},
		{"256Mx", `unrecognized "x"`},
		{"64M@", "after '@': memory value expected"},
		{"64M@16Mjunk", `unrecognized "junk"`},
		{"0,high", "size 0 with ,high reserves nothing"},
		{"1G-:256M,high", "expected size,high"},
		{"2G-1G:64M", "range 1: end 1G <= start 2G"},
		{"2G-2G:64M", "range 1: end 2G <= start 2G"},
		{"2G:64M", "range 1: '-' expected"},
		{"2G-4G;:64M", "range 1: ':' expected"},
		{"2G-4G64M", `unrecognized "-4G64M"`},
		{"2G-4G:", "range 1 size: memory value expected"},
		{"1G-2G:64M,", "range 2 start: memory value expected"},
		{"1G-2G:64M;", `unrecognized ";"`},
		{"-2G:64M", "range 1 start: memory value expected"},
		{"1G-2G:64M@", "after '@': memory value expected"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "crashkernel="+tt.in+": ") {
			t.Errorf("Parse(%q) error %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestSizeFor follows the kernel's parse_crashkernel_mem: RAM rounded up
// to 128M, first matching range, exclusive end, open end, size >= RAM
// rejected.
func TestSizeFor(t *testing.T) {
	rhel := "2G-64G:256M,64G-:512M"
	deb := "512M-2G:64M,2G-:128M"
	tests := []struct {
		spec string
		ram  Size
		want Size
		err  bool
	}{
		{rhel, 2*G - 1, 256 * M, false}, // rounds up to 2G
		{rhel, 2*G - 128*M, 0, false},   // 1920M: below the first range
		{rhel, 2*G - 128*M + 1, 256 * M, false},
		{rhel, 64*G - 1, 512 * M, false}, // rounds to 64G: exclusive end, next range
		{rhel, 63 * G, 256 * M, false},
		{rhel, 4 * T, 512 * M, false}, // open end
		{deb, 384 * M, 0, false},
		{deb, 512 * M, 64 * M, false},
		{deb, 3 * G, 128 * M, false},
		{"1G-:2G", 4 * G, 2 * G, false},
		{"0-:1G", 512 * M, 0, true},                            // size >= rounded RAM
		{"0-1G:64M,1G-:4G", 512 * M, 64 * M, false},            // the match ends the walk: 4G is never checked
		{"0-1G:2G,1G-:64M", 2 * G, 0, true},                    // a range before the match asks too much
		{"0-1G:64M,1G-2G:2G,2G-:128M", 512 * M, 64 * M, false}, // first range matches; later ones unchecked
		{"256M", 4 * G, 256 * M, false},
		{"256M", 256 * M, 0, true},
		{"64M@16M", G, 64 * M, false},
	}
	for _, tt := range tests {
		sp, err := Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sp.SizeFor(tt.ram)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s with %v RAM: %v, %v; want %v (error %v)", tt.spec, tt.ram, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrSizeTooLarge) {
			t.Errorf("%s: error %v is not ErrSizeTooLarge", tt.spec, err)
		}
	}
}

func TestResolve(t *testing.T) {
	x86, ppc := Arches["amd64"], Arches["ppc64le"]
	tests := []struct {
		name    string
		cmdline string
		ram     Size
		arch    Arch
		want    Request
		err     string
	}{
		{"none", "root=/dev/sda1 quiet", 4 * G, x86, Request{}, "no crashkernel="},
		{"plain", "root=/dev/sda1 crashkernel=256M quiet", 4 * G, x86, Request{Size: 256 * M, From: "256M"}, ""},
		{"last plain wins", "crashkernel=128M crashkernel=2G-:192M", 4 * G, x86, Request{Size: 192 * M, From: "2G-:192M"}, ""},
		{"plain beats high", "crashkernel=1G,high crashkernel=256M crashkernel=128M,low", 8 * G, x86, Request{Size: 256 * M, From: "256M"}, ""},
		{"offset", "crashkernel=64M@16M", 4 * G, x86, Request{Size: 64 * M, Offset: 16 * M, HasOffset: true, From: "64M@16M"}, ""},
		{"range offset unmatched", "crashkernel=2G-:64M@16M", G, x86, Request{From: "2G-:64M@16M"}, ""},
		{"high default low", "crashkernel=1G,high", 16 * G, x86, Request{Size: G, High: true, LowSize: 256 * M, From: "1G,high"}, ""},
		{"high arm64 default low", "crashkernel=1G,high", 16 * G, Arches["arm64"], Request{Size: G, High: true, LowSize: 128 * M, From: "1G,high"}, ""},
		{"high low", "crashkernel=1G,high crashkernel=72M,low", 16 * G, x86, Request{Size: G, High: true, LowSize: 72 * M, From: "1G,high"}, ""},
		{"high low zero", "crashkernel=1G,high crashkernel=0,low", 16 * G, x86, Request{Size: G, High: true, From: "1G,high"}, ""},
		{"last high wins", "crashkernel=1G,high crashkernel=512M,high", 16 * G, x86, Request{Size: 512 * M, High: true, LowSize: 256 * M, From: "512M,high"}, ""},
		{"bad low", "crashkernel=1G,high crashkernel=x,low", 16 * G, x86, Request{}, "crashkernel=x,low"},
		{"high zero", "crashkernel=0,high", 16 * G, x86, Request{}, "size 0 with ,high"},
		{"high too big", "crashkernel=16G,high", 16 * G, x86, Request{}, "not below the RAM size"},
		{"low alone", "crashkernel=128M,low", 16 * G, x86, Request{}, "no crashkernel="},
		{"high on ppc", "crashkernel=1G,high", 16 * G, ppc, Request{}, "no crashkernel="},
		{"cma", "crashkernel=256M crashkernel=1G,cma", 16 * G, x86, Request{Size: 256 * M, CMASize: G, From: "256M"}, ""},
		{"bad cma ignored", "crashkernel=256M crashkernel=zz,cma", 16 * G, x86, Request{Size: 256 * M, From: "256M"}, ""},
		{"bad plain", "crashkernel=auto", 16 * G, x86, Request{}, "crashkernel=auto: memory value expected"},
		{"substring like the kernel", "foo.crashkernel=128M", 16 * G, x86, Request{Size: 128 * M, From: "128M"}, ""},
		{"too big", "crashkernel=4G", 4 * G, x86, Request{}, "not below the RAM size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.cmdline, tt.ram, tt.arch)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := Resolve("quiet", G, x86); !errors.Is(err, ErrNotSet) {
		t.Errorf("no crashkernel: %v is not ErrNotSet", err)
	}
}

func TestEntriesAndWithout(t *testing.T) {
	cl := "a crashkernel=1G,high crashkernel=256M,low b crashkernel=2G-:256M crashkernel=1G,cma"
	got := Entries(cl)
	want := []Entry{{"1G,high", High}, {"256M,low", Low}, {"2G-:256M", Plain}, {"1G,cma", CMA}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Entries = %+v", got)
	}
	if w := WithoutCrashkernel(cl); w != "a b" {
		t.Errorf("WithoutCrashkernel = %q", w)
	}
	if Entries("crashkernel=") == nil || Entries("crashkernel=")[0].Value != "" {
		t.Errorf("empty value entry: %+v", Entries("crashkernel="))
	}
}

func host(name string) string { return filepath.Join("testdata", "hosts", name) }

// TestFixtureHosts reads the fixture trees and checks that what the
// command line asks for matches what the (fixture) kernel reserved.
func TestFixtureHosts(t *testing.T) {
	tests := []struct {
		host      string
		size      Size
		loaded    bool
		regions   int
		ram       Size
		ramErr    error
		requested Size // Request.Total()
	}{
		{"qemu-x86-4G", 256 * M, true, 1, 4294421504, nil, 256 * M},
		{"x86-high-low", 1280 * M, false, 2, 68719079424, nil, 1280 * M},
		{"unprivileged", 192 * M, false, 1, 0, ErrAddressesHidden, 0},
		{"no-reservation", 0, false, 0, 1073212416, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			fsys := os.DirFS(host(tt.host))
			r, err := ReadReservation(fsys)
			if err != nil {
				t.Fatal(err)
			}
			if r.Size != tt.size || r.Loaded != tt.loaded || len(r.Regions) != tt.regions {
				t.Errorf("reservation %+v, want size %v loaded %v regions %d", r, tt.size, tt.loaded, tt.regions)
			}
			var sum Size
			for _, reg := range r.Regions {
				sum += reg.Size()
			}
			if tt.ramErr == nil && sum != r.Size {
				t.Errorf("iomem Crash kernel regions sum to %v, kexec_crash_size %v", sum, r.Size)
			}
			ram, err := ReadSystemRAM(fsys)
			if tt.ramErr != nil {
				if !errors.Is(err, tt.ramErr) {
					t.Fatalf("system RAM error %v, want %v", err, tt.ramErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ram != tt.ram {
				t.Errorf("system RAM %d, want %d", uint64(ram), uint64(tt.ram))
			}
			cl, err := ReadCmdline(fsys)
			if err != nil {
				t.Fatal(err)
			}
			req, err := Resolve(cl, ram, Arches["amd64"])
			if err != nil {
				t.Fatal(err)
			}
			if req.Total() != tt.requested {
				t.Errorf("RAM %v (%d bytes): command line %q asks %v (+%v low), want %v", ram, uint64(ram), cl, req.Size, req.LowSize, tt.requested)
			}
		})
	}
}

func TestParseIomemErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"00000000-00000fff Reserved\n", "iomem line 1"},
		{"0-0 : x\nzz-10 : y\n", `iomem line 2: bad range "zz-10"`},
		{"1000-0fff : backwards\n", `iomem line 1: bad range "1000-0fff"`},
		{"0-ffffffffffffffff : all\n", "iomem line 1: bad range"},
		{"100 : nodash\n", `iomem line 1: "100": expected start-end`},
	} {
		_, err := ParseIomem(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseIomem(%q) error %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestReadReservationErrors(t *testing.T) {
	if _, err := ReadReservation(os.DirFS(t.TempDir())); err == nil || !strings.Contains(err.Error(), "/sys/kernel/kexec_crash_size") {
		t.Errorf("missing files: %v", err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"sys/kernel/kexec_crash_size": "lots\n", "sys/kernel/kexec_crash_loaded": "0\n"})
	if _, err := ReadReservation(os.DirFS(dir)); err == nil || !strings.Contains(err.Error(), `"lots" is not a number`) {
		t.Errorf("bad size: %v", err)
	}
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckShrink(t *testing.T) {
	r := Reservation{Size: 256 * M}
	tests := []struct {
		r    Reservation
		size Size
		want Size
		err  error
	}{
		{r, 128 * M, 128 * M, nil},
		{r, 128*M + 1, 128*M + 4*K, nil},
		{r, 0, 0, nil},
		{r, 256 * M, 256 * M, nil},
		{r, 512 * M, 256 * M, ErrShrinkGrow},
		{Reservation{Size: 256 * M, Loaded: true}, 128 * M, 256 * M, ErrShrinkLoaded},
		{Reservation{}, 128 * M, 0, ErrNoReserve},
	}
	for _, tt := range tests {
		got, err := CheckShrink(tt.r, tt.size)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("CheckShrink(%+v, %v) = %v, %v; want %v, %v", tt.r, tt.size, got, err, tt.want, tt.err)
		}
	}
}

func TestShrinkAt(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"sys/kernel/kexec_crash_size": "268435456\n", "sys/kernel/kexec_crash_loaded": "0\n"})
	// A plain file does not act like sysfs: the test checks what is
	// written, and that the size read back is reported.
	got, err := ShrinkAt(dir, 160*M)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "sys/kernel/kexec_crash_size"))
	if string(b) != "167772160" || got != 160*M {
		t.Errorf("wrote %q, reported %v", b, got)
	}
	if _, err := ShrinkAt(dir, 200*M); !errors.Is(err, ErrShrinkGrow) {
		t.Errorf("grow: %v", err)
	}
	writeTree(t, dir, map[string]string{"sys/kernel/kexec_crash_loaded": "1\n"})
	if _, err := ShrinkAt(dir, 100*M); !errors.Is(err, ErrShrinkLoaded) {
		t.Errorf("loaded: %v", err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "sys/kernel/kexec_crash_size"))
	if string(b) != "167772160" {
		t.Errorf("refused shrink still wrote %q", b)
	}
}

func TestDefault(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		sp, err := Default(arch)
		if err != nil {
			t.Fatal(err)
		}
		// Every default reserves something from 1 GiB up and grows with RAM.
		prev := Size(0)
		for _, ram := range []Size{G, 2 * G, 4 * G, 64 * G, T, 8 * T} {
			size, err := sp.SizeFor(ram)
			if err != nil || size == 0 || size < prev || size >= ram/4 {
				t.Errorf("%s: %v RAM → %v, %v", arch, ram, size, err)
			}
			prev = size
		}
		if size, _ := sp.SizeFor(512 * M); size != 0 {
			t.Errorf("%s: reserves %v on 512M", arch, size)
		}
		// Smaller than kdump-utils' x86_64 default wherever that reserves.
		rhel, _ := Parse("2G-64G:256M,64G-:512M")
		for _, ram := range []Size{2 * G, 8 * G, 32 * G} {
			ours, _ := sp.SizeFor(ram)
			theirs, _ := rhel.SizeFor(ram)
			if arch == "amd64" && ours >= theirs {
				t.Errorf("default %v at %v RAM is not below kdump-utils' %v", ours, ram, theirs)
			}
		}
	}
	if _, err := Default("mips"); err == nil {
		t.Error("no error for mips")
	}
}

func TestEstimate(t *testing.T) {
	in := Inputs{RAM: 4 * G, KernelImageSize: 40 * M, InitramfsSize: 6 * M, ModulesSize: 2 * M}
	e, err := EstimateSize(in)
	if err != nil {
		t.Fatal(err)
	}
	// Recompute the documented formula by hand from the calibration.
	c := DefaultCalibration
	bitmaps := float64(4*G/(4*K)) * c.BitmapBitsPerPage / 8
	sum := float64(40*M+c.KernelRuntime+6*M+c.Userspace) + 2*float64(M)*c.ModulesLoaded + 6*float64(M)*c.UnpackRatio + bitmaps
	want := roundUp(Size(sum*(1+c.Margin)/(1-c.MemmapFraction))+1, c.Granule)
	if e.Total != want || e.Total%c.Granule != 0 {
		t.Errorf("estimate %v, want %v; parts %+v", e.Total, want, e.Parts)
	}
	var parts Size
	for _, p := range e.Parts {
		parts += p.Size
	}
	if parts > e.Total || e.Total-parts >= c.Granule {
		t.Errorf("parts sum to %v, total %v", parts, e.Total)
	}
	net := in
	net.Network = true
	en, _ := EstimateSize(net)
	big := in
	big.RAM = 4 * T
	eb, _ := EstimateSize(big)
	if en.Total < e.Total || eb.Total <= e.Total {
		t.Errorf("network %v / 4T %v not above local 4G %v", en.Total, eb.Total, e.Total)
	}
	if _, err := EstimateSize(Inputs{RAM: G}); err == nil {
		t.Error("no error without sizes")
	}
}

func TestBzImageInitSize(t *testing.T) {
	img := make([]byte, 0x400)
	copy(img[0x202:], "HdrS")
	img[0x206], img[0x207] = 0x0f, 0x02                   // protocol 2.15
	img[0x260], img[0x261], img[0x262] = 0x00, 0x00, 0x80 // 8 MiB
	got, err := BzImageInitSize(strings.NewReader(string(img)))
	if err != nil || got != 8*M {
		t.Errorf("init_size %v, %v", got, err)
	}
	img[0x206], img[0x207] = 0x09, 0x02
	if _, err := BzImageInitSize(strings.NewReader(string(img))); err == nil || !strings.Contains(err.Error(), "2.09") {
		t.Errorf("old protocol: %v", err)
	}
	if _, err := BzImageInitSize(strings.NewReader("short")); err == nil {
		t.Error("short file: no error")
	}
}

// TestGrubDropInShell sources the drop-in with /bin/sh, the way
// grub-mkconfig does, and checks the resulting variables.
func TestGrubDropInShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	high, _ := Parse("1G,high")
	low, _ := Parse("128M,low")
	ranges, _ := Default("amd64")
	tests := []struct {
		specs             []Spec
		linux, def        string
		wantLinux, wantDf string
	}{
		{[]Spec{ranges}, "", "", "", "crashkernel=" + ranges.String()},
		{[]Spec{ranges}, "ro crashkernel=auto", "quiet splash crashkernel=384M-:128M",
			"ro", "quiet splash crashkernel=" + ranges.String()},
		{[]Spec{high, low}, "console=ttyS0", "crashkernel=256M quiet", "console=ttyS0", "quiet crashkernel=1G,high crashkernel=128M,low"},
		{[]Spec{ranges}, "", "a=* b", "", "a=* b crashkernel=" + ranges.String()},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		data, err := GrubDropIn(tt.specs)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "kdump.cfg")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// A file named like a kernel argument glob must not be expanded.
		os.WriteFile(filepath.Join(dir, "a=x"), nil, 0o644)
		script := `GRUB_CMDLINE_LINUX="$1"; GRUB_CMDLINE_LINUX_DEFAULT="$2"; . "$3"; printf '%s\n%s\n%s\n' "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT" "$-"`
		cmd := exec.Command(sh, "-c", script, "sh", tt.linux, tt.def, f)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("case %d: sh: %v", i, err)
		}
		lines := strings.Split(string(out), "\n")
		if lines[0] != tt.wantLinux || lines[1] != tt.wantDf {
			t.Errorf("case %d: GRUB_CMDLINE_LINUX=%q GRUB_CMDLINE_LINUX_DEFAULT=%q; want %q, %q", i, lines[0], lines[1], tt.wantLinux, tt.wantDf)
		}
		if strings.Contains(lines[2], "f") {
			t.Errorf("case %d: the drop-in left globbing off (flags %q)", i, lines[2])
		}
	}
	if _, err := GrubDropIn(nil); err == nil {
		t.Error("empty set accepted")
	}
}

func TestCheckSetAndGrubby(t *testing.T) {
	p := func(s string) Spec {
		sp, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	bad := [][]Spec{
		{p("256M"), p("128M")},
		{p("256M"), p("1G,high")},
		{p("128M,low")},
		{p("1G,cma")},
	}
	for _, set := range bad {
		if err := CheckSet(set); err == nil {
			t.Errorf("CheckSet(%v) accepted", set)
		}
	}
	if err := CheckSet([]Spec{p("1G,high"), p("128M,low"), p("1G,cma")}); err != nil {
		t.Error(err)
	}
	got, err := GrubbyArgs("", []Spec{p("1G-4G:192M,4G-:256M")})
	want := [][]string{
		{"grubby", "--update-kernel=ALL", "--remove-args=crashkernel"},
		{"grubby", "--update-kernel=ALL", "--args=crashkernel=1G-4G:192M,4G-:256M"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("GrubbyArgs = %q, %v", got, err)
	}
	if _, err := GrubbyArgs("DEFAULT", []Spec{p("1G,high"), p("128M,low")}); err == nil {
		t.Error("grubby with two values accepted")
	}
}

func TestWriteGrubDropIn(t *testing.T) {
	root := t.TempDir()
	sp, _ := Default("amd64")
	changed, err := WriteGrubDropIn(root, []Spec{sp})
	if err != nil || !changed {
		t.Fatalf("first write: %v %v", changed, err)
	}
	st, err := os.Stat(filepath.Join(root, GrubDropInPath))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("drop-in: %v %v", st, err)
	}
	changed, err = WriteGrubDropIn(root, []Spec{sp})
	if err != nil || changed {
		t.Errorf("second write: changed %v, %v", changed, err)
	}
	other, _ := Parse("256M")
	if changed, err := WriteGrubDropIn(root, []Spec{other}); err != nil || !changed {
		t.Errorf("new value: %v %v", changed, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(filepath.Join(root, GrubDropInPath)))
	if len(entries) != 1 {
		t.Errorf("left temporary files: %v", entries)
	}
}
