package targets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/dump"
	"github.com/kdumpkit/kdumpkit/elfcore"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// engineSource is a synthetic ELF core of n pages (every third page zero,
// the rest incompressible) and a plan keeping every stored page but
// zero ones, for driving the real dump engine into targets.
func engineSource(t testing.TB, n int) (vmcore.Dump, *filter.Plan) {
	t.Helper()
	data := payload(n*4096, 7)
	for i := 0; i < n; i += 3 {
		clear(data[i*4096 : (i+1)*4096])
	}
	img := elfcore.Build(0, []elfcore.Note{{Name: elfcore.NameCore, Type: elfcore.NTPRStatus, Desc: make([]byte, 16)}},
		[]elfcore.Segment{{PAddr: 0x100000, Data: data}})
	src, err := vmcore.OpenReaderAt(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	keep := mem.NewBitmap(src.MaxPFN())
	for pfn, ok := src.Stored().Next(0); ok; pfn, ok = src.Stored().Next(pfn + 1) {
		keep.Set(pfn)
	}
	keep.Freeze()
	// The kdump writer drops zero pages as it copies them at this level.
	return src, &filter.Plan{Level: filter.ExcludeZero, MaxPFN: src.MaxPFN(), Keep: keep}
}

// localKdump writes the engine's output to a local file and returns it:
// what every target must end up holding.
func localKdump(t *testing.T, src vmcore.Dump, p *filter.Plan, m codec.Method) []byte {
	t.Helper()
	name := filepath.Join(t.TempDir(), "want")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.WriteKdump(context.Background(), src, p, m, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// captureTo runs the capture sequence against d: dmesg, vmcore through the
// engine (kdump-compressed or flattened as the target needs), log.
func captureTo(t *testing.T, d *Dump, src vmcore.Dump, p *filter.Plan, m codec.Method, wrap func(File) File) error {
	t.Helper()
	if err := d.WriteFile(DmesgName, strings.NewReader("Kernel panic - not syncing: sysrq triggered crash\n")); err != nil {
		return err
	}
	f, err := d.CreateVmcore()
	if err != nil {
		return err
	}
	w := f
	if wrap != nil {
		w = wrap(f)
	}
	if d.Flattened() {
		err = dump.WriteKdumpFlat(context.Background(), src, p, m, w)
	} else {
		err = dump.WriteKdump(context.Background(), src, p, m, w)
	}
	if err != nil {
		f.Close()
		return err
	}
	if err := d.FinishVmcore(f); err != nil {
		return err
	}
	return d.WriteFile(LogName, strings.NewReader("capture-init log\n"))
}

// checkDumpDir checks a finished dump directory on the server's disk:
// names, modes, and the vmcore equal to want (rearranged first if flat).
func checkDumpDir(t *testing.T, dir string, flat bool, want []byte) {
	t.Helper()
	vm := VmcoreName
	if flat {
		vm = VmcoreFlatName
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		if m := mode(t, filepath.Join(dir, e.Name())); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), m)
		}
	}
	wantNames := []string{LogName, vm, DmesgName}
	slices.Sort(wantNames)
	if got, wantNames := strings.Join(names, " "), strings.Join(wantNames, " "); got != wantNames {
		t.Errorf("dump dir holds %s, want %s", got, wantNames)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("dump dir mode %v, want 0700", m)
	}
	got, err := os.ReadFile(filepath.Join(dir, vm))
	if err != nil {
		t.Fatal(err)
	}
	if flat {
		if !kdumpfile.IsFlattened(got) {
			t.Fatalf("%s is not a flattened stream", vm)
		}
		name := filepath.Join(t.TempDir(), "rearranged")
		out, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := kdumpfile.Rearrange(bytes.NewReader(got), out); err != nil {
			t.Fatalf("rearrange %s: %v", vm, err)
		}
		out.Close()
		if got, err = os.ReadFile(name); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s (%d bytes) differs from the local engine output (%d bytes)", vm, len(got), len(want))
	}
}

