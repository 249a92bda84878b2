package targets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHMode chooses how files reach an SSH server.
type SSHMode int

const (
	// SSHAuto uses SFTP when the server offers the subsystem, else exec.
	SSHAuto SSHMode = iota
	// SSHSFTP writes files through SFTP at any offset: the vmcore is
	// kdump-compressed, as on a local disk, and an interrupted transfer
	// resumes where it stopped.
	SSHSFTP
	// SSHExec runs mkdir, dd, mv, ls, df and rm through the remote shell,
	// like kdump-utils: files are streams, the vmcore is flattened
	// (vmcore.flat), and an interrupted transfer cannot resume.
	SSHExec
)

func (m SSHMode) String() string {
	switch m {
	case SSHAuto:
		return "auto"
	case SSHSFTP:
		return "sftp"
	case SSHExec:
		return "exec"
	}
	return "SSHMode(" + strconv.Itoa(int(m)) + ")"
}

// SSHConfig says where and how to reach an SSH target.
type SSHConfig struct {
	User string // remote user, e.g. "root"
	Host string // name or address as written in known_hosts
	Port int    // 0 means 22
	Path string // dump root on the server, e.g. "/var/crash"; created if missing

	// Key is the private key (OpenSSH or PEM format, no passphrase), the
	// one baked into the capture initramfs.
	Key []byte
	// KnownHosts names known_hosts files. The server's host key must be
	// listed for Host (or [Host]:Port); there is no way to skip the check
	// except HostKeyCallback, which is for tests.
	KnownHosts []string
	// HostKeyCallback, when set, replaces the known_hosts check. Tests
	// only.
	HostKeyCallback ssh.HostKeyCallback

	Mode SSHMode
	// DialTimeout bounds one connection attempt (TCP and SSH handshake);
	// 0 means 15 s. The context given to DialSSH bounds all of them.
	DialTimeout time.Duration
	// KeepAlive is how often an idle connection is probed; a probe that
	// gets no answer within 3 periods closes the connection so that a
	// hung link turns into a reconnect instead of a hang. 0 means 5 s;
	// negative disables.
	KeepAlive time.Duration
	// Logf, when set, gets one line per reconnect attempt.
	Logf func(format string, args ...any)
}

func (c *SSHConfig) addr() string {
	port := c.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(port))
}

func (c *SSHConfig) String() string {
	return "ssh " + c.User + "@" + c.addr() + ":" + c.Path
}

func (c *SSHConfig) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// DialSSH connects to an SSH target and returns it as a Target: SFTP or
// exec per cfg.Mode. ctx bounds the first connection and every reconnect
// for the target's whole life, so give it the capture deadline.
func DialSSH(ctx context.Context, cfg SSHConfig) (Target, error) {
	if cfg.User == "" || cfg.Host == "" {
		return nil, fmt.Errorf("ssh target: user and host are required")
	}
	if !path.IsAbs(cfg.Path) {
		return nil, fmt.Errorf("ssh target %s: path %q is not absolute", cfg.addr(), cfg.Path)
	}
	cfg.Path = path.Clean(cfg.Path)
	cc, err := newSSHConn(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var t Target
	switch cfg.Mode {
	case SSHSFTP:
		t, err = newSFTPTarget(cc)
	case SSHExec:
		t, err = newExecTarget(cc)
	case SSHAuto:
		t, err = newSFTPTarget(cc)
		if errors.Is(err, errNoSFTP) {
			cfg.logf("%s: no sftp subsystem, writing flattened streams through dd", cc.cfg.String())
			t, err = newExecTarget(cc)
		}
	default:
		err = fmt.Errorf("ssh target: unknown mode %d", cfg.Mode)
	}
	if err != nil {
		cc.close()
		return nil, err
	}
	return t, nil
}

// sshConn is one SSH connection that can be re-established: every user
// of the connection remembers the generation it used, and a failure
// reconnects only if nobody did so since.
type sshConn struct {
	ctx    context.Context
	cfg    SSHConfig
	config *ssh.ClientConfig

	mu         sync.Mutex
	client     *ssh.Client
	gen        int
	reconnects int
	closed     bool
	// onConnect runs on every new connection (the SFTP target opens its
	// subsystem there); it is called with mu held.
	onConnect func(*ssh.Client) error
}

func newSSHConn(ctx context.Context, cfg SSHConfig) (*sshConn, error) {
	signer, err := ssh.ParsePrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("ssh target %s: private key: %w", cfg.addr(), err)
	}
	cb := cfg.HostKeyCallback
	var algos []string
	if cb == nil {
		if len(cfg.KnownHosts) == 0 {
			return nil, fmt.Errorf("ssh target %s: no known_hosts file given: %w", cfg.addr(), ErrHostKey)
		}
		cb, algos, err = knownHostsCallback(cfg.KnownHosts, cfg.addr())
		if err != nil {
			return nil, fmt.Errorf("ssh target %s: %w", cfg.addr(), err)
		}
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	c := &sshConn{
		ctx: ctx,
		cfg: cfg,
		config: &ssh.ClientConfig{
			User:              cfg.User,
			Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback:   cb,
			HostKeyAlgorithms: algos,
			Timeout:           timeout,
		},
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, err := c.dial()
	if err != nil {
		return nil, err
	}
	c.client = cl
	return c, nil
}

// dial makes one connection attempt within the dial timeout and ctx.
func (c *sshConn) dial() (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.config.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.cfg.addr())
	if err != nil {
		return nil, fmt.Errorf("ssh target %s: %w", c.cfg.addr(), err)
	}
	// The handshake has no context: a deadline on the socket bounds it.
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	sc, chans, reqs, err := ssh.NewClientConn(nc, c.cfg.addr(), c.config)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ssh target %s: %w", c.cfg.addr(), err)
	}
	nc.SetDeadline(time.Time{})
	cl := ssh.NewClient(sc, chans, reqs)
	c.keepAlive(cl)
	return cl, nil
}

