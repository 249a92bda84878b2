package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kdumpkit/kdumpkit/internal/flock"
	"github.com/kdumpkit/kdumpkit/internal/oracle"
)

// Addresses of QEMU user networking: the guest has GuestAddr, and the
// host's loopback answers at GuestHostAddr.
const (
	GuestAddr     = "10.0.2.15/24"
	GuestHostAddr = "10.0.2.2"
)

// NFSLock serializes users of the host's NFS port 2049 (only one server
// can listen there, and QEMU's user network reaches only that port for a
// mount without a port= option).
const NFSLock = "/tmp/kdumpkit-nfs.lock"

// servers are the host-side SSH and NFS servers the network targets write
// to, started on first use and stopped by Close.
type servers struct {
	dir string

	sshd       *exec.Cmd
	sshPort    int
	sshUser    string
	sshKey     []byte // the client's private key (OpenSSH format)
	sshHostPub ssh.PublicKey
	sshRoot    string // the guest writes below this directory

	nfsd      *exec.Cmd
	nfsUnlock func()
	nfsRoot   string // host directory exported
	nfsExport string // the export's NFSv4 pseudo path
	nfsErr    error  // why NFS is not available
}

func (s *servers) knownHosts(host string) string {
	return fmt.Sprintf("[%s]:%d %s", host, s.sshPort, ssh.MarshalAuthorizedKey(s.sshHostPub))
}

// servers starts sshd once, and the NFS server once when nfs is set (it
// holds the machine-wide NFS lock while it runs, so it is started only
// for NFS cases).
func (h *Harness) servers(ctx context.Context, nfs bool) (*servers, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv == nil {
		s := &servers{dir: filepath.Join(h.WorkDir, "servers")}
		os.RemoveAll(s.dir)
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return nil, err
		}
		if err := s.startSSHD(ctx, h); err != nil {
			s.close()
			return nil, err
		}
		h.srv = s
	}
	s := h.srv
	if nfs && s.nfsd == nil && s.nfsErr == nil {
		if err := s.startNFS(ctx, h); err != nil {
			s.nfsErr = err
			h.logf("nfs server: %v", err)
		}
	}
	return s, nil
}

// Close stops the servers the harness started.
func (h *Harness) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv != nil {
		h.srv.close()
		h.srv = nil
	}
}

func (s *servers) close() {
	for _, c := range []*exec.Cmd{s.sshd, s.nfsd} {
		if c != nil && c.Process != nil {
			c.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				c.Process.Kill() // by its own PID
				<-done
			}
		}
	}
	if s.nfsUnlock != nil {
		s.nfsUnlock()
	}
}

func newKey() (ssh.PublicKey, []byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return sp, pem.EncodeToMemory(blk), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startSSHD runs OpenSSH's sshd on a free loopback port with throwaway
// host and client keys; the guest logs in as root.
func (s *servers) startSSHD(ctx context.Context, h *Harness) error {
	bin, err := oracle.LookPath("sshd")
	if err != nil {
		return fmt.Errorf("sshd (openssh-server): %w", err)
	}
	if os.Geteuid() != 0 {
		return errors.New("the SSH target needs root (sshd logs the guest in as root)")
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	hostPub, hostPriv, err := newKey()
	if err != nil {
		return err
	}
	userPub, userPriv, err := newKey()
	if err != nil {
		return err
	}
	s.sshHostPub, s.sshKey, s.sshUser = hostPub, userPriv, "root"
	s.sshRoot = filepath.Join(s.dir, "sshroot")
	if err := os.MkdirAll(s.sshRoot, 0o755); err != nil {
		return err
	}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(s.dir, name)
		if err == nil {
			err = os.WriteFile(p, data, mode)
		}
		return p
	}
	hostKey := write("ssh_host_ed25519_key", hostPriv, 0o600)
	auth := write("authorized_keys", ssh.MarshalAuthorizedKey(userPub), 0o600)
	if err != nil {
		return err
	}
	if s.sshPort, err = freePort(); err != nil {
		return err
	}
	sftp := "/usr/lib/openssh/sftp-server"
	if _, err := os.Stat(sftp); err != nil {
		sftp = "internal-sftp"
	}
	conf := write("sshd_config", []byte(fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile %s
Subsystem sftp %s
`, s.sshPort, hostKey, auth, filepath.Join(s.dir, "sshd.pid"), sftp)), 0o600)
	if err != nil {
		return err
	}
	s.sshd = exec.Command(bin, "-D", "-e", "-f", conf)
	logf, err := os.Create(filepath.Join(s.dir, "sshd.log"))
	if err != nil {
		return err
	}
	s.sshd.Stdout, s.sshd.Stderr = logf, logf
	if err := s.sshd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	if err := waitPort(ctx, s.sshPort); err != nil {
		b, _ := os.ReadFile(logf.Name())
		return fmt.Errorf("sshd: %w\n%s", err, b)
	}
	h.logf("sshd pid %d on 127.0.0.1:%d (guest: %s:%d)", s.sshd.Process.Pid, s.sshPort, GuestHostAddr, s.sshPort)
	return nil
}

func waitPort(ctx context.Context, port int) error {
	end := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return fmt.Errorf("port %d: %w", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startNFS runs nfs-ganesha (NFSv4 only, VFS backend) on 127.0.0.1:2049:
// the kernel's nfsd cannot run in an unprivileged container, and ganesha
// is a user-space server. Port 2049 is shared machine-wide, so it holds
// NFSLock while it runs.
func (s *servers) startNFS(ctx context.Context, h *Harness) error {
	bin, err := oracle.LookPath("ganesha.nfsd")
	if err != nil {
		return fmt.Errorf("ganesha.nfsd (nfs-ganesha, nfs-ganesha-vfs): %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	unlock, err := flock.Lock(lctx, NFSLock)
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", NFSLock, err)
	}
	s.nfsUnlock = unlock
	s.nfsRoot = filepath.Join(s.dir, "nfsroot")
	s.nfsExport = "/kdumpkit-e2e"
	for _, d := range []string{s.nfsRoot, filepath.Join(s.dir, "ganesha-recovery")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	conf := filepath.Join(s.dir, "ganesha.conf")
	text := fmt.Sprintf(`NFS_CORE_PARAM {
	Protocols = 4;
	NFS_Port = 2049;
	Bind_addr = 127.0.0.1;
	Enable_NLM = false;
	Enable_RQUOTA = false;
}
NFSV4 {
	Graceless = true;
	RecoveryBackend = fs;
	Recovery_Root = %s;
}
EXPORT {
	Export_Id = 77;
	Path = %s;
	Pseudo = %s;
	Access_Type = RW;
	Squash = No_Root_Squash;
	Protocols = 4;
	Transports = TCP;
	SecType = sys;
	FSAL { Name = VFS; }
}
LOG { Default_Log_Level = WARN; }
`, filepath.Join(s.dir, "ganesha-recovery"), s.nfsRoot, s.nfsExport)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	logPath := filepath.Join(s.dir, "ganesha.log")
	s.nfsd = exec.Command(bin, "-F", "-L", logPath, "-f", conf, "-p", filepath.Join(s.dir, "ganesha.pid"))
	if err := s.nfsd.Start(); err != nil {
		return fmt.Errorf("start ganesha.nfsd: %w", err)
	}
	if err := waitPort(ctx, 2049); err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("ganesha.nfsd: %w\n%s", err, tailLines(string(b), 20))
	}
	h.logf("ganesha.nfsd pid %d exports %s as %s on 127.0.0.1:2049", s.nfsd.Process.Pid, s.nfsRoot, s.nfsExport)
	return nil
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
