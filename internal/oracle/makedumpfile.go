package oracle

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/flock"
)

// Makedumpfile is a C makedumpfile to compare with: the host's (Debian
// 12's 1.7.2) or one installed in a chroot (Debian sid's, 1.7.8 or newer).
type Makedumpfile struct {
	// Root is the chroot directory the program runs in; empty for the
	// host's program.
	Root string
	// Path is the program, inside Root when Root is set.
	Path string
	// Version is the first line of `makedumpfile -v`, e.g.
	// "makedumpfile: version 1.7.8 (released on 30 Oct 2025)".
	Version string
}

// chrootWorkDir is where Command bind-mounts its directory inside a
// chroot.
const chrootWorkDir = "/kdumpkit-work"

// SidRootName is the sid chroot's directory name in the cache directory.
const SidRootName = "sid-root"

// sidComplete marks a finished sid chroot.
const sidComplete = ".kdumpkit-complete"

// HostMakedumpfile returns the host's makedumpfile.
func HostMakedumpfile(ctx context.Context) (*Makedumpfile, error) {
	path, err := LookPath("makedumpfile")
	if err != nil {
		return nil, err
	}
	m := &Makedumpfile{Path: path}
	if err := m.readVersion(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// NeedsNewMakedumpfile reports whether a kernel release is too new for
// Debian 12's makedumpfile 1.7.2 to filter correctly: it predates the
// memory-management changes of 6.2 and later (folios, page types), so it
// is a valid oracle for 6.1 and older only.
func NeedsNewMakedumpfile(release string) bool {
	major, minor, ok := kernelVersion(release)
	if !ok {
		return true
	}
	return major > 6 || major == 6 && minor >= 2
}

// kernelVersion parses the leading "MAJOR.MINOR" of a kernel release.
func kernelVersion(release string) (major, minor int, ok bool) {
	m := regexp.MustCompile(`^(\d+)\.(\d+)`).FindStringSubmatch(release)
	if m == nil {
		return 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return major, minor, true
}

// MakedumpfileFor returns the makedumpfile that is the filtering oracle for
// a kernel release: the host's 1.7.2 for 6.1 and older, sid's (from a
// chroot under cacheDir, built on first use, see SidMakedumpfile) for newer
// kernels.
func MakedumpfileFor(ctx context.Context, cacheDir, release string, log io.Writer) (*Makedumpfile, error) {
	if NeedsNewMakedumpfile(release) {
		return SidMakedumpfile(ctx, cacheDir, log)
	}
	return HostMakedumpfile(ctx)
}

// SidMakedumpfile returns the makedumpfile of a Debian sid chroot in
// cacheDir/sid-root, creating the chroot first if it does not exist
// (`debootstrap --variant=minbase sid` from the host's Debian mirror, then
// `apt-get install makedumpfile` in it; about half a minute and 430 MB).
// Concurrent callers, also in other processes, wait for one another.
// It needs root and debootstrap.
func SidMakedumpfile(ctx context.Context, cacheDir string, log io.Writer) (*Makedumpfile, error) {
	if log == nil {
		log = io.Discard
	}
	root := filepath.Join(cacheDir, SidRootName)
	if _, err := os.Stat(filepath.Join(root, sidComplete)); err != nil {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("oracle: %w", err)
		}
		unlock, err := flock.Lock(ctx, filepath.Join(cacheDir, ".lock-"+SidRootName))
		if err != nil {
			return nil, err
		}
		err = buildSidRoot(ctx, cacheDir, root, log)
		unlock()
		if err != nil {
			return nil, err
		}
	}
	out, err := exec.CommandContext(ctx, "chroot", root, "/bin/sh", "-c", "command -v makedumpfile").Output()
	if err != nil {
		return nil, fmt.Errorf("oracle: no makedumpfile in %s: %w", root, err)
	}
	m := &Makedumpfile{Root: root, Path: strings.TrimSpace(string(out))}
	if err := m.readVersion(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// buildSidRoot creates the sid chroot unless it is complete. Call it with
// the lock held.
func buildSidRoot(ctx context.Context, cacheDir, root string, log io.Writer) error {
	if _, err := os.Stat(filepath.Join(root, sidComplete)); err == nil {
		return nil
	}
	deb, err := LookPath("debootstrap")
	if err != nil {
		return fmt.Errorf("oracle: a sid chroot for makedumpfile needs debootstrap (scripts/install-deps.sh): %w", err)
	}
	// A leftover of a killed build: nothing is mounted in it (Command
	// mounts only in private mount namespaces), so it can go.
	tmp := filepath.Join(cacheDir, "."+SidRootName+"-build")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("oracle: %w", err)
	}
	mirror := DebianMirror()
	if mirror == "" {
		return fmt.Errorf("oracle: no Debian archive in /etc/apt sources; set KDUMPKIT_DEBIAN_MIRROR")
	}
	start := time.Now()
	fmt.Fprintf(log, "oracle: debootstrap --variant=minbase sid %s %s\n", tmp, mirror)
	if err := runLogged(ctx, log, deb, "--variant=minbase", "sid", tmp, mirror); err != nil {
		return fmt.Errorf("oracle: debootstrap sid: %w", err)
	}
	// The mirror may be a snapshot whose Release files have expired.
	if err := os.WriteFile(filepath.Join(tmp, "etc/apt/apt.conf.d/99kdumpkit"),
		[]byte("Acquire::Check-Valid-Until \"false\";\n"), 0o644); err != nil {
		return fmt.Errorf("oracle: %w", err)
	}
	for _, args := range [][]string{
		{"apt-get", "update", "-q"},
		{"apt-get", "install", "-q", "-y", "--no-install-recommends", "makedumpfile"},
		{"apt-get", "clean"},
	} {
		cmd := append([]string{tmp, "/usr/bin/env", "DEBIAN_FRONTEND=noninteractive"}, args...)
		if err := runLogged(ctx, log, "chroot", cmd...); err != nil {
			return fmt.Errorf("oracle: in the sid chroot: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(tmp, chrootWorkDir), 0o755); err != nil {
		return fmt.Errorf("oracle: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, sidComplete), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return fmt.Errorf("oracle: %w", err)
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("oracle: %w", err)
	}
	if err := os.Rename(tmp, root); err != nil {
		return fmt.Errorf("oracle: %w", err)
	}
	fmt.Fprintf(log, "oracle: sid chroot ready in %s (%.0fs)\n", root, time.Since(start).Seconds())
	return nil
}

// runLogged runs a command; on failure the error holds its output's tail.
func runLogged(ctx context.Context, log io.Writer, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		s := out.String()
		if len(s) > 3000 {
			s = s[len(s)-3000:]
		}
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, s)
	}
	return nil
}

// DebianMirror returns the Debian archive URI the host's apt uses for its
// main (non-security) suites: $KDUMPKIT_DEBIAN_MIRROR if set, else the
// first such URI in /etc/apt/sources.list.d/*.sources or
// /etc/apt/sources.list, else "".
func DebianMirror() string {
	if m := os.Getenv("KDUMPKIT_DEBIAN_MIRROR"); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			if uri := mirrorFromDeb822(string(b)); uri != "" {
				return uri
			}
		}
	}
	if b, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		if uri := mirrorFromOneLine(string(b)); uri != "" {
			return uri
		}
	}
	return ""
}

// isDebianMain reports whether a source URI looks like Debian's main
// archive (not the security archive, not a third-party repository).
func isDebianMain(uri string) bool {
	return strings.HasSuffix(strings.TrimRight(uri, "/"), "/debian")
}

// mirrorFromDeb822 returns the first Debian main archive URI of a deb822
// sources file.
func mirrorFromDeb822(s string) string {
	for _, stanza := range regexp.MustCompile(`\n\s*\n`).Split(s, -1) {
		var uris []string
		deb := false
		for _, line := range strings.Split(stanza, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			switch strings.TrimSpace(k) {
			case "URIs":
				uris = strings.Fields(v)
			case "Types":
				deb = strings.Contains(" "+v+" ", " deb ")
			}
		}
		for _, u := range uris {
			if deb && isDebianMain(u) {
				return u
			}
		}
	}
	return ""
}

// mirrorFromOneLine returns the first Debian main archive URI of a
// one-line-style sources.list.
func mirrorFromOneLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "deb" {
			uri := f[1]
			if strings.HasPrefix(uri, "[") { // options
				for i := 1; i < len(f); i++ {
					if strings.HasSuffix(f[i], "]") && i+1 < len(f) {
						uri = f[i+1]
						break
					}
				}
			}
			if isDebianMain(uri) {
				return uri
			}
		}
	}
	return ""
}

