package initramfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// ModuleDB is what depmod wrote for one kernel release: which module file
// provides which name, what each depends on, which names are built in,
// the aliases and the soft dependencies.
type ModuleDB struct {
	Dir     string              // the modules directory, e.g. /lib/modules/6.1.0-56-cloud-amd64
	Path    map[string]string   // module name → file relative to Dir
	Deps    map[string][]string // module name → names it needs, as modules.dep lists them
	Builtin map[string]bool     // names built into the kernel
	Aliases []Alias             // in modules.alias order
	SoftPre map[string][]string // softdep pre: names or aliases
	SoftPst map[string][]string // softdep post: names or aliases
}

// Alias is one "alias PATTERN MODULE" line of modules.alias.
type Alias struct {
	Pattern, Module string
}

// ModuleName turns a module file name or a name with dashes into the
// name the kernel uses: "kernel/fs/nfs/nfsv4.ko.xz" → "nfsv4",
// "dm-mod" → "dm_mod".
func ModuleName(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	b = strings.TrimSuffix(b, ".ko")
	return strings.ReplaceAll(b, "-", "_")
}

// LoadModuleDB reads modules.dep (required), modules.builtin,
// modules.alias and modules.softdep (each optional) from dir.
func LoadModuleDB(dir string) (*ModuleDB, error) {
	db := &ModuleDB{Dir: dir, Path: map[string]string{}, Deps: map[string][]string{},
		Builtin: map[string]bool{}, SoftPre: map[string][]string{}, SoftPst: map[string][]string{}}
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("modules of the capture kernel: %w (run depmod for that release)", err)
	}
	err = db.parseDep(f, f.Name())
	f.Close()
	if err != nil {
		return nil, err
	}
	for _, p := range []struct {
		name  string
		parse func(io.Reader, string) error
	}{{"modules.builtin", db.parseBuiltin}, {"modules.alias", db.parseAlias}, {"modules.softdep", db.parseSoftdep}} {
		f, err := os.Open(filepath.Join(dir, p.name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		err = p.parse(f, f.Name())
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return db, nil
}

// lines calls fn for every non-empty, non-comment line with its number.
func lines(r io.Reader, name string, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (db *ModuleDB) parseDep(r io.Reader, name string) error {
	return lines(r, name, func(n int, line string) error {
		file, deps, ok := strings.Cut(line, ":")
		if !ok || !strings.Contains(file, ".ko") {
			return fmt.Errorf("want \"path/module.ko: dependencies\", got %q", line)
		}
		if strings.HasPrefix(file, "/") || strings.Contains("/"+file+"/", "/../") {
			return fmt.Errorf("module path %q leaves the modules directory", file)
		}
		m := ModuleName(file)
		db.Path[m] = file
		var dn []string
		for _, d := range strings.Fields(deps) {
			dn = append(dn, ModuleName(d))
		}
		db.Deps[m] = dn
		return nil
	})
}

func (db *ModuleDB) parseBuiltin(r io.Reader, name string) error {
	return lines(r, name, func(n int, line string) error {
		db.Builtin[ModuleName(line)] = true
		return nil
	})
}

func (db *ModuleDB) parseAlias(r io.Reader, name string) error {
	return lines(r, name, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("want \"alias PATTERN MODULE\", got %q", line)
		}
		db.Aliases = append(db.Aliases, Alias{Pattern: f[1], Module: ModuleName(f[2])})
		return nil
	})
}

func (db *ModuleDB) parseSoftdep(r io.Reader, name string) error {
	return lines(r, name, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "softdep" {
			return fmt.Errorf("want \"softdep MODULE pre: ... post: ...\", got %q", line)
		}
		m := ModuleName(f[1])
		// Names before any pre:/post: ("softdep cifs gcm") load first,
		// like pre:.
		post := false
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				post = false
			case "post:":
				post = true
			default:
				if post {
					db.SoftPst[m] = append(db.SoftPst[m], w)
				} else {
					db.SoftPre[m] = append(db.SoftPre[m], w)
				}
			}
		}
		return nil
	})
}

