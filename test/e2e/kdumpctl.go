package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/kdumpkit/kdumpkit/initramfs"
	"github.com/kdumpkit/kdumpkit/internal/debkernel"
)

// kdumpctlArchive is the first kernel's initramfs for a run where
// `kdumpctl start` in the guest builds and loads the capture initramfs:
// the agent, kdumpctl and capture-init where a package installs them, the
// kernel image and config, the module indexes and the modules the guest
// and the capture initramfs need (from the guest's own tree, as on a real
// host), /etc/kdump.conf and the SSH files.
//
// capData holds the files the harness would have put into a capture
// initramfs itself (kdump.conf and, for SSH, the key and known_hosts);
// they are mapped to where kdumpctl reads them on a host.
func (h *Harness) kdumpctlArchive(ctx context.Context, k *debkernel.Kernel, agent, captureInit string, c Case, capData map[string][]byte, mods []string, workload string) (*archive, error) {
	kdumpctl, err := h.Binary(ctx, "./cmd/kdumpctl")
	if err != nil {
		return nil, err
	}
	rel := k.Release
	a := &archive{
		dirs: []string{"proc", "sys", "dev", "tmp", "etc", "run", "run/lock", "var", "var/lib", "var/lib/kdump",
			"var/crash", "mnt", "root"},
		files: [][2]string{
			{"init", agent},
			{"usr/sbin/kdumpctl", kdumpctl},
			{"usr/lib/kdumpkit/capture-init", captureInit},
			{"boot/vmlinuz-" + rel, k.Vmlinuz},
			{"boot/config-" + rel, k.Config},
		},
		data:  map[string][]byte{},
		modes: map[string]os.FileMode{},
	}
	conf := string(capData[initramfs.ConfigPath])
	if key, ok := capData[initramfs.SSHKeyPath]; ok {
		a.data["root/.ssh/kdump_id"] = key
		a.modes["root/.ssh/kdump_id"] = 0o600
		a.data["etc/kdumpkit-e2e/known_hosts"] = capData[initramfs.KnownHostsPath]
		conf += "sshkey /root/.ssh/kdump_id\nssh_known_hosts /etc/kdumpkit-e2e/known_hosts\n"
	}
	a.data["etc/kdump.conf"] = []byte(conf)

	// The module tree: indexes, and the closure of what either kernel
	// loads, kept compressed as the package ships it.
	modRoot := filepath.Join("lib/modules", rel)
	idx, err := filepath.Glob(filepath.Join(k.ModulesDir, "modules.*"))
	if err != nil {
		return nil, err
	}
	for _, p := range idx {
		a.files = append(a.files, [2]string{filepath.Join(modRoot, filepath.Base(p)), p})
	}
	dep, err := os.Open(filepath.Join(k.ModulesDir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer dep.Close()
	builtin := map[string]bool{}
	if f, err := os.Open(filepath.Join(k.ModulesDir, "modules.builtin")); err == nil {
		builtin, _ = debkernel.BuiltinModules(f)
		f.Close()
	}
	var want []string
	for _, m := range mods {
		if !builtin[m] {
			want = append(want, m)
		}
	}
	closure, err := debkernel.ModuleClosure(dep, want...)
	if err != nil {
		return nil, err
	}
	var guestMods []string
	for _, m := range closure {
		a.files = append(a.files, [2]string{filepath.Join(modRoot, m), filepath.Join(k.ModulesDir, m)})
	}
	// The first kernel loads the drivers of the target's device or
	// interface itself, so that kdumpctl finds them in /sys; it loads
	// plain copies (finit_module without decompression support).
	plain, err := moduleFiles(ctx, k, filepath.Join(h.WorkDir, c.Name(), "guest-modules"), mods...)
	if err != nil {
		return nil, err
	}
	for _, m := range plain {
		if strings.Contains(m[0], "nfs") || strings.Contains(m[0], "sunrpc") || strings.Contains(m[0], "lockd") {
			continue // not needed to resolve the target
		}
		p := "guest/" + filepath.Base(m[0])
		a.files = append(a.files, [2]string{p, m[1]})
		guestMods = append(guestMods, "/"+p)
	}
	cfg := map[string]any{
		"modules":  guestMods,
		"kdumpctl": "/usr/sbin/kdumpctl",
	}
	if c.Target == TargetLocal {
		cfg["mounts"] = []string{"/dev/vda /mnt ext4"}
	}
	if c.KdumpctlTest {
		cfg["kdumpctl_test"] = true
	}
	if c.Target == TargetSSH || c.Target == TargetNFS {
		cfg["net"] = map[string]string{"interface": "eth0", "address": GuestAddr, "gateway": GuestHostAddr}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	// The workload fields are spliced in as JSON text.
	js := strings.TrimSuffix(string(b), "}") + "," + workload + "}"
	a.data["etc/guestagent.json"] = []byte(js)
	h.logf("%s: first kernel runs kdumpctl start; guest config %s", c.Name(), js)
	return a, nil
}
