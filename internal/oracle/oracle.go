package oracle

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kdumpkit/kdumpkit/mem"
)

//go:embed libkdumpfile.py
var libkdumpfileScript []byte

// Python is Debian's interpreter; another python3 earlier in PATH would
// not see Debian's python3-libkdumpfile.
const Python = "/usr/bin/python3"

// HaveLibkdumpfile reports whether python3-libkdumpfile can be imported.
func HaveLibkdumpfile() bool {
	return exec.Command(Python, "-c", "import kdumpfile").Run() == nil
}

// PageResult is libkdumpfile's answer for one page: the SHA-256 of its
// contents, or the error it gave.
type PageResult struct {
	SHA256 string
	Err    string
}

// LibkdumpfilePages reads the given pfns from files (one dump, or the
// members of a split set) with libkdumpfile.
func LibkdumpfilePages(dir string, pageSize int, files []string, pfns []mem.PFN) (map[mem.PFN]PageResult, error) {
	script := filepath.Join(dir, "libkdumpfile.py")
	if err := os.WriteFile(script, libkdumpfileScript, 0o700); err != nil {
		return nil, err
	}
	var in bytes.Buffer
	for _, p := range pfns {
		fmt.Fprintf(&in, "%x\n", uint64(p))
	}
	cmd := exec.Command(Python, append([]string{script, strconv.Itoa(pageSize)}, files...)...)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("libkdumpfile reader: %w: %s", err, stderr.String())
	}
	res := make(map[mem.PFN]PageResult, len(pfns))
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) < 2 {
			return nil, fmt.Errorf("libkdumpfile reader: bad line %q", sc.Text())
		}
		pfn, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("libkdumpfile reader: bad pfn in %q", sc.Text())
		}
		if f[1] == "ERR" {
			msg := ""
			if len(f) == 3 {
				msg = f[2]
			}
			res[mem.PFN(pfn)] = PageResult{Err: msg}
			continue
		}
		res[mem.PFN(pfn)] = PageResult{SHA256: f[1]}
	}
	if len(res) != len(pfns) {
		return nil, fmt.Errorf("libkdumpfile reader answered %d of %d pages; stderr: %s", len(res), len(pfns), stderr.String())
	}
	return res, nil
}
