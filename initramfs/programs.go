package initramfs

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path"
	"strings"
)

// libDirs are searched for shared libraries named by DT_NEEDED, in the
// order the Debian and Red Hat dynamic linkers use for the usual
// multiarch and lib64 layouts.
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// programFiles returns prog and every file it needs to run: for an ELF
// executable its interpreter and the shared libraries it needs,
// transitively; for a script the interpreter of its #! line and what
// that needs. Paths are absolute on the build machine and are stored at
// the same paths in the image.
func programFiles(prog string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var add func(p string, needFrom string) error
	add = func(p, needFrom string) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		fi, err := os.Stat(p)
		if err != nil {
			if needFrom != "" {
				return fmt.Errorf("%s (needed by %s): %w", p, needFrom, err)
			}
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		out = append(out, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		head := make([]byte, 256)
		n, _ := f.Read(head)
		f.Close()
		head = head[:n]
		if bytes.HasPrefix(head, []byte("#!")) {
			line, _, _ := bytes.Cut(head[2:], []byte("\n"))
			fields := strings.Fields(string(line))
			if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
				return fmt.Errorf("%s: #! line names no absolute interpreter", p)
			}
			return add(fields[0], p)
		}
		if !bytes.HasPrefix(head, []byte(elf.ELFMAG)) {
			return nil // data file or something the kernel runs by itself
		}
		ef, err := elf.Open(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		defer ef.Close()
		for _, ph := range ef.Progs {
			if ph.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, ph.Filesz)
			if _, err := ph.ReadAt(b, 0); err != nil {
				return fmt.Errorf("%s: PT_INTERP: %w", p, err)
			}
			if err := add(string(bytes.TrimRight(b, "\x00")), p); err != nil {
				return err
			}
		}
		libs, err := ef.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: DT_NEEDED: %w", p, err)
		}
		for _, lib := range libs {
			found := ""
			if strings.Contains(lib, "/") {
				found = lib
			} else {
				for _, d := range libDirs {
					if _, err := os.Stat(path.Join(d, lib)); err == nil {
						found = path.Join(d, lib)
						break
					}
				}
			}
			if found == "" {
				return fmt.Errorf("%s needs %s, not found in %s", p, lib, strings.Join(libDirs, " "))
			}
			if err := add(found, p); err != nil {
				return err
			}
		}
		return nil
	}
	if !strings.HasPrefix(prog, "/") {
		return nil, fmt.Errorf("program %q: want an absolute path", prog)
	}
	if err := add(path.Clean(prog), ""); err != nil {
		return nil, err
	}
	return out, nil
}
