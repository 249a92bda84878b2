package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
)

// fakeSys records what Run asks of the machine; fail names a method (or a
// module path, or a hook) that fails.
type fakeSys struct {
	calls     []string
	fail      map[string]error
	dest      map[string]*fakeDest // by target kind
	dmesg     []byte
	finished  []Action
	now       time.Time
	shellUsed bool
}

func newFakeSys() *fakeSys {
	return &fakeSys{fail: map[string]error{}, dest: map[string]*fakeDest{}, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), dmesg: []byte("[0.0] sysrq: Trigger a crash\n")}
}

func (s *fakeSys) call(name string) error {
	s.calls = append(s.calls, name)
	return s.fail[name]
}

func (s *fakeSys) MountPseudo() error        { return s.call("mount") }
func (s *fakeSys) LoadModule(p string) error { return s.call("module " + p) }
func (s *fakeSys) SetupNetwork(ctx context.Context, cfg *Config) error {
	return s.call("network " + cfg.Network)
}
func (s *fakeSys) OpenTarget(ctx context.Context, t Target) (Dest, error) {
	if err := s.call("target " + string(t.Kind)); err != nil {
		return nil, err
	}
	d := &fakeDest{files: map[string]*fakeFile{}, sys: s, kind: string(t.Kind)}
	s.dest[string(t.Kind)] = d
	return d, nil
}
func (s *fakeSys) HostID(t Target) string { return "127.0.0.1" }
func (s *fakeSys) Dmesg(ctx context.Context) ([]byte, error) {
	if err := s.call("dmesg"); err != nil {
		return nil, err
	}
	return s.dmesg, nil
}
func (s *fakeSys) Dump(ctx context.Context, cfg *Config, w File) (DumpStats, error) {
	if _, err := w.Write([]byte("KDUMP   partial")); err != nil {
		return DumpStats{}, err
	}
	if err := s.call("dump"); err != nil {
		return DumpStats{Bytes: 15}, err
	}
	return DumpStats{Bytes: 15, Pages: 3}, nil
}
func (s *fakeSys) RunHook(ctx context.Context, prog string, args ...string) error {
	return s.call(strings.Join(append([]string{"hook", prog}, args...), " "))
}
func (s *fakeSys) Shell() error {
	s.shellUsed = true
	return s.call("shell")
}
func (s *fakeSys) PeakMemoryKiB() int64 { return 1234 }
func (s *fakeSys) Finish(a Action) error {
	s.finished = append(s.finished, a)
	return nil
}
func (s *fakeSys) Now() time.Time {
	s.now = s.now.Add(10 * time.Millisecond)
	return s.now
}

type fakeDest struct {
	sys    *fakeSys
	kind   string
	dirs   []string
	files  map[string]*fakeFile
	closed bool
}

func (d *fakeDest) MkdirAll(dir string) error {
	if err := d.sys.call("mkdir " + d.kind); err != nil {
		return err
	}
	d.dirs = append(d.dirs, dir)
	return nil
}

func (d *fakeDest) Create(name string) (File, error) {
	if err := d.sys.call("create " + path.Base(name)); err != nil {
		return nil, err
	}
	if _, ok := d.files[name]; ok {
		return nil, fmt.Errorf("%s exists", name)
	}
	f := &fakeFile{sys: d.sys}
	d.files[name] = f
	return f, nil
}

func (d *fakeDest) Rename(from, to string) error {
	if err := d.sys.call("rename " + path.Base(to)); err != nil {
		return err
	}
	f, ok := d.files[from]
	if !ok {
		return fmt.Errorf("rename: no %s", from)
	}
	if !f.synced || !f.closed {
		return fmt.Errorf("rename %s before sync and close", from)
	}
	delete(d.files, from)
	d.files[to] = f
	return nil
}

func (d *fakeDest) Close() error { d.closed = true; return d.sys.call("close " + d.kind) }

