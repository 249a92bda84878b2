package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinkedPackages guards the size of the binary, which is most of its
// resident set in the capture kernel (the binary's pages are touched
// through nearly all of it, and every package's init runs): nothing
// makedumpfile links may import the packages below, except the imports
// listed in allowed. xz/lz4 stream wrappers (codec/stream), klauspost's
// s2/snappy and encoding/json were once linked for features makedumpfile
// does not use, about 250 KB.
func TestLinkedPackages(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command:", err)
	}
	forbidden := []string{
		"crypto", "encoding/json", "log", "net", "regexp", "text/template", "html",
		"github.com/kdumpkit/kdumpkit/codec/stream",
		"github.com/ulikunitz/xz",
		"github.com/pierrec/lz4",
		"github.com/klauspost/compress/s2",
		"github.com/klauspost/compress/snappy",
		"github.com/klauspost/compress/zstd",
	}
	// No exceptions: zstd pages have our own encoder and decoder now
	// (klauspost's zstd package imported crypto/rand and log).
	allowed := map[string]bool{}
	isForbidden := func(p string) bool {
		for _, f := range forbidden {
			if p == f || strings.HasPrefix(p, f+"/") {
				return true
			}
		}
		return false
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || isForbidden(f[0]) {
			continue // a forbidden package's own imports are reported at their importer
		}
		for _, imp := range f[1:] {
			if isForbidden(imp) && !allowed[f[0]+" "+imp] {
				t.Errorf("%s imports %s, which makedumpfile must not link", f[0], imp)
			}
		}
	}
}