func TestSSHDSFTPDump(t *testing.T) {
	s := startSSHD(t, true)
	src, p := engineSource(t, 512)
	want := localKdump(t, src, p, codec.Zlib)
	root := filepath.Join(t.TempDir(), "var", "crash")
	tg, err := DialSSH(testCtx(t), s.clientConfig(SSHAuto, root))
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if !tg.Seekable() {
		t.Fatalf("%s: auto mode against a server with sftp is not seekable", tg)
	}
	if free, err := tg.Free("."); err != nil || free == 0 {
		t.Fatalf("Free = %d, %v", free, err)
	}
	d, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime, MinFree: 1 << 20, Estimate: uint64(len(want))})
	if err != nil {
		t.Fatal(err)
	}
	if err := captureTo(t, d, src, p, codec.Zlib, nil); err != nil {
		t.Fatal(err)
	}
	checkDumpDir(t, filepath.Join(root, d.Dir()), false, want)
	if m := mode(t, root); m != 0o700 {
		t.Errorf("created dump path mode %v, want 0700", m)
	}

	// Never clobber: creating or renaming onto an existing name fails.
	if _, err := tg.Create(d.Dir() + "/" + VmcoreName); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over vmcore: %v, want fs.ErrExist", err)
	}
	if err := tg.Rename(d.Dir()+"/"+DmesgName, d.Dir()+"/"+VmcoreName); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Rename onto vmcore: %v, want fs.ErrExist", err)
	}
	checkDumpDir(t, filepath.Join(root, d.Dir()), false, want)

	// A second dump in the same second, then retention over SFTP.
	d2, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Dir() != d.Dir()+".1" {
		t.Fatalf("second dump dir %q", d2.Dir())
	}
	if err := captureTo(t, d2, src, p, codec.Zlib, nil); err != nil {
		t.Fatal(err)
	}
	removed, err := Prune(tg, "10.0.2.15", 1, d2.Dir())
	if err != nil || len(removed) != 1 || removed[0] != d.Dir() {
		t.Fatalf("Prune = %q, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(root, d.Dir())); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pruned dump still there: %v", err)
	}

	// SFTP files ask the dump writer for writes of one acknowledged
	// chunk (capture-init's WriteBuffer); local ones do not.
	if err := tg.Mkdir("probe"); err != nil {
		t.Fatal(err)
	}
	xf, err := tg.Create("probe/f")
	if err != nil {
		t.Fatal(err)
	}
	defer xf.Close()
	if ws, ok := xf.(WriteSizer); !ok || ws.WriteSize() != sftpChunk {
		t.Errorf("SFTP file: WriteSizer %v, want WriteSize %d", ok, sftpChunk)
	}
	lt, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lf, err := lt.Create("f")
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if _, ok := lf.(WriteSizer); ok {
		t.Errorf("local file implements WriteSizer")
	}
}

