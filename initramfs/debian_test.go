package initramfs

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestInteropDebianKernelModules plans and builds images for the fixture
// QEMU guest against the real module trees of the Debian kernels in the
// kdumpkit cache (fetched by the corpus and end-to-end tests), for a
// local, an ssh and an nfs target, and logs their sizes with the real
// static capture-init (built here as `make build` builds it).
func TestInteropDebianKernelModules(t *testing.T) {
	if testing.Short() {
		t.Skip("reads and compresses two real module trees; runs in the interop stage")
	}
	cache := os.Getenv("KDUMPKIT_CACHE")
	if cache == "" {
		cache = "/var/cache/kdumpkit"
	}
	deps, _ := filepath.Glob(filepath.Join(cache, "debkernel", "linux-image-*-cloud-amd64-unsigned_*", "lib", "modules", "*", "modules.dep"))
	if len(deps) == 0 {
		t.Skipf("needs an extracted Debian cloud kernel under %s/debkernel (the corpus build fetches one)", cache)
	}
	initBin := filepath.Join(t.TempDir(), "capture-init")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", initBin, "github.com/kdumpkit/kdumpkit/cmd/capture-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build capture-init: %v\n%s", err, out)
	}
	initInfo, err := os.Stat(initBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range deps {
		modDir := filepath.Dir(dep)
		release := filepath.Base(modDir)
		root := filepath.Dir(filepath.Dir(filepath.Dir(modDir)))
		t.Run(release, func(t *testing.T) {
			targets := []struct {
				name string
				t    Target
				want []string
			}{
				{"local ext4", Target{Kind: TargetBlock, Device: "vda1", FSType: "ext4"}, []string{"virtio_blk"}},
				{"local xfs", Target{Kind: TargetBlock, Device: "/dev/vda1", FSType: "xfs"}, []string{"virtio_blk", "xfs"}},
				{"ssh", Target{Kind: TargetSSH, Interface: "eth0"}, []string{"virtio_net"}},
				{"nfs", Target{Kind: TargetNFS, Addr: netip.MustParseAddr("192.0.2.7")}, []string{"virtio_net", "nfs", "nfsv4", "nfsv3", "sunrpc"}},
			}
			for _, tt := range targets {
				spec := fixtureSpec(t, modDir, tt.t)
				spec.Init = initBin
				spec.Config = []byte("path /var/crash\n")
				if tt.t.Kind == TargetSSH {
					spec.SSHKey = initBin + ".key"
					os.WriteFile(spec.SSHKey, make([]byte, 411), 0o600) // an OpenSSH ed25519 key's size
					spec.KnownHosts = []byte("10.0.2.2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpA\n")
				}
				spec.KernelRelease = release
				spec.KernelConfig = filepath.Join(root, "boot", "config-"+release)
				spec.KernelImage = filepath.Join(root, "boot", "vmlinuz-"+release)
				spec.FirmwareDir = filepath.Join(root, "lib", "firmware")
				out := filepath.Join(t.TempDir(), "img")
				res, err := Build(spec, out, false)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				for _, m := range tt.want {
					if !slices.Contains(res.Plan.Modules, m) {
						t.Errorf("%s: module %s missing from %v", tt.name, m, res.Plan.Modules)
					}
				}
				var raw int64
				for _, e := range res.Plan.Entries {
					if e.Source != "" {
						b, err := e.content()
						if err != nil {
							t.Fatal(err)
						}
						raw += int64(len(b))
					} else {
						raw += int64(len(e.Data))
					}
				}
				t.Logf("%s: %s: image %d bytes (%s), %d bytes unpacked (capture-init %d), %d modules %v",
					release, tt.name, res.Bytes, res.Plan.Compression, raw, initInfo.Size(), len(res.Plan.Modules), res.Plan.Modules)
			}
		})
	}
}
