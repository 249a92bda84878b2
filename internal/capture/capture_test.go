package capture

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
	"github.com/kdumpkit/kdumpkit/targets"
)

// fakeSys records what Run asks of the machine; fail maps a call name
// (see the calls list in TestRunSuccessSequence) to the error it returns.
// Targets are real local directories under roots.
type fakeSys struct {
	t         *testing.T
	calls     []string
	fail      map[string]error
	roots     map[Where]string
	hookDirs  map[string][]string
	dmesg     []byte
	finished  []kdumpconf.Action
	now       time.Time
	shellUsed bool
	flat      bool // the last Dump was asked for a flattened stream
	blockDump bool // Dump waits for its context to end
	// sizes, when set, makes Dump write that many bytes at each -d
	// level instead of the short marker; levels records the levels
	// Dump was called with.
	sizes  map[filter.Level]int
	levels []filter.Level
	// failDump, when set, is asked after a sized write for an error.
	failDump func(filter.Level) error
	// streamOnly makes OpenTarget's target take streams only, like ssh
	// in exec mode.
	streamOnly bool
	// openTarget, when set, reaches the main target instead of a local
	// directory.
	openTarget func(ctx context.Context) (targets.Target, error)
}

func newFakeSys(t *testing.T) *fakeSys {
	return &fakeSys{
		t: t, fail: map[string]error{}, hookDirs: map[string][]string{},
		roots: map[Where]string{MainTarget: t.TempDir(), RootfsTarget: t.TempDir()},
		now:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), dmesg: []byte("[0.0] sysrq: Trigger a crash\n"),
	}
}

func (s *fakeSys) call(name string) error {
	s.calls = append(s.calls, name)
	return s.fail[name]
}

func (s *fakeSys) MountPseudo() error        { return s.call("mount") }
func (s *fakeSys) LoadModule(p string) error { return s.call("module " + p) }
func (s *fakeSys) SetupNetwork(ctx context.Context, cfg *Config) (string, error) {
	return "192.0.2.7", s.call("network")
}
func (s *fakeSys) OpenTarget(ctx context.Context, cfg *Config, w Where) (targets.Target, error) {
	name := "target"
	if w == RootfsTarget {
		name = "rootfs"
	}
	if err := s.call(name); err != nil {
		return nil, err
	}
	if w == MainTarget && s.openTarget != nil {
		return s.openTarget(ctx)
	}
	l, err := targets.NewLocal(filepath.Join(s.roots[w], "var/crash"))
	if err != nil {
		return nil, err
	}
	if s.streamOnly {
		return &streamTarget{failTarget{Target: l, s: s}}, nil
	}
	return &failTarget{Target: l, s: s}, nil
}
func (s *fakeSys) OpenRaw(ctx context.Context, cfg *Config) (targets.File, error) {
	if err := s.call("raw"); err != nil {
		return nil, err
	}
	dev := filepath.Join(s.roots[MainTarget], "raw.img")
	if err := os.WriteFile(dev, nil, 0o600); err != nil { // the "device"
		return nil, err
	}
	f, err := targets.CreateRaw(dev)
	if err != nil {
		return nil, err
	}
	return &failFile{File: f, s: s}, nil
}
func (s *fakeSys) Dmesg(ctx context.Context) ([]byte, error) {
	return s.dmesg, s.call("dmesg")
}
func (s *fakeSys) Dump(ctx context.Context, cfg *Config, w targets.File, flat bool, logf func(string, ...any)) (DumpStats, error) {
	s.flat = flat
	s.levels = append(s.levels, cfg.Level)
	if s.sizes != nil {
		return s.dumpSized(w, cfg.Level, s.sizes[cfg.Level])
	}
	if _, err := w.Write([]byte("KDUMP   partial")); err != nil {
		return DumpStats{}, err
	}
	if err := s.call("dump"); err != nil {
		return DumpStats{Bytes: 15}, err
	}
	if s.blockDump {
		<-ctx.Done() // a dump that never ends: only the deadline stops it
		return DumpStats{Bytes: 15}, ctx.Err()
	}
	return DumpStats{Bytes: 15, Pages: 3}, nil
}
func (s *fakeSys) RunHook(ctx context.Context, prog string, args ...string) error {
	return s.call(strings.Join(append([]string{"hook", prog}, args...), " "))
}
func (s *fakeSys) HookDir(dir string) []string { return s.hookDirs[dir] }
func (s *fakeSys) Shell() error {
	s.shellUsed = true
	return s.call("shell")
}
func (s *fakeSys) PeakMemoryKiB() int64 { return 1234 }
func (s *fakeSys) Finish(a kdumpconf.Action) error {
	s.finished = append(s.finished, a)
	return nil
}
func (s *fakeSys) Now() time.Time {
	s.now = s.now.Add(10 * time.Millisecond)
	return s.now
}