func (m *Makedumpfile) readVersion(ctx context.Context) error {
	// makedumpfile -v exits non-zero on some versions; only the text matters.
	cmd, err := m.Command(ctx, os.TempDir(), "-v")
	if err != nil {
		return err
	}
	out, _ := cmd.CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !strings.Contains(line, "version") {
		return fmt.Errorf("oracle: %s -v: %q", m, strings.TrimSpace(string(out)))
	}
	m.Version = strings.TrimSpace(line)
	return nil
}

// String names the program, e.g. "/usr/sbin/makedumpfile" or
// "/var/cache/kdumpkit/sid-root:/usr/bin/makedumpfile".
func (m *Makedumpfile) String() string {
	if m.Root == "" {
		return m.Path
	}
	return m.Root + ":" + m.Path
}

// chrootScript runs in a private mount namespace (unshare): it bind-mounts
// the work directory and mounts /proc in the chroot (makedumpfile sizes its
// buffers from /proc/meminfo and loops forever without it), then runs the
// program there. The mounts vanish with the namespace when the program
// exits, whichever way.
const chrootScript = `set -e
root=$1; dir=$2; shift 2
mount --bind "$dir" "$root` + chrootWorkDir + `"
mount -t proc proc "$root/proc"
exec chroot "$root" /bin/sh -c 'cd ` + chrootWorkDir + ` && exec "$@"' sh "$@"
`