func TestSSHDExecDump(t *testing.T) {
	for _, tc := range []struct {
		name string
		sftp bool
		mode SSHMode
	}{
		{"auto-without-sftp", false, SSHAuto},
		{"forced-exec", true, SSHExec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSSHD(t, tc.sftp)
			src, p := engineSource(t, 512)
			want := localKdump(t, src, p, codec.LZO)
			root := filepath.Join(t.TempDir(), "crash")
			tg, err := DialSSH(testCtx(t), s.clientConfig(tc.mode, root))
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			if tg.Seekable() {
				t.Fatalf("%s: exec target claims to be seekable", tg)
			}
			free, err := tg.Free(".")
			if err != nil || free == 0 {
				t.Fatalf("Free = %d, %v", free, err)
			}
			d, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime, MinFree: 1, Estimate: uint64(len(want))})
			if err != nil {
				t.Fatal(err)
			}
			if !d.Flattened() || d.VmcoreName() != VmcoreFlatName {
				t.Fatalf("exec dump: flattened %v, name %q", d.Flattened(), d.VmcoreName())
			}
			if err := captureTo(t, d, src, p, codec.LZO, nil); err != nil {
				t.Fatal(err)
			}
			checkDumpDir(t, filepath.Join(root, d.Dir()), true, want)

			// A stream takes no writes behind its end.
			f, err := tg.Create(d.Dir() + "/extra")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("x"), 1); !errors.Is(err, ErrNotSeekable) {
				t.Errorf("WriteAt past the stream end: %v, want ErrNotSeekable", err)
			}
			if _, err := f.WriteAt([]byte("ab"), 0); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("c")); err == nil {
				t.Errorf("write after Sync accepted")
			}
			f.Close()
			if b, _ := os.ReadFile(filepath.Join(root, d.Dir(), "extra")); string(b) != "ab" {
				t.Errorf("stream file holds %q, want \"ab\"", b)
			}
			if _, err := tg.Create(d.Dir() + "/" + VmcoreFlatName); !errors.Is(err, fs.ErrExist) {
				t.Errorf("Create over vmcore.flat: %v, want fs.ErrExist", err)
			}
			if err := tg.Rename(d.Dir()+"/extra", d.Dir()+"/"+VmcoreFlatName); !errors.Is(err, fs.ErrExist) {
				t.Errorf("Rename onto vmcore.flat: %v, want fs.ErrExist", err)
			}
			if _, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime, MinFree: free * 4}); !errors.Is(err, ErrNoSpace) {
				t.Errorf("Begin asking for 4x the free space: %v, want ErrNoSpace", err)
			}
			infos, err := List(tg)
			if err != nil || len(infos) != 1 || !infos[0].Complete {
				t.Fatalf("List = %+v, %v", infos, err)
			}
		})
	}
}

// killAt is a File that kills the SSH server once, at the first write
// reaching offset at, and restarts it after a pause: the transfer is cut
// in the middle of the dump.
type killAt struct {
	File
	at      int64
	once    sync.Once
	s       *sshd
	restart sync.WaitGroup
}

func (k *killAt) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > k.at {
		k.once.Do(func() {
			k.s.kill()
			k.restart.Add(1)
			go func() {
				defer k.restart.Done()
				// Long enough for the client to find the port closed a
				// few times and back off.
				time.Sleep(700 * time.Millisecond)
				k.s.start()
			}()
		})
	}
	return k.File.WriteAt(p, off)
}

// TestSSHDResume: sshd (and the connection's session process) killed in
// the middle of the vmcore and restarted: the transfer reconnects, goes on
// from where it stopped, and the vmcore is byte-identical to the one an
// uninterrupted run writes.
func TestSSHDResume(t *testing.T) {
	s := startSSHD(t, true)
	src, p := engineSource(t, 6144) // 24 MiB of pages, 16 MiB after zero pages are dropped
	want := localKdump(t, src, p, codec.Raw)
	root := t.TempDir()
	cfg := s.clientConfig(SSHSFTP, root)
	cfg.DialTimeout = 2 * time.Second
	tg, err := DialSSH(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	d, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime})
	if err != nil {
		t.Fatal(err)
	}
	var k *killAt
	var vmFile *sftpFile
	err = captureTo(t, d, src, p, codec.Raw, func(f File) File {
		vmFile = f.(*sftpFile)
		k = &killAt{File: f, at: int64(len(want)) / 2, s: s}
		return k
	})
	k.restart.Wait()
	if err != nil {
		t.Fatal(err)
	}
	checkDumpDir(t, filepath.Join(root, d.Dir()), false, want)
	n := tg.(*sftpTarget).Reconnects()
	if n < 1 {
		t.Fatalf("no reconnect: the server was not killed during the transfer")
	}
	// Resumed, not restarted: only the write that was cut off went again.
	if vmFile.resent == 0 || vmFile.resent > sftpChunk {
		t.Errorf("%d bytes sent again after the reconnect, want the chunk in flight (0 < n <= %d)", vmFile.resent, sftpChunk)
	}
	t.Logf("%d reconnects, %d of %d bytes sent again", n, vmFile.resent, len(want))
}