// failTarget injects failures into a real local target.
type failTarget struct {
	targets.Target
	s *fakeSys
}

func (f *failTarget) Create(name string) (targets.File, error) {
	if err := f.s.call("create " + path.Base(name)); err != nil {
		return nil, err
	}
	file, err := f.Target.Create(name)
	if err != nil {
		return nil, err
	}
	return &failFile{File: file, s: f.s}, nil
}

func (f *failTarget) Rename(from, to string) error {
	if err := f.s.call("rename " + path.Base(to)); err != nil {
		return err
	}
	return f.Target.Rename(from, to)
}

func (f *failTarget) Close() error {
	f.s.call("close")
	return f.Target.Close()
}

type failFile struct {
	targets.File
	s *fakeSys
}

func (f *failFile) Sync() error {
	if err := f.s.call("sync"); err != nil {
		return err
	}
	return f.File.Sync()
}

// files lists the files of the one dump directory under root.
func files(t *testing.T, root string) []string {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(root, "var/crash/*"))
	if len(dirs) == 0 {
		return nil
	}
	if len(dirs) != 1 {
		t.Fatalf("dump directories %v", dirs)
	}
	ents, err := os.ReadDir(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func baseConfig() *Config {
	kc := kdumpconf.Default()
	kc.Target = kdumpconf.Target{Kind: kdumpconf.TargetFS, FSType: "ext4", Device: "LABEL=x"}
	kc.FailureAction = kdumpconf.ActionReboot
	kc.FinalAction = kdumpconf.ActionPoweroff
	return &Config{
		Conf:        kc,
		Level:       31,
		Method:      codec.LZO,
		Modules:     []string{"/lib/modules/a.ko", "/lib/modules/b.ko"},
		Deadline:    time.Minute,
		WaitTimeout: time.Second,
	}
}

func TestRunSuccessSequence(t *testing.T) {
	s := newFakeSys(t)
	cfg := baseConfig()
	cfg.Conf.Hooks.Pre, cfg.Conf.Hooks.Post = "/pre", "/post"
	s.hookDirs[kdumpconf.PostDir] = []string{"/etc/kdump/post.d/10-x"}
	var console bytes.Buffer
	r := &Runner{Sys: s, Config: cfg, Console: &console}
	r.AfterModules = func(func(string, ...any)) { s.call("after modules") }
	res := r.Run(context.Background())
	if res.Err != nil || !res.Saved || res.Failed != "" {
		t.Fatalf("Run: %+v", res)
	}
	want := []string{
		"mount", "module /lib/modules/a.ko", "module /lib/modules/b.ko", "after modules", "hook /pre",
		"target",
		"dmesg", "create vmcore-dmesg-incomplete.txt", "sync", "rename vmcore-dmesg.txt",
		"create vmcore-incomplete", "dump", "sync", "rename vmcore",
		"hook /etc/kdump/post.d/10-x 0", "hook /post 0",
		"create kexec-dmesg-incomplete.log", "sync", "rename kexec-dmesg.log", "close",
	}
	if !slices.Equal(s.calls, want) {
		t.Errorf("calls:\n got %q\nwant %q", s.calls, want)
	}
	if !slices.Equal(s.finished, []kdumpconf.Action{kdumpconf.ActionPoweroff}) {
		t.Errorf("finished with %v, want final_action poweroff", s.finished)
	}
	if got := files(t, s.roots[MainTarget]); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore", "vmcore-dmesg.txt"}) {
		t.Errorf("files %v", got)
	}
	if res.Dir != "127.0.0.1-2026-01-02-03:04:05" {
		t.Errorf("dir %q", res.Dir)
	}
	log, err := os.ReadFile(filepath.Join(s.roots[MainTarget], "var/crash", res.Dir, "kexec-dmesg.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "saved "+res.Dir+"/vmcore (15 bytes)") || !strings.Contains(string(log), "peak memory 1234 KiB") {
		t.Errorf("saved log lacks the saved line:\n%s", log)
	}
	if strings.Contains(console.String(), "\r") {
		t.Error("console output has carriage returns")
	}
}

func TestRunFailures(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name      string
		fail      string
		action    kdumpconf.Action
		emergency bool
		step      string
		wantFiles []string // in the dump directory of the main target
		finished  kdumpconf.Action
		shell     bool
	}{
		{name: "module", fail: "module /lib/modules/b.ko", action: kdumpconf.ActionHalt, step: "modules", finished: kdumpconf.ActionHalt},
		{name: "target with emergency", fail: "target", action: kdumpconf.ActionReboot, emergency: true, step: "target", finished: kdumpconf.ActionReboot},
		{name: "dump keeps incomplete", fail: "dump", action: kdumpconf.ActionPoweroff, step: "dump",
			wantFiles: []string{"kexec-dmesg.log", "vmcore-dmesg.txt", "vmcore-incomplete"}, finished: kdumpconf.ActionPoweroff},
		{name: "shell then final", fail: "dump", action: kdumpconf.ActionShell, step: "dump", shell: true,
			wantFiles: []string{"kexec-dmesg.log", "vmcore-dmesg.txt", "vmcore-incomplete"}, finished: kdumpconf.ActionPoweroff},
		{name: "dump_to_rootfs without rootfs", fail: "rootfs", action: kdumpconf.ActionDumpToRootfs, step: "dump",
			wantFiles: []string{"kexec-dmesg.log", "vmcore-dmesg.txt", "vmcore-incomplete"}, finished: kdumpconf.ActionPoweroff},
		{name: "kdump_pre takes final action", fail: "hook /pre", action: kdumpconf.ActionHalt, step: "kdump_pre", finished: kdumpconf.ActionPoweroff},
		// Every sync fails, the log's too: only -incomplete names remain.
		{name: "sync failure", fail: "sync", action: kdumpconf.ActionHalt, step: "dmesg",
			wantFiles: []string{"kexec-dmesg-incomplete.log", "vmcore-dmesg-incomplete.txt"}, finished: kdumpconf.ActionHalt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeSys(t)
			s.fail[tt.fail] = boom
			if tt.fail == "rootfs" {
				s.fail["dump"] = boom
			}
			cfg := baseConfig()
			cfg.Conf.Hooks.Pre = "/pre"
			cfg.Conf.FailureAction = tt.action
			if tt.emergency {
				cfg.Conf.Hooks.Emergency = "/emergency"
			}
			r := &Runner{Sys: s, Config: cfg}
			res := r.Run(context.Background())
			if !errors.Is(res.Err, boom) || res.Failed != tt.step {
				t.Fatalf("Run = step %q err %v; want step %q and boom", res.Failed, res.Err, tt.step)
			}
			if res.Saved {
				t.Error("Saved after a failure")
			}
			if !slices.Equal(s.finished, []kdumpconf.Action{tt.finished}) {
				t.Errorf("finished %v, want %v", s.finished, tt.finished)
			}
			if got := slices.Contains(s.calls, "hook /emergency"); got != tt.emergency {
				t.Errorf("emergency hook ran: %v, want %v", got, tt.emergency)
			}
			if s.shellUsed != tt.shell {
				t.Errorf("shell used: %v, want %v", s.shellUsed, tt.shell)
			}
			if got := files(t, s.roots[MainTarget]); !slices.Equal(got, tt.wantFiles) {
				t.Errorf("files %v, want %v", got, tt.wantFiles)
			}
			if !strings.Contains(r.Log(), "FAILED in step "+tt.step) {
				t.Errorf("log does not name the failed step:\n%s", r.Log())
			}
		})
	}
}