// Command returns the command that runs makedumpfile with args in dir.
// File names in args must be relative to dir (in a chroot, dir is
// bind-mounted at /kdumpkit-work, and only it is visible). Standard
// streams are the caller's to set, as for exec.Command.
func (m *Makedumpfile) Command(ctx context.Context, dir string, args ...string) (*exec.Cmd, error) {
	if m.Root == "" {
		cmd := exec.CommandContext(ctx, m.Path, args...)
		cmd.Dir = dir
		return cmd, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("oracle: %w", err)
	}
	unshare, err := LookPath("unshare")
	if err != nil {
		return nil, err
	}
	// unshare and the shells exec one another, so the program keeps the
	// process (and ctx's kill reaches it).
	cmd := exec.CommandContext(ctx, unshare, append([]string{"--mount", "--propagation", "private", "--",
		"/bin/sh", "-c", chrootScript, "sh", m.Root, abs, m.Path}, args...)...)
	cmd.Dir = abs
	return cmd, nil
}

// LookPath finds a program in PATH or, since tests and CI may run with a
// PATH that lacks them, in the sbin and bin directories.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("oracle: %s not found in PATH", name)
}

// Stats is makedumpfile's --show-stats report: page counts per class of
// one run. The classes are those of makedumpfile's dump levels: zero pages
// (-d 1), non-private and private cache (-d 2, -d 4), user data (-d 8,
// anonymous and hugetlb pages), free pages (-d 16), and hwpoison and
// offline pages, which makedumpfile always excludes.
type Stats struct {
	Original        uint64 `json:"original"`          // "Original pages": pages in the input (not holes)
	Excluded        uint64 `json:"excluded"`          // "Excluded pages": sum of the classes below
	Zero            uint64 `json:"zero"`              // "Pages filled with zero"
	NonPrivateCache uint64 `json:"non_private_cache"` // "Non-private cache pages"
	PrivateCache    uint64 `json:"private_cache"`     // "Private cache pages"
	UserData        uint64 `json:"user_data"`         // "User process data pages"
	Free            uint64 `json:"free"`              // "Free pages"
	Hwpoison        uint64 `json:"hwpoison"`          // "Hwpoison pages"
	Offline         uint64 `json:"offline"`           // "Offline pages"
	Remaining       uint64 `json:"remaining"`         // "Remaining pages": Original - Excluded
	MemoryHole      uint64 `json:"memory_hole"`       // "Memory Hole"
	Total           uint64 `json:"total"`             // "Total pages": Original + MemoryHole
	WriteBytes      uint64 `json:"write_bytes"`       // "Write bytes"
	// All holds every "label : number" line of the report by its label,
	// including ones a newer makedumpfile may add.
	All map[string]uint64 `json:"all"`
}

