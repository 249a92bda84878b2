package kdumpctl

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

// sshServer accepts SSH handshakes on loopback with a fresh ed25519 host
// key and refuses every login: enough for a host key scan.
func sshServer(t *testing.T) (addr string, hostKey ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PasswordCallback: func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) {
		return nil, fmt.Errorf("no")
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ssh.NewServerConn(c, cfg)
			}()
		}
	}()
	return ln.Addr().String(), signer.PublicKey()
}

func TestPropagate(t *testing.T) {
	addr, hostKey := sshServer(t)
	host, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf("ssh kdump@%s\nssh_port %s\nsshkey /root/.ssh/kdump_id\npath /srv/crash\n", host, port)
	f := newFixture(t, conf)
	var calls []string
	f.env.RunCommand = func(_ context.Context, name string, args ...string) error {
		calls = append(calls, name+" "+strings.Join(args, " "))
		return nil
	}
	ctx := context.Background()
	if err := f.env.Propagate(ctx); err != nil {
		t.Fatalf("propagate: %v\n%s", err, f.errOut)
	}
	key := filepath.Join(f.root, "root/.ssh/kdump_id")
	b, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil || signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("generated key: %v", err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode().Perm())
	}
	pub, _ := os.ReadFile(key + ".pub")
	if !strings.HasPrefix(string(pub), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))) {
		t.Errorf("public key file %q", pub)
	}
	kh, _ := os.ReadFile(filepath.Join(f.root, "var/lib/kdump/known_hosts"))
	want := fmt.Sprintf("[%s]:%s %s", host, port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey))))
	if strings.TrimSpace(string(kh)) != want {
		t.Errorf("known_hosts\n got %q\nwant %q", kh, want)
	}
	if !strings.Contains(f.out.String(), ssh.FingerprintSHA256(hostKey)) {
		t.Errorf("fingerprint not printed:\n%s", f.out)
	}
	if len(calls) != 2 || !strings.HasPrefix(calls[0], "ssh-copy-id -i "+key+".pub") || !strings.HasSuffix(calls[0], "kdump@"+host) ||
		!strings.Contains(calls[1], "BatchMode=yes") || !strings.HasSuffix(calls[1], "mkdir -p -- '/srv/crash'") {
		t.Errorf("commands run:\n%s", strings.Join(calls, "\n"))
	}

	// The recorded host key goes into the image.
	img, err := f.env.Build(ctx, mustConfig(t, f), false)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range img.Result.Plan.Entries {
		if e.Name == "etc/kdumpkit/known_hosts" && strings.TrimSpace(string(e.Data)) == want {
			found = true
		}
	}
	if !found {
		t.Error("known_hosts entry missing from the image")
	}

	// A second run keeps the key.
	f.out.Reset()
	if err := f.env.Propagate(ctx); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(key); string(b2) != string(b) || !strings.Contains(f.out.String(), "using existing key") {
		t.Error("second propagate replaced the key")
	}

	// A pinned key that differs is refused.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	os2, _ := ssh.NewSignerFromKey(other)
	f.writeConf(t, conf+"ssh_host_key "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(os2.PublicKey())))+"\n")
	if err := f.env.Propagate(ctx); err == nil || !strings.Contains(err.Error(), "but ssh_host_key pins") {
		t.Errorf("pinned mismatch: %v", err)
	}
}

func mustConfig(t *testing.T, f *fixture) *kdumpconf.Config {
	t.Helper()
	cfg, err := f.env.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
