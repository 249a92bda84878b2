package crashkernel_test

import (
	"fmt"

	"github.com/kdumpkit/kdumpkit/crashkernel"
)

func ExampleResolve() {
	cmdline := "root=/dev/vda1 crashkernel=1G-4G:160M,4G-64G:192M quiet"
	// A "4 GiB" guest reports a little less; the kernel rounds up to 128M.
	ram := 4*crashkernel.G - 544*crashkernel.K
	req, err := crashkernel.Resolve(cmdline, ram, crashkernel.Arches["amd64"])
	fmt.Println(req.Size, err)
	// Output: 192M <nil>
}

func ExampleSpec_SizeFor() {
	sp, _ := crashkernel.Parse("2G-64G:256M,64G-:512M")
	for _, ram := range []crashkernel.Size{crashkernel.G, 2 * crashkernel.G, 64 * crashkernel.G} {
		size, _ := sp.SizeFor(ram)
		fmt.Println(ram, size)
	}
	// Output:
	// 1G 0
	// 2G 256M
	// 64G 512M
}