// statsLabels maps the report's labels to Stats fields; every one must be
// present.
var statsLabels = map[string]func(*Stats) *uint64{
	"Original pages":          func(s *Stats) *uint64 { return &s.Original },
	"Excluded pages":          func(s *Stats) *uint64 { return &s.Excluded },
	"Pages filled with zero":  func(s *Stats) *uint64 { return &s.Zero },
	"Non-private cache pages": func(s *Stats) *uint64 { return &s.NonPrivateCache },
	"Private cache pages":     func(s *Stats) *uint64 { return &s.PrivateCache },
	"User process data pages": func(s *Stats) *uint64 { return &s.UserData },
	"Free pages":              func(s *Stats) *uint64 { return &s.Free },
	"Hwpoison pages":          func(s *Stats) *uint64 { return &s.Hwpoison },
	"Offline pages":           func(s *Stats) *uint64 { return &s.Offline },
	"Remaining pages":         func(s *Stats) *uint64 { return &s.Remaining },
	"Memory Hole":             func(s *Stats) *uint64 { return &s.MemoryHole },
	"Total pages":             func(s *Stats) *uint64 { return &s.Total },
	"Write bytes":             func(s *Stats) *uint64 { return &s.WriteBytes },
}

var statsLineRE = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z -]*?)\s*:\s*(0x[0-9a-fA-F]+|[0-9]+)\s*$`)

// ParseStats parses the --show-stats report in makedumpfile's output
// (1.7.x prints page counts as 0x-prefixed hex, "Write bytes" in decimal;
// both forms are accepted for every line). It checks that the classes add
// up to Excluded and that Original = Excluded + Remaining.
func ParseStats(out string) (*Stats, error) {
	s := &Stats{All: map[string]uint64{}}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		m := statsLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseUint(m[2], 0, 64)
		if err != nil {
			return nil, fmt.Errorf("oracle: stats line %q: %w", line, err)
		}
		label := m[1]
		s.All[label] = v
		if f, ok := statsLabels[label]; ok {
			*f(s) = v
			seen[label] = true
		}
	}
	var missing []string
	for l := range statsLabels {
		if !seen[l] {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("oracle: makedumpfile stats report lacks %q", missing)
	}
	if sum := s.Zero + s.NonPrivateCache + s.PrivateCache + s.UserData + s.Free + s.Hwpoison + s.Offline; sum != s.Excluded {
		// A newer makedumpfile may count a class this struct does not
		// name; All has it.
		var extra uint64
		for l, v := range s.All {
			if strings.HasSuffix(l, " pages") && statsLabels[l] == nil {
				extra += v
			}
		}
		if sum+extra != s.Excluded {
			return nil, fmt.Errorf("oracle: makedumpfile stats: classes add up to %d, excluded pages %d", sum+extra, s.Excluded)
		}
	}
	if s.Excluded+s.Remaining != s.Original {
		return nil, fmt.Errorf("oracle: makedumpfile stats: excluded %d + remaining %d != original %d", s.Excluded, s.Remaining, s.Original)
	}
	return s, nil
}
