package kdumpctl

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
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

// errGotKey stops the handshake once the host key is known.
var errGotKey = errors.New("host key received")

// ScanHostKey connects to addr and returns the server's host key, like
// ssh-keyscan: the handshake stops before any authentication.
func ScanHostKey(ctx context.Context, addr string) (ssh.PublicKey, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	var key ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User: "kdumpctl-keyscan",
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = k
			return errGotKey
		},
	}
	_, _, _, err = ssh.NewClientConn(conn, addr, cfg)
	if key != nil {
		return key, nil
	}
	return nil, fmt.Errorf("ssh %s: no host key: %w", addr, err)
}

// GenerateKey writes a new ed25519 key pair to name (private, 0600) and
// name.pub (public), creating the directory 0700.
func GenerateKey(name, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, block); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment + "\n"
	if err := os.WriteFile(name+".pub", []byte(line), 0o644); err != nil {
		return nil, err
	}
	return sshPub, nil
}

// Propagate prepares an ssh target: it generates the key if it is
// missing, records the server's host key in the known_hosts that is
// baked into the capture initramfs (and prints its fingerprint to
// compare), installs the public key on the server with ssh-copy-id (which
// may ask for a password), and checks a key login by creating the dump
// directory.
func (e *Env) Propagate(ctx context.Context) error {
	cfg, err := e.LoadConfig()
	if err != nil {
		return err
	}
	t := cfg.Target
	if t.Kind != kdumpconf.TargetSSH {
		return fmt.Errorf("%s: propagate needs an ssh target", cfg.File)
	}
	key := e.path(cfg.SSHKey)
	if _, err := os.Stat(key); errors.Is(err, os.ErrNotExist) {
		host, _ := os.Hostname()
		if _, err := GenerateKey(key, "kdump@"+host); err != nil {
			return fmt.Errorf("generate %s: %w", cfg.SSHKey, err)
		}
		e.printf("kdump: generated ed25519 key %s\n", cfg.SSHKey)
	} else if err != nil {
		return err
	} else {
		e.printf("kdump: using existing key %s\n", cfg.SSHKey)
	}
	if _, err := os.Stat(key + ".pub"); err != nil {
		if err := writePublicKey(key); err != nil {
			return err
		}
	}
	port := cfg.SSHPort
	if port == 0 {
		port = kdumpconf.DefaultSSHPort
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(port))
	hostKey, err := ScanHostKey(ctx, addr)
	if err != nil {
		return err
	}
	if cfg.SSHHostKey != "" {
		pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(cfg.SSHHostKey))
		if err != nil {
			return fmt.Errorf("%s:%d: ssh_host_key: %w", cfg.File, cfg.Line("ssh_host_key"), err)
		}
		if string(pinned.Marshal()) != string(hostKey.Marshal()) {
			return fmt.Errorf("%s offers host key %s, but ssh_host_key pins %s", addr, ssh.FingerprintSHA256(hostKey), ssh.FingerprintSHA256(pinned))
		}
	}
	kh := cfg.SSHKnownHosts
	if kh == "" {
		kh = path.Join(e.stateDir(), "known_hosts")
		if err := os.MkdirAll(e.path(e.stateDir()), 0o755); err != nil {
			return err
		}
		line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey) + "\n"
		if err := os.WriteFile(e.path(kh), []byte(line), 0o644); err != nil {
			return err
		}
		e.printf("kdump: recorded host key of %s in %s: %s %s\n", addr, kh, hostKey.Type(), ssh.FingerprintSHA256(hostKey))
		e.printf("kdump: compare it with the server's (`ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub` there)\n", strings.TrimPrefix(hostKey.Type(), "ssh-"))
	}
	dest := t.User + "@" + t.Host
	sshOpts := []string{"-o", "UserKnownHostsFile=" + e.path(kh), "-o", "StrictHostKeyChecking=yes", "-p", strconv.Itoa(port)}
	copyArgs := append([]string{"-i", key + ".pub"}, sshOpts...)
	if err := e.run(ctx, "ssh-copy-id", append(copyArgs, dest)...); err != nil {
		return fmt.Errorf("install the public key on %s: %w", dest, err)
	}
	checkArgs := append([]string{"-i", key, "-o", "BatchMode=yes"}, sshOpts...)
	checkArgs = append(checkArgs, dest, "mkdir -p -- '"+strings.ReplaceAll(cfg.Path, "'", `'\''`)+"'")
	if err := e.run(ctx, "ssh", checkArgs...); err != nil {
		return fmt.Errorf("log in to %s with %s: %w", dest, cfg.SSHKey, err)
	}
	e.printf("kdump: %s accepts %s; dumps go to %s\n", dest, cfg.SSHKey, cfg.Path)
	return nil
}

func writePublicKey(key string) error {
	b, err := os.ReadFile(key)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return os.WriteFile(key+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
}

// run runs a host program with the terminal attached (ssh-copy-id may
// prompt for a password).
func (e *Env) run(ctx context.Context, name string, args ...string) error {
	if e.RunCommand != nil {
		return e.RunCommand(ctx, name, args...)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.Stdin, e.Stdout, e.Stderr
	return cmd.Run()
}
