package targets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const ganeshaPath = "/usr/bin/ganesha.nfsd"

// ganesha is an NFS-Ganesha server (VFS backend) on a loopback port,
// exporting a temp dir as /export, NFSv4 only: v3 needs rpcbind, which
// a test cannot start without taking the machine's port 111.
type ganesha struct {
	dir  string // exported directory
	port int
	cmd  *exec.Cmd
	logf string
}

func startGanesha(t *testing.T) *ganesha {
	t.Helper()
	if _, err := os.Stat(ganeshaPath); err != nil {
		t.Skipf("NFS test needs nfs-ganesha and nfs-ganesha-vfs: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("NFS test: ganesha's VFS backend needs root")
	}
	tmp := t.TempDir()
	g := &ganesha{dir: filepath.Join(tmp, "export"), logf: filepath.Join(tmp, "ganesha.log")}
	os.MkdirAll(g.dir, 0o755)
	os.MkdirAll(filepath.Join(tmp, "recovery"), 0o700)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := fmt.Sprintf(`NFS_CORE_PARAM {
	NFS_Port = %d;
	Bind_addr = 127.0.0.1;
	Protocols = 4;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Enable_UDP = false;
}
NFSV4 {
	Graceless = true;
	RecoveryBackend = fs;
	RecoveryRoot = %s;
}
EXPORT {
	Export_Id = 1;
	Path = %s;
	Pseudo = /export;
	Protocols = 4;
	Access_Type = RW;
	Squash = No_Root_Squash;
	SecType = sys;
	Transports = TCP;
	FSAL { Name = VFS; }
}
`, g.port, filepath.Join(tmp, "recovery"), g.dir)
	confPath := filepath.Join(tmp, "ganesha.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(ganeshaPath, "-F", "-L", g.logf, "-f", confPath, "-p", filepath.Join(tmp, "ganesha.pid"), "-N", "NIV_EVENT")
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- g.cmd.Wait() }()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(g.logf)
			t.Logf("ganesha log:\n%s", b)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(g.logf)
			exited <- err
			t.Fatalf("ganesha exited: %v\n%s", err, b)
		case <-ctx.Done():
			t.Fatalf("ganesha did not listen on %d within 30 s", g.port)
		case <-time.After(50 * time.Millisecond):
		}
		if c, err := net.Dial("tcp", g.addr()); err == nil {
			c.Close()
			return g
		}
	}
}

func (g *ganesha) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(g.port)) }

// TestNFSGaneshaNull: our NFS NULL call against a real server: v4 is
// answered, v3 (not configured) is refused naming the versions it has.
func TestNFSGaneshaNull(t *testing.T) {
	g := startGanesha(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pingNFS(ctx, g.addr(), 4); err != nil {
		t.Fatalf("NULL v4: %v", err)
	}
	err := pingNFS(ctx, g.addr(), 3)
	if !errors.Is(err, errNFSVersion) || !strings.Contains(err.Error(), "has 4 to 4") {
		t.Fatalf("NULL v3 against a v4-only server: %v", err)
	}
}

// TestNFSGanesha mounts the export with mount(2) and writes a dump into
// it, checked on the server's side. On a kernel without an NFS client (no
// nfs4 in /proc/filesystems, as in containers whose host has none) it
// checks what is possible there: the server is found and answers, and
// the mount fails with the error that says which module is missing.
func TestNFSGanesha(t *testing.T) {
	g := startGanesha(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "kdumproot")
	cfg := NFSConfig{Target: "127.0.0.1:/export", Port: g.port}
	m, err := MountNFS(ctx, cfg, dir)
	if !fsInKernel("nfs4") {
		if err == nil {
			m.Unmount()
			t.Fatal("mounted NFS on a kernel that lists no nfs4 filesystem")
		}
		if !strings.Contains(err.Error(), "kernel has no nfs4") || !strings.Contains(err.Error(), "vers=4.2") {
			t.Fatalf("MountNFS without a kernel NFS client: %v", err)
		}
		t.Skipf("NFS test: this kernel has no NFS client; reached the server and got: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Unmount(); err != nil {
			t.Error(err)
		}
	}()
	t.Logf("mounted %s with %s", m.Source, m.Data)
	l, err := NewLocal(filepath.Join(dir, "var", "crash"))
	if err != nil {
		t.Fatal(err)
	}
	src, p := engineSource(t, 512)
	want := localKdump(t, src, p, 0)
	d, err := Begin(l, Options{Host: "10.0.2.15", Time: crashTime, Estimate: uint64(len(want))})
	if err != nil {
		t.Fatal(err)
	}
	if err := captureTo(t, d, src, p, 0, nil); err != nil {
		t.Fatal(err)
	}
	checkDumpDir(t, filepath.Join(g.dir, "var", "crash", d.Dir()), false, want)
}