// TestSSHDDeadline: a server that goes away for good makes the write fail
// once the capture deadline passes, with the vmcore kept as
// vmcore-incomplete.
func TestSSHDDeadline(t *testing.T) {
	s := startSSHD(t, true)
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cfg := s.clientConfig(SSHSFTP, root)
	cfg.DialTimeout = time.Second
	tg, err := DialSSH(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	d, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime})
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.CreateVmcore()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(payload(1<<20, 3)); err != nil {
		t.Fatal(err)
	}
	s.kill()
	_, err = f.Write(payload(1<<20, 4))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write with the server gone: %v, want a deadline error", err)
	}
	t.Logf("write after the server went away: %v", err)
	f.Close()
	st, err := os.Stat(filepath.Join(root, d.Dir(), VmcoreIncompleteName))
	if err != nil || st.Size() != 1<<20 {
		t.Fatalf("vmcore-incomplete after the failure: %v, %v", st, err)
	}
}

func TestSSHDHostKey(t *testing.T) {
	s := startSSHD(t, true)
	otherKey, _ := newKey(t)
	root := t.TempDir()
	fp := ssh.FingerprintSHA256(s.hostKey)
	for _, tc := range []struct {
		name       string
		knownHosts func() []string
		wantMsg    []string
	}{
		{"changed", func() []string { return []string{s.knownHosts(otherKey)} },
			[]string{"127.0.0.1", fp, ssh.FingerprintSHA256(otherKey), "known_hosts:1", "changed"}},
		{"unknown", func() []string {
			p := filepath.Join(t.TempDir(), "empty_known_hosts")
			os.WriteFile(p, nil, 0o600)
			return []string{p}
		}, []string{"127.0.0.1", fp, "not in"}},
		{"no-file", func() []string { return nil }, []string{"no known_hosts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s.clientConfig(SSHAuto, root)
			cfg.KnownHosts = tc.knownHosts()
			_, err := DialSSH(testCtx(t), cfg)
			if !errors.Is(err, ErrHostKey) {
				t.Fatalf("DialSSH: %v, want ErrHostKey", err)
			}
			for _, w := range tc.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			t.Logf("%v", err)
		})
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("refused connections wrote %d entries", len(ents))
	}
}