// keepAlive probes cl until it closes, and closes it when probes go
// unanswered.
func (c *sshConn) keepAlive(cl *ssh.Client) {
	every := c.cfg.KeepAlive
	if every == 0 {
		every = 5 * time.Second
	}
	if every < 0 {
		return
	}
	done := make(chan struct{})
	go func() {
		cl.Wait()
		close(done)
	}()
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			answered := make(chan struct{})
			go func() {
				cl.SendRequest("keepalive@openssh.com", true, nil)
				close(answered)
			}()
			select {
			case <-answered:
			case <-done:
				return
			case <-time.After(3 * every):
				cl.Close()
				return
			}
		}
	}()
}

// current returns the live client and its generation.
func (c *sshConn) current() (*ssh.Client, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, 0, net.ErrClosed
	}
	return c.client, c.gen, nil
}

// reconnect replaces the connection of generation gen after it failed with
// cause, retrying with backoff until the context ends. If another user
// already replaced it, it returns at once.
func (c *sshConn) reconnect(gen int, cause error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if c.gen != gen {
		return nil
	}
	c.client.Close()
	wait := 100 * time.Millisecond
	last := cause
	for attempt := 1; ; attempt++ {
		if err := c.ctx.Err(); err != nil {
			return fmt.Errorf("ssh target %s: reconnect: gave up after %d attempts: %w (last error: %v)", c.cfg.addr(), attempt-1, err, last)
		}
		c.cfg.logf("%s: connection lost (%v), reconnect attempt %d", c.cfg.String(), last, attempt)
		cl, err := c.dial()
		if err == nil && c.onConnect != nil {
			if err = c.onConnect(cl); err != nil {
				cl.Close()
			}
		}
		if err == nil {
			c.client = cl
			c.gen++
			c.reconnects++
			return nil
		}
		if errors.Is(err, ErrHostKey) {
			// A changed key is not a network problem: do not retry.
			return err
		}
		last = err
		select {
		case <-c.ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func (c *sshConn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.client.Close()
}

// Reconnects counts the connections made after the first.
func (c *sshConn) Reconnects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnects
}

// knownHostsCallback checks host keys against files and words failures so
// that a person can act on them: which host, which key (SHA256
// fingerprint), and what known_hosts has instead. It also returns the key
// algorithms known_hosts holds for addr, so that the server is asked for a
// key we can check rather than its preferred one.
func knownHostsCallback(files []string, addr string) (ssh.HostKeyCallback, []string, error) {
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	check, err := knownhosts.New(files...)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		if err == nil {
			return nil
		}
		fp := ssh.FingerprintSHA256(key)
		who := hostname
		if remote != nil && remote.String() != hostname {
			who += " (" + remote.String() + ")"
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return fmt.Errorf("%w: %s offered %s key %s, which is not in %s",
				ErrHostKey, who, key.Type(), fp, strings.Join(files, ", "))
		case errors.As(err, &ke):
			var known []string
			for _, k := range ke.Want {
				known = append(known, fmt.Sprintf("%s key %s at %s:%d", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
			}
			return fmt.Errorf("%w: %s offered %s key %s, but known_hosts has %s: the host key changed or this is not the host",
				ErrHostKey, who, key.Type(), fp, strings.Join(known, "; "))
		case errors.As(err, &re):
			return fmt.Errorf("%w: %s offered %s key %s, which is revoked at %s:%d",
				ErrHostKey, who, key.Type(), fp, re.Revoked.Filename, re.Revoked.Line)
		}
		return fmt.Errorf("%w: %s: %v", ErrHostKey, who, err)
	}
	return cb, knownAlgorithms(check, addr), nil
}

// knownAlgorithms asks the known_hosts check which keys it holds for addr
// by offering a key it cannot know: the mismatch error lists them.
func knownAlgorithms(check ssh.HostKeyCallback, addr string) []string {
	probe, err := ssh.NewPublicKey(probeKey)
	if err != nil {
		return nil
	}
	host, port, _ := net.SplitHostPort(addr)
	remote := &net.TCPAddr{IP: net.ParseIP(host)}
	if remote.IP == nil {
		remote.IP = net.IPv4zero
	}
	remote.Port, _ = strconv.Atoi(port)
	var ke *knownhosts.KeyError
	if !errors.As(check(addr, remote, probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algos = append(algos, a)
		}
	}
	for _, k := range ke.Want {
		if k.Key.Type() == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
		}
		add(k.Key.Type())
	}
	return algos
}
