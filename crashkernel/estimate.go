package crashkernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Inputs to the reservation model. Sizes come from the files kdumpctl
// is about to load and from the running system.
type Inputs struct {
	// RAM is the first kernel's memory (SystemRAM); the capture side's
	// page bitmaps grow with it.
	RAM Size
	// KernelImageSize is the capture kernel's size in memory once
	// decompressed: a bzImage's init_size (BzImageInitSize) or the sum of
	// a vmlinux's PT_LOAD memsz. Not the size of the compressed file.
	KernelImageSize Size
	// InitramfsSize is the initramfs file as kexec loads it (compressed).
	InitramfsSize Size
	// InitramfsUnpackedSize is the total size of its files once unpacked
	// into the capture kernel's rootfs; 0 means InitramfsSize ×
	// Calibration.UnpackRatio.
	InitramfsUnpackedSize Size
	// ModulesSize is the in-memory size of the kernel modules the capture
	// kernel loads (uncompressed .ko sizes).
	ModulesSize Size
	// Network: the target is ssh or nfs (sockets, DHCP, SSH buffers).
	Network bool
	// PageSize of the crashed kernel; 0 means 4 KiB.
	PageSize Size
}

// Calibration holds every constant of the model in one place.
// DefaultCalibration is fitted to QEMU measurements; docs/crashkernel.md
// keeps the table and testdata/calibration.txt the recorded inputs.
type Calibration struct {
	// KernelRuntime: what the capture kernel allocates for itself with
	// nr_cpus=1 beyond its image: slab, page tables, per-CPU areas,
	// early buffers, the vmcore ELF headers.
	KernelRuntime Size
	// MemmapFraction: struct page for the reservation itself (64 bytes
	// per 4 KiB page = 1/64), taken off the top of whatever is reserved.
	MemmapFraction float64
	// UnpackRatio: unpacked/compressed size of an initramfs when the
	// unpacked size is not given.
	UnpackRatio float64
	// Userspace: capture-init's resident memory (Go runtime, read and
	// write buffers, one compressor) for a local target.
	Userspace Size
	// Network: extra for ssh/nfs targets (sockets, crypto, DHCP).
	Network Size
	// ModulesLoaded: fraction of ModulesSize counted a second time for
	// the loaded copy of the modules (the unpacked files count them
	// once already).
	ModulesLoaded float64
	// BitmapBitsPerPage: bits the filter and writer keep per page of the
	// crashed kernel's RAM (page classes and the output bitmaps).
	BitmapBitsPerPage float64
	// Margin: fraction added on top of the sum for what the model does
	// not see; kept small because the estimate must stay within 25% of
	// the smallest size that works.
	Margin float64
	// Granule: the result is rounded up to a multiple of it.
	Granule Size
}

// DefaultCalibration is fitted to the smallest working crashkernel=
// measured in QEMU (Debian 6.1 and 6.12 cloud kernels; local, ssh and
// nfs targets; 1, 2 and 4 GiB guests; docs/crashkernel.md). Every
// measured case gets an estimate at least 4 MiB above its smallest
// working size and at most 25% above it. The fit leaves
// KernelRuntime + Userspace at 23.5 MiB: capture-init's measured peak
// resident memory is 9-11.5 MiB, so about 12 MiB is the capture
// kernel's own. The smallest working sizes do not follow init_size (the
// 6.12 kernel's is 4.4 MiB larger, yet it works with 8 MiB less), which
// is why the granule is 4 MiB: with 16 MiB steps no single model keeps
// both kernels within 25%. ModulesLoaded is 0: the NFS cases (6 and 7
// MiB of modules) leave no room for a second copy of the modules beside
// their files in the rootfs; the loaded sections of a module are a part
// of its .ko, and these data cannot tell that part from zero.
var DefaultCalibration = Calibration{
	KernelRuntime:     12 * M,
	MemmapFraction:    1.0 / 64,
	UnpackRatio:       2.5,
	Userspace:         11*M + 512*K,
	Network:           3 * M,
	ModulesLoaded:     0,
	BitmapBitsPerPage: 3,
	Margin:            0.05,
	Granule:           4 * M,
}

// Part is one term of an estimate.
type Part struct {
	Name string
	Size Size
}

// Estimate is a recommended reservation and how it was reached.
type Estimate struct {
	Total Size
	Parts []Part
}

// EstimateSize applies DefaultCalibration.
func EstimateSize(in Inputs) (Estimate, error) { return EstimateWith(in, DefaultCalibration) }

// EstimateWith computes
//
//	sum   = kernel image + kernel runtime + initramfs (loaded) + initramfs
//	        (unpacked) + modules × loaded fraction + userspace [+ network]
//	        + bitmaps
//	bitmaps = RAM / page size × bits per page / 8
//	total = roundup(sum × (1 + margin) / (1 − memmap fraction), granule)
//
// The loaded and the unpacked initramfs are both counted because both
// exist while the kernel unpacks it; the rootfs keeps the unpacked files
// for the whole capture.
func EstimateWith(in Inputs, c Calibration) (Estimate, error) {
	if in.KernelImageSize == 0 || in.InitramfsSize == 0 {
		return Estimate{}, errors.New("estimate needs the kernel image size and the initramfs size")
	}
	page := in.PageSize
	if page == 0 {
		page = 4 * K
	}
	unpacked := in.InitramfsUnpackedSize
	if unpacked == 0 {
		unpacked = Size(math.Ceil(float64(in.InitramfsSize) * c.UnpackRatio))
	}
	bitmaps := Size(math.Ceil(float64(in.RAM/page) * c.BitmapBitsPerPage / 8))
	parts := []Part{
		{"kernel image", in.KernelImageSize},
		{"kernel runtime", c.KernelRuntime},
		{"initramfs (loaded)", in.InitramfsSize},
		{"initramfs (unpacked)", unpacked},
		{"modules (loaded)", Size(math.Ceil(float64(in.ModulesSize) * c.ModulesLoaded))},
		{"capture-init", c.Userspace},
	}
	if in.Network {
		parts = append(parts, Part{"network", c.Network})
	}
	parts = append(parts, Part{"page bitmaps", bitmaps})
	var sum float64
	for _, p := range parts {
		sum += float64(p.Size)
	}
	scaled := sum * (1 + c.Margin) / (1 - c.MemmapFraction)
	if scaled >= float64(1<<63) {
		return Estimate{}, fmt.Errorf("estimate overflows: %v", scaled)
	}
	withOverhead := Size(math.Ceil(scaled))
	parts = append(parts, Part{"margin and memmap", withOverhead - Size(sum)})
	return Estimate{Total: roundUp(withOverhead, c.Granule), Parts: parts}, nil
}

// BzImageInitSize reads init_size from an x86 bzImage's setup header
// (boot protocol 2.10+, offset 0x260): the contiguous memory the kernel
// needs to decompress and run its image, the right KernelImageSize.
func BzImageInitSize(r io.ReaderAt) (Size, error) {
	var hdr [0x264]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return 0, fmt.Errorf("bzImage setup header: %w", err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return 0, errors.New("bzImage: no HdrS signature at 0x202 (not an x86 bzImage)")
	}
	if v := binary.LittleEndian.Uint16(hdr[0x206:]); v < 0x020a {
		return 0, fmt.Errorf("bzImage: boot protocol %d.%02d has no init_size (needs 2.10)", v>>8, v&0xff)
	}
	n := binary.LittleEndian.Uint32(hdr[0x260:])
	if n == 0 {
		return 0, errors.New("bzImage: init_size at 0x260 is 0")
	}
	return Size(n), nil
}