// TestSSHDKnownHostsAlgorithms: known_hosts holds only an RSA key for the
// server while it prefers ed25519; the client asks for the key it can
// check and connects.
func TestSSHDKnownHostsAlgorithms(t *testing.T) {
	s := startSSHD(t, true)
	// Add an RSA host key to the server, listed second.
	rsaKey := filepath.Join(s.dir, "host_rsa")
	if out, err := execCommand("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsaKey); err != nil {
		t.Skipf("ssh-keygen: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(s.config)
	os.WriteFile(s.config, append(b, []byte("HostKey "+rsaKey+"\n")...), 0o600)
	s.kill()
	s.start()
	pubText, err := os.ReadFile(rsaKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.clientConfig(SSHSFTP, t.TempDir())
	cfg.KnownHosts = []string{s.knownHosts(pub)}
	tg, err := DialSSH(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
}

// TestSSHDHashedKnownHosts: known_hosts written by ssh-keyscan -H (hashed
// host names) is honoured.
func TestSSHDHashedKnownHosts(t *testing.T) {
	s := startSSHD(t, true)
	line := knownhosts.Line([]string{knownhosts.HashHostname(knownhosts.Normalize(s.addr()))}, s.hostKey)
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "|1|") {
		t.Fatalf("known_hosts line %q is not hashed", line)
	}
	cfg := s.clientConfig(SSHSFTP, t.TempDir())
	cfg.KnownHosts = []string{p}
	tg, err := DialSSH(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
}

var _ io.WriterAt = File(nil)

// TestSSHDResumeMidWrite: sshd is killed while one large WriteAt is in
// flight (as soon as the server's file passes 8 MiB), so the server has
// applied part of the call; the call is sent again on a new connection
// and the file ends up identical to the payload.
func TestSSHDResumeMidWrite(t *testing.T) {
	s := startSSHD(t, true)
	root := t.TempDir()
	cfg := s.clientConfig(SSHSFTP, root)
	cfg.DialTimeout = 2 * time.Second
	tg, err := DialSSH(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := tg.Mkdir("d"); err != nil {
		t.Fatal(err)
	}
	f, err := tg.Create("d/" + VmcoreIncompleteName)
	if err != nil {
		t.Fatal(err)
	}
	want := payload(48<<20, 11)
	remote := filepath.Join(root, "d", VmcoreIncompleteName)
	writing := make(chan struct{})
	killed := make(chan bool, 1) // true if the kill came while WriteAt ran
	var restarted sync.WaitGroup
	restarted.Add(1)
	go func() {
		defer restarted.Done()
		for {
			st, err := os.Stat(remote)
			if err == nil && st.Size() >= 8<<20 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		select {
		case <-writing:
			killed <- false
		default:
			killed <- true
		}
		s.kill()
		time.Sleep(500 * time.Millisecond)
		s.start()
	}()
	_, err = f.WriteAt(want, 0)
	close(writing)
	if err != nil {
		t.Fatal(err)
	}
	mid := <-killed
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	restarted.Wait()
	got, err := os.ReadFile(remote)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file after the interrupted write (%d bytes) differs from the payload (%d bytes)", len(got), len(want))
	}
	if n := tg.(*sftpTarget).Reconnects(); n < 1 {
		t.Fatalf("no reconnect")
	}
	resent := f.(*sftpFile).resent
	t.Logf("killed during the WriteAt: %v; %d bytes sent again", mid, resent)
	if mid && (resent == 0 || resent > sftpChunk) {
		t.Errorf("%d bytes sent again, want the chunk in flight (0 < n <= %d)", resent, sftpChunk)
	}
}

// TestSSHDLostReplies: the server carries out mkdir, create and rename but
// the connection drops before the reply arrives. After reconnecting, each
// operation recognises its own effect instead of failing with "exists"
// (which would turn a dump directory into name.1 or lose the vmcore).
func TestSSHDLostReplies(t *testing.T) {
	s := startSSHD(t, true)
	proxy := newCutProxy(t, s.addr())
	root := t.TempDir()
	cfg := s.clientConfig(SSHSFTP, root)
	cfg.Port = proxy.port()
	cfg.KeepAlive = -1 // no traffic of our own in between
	cfg.KnownHosts = []string{s.knownHostsFor(proxy.port())}
	tg, err := DialSSH(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	proxy.armed.Store(true)
	d, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime})
	if err != nil {
		t.Fatal(err)
	}
	if d.Dir() != DirName("10.0.2.15", crashTime) {
		t.Fatalf("dump dir %q: the lost mkdir reply made a suffix", d.Dir())
	}
	proxy.armed.Store(true)
	f, err := d.CreateVmcore()
	if err != nil {
		t.Fatalf("create after a lost reply: %v", err)
	}
	if _, err := f.Write([]byte("vmcore bytes")); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	proxy.armed.Store(true)
	if err := tg.Rename(d.Dir()+"/"+VmcoreIncompleteName, d.Dir()+"/"+VmcoreName); err != nil {
		t.Fatalf("rename after a lost reply: %v", err)
	}
	if n := proxy.cuts.Load(); n != 3 {
		t.Fatalf("%d replies cut, want 3", n)
	}
	if n := tg.(*sftpTarget).Reconnects(); n != 3 {
		t.Fatalf("%d reconnects, want 3", n)
	}
	b, err := os.ReadFile(filepath.Join(root, d.Dir(), VmcoreName))
	if err != nil || string(b) != "vmcore bytes" {
		t.Fatalf("vmcore: %q, %v", b, err)
	}
	if m := mode(t, filepath.Join(root, d.Dir())); m != 0o700 {
		t.Errorf("dump dir mode %v", m)
	}
}

// TestSSHDHungLink: the link stops passing packets without closing (a
// switch died, a cable was pulled). Keepalive probes go unanswered, the
// client drops the connection after three periods, reconnects and
// finishes the write.
func TestSSHDHungLink(t *testing.T) {
	s := startSSHD(t, true)
	proxy := newCutProxy(t, s.addr())
	proxy.hang = true
	root := t.TempDir()
	cfg := s.clientConfig(SSHSFTP, root)
	cfg.Port = proxy.port()
	cfg.KeepAlive = 200 * time.Millisecond
	cfg.KnownHosts = []string{s.knownHostsFor(proxy.port())}
	tg, err := DialSSH(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	f, err := tg.Create("vmcore-incomplete")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := payload(4<<20, 5)
	proxy.armed.Store(true)
	if _, err := f.WriteAt(want, 0); err != nil {
		t.Fatalf("write over a hung link: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	// On a loaded machine a slow probe answer may cost an extra
	// reconnect; that is harmless, a missing one is not.
	if proxy.cuts.Load() != 1 || tg.(*sftpTarget).Reconnects() < 1 {
		t.Fatalf("%d hangs, %d reconnects; want 1 and at least 1", proxy.cuts.Load(), tg.(*sftpTarget).Reconnects())
	}
	got, _ := os.ReadFile(filepath.Join(root, "vmcore-incomplete"))
	if !bytes.Equal(got, want) {
		t.Fatalf("file (%d bytes) differs from what was written (%d bytes)", len(got), len(want))
	}
}

// BenchmarkSSHDWrite measures writing 64 MiB to a loopback sshd through
// each mode: SFTP (kdump-compressed, by offset, 1 MiB acknowledged
// chunks) and exec (one dd stream).
func BenchmarkSSHDWrite(b *testing.B) {
	data := payload(64<<20, 9)
	for _, mode := range []SSHMode{SSHSFTP, SSHExec} {
		b.Run(mode.String(), func(b *testing.B) {
			s := startSSHD(b, true)
			cfg := s.clientConfig(mode, b.TempDir())
			cfg.Logf = nil
			tg, err := DialSSH(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer tg.Close()
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				f, err := tg.Create(fmt.Sprintf("f%d", i))
				if err != nil {
					b.Fatal(err)
				}
				for off := 0; off < len(data); off += 1 << 20 {
					if _, err := f.WriteAt(data[off:off+1<<20], int64(off)); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// TestSSHDExecKilled: in exec mode a stream cut by a server restart
// cannot resume; the write fails (no hang), vmcore-incomplete stays with
// what arrived, and the next operation reconnects, so the caller can save
// its log and write the dump again.
func TestSSHDExecKilled(t *testing.T) {
	s := startSSHD(t, false)
	root := t.TempDir()
	cfg := s.clientConfig(SSHExec, root)
	cfg.DialTimeout = 2 * time.Second
	tg, err := DialSSH(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	d, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime})
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.CreateVmcore()
	if err != nil {
		t.Fatal(err)
	}
	chunk := payload(1<<20, 2)
	if _, err := f.Write(chunk); err != nil {
		t.Fatal(err)
	}
	s.kill()
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		_, werr = f.Write(chunk)
	}
	if werr == nil {
		werr = f.Sync()
	}
	if werr == nil {
		t.Fatal("the stream went on after the server was killed")
	}
	t.Logf("write after the kill: %v", werr)
	f.Close()
	s.start()
	if err := d.WriteFile(LogName, strings.NewReader("log\n")); err != nil {
		t.Fatalf("saving the log after the server came back: %v", err)
	}
	st, err := os.Stat(filepath.Join(root, d.Dir(), VmcoreIncompleteName))
	if err != nil {
		t.Fatalf("vmcore-incomplete after the cut: %v", err)
	}
	t.Logf("vmcore-incomplete kept with %d bytes", st.Size())
	if _, err := os.Stat(filepath.Join(root, d.Dir(), VmcoreFlatName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("vmcore.flat exists after a cut stream: %v", err)
	}
}
