package crashkernel

import "fmt"

// defaults are kdumpkit's crashkernel= values per GOARCH. They are
// smaller than kdump-utils' (x86_64 2G-64G:256M,64G-:512M) because the
// capture initramfs is one static Go program and a few modules, a few MB
// instead of a 20-35 MB dracut image that is loaded, unpacked and kept in
// tmpfs. They also reserve on 1-2 GiB machines, where kdump-utils
// reserves nothing. The steps above 64G follow the page bitmaps, which
// grow with RAM. docs/crashkernel.md gives the reasoning; the end-to-end
// tests calibrate them.
var defaults = map[string]string{
	"amd64": "1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M",
	// arm64 kernels are larger, and 64 KiB-page kernels larger still.
	"arm64": "1G-4G:192M,4G-64G:256M,64G-1T:320M,1T-:576M",
}

// Default returns kdumpkit's default crashkernel= for a GOARCH, as
// printed by kdumpctl get-default-crashkernel.
func Default(goarch string) (Spec, error) {
	v, ok := defaults[goarch]
	if !ok {
		return Spec{}, fmt.Errorf("no default crashkernel= for %s (kdumpkit supports amd64 and arm64)", goarch)
	}
	return Parse(v)
}
