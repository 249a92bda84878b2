package targets

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseNFSTarget(t *testing.T) {
	tests := []struct {
		in, host, export string
		bad              bool
	}{
		{"nfs.example.org:/export/crash", "nfs.example.org", "/export/crash", false},
		{"10.0.2.2:/srv", "10.0.2.2", "/srv", false},
		{"[2001:db8::1]:/export", "2001:db8::1", "/export", false},
		{"2001:db8::1:/export", "2001:db8::1", "/export", false},
		{"fe80::1%eth0:/x", "", "", true},
		{"a:b:/export", "", "", true},
		{"[2001:db8::1]/export", "", "", true},
		{"[nothost]:/export", "", "", true},
		{"[2001:db8::1:/export", "", "", true},
		{"server", "", "", true},
		{":/export", "", "", true},
		{"server:export", "", "", true},
		{"server:/a,b", "", "", true},
	}
	for _, tt := range tests {
		host, export, err := ParseNFSTarget(tt.in)
		if (err != nil) != tt.bad || host != tt.host || export != tt.export {
			t.Errorf("ParseNFSTarget(%q) = %q %q %v", tt.in, host, export, err)
		}
	}
}

func TestNFSMountArgs(t *testing.T) {
	v4 := net.ParseIP("10.0.2.2")
	me := net.ParseIP("10.0.2.15")
	v6 := net.ParseIP("2001:db8::1")
	tests := []struct {
		name        string
		host        string
		version     string
		server      net.IP
		cfg         NFSConfig
		source, typ string
		data        string
		bad         bool
	}{
		{"v3", "nfs.example.org", "3", v4, NFSConfig{},
			"nfs.example.org:/export", "nfs",
			"vers=3,proto=tcp,port=2049,nolock,addr=10.0.2.2,mountaddr=10.0.2.2,mountvers=3,mountproto=tcp,soft,timeo=600,retrans=3", false},
		{"v3 mountport", "10.0.2.2", "3", v4, NFSConfig{MountPort: 20048, Port: 2050, Options: "hard,timeo=100"},
			"10.0.2.2:/export", "nfs",
			"vers=3,proto=tcp,port=2050,nolock,addr=10.0.2.2,mountaddr=10.0.2.2,mountvers=3,mountproto=tcp,mountport=20048,hard,timeo=100", false},
		{"v4.2", "10.0.2.2", "4.2", v4, NFSConfig{},
			"10.0.2.2:/export", "nfs4",
			"vers=4.2,proto=tcp,port=2049,addr=10.0.2.2,clientaddr=10.0.2.15,soft,timeo=600,retrans=3", false},
		{"v4 is 4.0", "10.0.2.2", "4", v4, NFSConfig{Options: "defaults,vers=3,addr=1.2.3.4,rsize=65536"},
			"10.0.2.2:/export", "nfs4",
			"vers=4.0,proto=tcp,port=2049,addr=10.0.2.2,clientaddr=10.0.2.15,rsize=65536", false},
		{"v6", "2001:db8::1", "4.1", v6, NFSConfig{},
			"[2001:db8::1]:/export", "nfs4",
			"vers=4.1,proto=tcp6,port=2049,addr=2001:db8::1,clientaddr=10.0.2.15,soft,timeo=600,retrans=3", false},
		{"bad version", "h", "5", v4, NFSConfig{}, "", "", "", true},
		{"read-only", "h", "3", v4, NFSConfig{Options: "ro"}, "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, typ, data, err := nfsMountArgs(tt.host, "/export", tt.version, tt.server, me, tt.cfg)
			if (err != nil) != tt.bad {
				t.Fatalf("err %v", err)
			}
			if src != tt.source || typ != tt.typ || data != tt.data {
				t.Errorf("got\n %q %q %q\nwant\n %q %q %q", src, typ, data, tt.source, tt.typ, tt.data)
			}
		})
	}
}

// TestNFSServerAbsent: nobody answers on the NFS port; MountNFS gives up
// at the deadline with an error naming the server, without mounting.
func TestNFSServerAbsent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // the port is now closed: connections are refused
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	dir := t.TempDir()
	_, err = MountNFS(ctx, NFSConfig{Target: "127.0.0.1:/export", Port: port}, dir)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("MountNFS: %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error %q does not say which server and why", err)
	}
	t.Logf("%v", err)
}

// TestNFSUnresolvable: a server name that never resolves ends at the
// deadline too.
func TestNFSUnresolvable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := MountNFS(ctx, NFSConfig{Target: "no-such-host.invalid:/export"}, t.TempDir())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no-such-host.invalid") {
		t.Fatalf("MountNFS: %v, want a deadline error naming the host", err)
	}
}

func TestParseNullReply(t *testing.T) {
	be := func(ws ...uint32) []byte {
		b := make([]byte, 4*len(ws))
		for i, w := range ws {
			binary.BigEndian.PutUint32(b[4*i:], w)
		}
		return b
	}
	tests := []struct {
		name    string
		b       []byte
		version bool
		msg     string
	}{
		{"ok", be(7, 1, 0, 0, 0, 0), false, ""},
		{"ok with verifier", be(7, 1, 0, 1, 5, 0x61626364, 0x65000000, 0), false, ""},
		{"mismatch", be(7, 1, 0, 0, 0, 2, 4, 4), true, "has 4 to 4"},
		{"wrong xid", be(8, 1, 0, 0, 0, 0), false, "xid 0x8"},
		{"call not reply", be(7, 0, 0, 0, 0, 0), false, "message type 0"},
		{"denied", be(7, 1, 1, 0, 0, 0), false, "denied"},
		{"short", be(7, 1, 0, 0), false, "cut off at offset 16"},
		{"huge verifier", be(7, 1, 0, 0, 1<<30, 0), false, "verifier of"},
		{"mismatch cut", be(7, 1, 0, 0, 0, 2, 4), false, "cut off"},
		{"garbage args", be(7, 1, 0, 0, 0, 4), false, "accept_stat 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseNullReply(tt.b, 7, 3)
			if tt.msg == "" && !tt.version {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || errors.Is(err, errNFSVersion) != tt.version || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("parseNullReply: %v, want %q (version error %v)", err, tt.msg, tt.version)
			}
		})
	}
}

// FuzzParseNullReply: any reply bytes give nil or an error, never a panic.
func FuzzParseNullReply(f *testing.F) {
	f.Add([]byte{0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseNullReply(b, 7, 3)
	})
}