func (d *fakeDest) names() []string {
	var out []string
	for n := range d.files {
		out = append(out, path.Base(n))
	}
	slices.Sort(out)
	return out
}

type fakeFile struct {
	sys            *fakeSys
	buf            bytes.Buffer
	synced, closed bool
}

func (f *fakeFile) Write(p []byte) (int, error) { return f.buf.Write(p) }
func (f *fakeFile) WriteAt(p []byte, off int64) (int, error) {
	return 0, errors.New("fake: WriteAt not used")
}
func (f *fakeFile) Sync() error  { f.synced = true; return f.sys.call("sync") }
func (f *fakeFile) Close() error { f.closed = true; return nil }

func baseConfig() *Config {
	return &Config{
		Target:        Target{Kind: TargetLocal, Device: "LABEL=x", FSType: "ext4"},
		Path:          "/var/crash",
		Level:         31,
		Method:        codec.LZO,
		FailureAction: ActionReboot,
		FinalAction:   ActionPoweroff,
		Modules:       []string{"/lib/modules/a.ko", "/lib/modules/b.ko"},
		Deadline:      time.Minute,
		WaitTimeout:   time.Second,
	}
}

func TestRunSuccessSequence(t *testing.T) {
	s := newFakeSys()
	cfg := baseConfig()
	cfg.Pre, cfg.Post = "/pre", "/post"
	var console bytes.Buffer
	r := &Runner{Sys: s, Config: cfg, Console: &console}
	res := r.Run(context.Background())
	if res.Err != nil || !res.Saved || res.Failed != "" {
		t.Fatalf("Run: %+v", res)
	}
	want := []string{
		"mount", "module /lib/modules/a.ko", "module /lib/modules/b.ko", "hook /pre",
		"target local", "mkdir local",
		"dmesg", "create vmcore-dmesg-incomplete.txt", "sync", "rename vmcore-dmesg.txt",
		"create vmcore-incomplete", "dump", "sync", "rename vmcore",
		"hook /post 0",
		"create kexec-dmesg.log.tmp", "sync", "rename kexec-dmesg.log", "close local",
	}
	if !slices.Equal(s.calls, want) {
		t.Errorf("calls:\n got %q\nwant %q", s.calls, want)
	}
	if !slices.Equal(s.finished, []Action{ActionPoweroff}) {
		t.Errorf("finished with %v, want final_action poweroff", s.finished)
	}
	d := s.dest["local"]
	if got := d.names(); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore", "vmcore-dmesg.txt"}) {
		t.Errorf("files %v", got)
	}
	if res.Dir != "var/crash/127.0.0.1-2026-01-02-03:04:05" {
		t.Errorf("dir %q", res.Dir)
	}
	log := d.files[res.Dir+"/kexec-dmesg.log"].buf.String()
	if !strings.Contains(log, "saved var/crash/") || !strings.Contains(log, "peak memory 1234 KiB") {
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
		action    Action
		emergency bool
		rootfs    bool
		step      string
		wantFiles []string // on the local target
		finished  Action
		shell     bool
	}{
		{name: "module", fail: "module /lib/modules/b.ko", action: ActionHalt, step: "modules", finished: ActionHalt},
		{name: "target with emergency", fail: "target local", action: ActionReboot, emergency: true, step: "target", finished: ActionReboot},
		{name: "dump keeps incomplete", fail: "dump", action: ActionPoweroff, step: "dump",
			wantFiles: []string{"kexec-dmesg.log", "vmcore-dmesg.txt", "vmcore-incomplete"}, finished: ActionPoweroff},
		{name: "shell then final", fail: "dump", action: ActionShell, step: "dump", shell: true,
			wantFiles: []string{"kexec-dmesg.log", "vmcore-dmesg.txt", "vmcore-incomplete"}, finished: ActionPoweroff},
		{name: "dump_to_rootfs without rootfs", fail: "target local", action: ActionDumpToRootfs, step: "target", finished: ActionPoweroff},
		{name: "kdump_pre takes final action", fail: "hook /pre", action: ActionHalt, step: "kdump_pre", finished: ActionPoweroff},
		{name: "sync failure", fail: "sync", action: ActionHalt, step: "dmesg",
			// Every sync fails, the log's too: its temporary file stays.
			wantFiles: []string{"kexec-dmesg.log.tmp", "vmcore-dmesg-incomplete.txt"}, finished: ActionHalt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeSys()
			s.fail[tt.fail] = boom
			cfg := baseConfig()
			cfg.Pre = "/pre"
			cfg.FailureAction = tt.action
			if tt.emergency {
				cfg.Emergency = "/emergency"
			}
			r := &Runner{Sys: s, Config: cfg}
			res := r.Run(context.Background())
			if !errors.Is(res.Err, boom) || res.Failed != tt.step {
				t.Fatalf("Run = step %q err %v; want step %q and boom", res.Failed, res.Err, tt.step)
			}
			if res.Saved {
				t.Error("Saved after a failure")
			}
			if !slices.Equal(s.finished, []Action{tt.finished}) {
				t.Errorf("finished %v, want %v", s.finished, tt.finished)
			}
			if got := slices.Contains(s.calls, "hook /emergency"); got != tt.emergency {
				t.Errorf("emergency hook ran: %v, want %v", got, tt.emergency)
			}
			if s.shellUsed != tt.shell {
				t.Errorf("shell used: %v, want %v", s.shellUsed, tt.shell)
			}
			var got []string
			if d := s.dest["local"]; d != nil {
				got = d.names()
			}
			if !slices.Equal(got, tt.wantFiles) {
				t.Errorf("files %v, want %v", got, tt.wantFiles)
			}
			if strings.Contains(r.Log(), "FAILED in step "+tt.step) == false {
				t.Errorf("log does not name the failed step:\n%s", r.Log())
			}
		})
	}
}

