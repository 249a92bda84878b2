package initramfs

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/kdumpkit/kdumpkit/internal/cpio"
)

// formatVersion changes whenever the builder lays out images differently,
// so images built by an older kdumpctl are rebuilt.
const formatVersion = "kdumpkit-initramfs 1"

// content returns an entry's bytes.
func (e Entry) content() ([]byte, error) {
	if e.Source == "" {
		return e.Data, nil
	}
	if e.Decompress {
		return ReadMaybeCompressed(e.Source)
	}
	b, err := os.ReadFile(e.Source)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Hash returns the SHA-256 of everything that goes into the image: the
// builder's format version, the compression, the kernel release and
// image, and each entry's name, mode and content. Equal hashes mean equal
// images; file times play no part.
func (p *Plan) Hash() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ncompression %s\nrelease %s\n", formatVersion, p.Compression, p.KernelRelease)
	if p.KernelImage != "" {
		f, err := os.Open(p.KernelImage)
		if err != nil {
			return "", fmt.Errorf("initramfs: kernel image: %w", err)
		}
		ks := sha256.New()
		_, err = io.Copy(ks, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("initramfs: kernel image: %w", err)
		}
		fmt.Fprintf(h, "kernel %x\n", ks.Sum(nil))
	}
	for _, e := range p.Entries {
		var sum [sha256.Size]byte
		if e.Source != "" {
			// The source's own bytes identify the content: decompression
			// is deterministic.
			b, err := os.ReadFile(e.Source)
			if err != nil {
				return "", fmt.Errorf("initramfs: %s: %w", e.Name, err)
			}
			sum = sha256.Sum256(b)
		} else {
			sum = sha256.Sum256(e.Data)
		}
		fmt.Fprintf(h, "%q %o %d:%d %v %x\n", e.Name, e.Mode, e.RDev[0], e.RDev[1], e.Decompress, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Write writes the compressed archive to w. Inode numbers follow the
// entry order and owners and times are zero, so the bytes depend only on
// the entries' contents.
func (p *Plan) Write(w io.Writer) error {
	var out io.Writer = w
	var closer io.Closer
	switch p.Compression {
	case CompressZstd:
		// One encoder goroutine keeps the output independent of the
		// machine's CPU count.
		zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("initramfs: zstd: %w", err)
		}
		out, closer = zw, zw
	case CompressGzip:
		gw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return fmt.Errorf("initramfs: gzip: %w", err)
		}
		out, closer = gw, gw
	case CompressNone:
	default:
		return fmt.Errorf("initramfs: unknown compression %q", p.Compression)
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	cw := cpio.NewWriter(bw)
	for _, e := range p.Entries {
		data := e.Data
		if e.Mode&cpio.TypeMask == cpio.TypeReg {
			var err error
			if data, err = e.content(); err != nil {
				return fmt.Errorf("initramfs: %s: %w", e.Name, err)
			}
		}
		h := &cpio.Header{Name: e.Name, Mode: e.Mode, Size: int64(len(data)), RDevMajor: e.RDev[0], RDevMinor: e.RDev[1]}
		if e.Mode&cpio.TypeMask == cpio.TypeDir || e.Mode&cpio.TypeMask == cpio.TypeChar {
			h.Size = 0
			data = nil
		}
		if err := cw.WriteHeader(h); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		if len(data) > 0 {
			if _, err := cw.Write(data); err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if closer != nil {
		if err := closer.Close(); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
	}
	return nil
}

// ImagePath is where kdumpctl keeps the capture initramfs of a kernel
// release: /var/lib/kdump, as RHEL's kdump-utils does when /boot is not
// writable and Debian's kdump-tools always does, with RHEL's file name.
func ImagePath(release string) string {
	return "/var/lib/kdump/initramfs-" + release + "kdump.img"
}

// HashSuffix is appended to the image path for the file that records the
// image's input hash.
const HashSuffix = ".hash"

// Result says what Build did.
type Result struct {
	Path    string
	Bytes   int64  // size of the image on disk
	Hash    string // input hash, as stored next to the image
	Rebuilt bool   // false: the image on disk already matched the inputs
	Plan    *Plan
}

// Build makes the image for spec at out unless out already exists and its
// recorded input hash equals the hash of the current inputs (force
// rebuilds anyway). The image is written to a temporary file, synced and
// renamed, so a crash never leaves a half-written image under its name;
// the hash file is written after it.
func Build(spec Spec, out string, force bool) (*Result, error) {
	plan, err := MakePlan(spec)
	if err != nil {
		return nil, err
	}
	sum, err := plan.Hash()
	if err != nil {
		return nil, err
	}
	res := &Result{Path: out, Hash: sum, Plan: plan}
	if !force {
		if old, err := os.ReadFile(out + HashSuffix); err == nil && strings.TrimSpace(string(old)) == sum {
			if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() {
				res.Bytes = fi.Size()
				return res, nil
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	// Remove the hash first: a crash between here and the end leaves
	// no hash, which forces a rebuild next time.
	if err := os.Remove(out + HashSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	if err := writeFileAtomic(out, 0o600, plan.Write); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(out+HashSuffix, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, sum+"\n")
		return err
	}); err != nil {
		return nil, err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	res.Bytes, res.Rebuilt = fi.Size(), true
	return res, nil
}

func writeFileAtomic(name string, perm os.FileMode, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("initramfs: %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("initramfs: %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	ok = true
	return nil
}
