package initramfs

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestInteropDebianKernelModules plans and builds images for the fixture
// QEMU guest against the real module trees of the Debian kernels in the
// kdumpkit cache (fetched by the corpus and end-to-end tests), for a
// local, an ssh and an nfs target, and logs their sizes. The fixture's
// capture-init is a stand-in: add the size of the real static binary.
func TestInteropDebianKernelModules(t *testing.T) {
	cache := os.Getenv("KDUMPKIT_CACHE")
	if cache == "" {
		cache = "/var/cache/kdumpkit"
	}
	deps, _ := filepath.Glob(filepath.Join(cache, "debkernel", "linux-image-*-cloud-amd64-unsigned_*", "lib", "modules", "*", "modules.dep"))
	if len(deps) == 0 {
		t.Skipf("needs an extracted Debian cloud kernel under %s/debkernel (the corpus build fetches one)", cache)
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
				t.Logf("%s: %s, %d modules %v, %d bytes unpacked, image %d bytes (%s) plus capture-init",
					release, tt.name, len(res.Plan.Modules), res.Plan.Modules, raw, res.Bytes, res.Plan.Compression)
			}
		})
	}
}