// Lookup resolves a module name or an alias (a modalias such as
// "pci:v00001AF4d00001000..." or "fs-nfs4") to module names. A built-in
// name resolves to itself with builtin true. It returns nothing for an
// unknown name.
func (db *ModuleDB) Lookup(nameOrAlias string) (names []string, builtin bool) {
	n := ModuleName(nameOrAlias)
	if !strings.ContainsAny(nameOrAlias, ":*?[") {
		if _, ok := db.Path[n]; ok {
			return []string{n}, false
		}
		if db.Builtin[n] {
			return []string{n}, true
		}
	}
	seen := map[string]bool{}
	for _, a := range db.Aliases {
		if !seen[a.Module] && fnmatch(a.Pattern, nameOrAlias) {
			seen[a.Module] = true
			names = append(names, a.Module)
		}
	}
	sort.Strings(names)
	return names, false
}

// Closure returns the modules to load for the given names, each after
// all of its dependencies (hard ones from modules.dep, then the soft
// pre: dependencies), with built-in names left out. Every name must be a
// module or built in; soft dependencies that cannot be found are skipped,
// as modprobe does.
func (db *ModuleDB) Closure(names []string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(m string, chain []string) error
	visit = func(m string, chain []string) error {
		switch state[m] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, m), " → "))
		}
		if _, ok := db.Path[m]; !ok {
			if db.Builtin[m] {
				state[m] = 2
				return nil
			}
			return fmt.Errorf("module %s: not in %s/modules.dep and not built in (needed by %s)", m, db.Dir, strings.Join(chain, " → "))
		}
		state[m] = 1
		chain = append(chain, m)
		for _, soft := range db.SoftPre[m] {
			for _, s := range db.softNames(soft) {
				if state[s] == 0 {
					if err := visit(s, chain); err != nil {
						return err
					}
				}
			}
		}
		for _, d := range db.Deps[m] {
			if err := visit(d, chain); err != nil {
				return err
			}
		}
		state[m] = 2
		order = append(order, m)
		for _, soft := range db.SoftPst[m] {
			for _, s := range db.softNames(soft) {
				if state[s] == 0 {
					if err := visit(s, chain); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, n := range names {
		if err := visit(ModuleName(n), []string{"request"}); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// softNames resolves a soft dependency to modules that exist as files.
func (db *ModuleDB) softNames(s string) []string {
	names, builtin := db.Lookup(s)
	if builtin {
		return nil
	}
	var out []string
	for _, n := range names {
		if _, ok := db.Path[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// fnmatch matches s against a shell pattern with *, ? and [...] classes,
// where, unlike path.Match, '*' also matches '/': module aliases are not
// paths.
func fnmatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, -1
	for sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				px++
				sx++
				continue
			case '[':
				if ok, next, valid := matchClass(pattern, px, s[sx]); valid {
					if ok {
						px, sx = next, sx+1
						continue
					}
				} else if s[sx] == '[' {
					px, sx = px+1, sx+1
					continue
				}
			default:
				if c == s[sx] {
					px++
					sx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP+1, starS
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// matchClass matches c against the class starting at pattern[i] == '['.
// valid is false for an unterminated class (then '[' is literal).
func matchClass(pattern string, i int, c byte) (ok bool, next int, valid bool) {
	j := i + 1
	negate := false
	if j < len(pattern) && (pattern[j] == '!' || pattern[j] == '^') {
		negate = true
		j++
	}
	first := true
	for ; j < len(pattern); j++ {
		if pattern[j] == ']' && !first {
			return ok != negate, j + 1, true
		}
		first = false
		lo := pattern[j]
		hi := lo
		if j+2 < len(pattern) && pattern[j+1] == '-' && pattern[j+2] != ']' {
			hi = pattern[j+2]
			j += 2
		}
		if lo <= c && c <= hi {
			ok = true
		}
	}
	return false, 0, false
}
