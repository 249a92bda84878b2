package initramfs

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxModuleBytes caps a decompressed module or firmware file; the largest
// modules of distribution kernels are a few tens of MiB.
const maxModuleBytes = 256 << 20

// ReadMaybeCompressed returns the contents of a module or firmware file,
// decompressing .xz, .zst and .gz files by their suffix.
func ReadMaybeCompressed(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(name, ".xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: xz: %w", name, err)
		}
		r = xr
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxModuleBytes))
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %w", name, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(name, ".gz"):
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		r = gr
	}
	b, err := io.ReadAll(io.LimitReader(r, maxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxModuleBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB uncompressed", name, maxModuleBytes>>20)
	}
	return b, nil
}

// Modinfo is the part of a module's .modinfo section the builder uses.
type Modinfo struct {
	Name     string
	Firmware []string // firmware= files the driver may request
	Depends  []string // depends= module names
	Softdep  []string // softdep= lines
}

// ParseModinfo reads the .modinfo section of a module's ELF image: a run
// of NUL-terminated "key=value" strings.
func ParseModinfo(ko []byte) (Modinfo, error) {
	var mi Modinfo
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return mi, fmt.Errorf("module is not an ELF file: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return mi, fmt.Errorf("module has no .modinfo section")
	}
	if sec.Size > maxModuleBytes {
		return mi, fmt.Errorf(".modinfo section of %d bytes", sec.Size)
	}
	data, err := sec.Data()
	if err != nil {
		return mi, fmt.Errorf(".modinfo: %w", err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			mi.Name = v
		case "firmware":
			mi.Firmware = append(mi.Firmware, v)
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					mi.Depends = append(mi.Depends, d)
				}
			}
		case "softdep":
			mi.Softdep = append(mi.Softdep, v)
		}
	}
	return mi, nil
}