func TestRunDumpToRootfs(t *testing.T) {
	s := newFakeSys(t)
	s.fail["network"] = errors.New("no carrier")
	cfg := baseConfig()
	cfg.Conf.Target = kdumpconf.Target{Kind: kdumpconf.TargetNFS, Host: "192.0.2.1", Export: "/export"}
	cfg.Conf.RootFS = &kdumpconf.RootFS{FSType: "ext4", Device: "/dev/vda"}
	cfg.Conf.FailureAction = kdumpconf.ActionDumpToRootfs
	r := &Runner{Sys: s, Config: cfg}
	res := r.Run(context.Background())
	if res.Failed != "network" || !res.Saved {
		t.Fatalf("Run = %+v; want the network step failed and the dump saved on the rootfs", res)
	}
	if got := files(t, s.roots[RootfsTarget]); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore", "vmcore-dmesg.txt"}) {
		t.Errorf("rootfs files %v", got)
	}
	if slices.Contains(s.calls, "target") {
		t.Error("the NFS target was tried without a network")
	}
	if !slices.Equal(s.finished, []kdumpconf.Action{kdumpconf.ActionPoweroff}) {
		t.Errorf("finished %v", s.finished)
	}
}

func TestRunDmesgFailureStillDumps(t *testing.T) {
	s := newFakeSys(t)
	s.fail["dmesg"] = errors.New("no VMCOREINFO")
	r := &Runner{Sys: s, Config: baseConfig()}
	res := r.Run(context.Background())
	if res.Err != nil || !res.Saved {
		t.Fatal(res)
	}
	if got := files(t, s.roots[MainTarget]); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore"}) {
		t.Errorf("files %v", got)
	}
}

