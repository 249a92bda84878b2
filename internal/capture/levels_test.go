package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
	"github.com/kdumpkit/kdumpkit/targets"
)

// dumpSized writes n bytes of a recognisable pattern to w, in 4 KiB
// writes, as the engine would, and returns the first write error.
func (s *fakeSys) dumpSized(w targets.File, lv filter.Level, n int) (DumpStats, error) {
	chunk := bytes.Repeat([]byte("kdumpkit"), 512)
	var st DumpStats
	for st.Bytes < int64(n) {
		c := chunk[:min(len(chunk), n-int(st.Bytes))]
		k, err := w.Write(c)
		st.Bytes += int64(k)
		if err != nil {
			return st, fmt.Errorf("write vmcore: %w", err)
		}
	}
	st.Pages = uint64(n / 4096)
	if s.failDump != nil {
		if err := s.failDump(lv); err != nil {
			return st, err
		}
	}
	return st, s.call("dump")
}

// Rewind passes a raw device's rewind through the fault injector.
func (f *failFile) Rewind() error {
	rw, ok := f.File.(interface{ Rewind() error })
	if !ok {
		return errors.New("not rewindable")
	}
	return rw.Rewind()
}

// streamTarget is a local target that takes streams only, as ssh in exec
// mode does.
type streamTarget struct{ failTarget }

func (streamTarget) Seekable() bool { return false }

