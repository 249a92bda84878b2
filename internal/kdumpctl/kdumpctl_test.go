package kdumpctl

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/targets"
)

const rel = "6.1.0-56-cloud-amd64"

// copyTree copies a fixture tree, symbolic links as links.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fi, _ := d.Info()
			return os.WriteFile(out, b, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fakeLoader stands in for the kernel's kexec_file_load: it records the
// calls and flips kexec_crash_loaded in the fixture root.
type fakeLoader struct {
	root  string
	loads []string // "kernel initrd cmdline"
	nUnld int
	err   error
}

func (f *fakeLoader) set(v string) {
	os.WriteFile(filepath.Join(f.root, "sys/kernel/kexec_crash_loaded"), []byte(v+"\n"), 0o644)
}

func (f *fakeLoader) Load(kernel, initrd, cmdline string) (string, error) {
	if f.err != nil {
		return "", f.err
	}
	f.loads = append(f.loads, kernel+" "+initrd+" "+cmdline)
	f.set("1")
	return "fake", nil
}

func (f *fakeLoader) Unload() (string, error) {
	f.nUnld++
	f.set("0")
	return "fake", nil
}

type fixture struct {
	root   string
	env    *Env
	loader *fakeLoader
	out    *bytes.Buffer
	errOut *bytes.Buffer
}

func newFixture(t *testing.T, conf string) *fixture {
	t.Helper()
	root := t.TempDir()
	copyTree(t, "testdata/root", root)
	f := &fixture{root: root, loader: &fakeLoader{root: root}, out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
	f.env = &Env{
		Root:   root,
		Arch:   "amd64",
		Loader: f.loader,
		InterfaceAddrs: func(name string) ([]netip.Prefix, error) {
			if name != "eth0" {
				return nil, fmt.Errorf("no interface %s", name)
			}
			return []netip.Prefix{netip.MustParsePrefix("fe80::5054:ff:fe12:3456/64"), netip.MustParsePrefix("10.0.2.15/24")}, nil
		},
		Now:    func() time.Time { return time.Unix(1763797428, 0) },
		Stdin:  strings.NewReader(""),
		Stdout: f.out,
		Stderr: f.errOut,
	}
	f.writeConf(t, conf)
	return f
}

func (f *fixture) writeConf(t *testing.T, conf string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.root, "etc/kdump.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) write(t *testing.T, name, data string) {
	t.Helper()
	p := filepath.Join(f.root, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStartStopStatus(t *testing.T) {
	f := newFixture(t, "path /var/crash\nfailure_action poweroff\n")
	ctx := context.Background()
	if code, err := f.env.Status(ctx); code != ExitNotLoaded || err != nil {
		t.Fatalf("status before start = %d, %v", code, err)
	}
	if err := f.env.Start(ctx); err != nil {
		t.Fatalf("start: %v\n%s", err, f.errOut)
	}
	if len(f.loader.loads) != 1 {
		t.Fatalf("loads = %v", f.loader.loads)
	}
	img := filepath.Join(f.root, "var/lib/kdump/initramfs-"+rel+"kdump.img")
	wantLoad := filepath.Join(f.root, "boot/vmlinuz-"+rel) + " " + img + " console=ttyS0 irqpoll nr_cpus=1 reset_devices"
	if !strings.HasPrefix(f.loader.loads[0], wantLoad) {
		t.Errorf("load call\n got %s\nwant prefix %s", f.loader.loads[0], wantLoad)
	}
	if !strings.Contains(f.out.String(), "built (") || !strings.Contains(f.out.String(), "zstd, 0 modules") {
		t.Errorf("start output:\n%s", f.out)
	}
	if code, _ := f.env.Status(ctx); code != ExitOK {
		t.Errorf("status after start = %d", code)
	}

	// Same inputs: nothing to do.
	f.out.Reset()
	if err := f.env.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.loader.loads) != 1 || !strings.Contains(f.out.String(), "already loaded and up to date") {
		t.Errorf("second start loaded again: %v\n%s", f.loader.loads, f.out)
	}

	// A changed config rebuilds and reloads.
	f.writeConf(t, "path /var/crash\nfailure_action reboot\n")
	f.out.Reset()
	if err := f.env.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.loader.loads) != 2 || !strings.Contains(f.out.String(), "built (") {
		t.Errorf("changed config: loads %d\n%s", len(f.loader.loads), f.out)
	}

	if err := f.env.Stop(ctx); err != nil || f.loader.nUnld != 1 {
		t.Fatalf("stop: %v, %d unloads", err, f.loader.nUnld)
	}
	if code, _ := f.env.Status(ctx); code != ExitNotLoaded {
		t.Errorf("status after stop = %d", code)
	}

	// Reload uses the image as it is.
	if err := f.env.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.loader.loads) != 3 || f.loader.nUnld != 2 {
		t.Errorf("reload: %d loads, %d unloads", len(f.loader.loads), f.loader.nUnld)
	}
}

func TestStartBakesResolvedConfig(t *testing.T) {
	f := newFixture(t, "path /var/crash\n")
	cfg, err := f.env.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	img, err := f.env.Build(context.Background(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Baked
	if b.Target.Kind != "fs" || b.Target.FSType != "ext4" || b.Target.Device != "UUID=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0" || b.Path != "/var/crash" {
		t.Errorf("baked target %+v path %s", b.Target, b.Path)
	}
	if img.Result.Bytes != fileSize(t, filepath.Join(f.root, img.Path)) {
		t.Errorf("reported %d bytes", img.Result.Bytes)
	}
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestStartSSHNetworkAuto(t *testing.T) {
	f := newFixture(t, "ssh kdump@10.0.2.2\nsshkey /root/.ssh/kdump_id\npath /srv/dumps\n")
	ctx := context.Background()
	if err := f.env.Start(ctx); err == nil || !strings.Contains(err.Error(), "kdumpctl propagate") {
		t.Fatalf("start without key: %v", err)
	}
	f.write(t, "root/.ssh/kdump_id", "PRIVATE")
	if err := f.env.Start(ctx); err == nil || !strings.Contains(err.Error(), "no known host key for 10.0.2.2") {
		t.Fatalf("start without host key: %v", err)
	}
	f.write(t, "var/lib/kdump/known_hosts", "10.0.2.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpA\n")
	cfg, _ := f.env.LoadConfig()
	img, err := f.env.Build(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	n := img.Baked.Net
	if n.Mode != "static" || n.Address.String() != "10.0.2.15/24" || n.Interface != "52:54:00:12:34:56" || len(n.DNS) != 1 || n.DNS[0].String() != "10.0.2.3" {
		t.Errorf("baked network %+v", n)
	}
	if n.Gateway.IsValid() {
		t.Errorf("gateway %s set for an on-link target", n.Gateway)
	}
	if img.Baked.SSHKey != "/etc/kdumpkit/id_ssh" || img.Baked.SSHKnownHosts != "/etc/kdumpkit/known_hosts" {
		t.Errorf("baked ssh paths %s %s", img.Baked.SSHKey, img.Baked.SSHKnownHosts)
	}

	// A target behind the gateway gets it.
	f.writeConf(t, "ssh kdump@192.0.2.10\nsshkey /root/.ssh/kdump_id\nssh_host_key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpA\n")
	cfg, _ = f.env.LoadConfig()
	if img, err = f.env.Build(ctx, cfg, false); err != nil {
		t.Fatal(err)
	}
	if img.Baked.Net.Gateway.String() != "10.0.2.2" {
		t.Errorf("gateway %v", img.Baked.Net.Gateway)
	}

	// DHCP keeps its mode and gets the routed interface's MAC.
	f.writeConf(t, "ssh kdump@192.0.2.10\nsshkey /root/.ssh/kdump_id\nssh_host_key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpA\nnet_config dhcp\n")
	cfg, _ = f.env.LoadConfig()
	if img, err = f.env.Build(ctx, cfg, false); err != nil {
		t.Fatal(err)
	}
	if n := img.Baked.Net; n.Mode != "dhcp" || n.Interface != "52:54:00:12:34:56" {
		t.Errorf("dhcp network %+v", n)
	}
}

func TestStartRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "path /var/crash\n")
	f.write(t, "sys/kernel/kexec_crash_size", "0\n")
	if err := f.env.Start(ctx); err == nil || !strings.Contains(err.Error(), "no memory is reserved") {
		t.Errorf("no reservation: %v", err)
	}
	f = newFixture(t, "ext4 LABEL=nosuch\n")
	if err := f.env.Start(ctx); err == nil || !strings.Contains(err.Error(), "/etc/kdump.conf:1: block device LABEL=nosuch") {
		t.Errorf("missing device: %v", err)
	}
	f = newFixture(t, "bogus directive\n")
	if err := f.env.Start(ctx); err == nil || !strings.Contains(err.Error(), "/etc/kdump.conf:1:") {
		t.Errorf("bad config: %v", err)
	}
	if len(f.loader.loads) != 0 {
		t.Errorf("loaded despite errors: %v", f.loader.loads)
	}
	f = newFixture(t, "path /var/crash\n")
	os.Remove(filepath.Join(f.root, "etc/kdump.conf"))
	if err := f.env.Start(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("no config: %v", err)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		conf    string
		offline bool
		setup   func(f *fixture)
		want    []string
	}{
		{name: "good", conf: "path /var/crash\n"},
		{name: "syntax errors, every one", conf: "path /var/crash\nbogus 1\nfailure_action explode\n", offline: true,
			want: []string{"/etc/kdump.conf:2:", "/etc/kdump.conf:3:"}},
		{name: "missing device online", conf: "# dumps\next4 UUID=00000000-0000-0000-0000-000000000000\n",
			want: []string{"/etc/kdump.conf:2: block device UUID=00000000-0000-0000-0000-000000000000"}},
		{name: "missing device offline is fine", conf: "ext4 UUID=00000000-0000-0000-0000-000000000000\n", offline: true},
		{name: "hook not executable", conf: "path /var/crash\nkdump_pre /usr/bin/pre\n",
			setup: func(f *fixture) {
				os.MkdirAll(filepath.Join(f.root, "usr/bin"), 0o755)
				os.WriteFile(filepath.Join(f.root, "usr/bin/pre"), nil, 0o644)
			},
			want: []string{"/etc/kdump.conf:2: /usr/bin/pre is not an executable file"}},
		{name: "no reservation", conf: "path /var/crash\n",
			setup: func(f *fixture) { f.write(t, "sys/kernel/kexec_crash_size", "0\n") },
			want:  []string{"/proc/cmdline: no crashkernel= reservation"}},
		{name: "dump path missing", conf: "path /var/crash/none\n", want: []string{"/etc/kdump.conf:1: dump directory /var/crash/none does not exist"}},
		{name: "kernel without crash dump support", conf: "path /var/crash\n",
			setup: func(f *fixture) { f.write(t, "boot/config-"+rel, "CONFIG_RD_GZIP=y\nCONFIG_CRASH_DUMP=y\n") },
			want:  []string{"/boot/config-" + rel + ": CONFIG_PROC_VMCORE is not set"}},
		{name: "ssh without key", conf: "ssh kdump@10.0.2.2\nsshkey /root/.ssh/none\n", want: []string{"/etc/kdump.conf:2: ssh key /root/.ssh/none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.conf)
			if tt.setup != nil {
				tt.setup(f)
			}
			probs, err := f.env.Check(ctx, tt.offline)
			if err != nil {
				t.Fatal(err)
			}
			got := FormatProblems(probs)
			if len(probs) != len(tt.want) {
				t.Fatalf("problems:\n%s\nwant %q", got, tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(probs[i].Error(), w) {
					t.Errorf("problem %d = %q, want prefix %q", i, probs[i].Error(), w)
				}
			}
			if len(f.loader.loads) != 0 {
				t.Error("check loaded a kernel")
			}
			if _, err := os.Stat(filepath.Join(f.root, "var/lib/kdump")); err == nil {
				t.Error("check wrote state")
			}
		})
	}
}

func TestTestRoundTrip(t *testing.T) {
	f := newFixture(t, "path /var/crash\n")
	ctx := context.Background()
	if err := f.env.Test(ctx, true); err == nil || !strings.Contains(err.Error(), "kdumpctl start") {
		t.Fatalf("test while not loaded: %v", err)
	}
	if err := f.env.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.env.Stdin = strings.NewReader("no\n")
	if err := f.env.Test(ctx, false); err != ErrAborted {
		t.Fatalf("declined test: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.root, "proc/sysrq-trigger")); len(b) != 0 {
		t.Fatal("declined test triggered the panic")
	}
	f.env.Stdin = strings.NewReader("yes\n")
	if err := f.env.Test(ctx, false); err != nil {
		t.Fatal(err)
	}
	id := "1763797428000000000"
	if b, _ := os.ReadFile(filepath.Join(f.root, "proc/sysrq-trigger")); string(b) != "c" {
		t.Errorf("sysrq-trigger = %q", b)
	}
	last := f.loader.loads[len(f.loader.loads)-1]
	if !strings.HasSuffix(last, " kdump_test_id="+id) {
		t.Errorf("test load cmdline: %s", last)
	}
	f.out.Reset()
	f.env.Status(ctx)
	if !strings.Contains(f.out.String(), "Last kdump test "+id+": pending (no result yet at ") {
		t.Errorf("status while pending:\n%s", f.out)
	}
	// What capture-init writes on the target after the panic.
	f.write(t, "var/crash/kdump-test-"+id+"/vmcore-creation.status", "success\n")
	f.out.Reset()
	f.env.Status(ctx)
	if !strings.Contains(f.out.String(), "Last kdump test "+id+": success") {
		t.Errorf("status after the test:\n%s", f.out)
	}
	if b, _ := os.ReadFile(filepath.Join(f.root, "var/lib/kdump/vmcore-creation.status")); string(b) != "success kdump_test_id="+id+"\n" {
		t.Errorf("recorded status %q", b)
	}
}

func TestEstimateAndShowmem(t *testing.T) {
	f := newFixture(t, "path /var/crash\n")
	ctx := context.Background()
	rep, err := f.env.Estimate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reserved != 256<<20 || rep.Inputs.RAM < 2000<<20 || rep.Inputs.InitramfsSize == 0 || rep.Estimate.Total == 0 {
		t.Errorf("estimate %+v", rep)
	}
	if !strings.Contains(f.out.String(), "Recommended crashkernel: ") {
		t.Errorf("output:\n%s", f.out)
	}
	f.out.Reset()
	if err := f.env.Showmem(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.out.String(), "Reserved 256MB memory for crash kernel\n") {
		t.Errorf("showmem:\n%s", f.out)
	}
}

func TestLockQueues(t *testing.T) {
	f := newFixture(t, "path /var/crash\n")
	ctx := context.Background()
	unlock, err := f.env.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		u, err := f.env.Lock(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("second lock taken while the first is held")
	case <-time.After(500 * time.Millisecond):
	}
	unlock()
	(<-got)()
	if !strings.Contains(f.errOut.String(), "another kdumpctl holds /run/lock/kdump; waiting") {
		t.Errorf("no waiting message: %q", f.errOut)
	}
}

func TestStartSavesRawDump(t *testing.T) {
	f := newFixture(t, "raw /dev/vda1\npath /var/crash\n")
	dev := filepath.Join(f.root, "dev/vda1")
	// What capture-init leaves on a raw target: a flattened stream.
	var stream bytes.Buffer
	fw, err := kdumpfile.NewFlatWriter(&stream)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("vmcore page "), 1000)
	fw.WriteAt(want[100:], 100)
	fw.WriteAt(want[:100], 0)
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dev, append(stream.Bytes(), make([]byte, 8192)...), 0o600)
	if err := f.env.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	saved := filepath.Join(f.root, "var/crash", targets.DirName("127.0.0.1", f.env.Now()), "vmcore")
	got, err := os.ReadFile(saved)
	if err != nil {
		t.Fatalf("%v\n%s", err, f.out)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("recovered %d bytes, want %d", len(got), len(want))
	}
	if b, _ := os.ReadFile(dev); kdumpfile.IsFlattened(b) {
		t.Error("device still holds the stream header")
	}
	// The next start finds nothing to recover.
	f.out.Reset()
	if err := f.env.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.out.String(), "saved the dump") {
		t.Errorf("second start recovered again:\n%s", f.out)
	}
}
