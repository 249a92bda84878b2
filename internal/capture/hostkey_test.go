package capture

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kdumpkit/kdumpkit/kdumpconf"
	"github.com/kdumpkit/kdumpkit/targets"
)

func newSigner(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return sg, pem.EncodeToMemory(blk)
}

// TestRunWrongHostKey: the ssh server (an x/crypto/ssh server on
// loopback that only does the handshake) shows a host key other than the
// one known_hosts lists: the real targets.DialSSH refuses it, the capture
// fails in the target step with a message naming known_hosts, and
// kdump_emergency and the failure action run.
func TestRunWrongHostKey(t *testing.T) {
	hostKey, _ := newSigner(t)
	otherKey, _ := newSigner(t)
	_, clientKey := newSigner(t)
	srv := &ssh.ServerConfig{NoClientAuth: true}
	srv.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ssh.NewServerConn(c, srv) // the client gives up in the handshake
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize("127.0.0.1:" + strconv.Itoa(port))}, otherKey.PublicKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s := newFakeSys(t)
	s.openTarget = func(ctx context.Context) (targets.Target, error) {
		return targets.DialSSH(ctx, targets.SSHConfig{
			User: "root", Host: "127.0.0.1", Port: port, Path: "/var/crash",
			Key: clientKey, KnownHosts: []string{kh},
		})
	}
	cfg := baseConfig()
	cfg.Conf.Target = kdumpconf.Target{Kind: kdumpconf.TargetSSH, User: "root", Host: "127.0.0.1"}
	cfg.Conf.FailureAction = kdumpconf.ActionHalt
	cfg.Conf.Hooks.Emergency = "/emergency"
	r := &Runner{Sys: s, Config: cfg}
	res := r.Run(context.Background())
	if res.Failed != "target" || !errors.Is(res.Err, targets.ErrHostKey) {
		t.Fatalf("Run = step %q, %v; want the target step with ErrHostKey", res.Failed, res.Err)
	}
	if !slices.Contains(s.calls, "hook /emergency") {
		t.Error("kdump_emergency did not run")
	}
	if !slices.Equal(s.finished, []kdumpconf.Action{kdumpconf.ActionHalt}) {
		t.Errorf("finished %v, want failure_action halt", s.finished)
	}
	if !strings.Contains(r.Log(), "known_hosts") || !strings.Contains(r.Log(), ssh.FingerprintSHA256(hostKey.PublicKey())) {
		t.Errorf("log does not explain the refusal:\n%s", r.Log())
	}
}