func TestRunNetworkAddressNamesDir(t *testing.T) {
	s := newFakeSys(t)
	cfg := baseConfig()
	cfg.Conf.Target = kdumpconf.Target{Kind: kdumpconf.TargetSSH, User: "root", Host: "192.0.2.1"}
	r := &Runner{Sys: s, Config: cfg}
	res := r.Run(context.Background())
	if res.Err != nil || res.Dir != "192.0.2.7-2026-01-02-03:04:05" {
		t.Fatalf("Run = %+v", res)
	}
}

func TestRunRaw(t *testing.T) {
	s := newFakeSys(t)
	cfg := baseConfig()
	cfg.Conf.Target = kdumpconf.Target{Kind: kdumpconf.TargetRaw, Device: "/dev/vdb"}
	r := &Runner{Sys: s, Config: cfg}
	res := r.Run(context.Background())
	if res.Err != nil || !res.Saved || res.Dir != "/dev/vdb" {
		t.Fatalf("Run = %+v", res)
	}
	want := []string{"mount", "module /lib/modules/a.ko", "module /lib/modules/b.ko", "raw", "dump", "sync"}
	if !slices.Equal(s.calls, want) {
		t.Errorf("calls %q, want %q", s.calls, want)
	}
	if !s.flat {
		t.Error("raw dump not flattened")
	}
	b, err := os.ReadFile(filepath.Join(s.roots[MainTarget], "raw.img"))
	if err != nil || string(b) != "KDUMP   partial" {
		t.Errorf("raw device holds %q, %v", b, err)
	}
	if !strings.Contains(r.Log(), "saved /dev/vdb (15 bytes)") {
		t.Errorf("log:\n%s", r.Log())
	}
}

func TestRunDeadline(t *testing.T) {
	s := newFakeSys(t)
	s.blockDump = true
	cfg := baseConfig()
	cfg.Deadline = 50 * time.Millisecond
	cfg.Conf.Hooks.Emergency = "/emergency"
	cfg.Conf.FailureAction = kdumpconf.ActionHalt
	r := &Runner{Sys: s, Config: cfg}
	res := r.Run(context.Background())
	if res.Failed != "dump" || !errors.Is(res.Err, context.DeadlineExceeded) {
		t.Fatalf("Run = step %q, %v; want the dump step to end with the deadline", res.Failed, res.Err)
	}
	// The emergency hook and the log still run after the deadline.
	if !slices.Contains(s.calls, "hook /emergency") {
		t.Error("kdump_emergency did not run after the deadline")
	}
	if got := files(t, s.roots[MainTarget]); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore-dmesg.txt", "vmcore-incomplete"}) {
		t.Errorf("files %v", got)
	}
	if !slices.Equal(s.finished, []kdumpconf.Action{kdumpconf.ActionHalt}) {
		t.Errorf("finished %v", s.finished)
	}
}