func TestRunDumpToRootfs(t *testing.T) {
	s := newFakeSys()
	s.fail["target nfs"] = errors.New("no route to host")
	cfg := baseConfig()
	cfg.Target = Target{Kind: TargetNFS, Remote: "10.0.2.2:/export"}
	cfg.Rootfs = Target{Kind: TargetLocal, Device: "/dev/vda", FSType: "ext4"}
	cfg.FailureAction = ActionDumpToRootfs
	r := &Runner{Sys: s, Config: cfg}
	res := r.Run(context.Background())
	if res.Failed != "target" || !res.Saved {
		t.Fatalf("Run = %+v; want the target step failed and the dump saved on the rootfs", res)
	}
	if got := s.dest["local"].names(); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore", "vmcore-dmesg.txt"}) {
		t.Errorf("rootfs files %v", got)
	}
	if !slices.Equal(s.finished, []Action{ActionPoweroff}) {
		t.Errorf("finished %v", s.finished)
	}
}

func TestRunDmesgUnsupportedSkipsFile(t *testing.T) {
	s := newFakeSys()
	s.fail["dmesg"] = ErrDmesgUnsupported
	r := &Runner{Sys: s, Config: baseConfig()}
	res := r.Run(context.Background())
	if res.Err != nil || !res.Saved {
		t.Fatal(res)
	}
	if got := s.dest["local"].names(); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore"}) {
		t.Errorf("files %v", got)
	}
}

func TestRunNetworkWaitsWithinDeadline(t *testing.T) {
	s := newFakeSys()
	s.fail["network dhcp"] = context.DeadlineExceeded
	cfg := baseConfig()
	cfg.Network = "dhcp"
	cfg.Target = Target{Kind: TargetSSH, Remote: "root@10.0.2.2"}
	r := &Runner{Sys: s, Config: cfg}
	res := r.Run(context.Background())
	if res.Failed != "network" || res.Action != ActionReboot {
		t.Fatalf("Run = %+v", res)
	}
	if slices.Contains(s.calls, "target ssh") {
		t.Error("target reached although the network failed")
	}
}
