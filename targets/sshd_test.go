package targets

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshd is a real OpenSSH server on a loopback port, with throwaway host
// and user keys, started by a test.
type sshd struct {
	t       testing.TB
	dir     string
	port    int
	config  string
	cmd     *exec.Cmd
	hostKey ssh.PublicKey
	userKey []byte // private key, OpenSSH format
	user    string
	log     *os.File
}

const sshdPath = "/usr/sbin/sshd"

func newKey(t testing.TB) (ssh.PublicKey, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp, pem.EncodeToMemory(blk)
}

// startSSHD starts sshd with (sftp) or without the sftp subsystem.
func startSSHD(t testing.TB, sftp bool) *sshd {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("SSHD test needs OpenSSH's server (Debian openssh-server): %v", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd wants its privilege separation directory; the package's
		// service unit makes it at boot, which a test machine may not run.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Skipf("SSHD test: cannot make /run/sshd: %v", err)
		}
	}
	dir := t.TempDir()
	s := &sshd{t: t, dir: dir, user: u.Username}
	hostPub, hostPriv := newKey(t)
	userPub, userPriv := newKey(t)
	s.hostKey, s.userKey = hostPub, userPriv
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hk := write("host_key", hostPriv)
	ak := write("authorized_keys", ssh.MarshalAuthorizedKey(userPub))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := []string{
		"ListenAddress 127.0.0.1:" + strconv.Itoa(s.port),
		"HostKey " + hk,
		"AuthorizedKeysFile " + ak,
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"AllowUsers " + u.Username,
		"LogLevel VERBOSE",
		"MaxStartups 100",
	}
	if sftp {
		cfg = append(cfg, "Subsystem sftp internal-sftp")
	}
	s.config = write("sshd_config", []byte(strings.Join(cfg, "\n")+"\n"))
	s.log, err = os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.kill()
		s.log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(s.log.Name())
			t.Logf("sshd log:\n%s", b)
		}
	})
	s.start()
	return s
}

func (s *sshd) start() {
	s.t.Helper()
	// Check the config first: sshd -t says exactly what it dislikes.
	if out, err := exec.Command(sshdPath, "-t", "-f", s.config).CombinedOutput(); err != nil {
		s.t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	s.cmd = exec.Command(sshdPath, "-D", "-e", "-f", s.config)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(s.log.Name())
			s.t.Fatalf("sshd exited: %v\n%s", err, b)
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			banner, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(banner, "SSH-2.0-") {
				// Keep reaping in the background.
				go func() { <-exited }()
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *sshd) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// kill ends sshd and every process it forked (one per connection), so
// that open transfers break as they would when the server goes away.
func (s *sshd) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pids := descendants(s.cmd.Process.Pid)
	s.cmd.Process.Kill()
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	s.cmd = nil
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(pid)
	return out
}

// knownHosts writes a known_hosts file naming this server with key.
func (s *sshd) knownHosts(key ssh.PublicKey) string {
	return s.knownHostsLine(s.port, key)
}

// knownHostsFor names this server's key at another port (a proxy's).
func (s *sshd) knownHostsFor(port int) string {
	return s.knownHostsLine(port, s.hostKey)
}

func (s *sshd) knownHostsLine(port int, key ssh.PublicKey) string {
	s.t.Helper()
	line := fmt.Sprintf("[127.0.0.1]:%d %s", port, ssh.MarshalAuthorizedKey(key))
	p := filepath.Join(s.t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *sshd) clientConfig(mode SSHMode, root string) SSHConfig {
	return SSHConfig{
		User:       s.user,
		Host:       "127.0.0.1",
		Port:       s.port,
		Path:       root,
		Key:        s.userKey,
		KnownHosts: []string{s.knownHosts(s.hostKey)},
		Mode:       mode,
		Logf:       s.t.Logf,
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
