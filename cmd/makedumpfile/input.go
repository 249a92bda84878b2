package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kdumpkit/kdumpkit/kernel"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// errWrongRelease is wrapped when the -i VMCOREINFO file describes another
// kernel than the dump; makedumpfile exits 2 then.
var errWrongRelease = errors.New("kernel release mismatch")

// maxVMCOREINFOFile caps -i: the kernel's note is one page.
const maxVMCOREINFOFile = 1 << 20

// withVMCOREINFO is a dump whose VMCOREINFO is replaced by -i's file.
type withVMCOREINFO struct {
	vmcore.Dump
	info []byte
}

func (d withVMCOREINFO) VMCOREINFO() []byte { return d.info }

// openInput opens VMCORE. With -i the returned src reads its VMCOREINFO
// from the file instead, after checking, as makedumpfile's check_release
// does, that the kernel in the dump (init_uts_ns found with the file's
// symbols) has the file's OSRELEASE. orig is the dump as opened (to close,
// and to ask for what the format itself records).
func (r *runner) openInput() (orig, src vmcore.Dump, err error) {
	orig, err = vmcore.OpenWith(r.cfg.VMCORE, vmcore.Options{NoMmap: r.cfg.NoMmap})
	if err != nil {
		return nil, nil, err
	}
	name := r.cfg.VMCOREINFOFile
	if name == "" {
		return orig, orig, nil
	}
	info, err := readVMCOREINFOFile(name)
	if err == nil {
		err = checkRelease(orig, info, name, r.cfg.VMCORE)
	}
	if err != nil {
		orig.Close()
		return nil, nil, err
	}
	r.m.debug("VMCOREINFO from %s instead of the dump's note\n", name)
	return orig, withVMCOREINFO{Dump: orig, info: info}, nil
}

func readVMCOREINFOFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open the vmcoreinfo file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxVMCOREINFOFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxVMCOREINFOFile {
		return nil, fmt.Errorf("%s: a VMCOREINFO file is at most %d bytes", name, maxVMCOREINFOFile)
	}
	if _, err := kernel.ParseVMCOREINFO(b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// checkRelease compares the release in the dump's memory with the file's.
func checkRelease(d vmcore.Dump, info []byte, infoName, dumpName string) error {
	vi, err := kernel.ParseVMCOREINFO(info)
	if err != nil {
		return err
	}
	x, err := kernel.NewX86_64(vi, d)
	if err != nil {
		return fmt.Errorf("%s: %w", infoName, err)
	}
	uts, err := kernel.ReadUtsname(vi, x)
	if err != nil {
		return fmt.Errorf("%s: %w", infoName, err)
	}
	if got, want := uts.Field(kernel.UtsRelease), vi.OSRelease(); got != want {
		return fmt.Errorf("%s and %s don't match: the file is for %q, the dump's kernel is %q: %w", infoName, dumpName, want, got, errWrongRelease)
	}
	return nil
}
