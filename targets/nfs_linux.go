package targets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// MountNFS mounts an NFS export on dir (created 0700 if missing) with
// mount(2), without mount.nfs: it resolves the server itself (IPv4
// preferred), waits until the server's NFS port accepts connections,
// asks the server (NFS NULL calls) whether it speaks v4 and v3, and
// tries the configured version or 4.2, 4.1, 4.0 and 3 among those. Every wait
// ends with ctx; a mount(2) still blocked in the kernel then is left
// behind (the capture reboots anyway). The kernel needs its nfs and
// nfsv3/nfsv4 modules loaded.
func MountNFS(ctx context.Context, cfg NFSConfig, dir string) (*Mounted, error) {
	host, export, err := ParseNFSTarget(cfg.Target)
	if err != nil {
		return nil, err
	}
	server, err := resolveHost(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("mount nfs %s: %w", cfg.Target, err)
	}
	port := cfg.Port
	if port == 0 {
		port = 2049
	}
	addr := net.JoinHostPort(server.String(), strconv.Itoa(port))
	client, err := waitTCP(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("mount nfs %s: server %s: %w", cfg.Target, server, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mount nfs %s: %w", cfg.Target, err)
	}
	versions := nfsVersions
	if cfg.Version != "" {
		versions = []string{cfg.Version}
	}
	// Ask the server which major versions it speaks (an NFS NULL call),
	// so that a v4-only or v3-only server gets the right mount at once
	// and a port that is not NFS gives a clear error.
	speaks := map[uint32]error{}
	var offered []string
	for _, v := range versions {
		major := uint32(4)
		if v == "3" {
			major = 3
		}
		if _, done := speaks[major]; !done {
			speaks[major] = pingNFS(ctx, addr, major)
		}
		switch err := speaks[major]; {
		case err == nil:
			offered = append(offered, v)
		case !errors.Is(err, errNFSVersion):
			return nil, fmt.Errorf("mount nfs %s: server %s: %w", cfg.Target, addr, err)
		}
	}
	if len(offered) == 0 {
		var errs []error
		for _, err := range speaks {
			errs = append(errs, err)
		}
		return nil, fmt.Errorf("mount nfs %s: server %s: %w", cfg.Target, addr, errors.Join(errs...))
	}
	var tried []error
	for _, v := range offered {
		source, fstype, data, err := nfsMountArgs(host, export, v, server, client, cfg)
		if err != nil {
			return nil, err
		}
		err = mountCtx(ctx, source, dir, fstype, data)
		if err == nil {
			return &Mounted{Source: source, Dir: dir, FSType: fstype, Data: data}, nil
		}
		err = fmt.Errorf("mount -t %s %s %s -o %s: %w", fstype, source, dir, data, err)
		switch {
		case errors.Is(err, unix.ENODEV):
			return nil, fmt.Errorf("%w (the kernel has no %s filesystem: load the nfs and nfsv3/nfsv4 modules)", err, fstype)
		case errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT) && len(offered) > 1:
			// This version is not offered (or the kernel lacks it):
			// the next one may work.
			tried = append(tried, err)
			continue
		}
		return nil, err
	}
	return nil, fmt.Errorf("mount nfs %s: no version worked: %w", cfg.Target, errors.Join(tried...))
}

// mountCtx runs mount(2) but returns when ctx ends even if the kernel is
// still waiting for the server.
func mountCtx(ctx context.Context, source, dir, fstype, data string) error {
	done := make(chan error, 1)
	go func() { done <- unix.Mount(source, dir, fstype, 0, data) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("mount(2) still waiting for the server: %w", ctx.Err())
	}
}

// resolveHost returns host's address, IPv4 first, retrying until ctx
// ends (the resolver may not be reachable the moment the link is up).
func resolveHost(ctx context.Context, host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	wait := 100 * time.Millisecond
	for {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err == nil && len(addrs) > 0 {
			for _, a := range addrs {
				if a.IP.To4() != nil {
					return a.IP, nil
				}
			}
			return addrs[0].IP, nil
		}
		if err == nil {
			err = fmt.Errorf("no addresses")
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("resolve %s: %w: %w", host, err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// waitTCP connects to addr until it accepts or ctx ends, and returns our
// side's address (the clientaddr NFSv4 wants).
func waitTCP(ctx context.Context, addr string) (net.IP, error) {
	wait := 100 * time.Millisecond
	start := time.Now()
	var d net.Dialer
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := d.DialContext(actx, "tcp", addr)
		cancel()
		if err == nil {
			ip := c.LocalAddr().(*net.TCPAddr).IP
			c.Close()
			return ip, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("not reachable after %d attempts in %v (last: %v): %w", attempt, time.Since(start).Round(time.Millisecond), err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
