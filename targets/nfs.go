package targets

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// NFSConfig says which export to mount and how.
type NFSConfig struct {
	// Target is the kdump.conf form: "server:/export", or
	// "[2001:db8::1]:/export" (brackets optional) for an IPv6 address.
	Target string
	// Version is "3", "4" (same as "4.0"), "4.1" or "4.2"; empty tries
	// 4.2, 4.1, 4.0 and 3 in that order, as mount.nfs negotiates.
	Version string
	// Options are added to the ones this package sets; empty means
	// DefaultNFSOptions.
	Options string
	// Port is the server's NFS port (0: 2049). MountPort is the v3 MOUNT
	// service's port (0: the kernel asks the server's rpcbind).
	Port, MountPort int
}

// DefaultNFSOptions: a soft mount, so that a server that goes away makes
// writes fail (and the dump end as vmcore-incomplete) instead of hanging
// the capture for ever; 60 s per try and 3 retries, like Debian's
// kdump-tools.
const DefaultNFSOptions = "soft,timeo=600,retrans=3"

// nfsVersions is the order versions are tried in when none is configured.
var nfsVersions = []string{"4.2", "4.1", "4.0", "3"}

// ParseNFSTarget splits "server:/export" and "[v6addr]:/export".
func ParseNFSTarget(s string) (host, export string, err error) {
	var rest string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", fmt.Errorf("nfs target %q: unclosed [", s)
		}
		host, rest = s[1:end], s[end+1:]
		if net.ParseIP(host) == nil {
			return "", "", fmt.Errorf("nfs target %q: %q in brackets is not an IP address", s, host)
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("nfs target %q: want [address]:/export", s)
		}
		rest = rest[1:]
	} else {
		// The export starts at the first ":/": host names have no colon
		// and IPv6 addresses no slash, so "2001:db8::1:/export" splits
		// right too.
		i := strings.Index(s, ":/")
		if i <= 0 {
			return "", "", fmt.Errorf("nfs target %q: want server:/export", s)
		}
		host, rest = s[:i], s[i+1:]
		if strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return "", "", fmt.Errorf("nfs target %q: %q is neither a host name nor an IP address", s, host)
		}
	}
	if !strings.HasPrefix(rest, "/") {
		return "", "", fmt.Errorf("nfs target %q: export %q is not an absolute path", s, rest)
	}
	if strings.ContainsAny(host+rest, ", \t\n") {
		return "", "", fmt.Errorf("nfs target %q: commas and blanks are not allowed", s)
	}
	return host, rest, nil
}

// nfsMountArgs builds the mount(2) arguments the kernel's NFS client
// takes when no mount.nfs helper runs: the server address is given as
// addr= (else the kernel refuses with "mount program didn't pass remote
// address"), v3 gets nolock (no rpc.statd in the capture environment)
// and the MOUNT protocol over TCP, v4 gets the client address for
// callbacks.
func nfsMountArgs(host, export, version string, server, client net.IP, cfg NFSConfig) (source, fstype, data string, err error) {
	srcHost := host
	if strings.Contains(host, ":") {
		srcHost = "[" + host + "]"
	}
	source = srcHost + ":" + export
	proto := "tcp"
	if server.To4() == nil {
		proto = "tcp6"
	}
	port := cfg.Port
	if port == 0 {
		port = 2049
	}
	opts := []string{}
	switch version {
	case "3":
		fstype = "nfs"
		opts = append(opts, "vers=3", "proto="+proto, "port="+strconv.Itoa(port), "nolock",
			"addr="+server.String(), "mountaddr="+server.String(), "mountvers=3", "mountproto="+proto)
		if cfg.MountPort != 0 {
			opts = append(opts, "mountport="+strconv.Itoa(cfg.MountPort))
		}
	case "4", "4.0", "4.1", "4.2":
		if version == "4" {
			version = "4.0"
		}
		fstype = "nfs4"
		opts = append(opts, "vers="+version, "proto="+proto, "port="+strconv.Itoa(port), "addr="+server.String())
		if client != nil {
			opts = append(opts, "clientaddr="+client.String())
		}
	default:
		return "", "", "", fmt.Errorf("nfs version %q: want 3, 4, 4.0, 4.1 or 4.2", version)
	}
	extra := cfg.Options
	if extra == "" {
		extra = DefaultNFSOptions
	}
	for _, o := range strings.Split(extra, ",") {
		o = strings.TrimSpace(o)
		key, _, _ := strings.Cut(o, "=")
		switch key {
		case "", "defaults", "_netdev", "nofail", "auto", "noauto", "rw":
			continue
		case "vers", "nfsvers", "addr", "clientaddr", "mountaddr", "proto", "mountproto", "port", "mountport", "minorversion":
			// Ours: kdump-utils drops these from fstab options as well.
			continue
		case "ro":
			return "", "", "", fmt.Errorf("nfs options %q: a dump target cannot be read-only", extra)
		}
		opts = append(opts, o)
	}
	return source, fstype, strings.Join(opts, ","), nil
}