// mountTmpfs mounts a tmpfs of size bytes for the test: a real file
// system that fills up.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestRunLevelRetryTmpfsRoot: with -d 1,31 a dump that fills a real
// (tmpfs) target at level 1 is tried again at level 31 in the same dump
// directory, over the failed attempt, and saved; when every level fills
// the target, the last attempt is kept as vmcore-incomplete and the
// failure action is taken.
func TestRunLevelRetryTmpfsRoot(t *testing.T) {
	const fsSize = 512 << 10
	tests := []struct {
		name      string
		sizes     map[filter.Level]int
		saved     bool
		wantFiles []string
		finished  kdumpconf.Action
	}{
		{"second level fits", map[filter.Level]int{1: 4 * fsSize, 31: 128 << 10}, true,
			[]string{"kexec-dmesg.log", "vmcore", "vmcore-dmesg.txt"}, kdumpconf.ActionPoweroff},
		{"no level fits", map[filter.Level]int{1: 4 * fsSize, 31: 2 * fsSize}, false,
			// The full file system has no room left for the log.
			[]string{"kexec-dmesg-incomplete.log", "vmcore-dmesg.txt", "vmcore-incomplete"}, kdumpconf.ActionHalt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeSys(t)
			s.roots[MainTarget] = mountTmpfs(t, fsSize)
			s.sizes = tt.sizes
			cfg := baseConfig()
			cfg.Level, cfg.MoreLevels = 1, []filter.Level{31}
			cfg.Conf.FailureAction = kdumpconf.ActionHalt
			r := &Runner{Sys: s, Config: cfg}
			res := r.Run(context.Background())
			if res.Saved != tt.saved {
				t.Fatalf("Run = %+v, saved %v", res, tt.saved)
			}
			if !tt.saved && (res.Failed != "dump" || !errors.Is(res.Err, targets.ErrNoSpace)) {
				t.Fatalf("Run = step %q, %v; want the dump step with ErrNoSpace", res.Failed, res.Err)
			}
			if !slices.Equal(s.levels, []filter.Level{1, 31}) {
				t.Errorf("levels tried %v, want [1 31]", s.levels)
			}
			if !slices.Equal(s.finished, []kdumpconf.Action{tt.finished}) {
				t.Errorf("finished %v, want %v", s.finished, tt.finished)
			}
			if got := files(t, s.roots[MainTarget]); !slices.Equal(got, tt.wantFiles) {
				t.Errorf("files %v, want %v", got, tt.wantFiles)
			}
			if !strings.Contains(r.Log(), "target full at level 1") || !strings.Contains(r.Log(), "retry at level 31") {
				t.Errorf("log does not tell of the retry:\n%s", r.Log())
			}
			name := "vmcore"
			if !tt.saved {
				name = "vmcore-incomplete"
			}
			fi, err := os.Stat(filepath.Join(s.roots[MainTarget], "var/crash", res.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if tt.saved && fi.Size() != int64(tt.sizes[31]) {
				t.Errorf("vmcore holds %d bytes, want the level-31 attempt's %d", fi.Size(), tt.sizes[31])
			}
			if !tt.saved && fi.Size() == 0 {
				t.Error("the last attempt's vmcore-incomplete is empty")
			}
		})
	}
}

// TestRunLevelRetryOnlyOnFullTarget: other dump errors are not retried,
// and without a level list a full target is not either.
func TestRunLevelRetryOnlyOnFullTarget(t *testing.T) {
	boom := errors.New("boom")
	s := newFakeSys(t)
	s.fail["dump"] = boom
	cfg := baseConfig()
	cfg.Level, cfg.MoreLevels = 1, []filter.Level{31}
	res := (&Runner{Sys: s, Config: cfg}).Run(context.Background())
	if !errors.Is(res.Err, boom) || !slices.Equal(s.levels, []filter.Level{1}) {
		t.Errorf("Run = %v after levels %v; want boom after level 1 only", res.Err, s.levels)
	}

	s = newFakeSys(t)
	s.fail["dump"] = fmt.Errorf("write: %w", targets.ErrNoSpace)
	res = (&Runner{Sys: s, Config: baseConfig()}).Run(context.Background())
	if !errors.Is(res.Err, targets.ErrNoSpace) || len(s.levels) != 1 {
		t.Errorf("Run = %v after levels %v; want ErrNoSpace after one level", res.Err, s.levels)
	}
}

// TestRunLevelRetryRaw: on a raw device the retry starts the stream again
// at offset 0; the device ends up holding the level-31 stream.
func TestRunLevelRetryRaw(t *testing.T) {
	s := newFakeSys(t)
	s.sizes = map[filter.Level]int{1: 8192, 31: 4096}
	// The level-1 attempt hits a full device once.
	var once bool
	s.failDump = func(lv filter.Level) error {
		if lv == 1 && !once {
			once = true
			return fmt.Errorf("write /dev/vdb: %w", targets.ErrNoSpace)
		}
		return nil
	}
	cfg := baseConfig()
	cfg.Conf.Target = kdumpconf.Target{Kind: kdumpconf.TargetRaw, Device: "/dev/vdb"}
	cfg.Level, cfg.MoreLevels = 1, []filter.Level{31}
	r := &Runner{Sys: s, Config: cfg}
	res := r.Run(context.Background())
	if res.Err != nil || !res.Saved || !slices.Equal(s.levels, []filter.Level{1, 31}) {
		t.Fatalf("Run = %+v after levels %v", res, s.levels)
	}
	b, err := os.ReadFile(filepath.Join(s.roots[MainTarget], "raw.img"))
	if err != nil {
		t.Fatal(err)
	}
	// The level-1 stream was 8192 bytes; the level-31 one overwrote its
	// first 4096.
	if len(b) != 8192 || !bytes.Equal(b[:4096], bytes.Repeat([]byte("kdumpkit"), 512)) {
		t.Errorf("raw device holds %d bytes", len(b))
	}
	if res.Stats.Bytes != 4096 {
		t.Errorf("stats %d bytes, want the level-31 stream's 4096", res.Stats.Bytes)
	}
}

// unwrap reads a whole lz4 or xz container.
func unwrap(t *testing.T, b []byte) ([]byte, codec.Stream) {
	t.Helper()
	r, st, err := codec.OpenStream(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("unwrap %v: %v", st, err)
	}
	return out, st
}

// TestRunStreamCompression: stream_compression wraps the flattened vmcore
// of a stream-only target (named vmcore.flat.<ext>) and of a raw device,
// and is said not to apply to a seekable target.
func TestRunStreamCompression(t *testing.T) {
	for _, st := range []codec.Stream{codec.StreamLZ4, codec.StreamXZ} {
		t.Run("stream-target-"+st.String(), func(t *testing.T) {
			s := newFakeSys(t)
			s.streamOnly = true
			cfg := baseConfig()
			cfg.Stream = st
			r := &Runner{Sys: s, Config: cfg}
			res := r.Run(context.Background())
			if res.Err != nil || !res.Saved || !s.flat {
				t.Fatalf("Run = %+v (flat %v)", res, s.flat)
			}
			name := "vmcore.flat." + st.String()
			if got := files(t, s.roots[MainTarget]); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore-dmesg.txt", name}) {
				t.Fatalf("files %v", got)
			}
			b, err := os.ReadFile(filepath.Join(s.roots[MainTarget], "var/crash", res.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if res.Stats.Bytes != int64(len(b)) {
				t.Errorf("stats say %d bytes, the file holds %d", res.Stats.Bytes, len(b))
			}
			got, found := unwrap(t, b)
			if found != st || string(got) != "KDUMP   partial" {
				t.Errorf("%s unwraps (%v) to %q", name, found, got)
			}
			if !strings.Contains(r.Log(), "saved as "+name) || !strings.Contains(r.Log(), "saved "+res.Dir+"/"+name) {
				t.Errorf("log:\n%s", r.Log())
			}
		})
		t.Run("raw-"+st.String(), func(t *testing.T) {
			s := newFakeSys(t)
			cfg := baseConfig()
			cfg.Conf.Target = kdumpconf.Target{Kind: kdumpconf.TargetRaw, Device: "/dev/vdb"}
			cfg.Stream = st
			r := &Runner{Sys: s, Config: cfg}
			res := r.Run(context.Background())
			if res.Err != nil || !res.Saved {
				t.Fatalf("Run = %+v", res)
			}
			b, err := os.ReadFile(filepath.Join(s.roots[MainTarget], "raw.img"))
			if err != nil {
				t.Fatal(err)
			}
			if got, found := unwrap(t, b); found != st || string(got) != "KDUMP   partial" {
				t.Errorf("raw device unwraps (%v) to %q", found, got)
			}
		})
	}
	t.Run("seekable", func(t *testing.T) {
		s := newFakeSys(t)
		cfg := baseConfig()
		cfg.Stream = codec.StreamLZ4
		r := &Runner{Sys: s, Config: cfg}
		res := r.Run(context.Background())
		if res.Err != nil || s.flat {
			t.Fatalf("Run = %+v (flat %v)", res, s.flat)
		}
		if got := files(t, s.roots[MainTarget]); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore", "vmcore-dmesg.txt"}) {
			t.Errorf("files %v", got)
		}
		b, _ := os.ReadFile(filepath.Join(s.roots[MainTarget], "var/crash", res.Dir, "vmcore"))
		if string(b) != "KDUMP   partial" {
			t.Errorf("vmcore holds %q, want it unwrapped", b)
		}
		if !strings.Contains(r.Log(), "stream_compression lz4 does not apply") {
			t.Errorf("log does not say stream_compression does not apply:\n%s", r.Log())
		}
	})
}

// TestStreamFileErrors: the container passes a full target's error
// through (so the level retry sees ErrNoSpace), refuses writes behind its
// end, and ends the container on Close even after a failure.
func TestStreamFileErrors(t *testing.T) {
	for _, st := range []codec.Stream{codec.StreamLZ4, codec.StreamXZ} {
		dir := t.TempDir()
		l, err := targets.NewLocal(dir)
		if err != nil {
			t.Fatal(err)
		}
		f, err := l.Create("v")
		if err != nil {
			t.Fatal(err)
		}
		sf, err := newStreamFile(&fullFile{File: f, room: 64}, st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sf.WriteAt([]byte("x"), 5); !errors.Is(err, targets.ErrNotSeekable) {
			t.Errorf("%v: WriteAt behind the end: %v, want ErrNotSeekable", st, err)
		}
		big := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1<<17) // no match at lz4's window
		for i := range big {
			big[i] ^= byte(i * 131 >> 3)
		}
		_, werr := sf.Write(big)
		if werr == nil {
			werr = sf.Sync()
		}
		if !errors.Is(werr, targets.ErrNoSpace) {
			t.Errorf("%v: writing past a full target: %v, want ErrNoSpace", st, werr)
		}
		sf.Close()
	}
}

// fullFile accepts room bytes, then fails like a full file system (or
// with err when set).
type fullFile struct {
	targets.File
	room int
	err  error
}

func (f *fullFile) Write(p []byte) (int, error) {
	if len(p) > f.room {
		n, _ := f.File.Write(p[:f.room])
		f.room = 0
		if f.err != nil {
			return n, fmt.Errorf("write: %w", f.err)
		}
		return n, fmt.Errorf("write: %w", targets.ErrNoSpace)
	}
	f.room -= len(p)
	return f.File.Write(p)
}

// TestNewConfigStreamAndLevels: stream_compression and a -d list reach
// the capture settings.
func TestNewConfigStreamAndLevels(t *testing.T) {
	for _, tt := range []struct {
		conf string
		want codec.Stream
	}{
		{"raw /dev/vdb\nstream_compression xz\ncore_collector makedumpfile -l -F -d 1,31\n", codec.StreamXZ},
		{"raw /dev/vdb\nstream_compression lz4\ncore_collector makedumpfile -l -F -d 1,31\n", codec.StreamLZ4},
		{"raw /dev/vdb\ncore_collector makedumpfile -l -F -d 1,31\n", codec.StreamNone},
	} {
		kc, err := kdumpconf.Parse(strings.NewReader(tt.conf), "kdump.conf")
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewConfig(kc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Stream != tt.want || c.Level != 1 || !slices.Equal(c.MoreLevels, []filter.Level{31}) {
			t.Errorf("%q: stream %v, levels %d %v", tt.conf, c.Stream, c.Level, c.MoreLevels)
		}
	}
}

// breakTarget is a stream-only target whose first breaks vmcore files
// fail after 4 KiB, like an ssh exec stream whose connection dropped.
type breakTarget struct {
	streamTarget
	breaks int
}

func (b *breakTarget) Create(name string) (targets.File, error) {
	f, err := b.streamTarget.Create(name)
	if err != nil || !strings.HasSuffix(name, targets.VmcoreIncompleteName) || b.breaks == 0 {
		return f, err
	}
	b.breaks--
	return &fullFile{File: f, room: 4096, err: errors.New("ssh: connection lost")}, nil
}

// TestRunStreamRestart: a dump into a stream that breaks is written again
// from the start, in the same directory, at most maxStreamRestarts times;
// an engine error that is not a write to the target is not retried.
func TestRunStreamRestart(t *testing.T) {
	for _, tt := range []struct {
		breaks int
		saved  bool
	}{{1, true}, {maxStreamRestarts, true}, {maxStreamRestarts + 1, false}} {
		t.Run(strconv.Itoa(tt.breaks), func(t *testing.T) {
			s := newFakeSys(t)
			s.sizes = map[filter.Level]int{31: 3 * 4096}
			s.openTarget = func(ctx context.Context) (targets.Target, error) {
				l, err := targets.NewLocal(filepath.Join(s.roots[MainTarget], "var/crash"))
				return &breakTarget{streamTarget: streamTarget{failTarget{Target: l, s: s}}, breaks: tt.breaks}, err
			}
			cfg := baseConfig()
			cfg.Conf.Target = kdumpconf.Target{Kind: kdumpconf.TargetSSH, User: "root", Host: "192.0.2.1"}
			r := &Runner{Sys: s, Config: cfg}
			res := r.Run(context.Background())
			if res.Saved != tt.saved {
				t.Fatalf("Run = %+v, want saved %v", res, tt.saved)
			}
			want := min(tt.breaks, maxStreamRestarts) + 1
			if len(s.levels) != want {
				t.Errorf("%d attempts, want %d", len(s.levels), want)
			}
			if got := strings.Count(r.Log(), "writing the dump again"); got != want-1 {
				t.Errorf("log tells of %d restarts, want %d:\n%s", got, want-1, r.Log())
			}
			vm := "vmcore.flat"
			if !tt.saved {
				vm = "vmcore-incomplete"
			}
			if got := files(t, s.roots[MainTarget]); !slices.Equal(got, []string{"kexec-dmesg.log", "vmcore-dmesg.txt", vm}) {
				t.Errorf("files %v", got)
			}
		})
	}
	t.Run("engine-error", func(t *testing.T) {
		s := newFakeSys(t)
		s.streamOnly = true
		s.sizes = map[filter.Level]int{31: 4096}
		s.failDump = func(filter.Level) error { return errors.New("engine failed") }
		cfg := baseConfig()
		res := (&Runner{Sys: s, Config: cfg}).Run(context.Background())
		if res.Saved || len(s.levels) != 1 {
			t.Errorf("Run = %+v after %d attempts; want one failed attempt", res, len(s.levels))
		}
	})
}
