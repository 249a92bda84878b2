package kdumpconf

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxLine caps one line; a longer one is an error, not an allocation.
const maxLine = 64 << 10

// maxProblems caps how many problems one file can produce, so a hostile
// file cannot make the error text grow without bound.
const maxProblems = 100

// ParseFile reads and parses a kdump.conf file.
func ParseFile(name string) (*Config, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read kdump config: %w", err)
	}
	defer f.Close()
	return Parse(f, name)
}

// Parse reads a kdump.conf from r; name prefixes every Problem. On
// success it returns the Config and nil. Otherwise the error is Errors
// listing every problem, and the returned Config (never nil, but not to
// be used for a capture) still carries the Warnings.
func Parse(r io.Reader, name string) (*Config, error) {
	p := &parser{cfg: Default(), file: name}
	p.cfg.File = name
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		p.line(n, sc.Text())
		if len(p.errs) >= maxProblems {
			p.errs = append(p.errs, newProblem(name, n, "too many problems; stopped reading"))
			return p.cfg, p.errs
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			p.errs = append(p.errs, newProblem(name, n+1, "line longer than %d bytes", maxLine))
		} else {
			p.errs = append(p.errs, newProblem(name, 0, "read: %v", err))
		}
		return p.cfg, p.errs
	}
	p.finish()
	byLine := func(a, b Problem) int { return a.Line - b.Line }
	slices.SortStableFunc(p.errs, byLine)
	slices.SortStableFunc(p.cfg.Warnings, byLine)
	if len(p.errs) > 0 {
		return p.cfg, p.errs
	}
	return p.cfg, nil
}

type parser struct {
	cfg  *Config
	file string
	errs Errors
	// collectorSet: core_collector was given (so ssh/raw need -F in it).
	collectorSet bool
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, newProblem(p.file, line, format, args...))
}

func (p *parser) warnf(line int, format string, args ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, newProblem(p.file, line, format, args...))
}

// directive is one kind of line: key is where duplicates are tracked,
// set stores the value (reporting its own problems).
type directive struct {
	key string
	set func(p *parser, line int, name string, args []string)
}

// removed are directives kdump-utils dropped; it rejects them too.
var removed = map[string]string{
	"net":             "use nfs <host:/export> or ssh <user@host>",
	"options":         "module options are not supported",
	"link_delay":      "use target_wait",
	"disk_timeout":    "use target_wait",
	"debug_mem_level": "not supported",
	"blacklist":       "not supported",
}

var directives map[string]directive

func init() {
	directives = map[string]directive{
		"path":                   {"path", setPath},
		"raw":                    {"target", setRaw},
		"nfs":                    {"target", setNFS},
		"ssh":                    {"target", setSSH},
		"sshkey":                 {"sshkey", setSSHKey},
		"core_collector":         {"core_collector", setCollector},
		"kdump_pre":              {"kdump_pre", setHook},
		"kdump_post":             {"kdump_post", setHook},
		"kdump_emergency":        {"kdump_emergency", setHook},
		"extra_bins":             {"extra_bins", setExtraBins},
		"extra_modules":          {"extra_modules", setExtraModules},
		"failure_action":         {"failure_action", setFailureAction},
		"default":                {"failure_action", setFailureAction},
		"final_action":           {"final_action", setFinalAction},
		"force_rebuild":          {"force_rebuild", setBool01},
		"force_no_rebuild":       {"force_no_rebuild", setBool01},
		"dracut_args":            {"dracut_args", setDracutArgs},
		"fence_kdump_args":       {"fence_kdump_args", setFence},
		"fence_kdump_nodes":      {"fence_kdump_nodes", setFence},
		"auto_reset_crashkernel": {"auto_reset_crashkernel", setAutoReset},
		"virtiofs":               {"target", setVirtiofs},

		"keep":               {"keep", setKeep},
		"min_free":           {"min_free", setMinFree},
		"capture_deadline":   {"capture_deadline", setDuration},
		"target_wait":        {"target_wait", setDuration},
		"ssh_known_hosts":    {"ssh_known_hosts", setKnownHosts},
		"ssh_host_key":       {"ssh_host_key", setHostKey},
		"ssh_port":           {"ssh_port", setSSHPort},
		"net_config":         {"net_config", setNetConfig},
		"net_interface":      {"net_interface", setNetInterface},
		"stream_compression": {"stream_compression", setCompression},
		"rootfs":             {"rootfs", setRootFS},
	}
	for _, t := range FSTypes {
		directives[t] = directive{"target", setFS}
	}
}

func (p *parser) line(n int, text string) {
	words, err := splitLine(text)
	if err != nil {
		p.errorf(n, "%v", err)
		return
	}
	if len(words) == 0 {
		return
	}
	name, args := words[0], words[1:]
	if hint, ok := removed[name]; ok {
		p.errorf(n, "%q was removed from kdump.conf: %s", name, hint)
		return
	}
	d, ok := directives[name]
	if !ok {
		p.errorf(n, "unknown directive %q", name)
		return
	}
	if prev := p.cfg.lines[d.key]; prev != 0 {
		if d.key == "target" {
			p.errorf(n, "more than one dump target: %q here and another on line %d", name, prev)
		} else {
			p.errorf(n, "%s given twice (first on line %d)", d.key, prev)
		}
		return
	}
	p.cfg.lines[d.key] = n
	if len(args) == 0 {
		p.errorf(n, "%s needs a value", name)
		return
	}
	d.set(p, n, name, args)
}

// one returns the single value of a directive, or reports extra words.
func (p *parser) one(line int, name string, args []string) (string, bool) {
	if len(args) != 1 {
		p.errorf(line, "%s takes one value, got %d (%s)", name, len(args), quoteWords(args))
		return "", false
	}
	return args[0], true
}

// absPath checks an absolute path value.
func (p *parser) absPath(line int, name, v string) (string, bool) {
	if !strings.HasPrefix(v, "/") {
		p.errorf(line, "%s %q: expected an absolute path", name, v)
		return "", false
	}
	if strings.ContainsRune(v, 0) {
		p.errorf(line, "%s: path contains a NUL byte", name)
		return "", false
	}
	return path.Clean(v), true
}

func setPath(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	if c, ok := p.absPath(line, name, v); ok {
		p.cfg.Path = c
	}
}

// checkDevice accepts the device spellings kdump-utils resolves.
func (p *parser) checkDevice(line int, name, dev string) bool {
	for _, pre := range []string{"UUID=", "LABEL=", "PARTUUID=", "PARTLABEL="} {
		if strings.HasPrefix(dev, pre) {
			if len(dev) == len(pre) {
				p.errorf(line, "%s %q: empty %s", name, dev, strings.TrimSuffix(pre, "="))
				return false
			}
			return true
		}
	}
	if strings.HasPrefix(dev, "/dev/") && len(dev) > len("/dev/") {
		return true
	}
	p.errorf(line, "%s %q: expected a device as /dev/..., UUID=, LABEL=, PARTUUID= or PARTLABEL=", name, dev)
	return false
}

func setFS(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok || !p.checkDevice(line, name, v) {
		return
	}
	p.cfg.Target = Target{Kind: TargetFS, FSType: name, Device: v, Line: line}
}

func setRaw(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok || !p.checkDevice(line, name, v) {
		return
	}
	p.cfg.Target = Target{Kind: TargetRaw, Device: v, Line: line}
}

func setVirtiofs(p *parser, line int, name string, args []string) {
	p.errorf(line, "virtiofs targets are not supported by kdumpkit")
}

// checkHost accepts a host name or an IP address.
func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if len(h) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host %q: bad name", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return fmt.Errorf("host %q: bad character %q", h, c)
			}
		}
	}
	return nil
}

func setNFS(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	var host, export string
	if strings.HasPrefix(v, "[") {
		end := strings.Index(v, "]:")
		if end < 0 {
			p.errorf(line, "nfs %q: expected [ipv6-address]:/export", v)
			return
		}
		host, export = v[1:end], v[end+2:]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			p.errorf(line, "nfs %q: %q is not an IPv6 address", v, host)
			return
		}
	} else {
		i := strings.Index(v, ":")
		if i < 0 {
			p.errorf(line, "nfs %q: expected host:/export", v)
			return
		}
		host, export = v[:i], v[i+1:]
		if err := checkHost(host); err != nil {
			p.errorf(line, "nfs %q: %v", v, err)
			return
		}
	}
	if !strings.HasPrefix(export, "/") {
		p.errorf(line, "nfs %q: export %q is not an absolute path", v, export)
		return
	}
	p.cfg.Target = Target{Kind: TargetNFS, Host: host, Export: path.Clean(export), Line: line}
}

func setSSH(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	user, host, found := strings.Cut(v, "@")
	if !found || user == "" {
		p.errorf(line, "ssh %q: expected user@host", v)
		return
	}
	if strings.ContainsAny(user, "@:/") {
		p.errorf(line, "ssh %q: bad user name %q", v, user)
		return
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			p.errorf(line, "ssh %q: %q is not an IPv6 address", v, host)
			return
		}
	}
	if err := checkHost(host); err != nil {
		p.errorf(line, "ssh %q: %v", v, err)
		return
	}
	p.cfg.Target = Target{Kind: TargetSSH, User: user, Host: host, Line: line}
}

func setSSHKey(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	if c, ok := p.absPath(line, name, v); ok {
		p.cfg.SSHKey = c
	}
}

func setCollector(p *parser, line int, name string, args []string) {
	// kdump-utils strips one pair of quotes around the whole value and
	// word-splits the rest: core_collector "makedumpfile -l -d 31" is a
	// command line, not a program name with spaces.
	if len(args) == 1 && strings.ContainsAny(args[0], " \t") {
		args = strings.Fields(args[0])
	}
	if len(args) == 0 {
		p.errorf(line, "core_collector needs a value")
		return
	}
	p.cfg.Collector = append([]string(nil), args...)
	p.collectorSet = true
	if !IsMakedumpfile(args[0]) {
		p.warnf(line, "core_collector %q: kdumpkit's capture environment runs only its built-in makedumpfile; another collector must be added with extra_bins", args[0])
	}
}

func setHook(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	c, ok := p.absPath(line, name, v)
	if !ok {
		return
	}
	switch name {
	case "kdump_pre":
		p.cfg.Hooks.Pre = c
	case "kdump_post":
		p.cfg.Hooks.Post = c
	case "kdump_emergency":
		p.cfg.Hooks.Emergency = c
	}
}

func setExtraBins(p *parser, line int, name string, args []string) {
	for _, a := range args {
		if c, ok := p.absPath(line, name, a); ok {
			p.cfg.ExtraBins = append(p.cfg.ExtraBins, c)
		}
	}
}

func setExtraModules(p *parser, line int, name string, args []string) {
	for _, a := range args {
		if strings.ContainsAny(a, "/=") || strings.HasSuffix(a, ".ko") {
			p.errorf(line, "extra_modules %q: expected a module name (like nvme or virtio_blk), not a file or an option", a)
			continue
		}
		p.cfg.ExtraModules = append(p.cfg.ExtraModules, a)
	}
}

func setFailureAction(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	switch a := Action(v); a {
	case ActionReboot, ActionHalt, ActionPoweroff, ActionShell, ActionDumpToRootfs:
		p.cfg.FailureAction = a
		if a == ActionShell {
			p.warnf(line, "failure_action shell: the capture initramfs has no shell unless one is added with extra_bins; without one final_action runs")
		}
	default:
		p.errorf(line, "%s %q: expected reboot, halt, poweroff, shell or dump_to_rootfs", name, v)
		return
	}
	if name == "default" {
		p.warnf(line, "\"default\" is deprecated; use failure_action")
	}
}

func setFinalAction(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	switch a := Action(v); a {
	case ActionReboot, ActionHalt, ActionPoweroff:
		p.cfg.FinalAction = a
	default:
		p.errorf(line, "final_action %q: expected reboot, halt or poweroff", v)
	}
}

func setBool01(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	var b bool
	switch v {
	case "0":
	case "1":
		b = true
	default:
		p.errorf(line, "%s %q: expected 0 or 1", name, v)
		return
	}
	if name == "force_rebuild" {
		p.cfg.ForceRebuild = b
	} else {
		p.cfg.ForceNoRebuild = b
	}
}

func setAutoReset(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	switch v {
	case "yes":
		p.cfg.AutoResetCrashkernel = true
	case "no":
		p.cfg.AutoResetCrashkernel = false
	default:
		p.errorf(line, "auto_reset_crashkernel %q: expected yes or no", v)
	}
}

func setDracutArgs(p *parser, line int, name string, args []string) {
	p.cfg.DracutArgs = append([]string(nil), args...)
	p.warnf(line, "dracut_args is not applicable: kdumpkit builds its initramfs without dracut; ignored")
}

func setFence(p *parser, line int, name string, args []string) {
	if name == "fence_kdump_args" {
		p.cfg.FenceKdumpArgs = append([]string(nil), args...)
	} else {
		p.cfg.FenceKdumpNodes = append([]string(nil), args...)
		for _, h := range args {
			if err := checkHost(h); err != nil {
				p.errorf(line, "fence_kdump_nodes: %v", err)
			}
		}
	}
	p.warnf(line, "%s: fence_kdump is not supported by kdumpkit; no fencing notice is sent", name)
}

func setKeep(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1<<20 {
		p.errorf(line, "keep %q: expected a whole number of dumps (0 keeps all)", v)
		return
	}
	p.cfg.Keep = n
}

// ParseSize parses a byte count with an optional binary suffix: 512,
// 64K, 200M, 2G, 1T (K = 1024). It is the syntax of min_free.
func ParseSize(s string) (uint64, error) {
	num, mult := s, uint64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		}
		if mult != 1 {
			num = s[:len(s)-1]
		}
	}
	if num == "" || num[0] < '0' || num[0] > '9' {
		return 0, fmt.Errorf("size %q: expected a number with an optional K, M, G or T suffix", s)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n > (1<<64-1)/mult {
		return 0, fmt.Errorf("size %q: expected a number with an optional K, M, G or T suffix, below 16E", s)
	}
	return n * mult, nil
}

// FormatSize renders a byte count in the largest exact unit, the inverse
// of ParseSize.
func FormatSize(n uint64) string {
	for _, u := range []struct {
		s     string
		shift uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.s
		}
	}
	return strconv.FormatUint(n, 10)
}

func setMinFree(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	n, err := ParseSize(v)
	if err != nil {
		p.errorf(line, "min_free: %v", err)
		return
	}
	p.cfg.MinFree = n
}

// maxDuration keeps durations printable and far from overflow.
const maxDuration = 7 * 24 * time.Hour

func setDuration(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	var d time.Duration
	if v != "none" && v != "0" {
		var err error
		d, err = time.ParseDuration(v)
		if err != nil || d <= 0 || d > maxDuration {
			p.errorf(line, "%s %q: expected a duration like 90s, 10m or 2h (at most 168h), or none", name, v)
			return
		}
		if d%time.Second != 0 {
			p.errorf(line, "%s %q: use whole seconds", name, v)
			return
		}
	}
	if name == "capture_deadline" {
		p.cfg.CaptureDeadline = d
	} else {
		if d == 0 {
			p.errorf(line, "target_wait %q: the wait for the target needs a bound", v)
			return
		}
		p.cfg.TargetWait = d
	}
}

func setKnownHosts(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	if c, ok := p.absPath(line, name, v); ok {
		p.cfg.SSHKnownHosts = c
	}
}

// hostKeyTypes are the public key algorithms a pinned key may name.
var hostKeyTypes = []string{
	"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

func setHostKey(p *parser, line int, name string, args []string) {
	// A known_hosts style line may start with host patterns; a pin is
	// the key alone, so accept "<type> <base64> [comment]".
	if len(args) < 2 {
		p.errorf(line, "ssh_host_key: expected \"<type> <base64 key>\" as in the server's /etc/ssh/ssh_host_*_key.pub")
		return
	}
	typ, blob := args[0], args[1]
	if !slices.Contains(hostKeyTypes, typ) {
		p.errorf(line, "ssh_host_key: unknown key type %q (expected one of %s)", typ, strings.Join(hostKeyTypes, ", "))
		return
	}
	raw, err := base64.StdEncoding.DecodeString(blob)
	if err != nil || len(raw) < 4 {
		p.errorf(line, "ssh_host_key: key is not valid base64")
		return
	}
	// The blob starts with the length-prefixed type name; a mismatch
	// means the line was pasted wrong.
	n := uint32(raw[0])<<24 | uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3])
	if uint64(n)+4 > uint64(len(raw)) || string(raw[4:4+n]) != typ {
		p.errorf(line, "ssh_host_key: the key data does not hold a %s key", typ)
		return
	}
	p.cfg.SSHHostKey = typ + " " + blob
}

func setSSHPort(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		p.errorf(line, "ssh_port %q: expected a port number 1-65535", v)
		return
	}
	p.cfg.SSHPort = n
}

func setNetConfig(p *parser, line int, name string, args []string) {
	switch NetMode(args[0]) {
	case NetAuto, NetDHCP:
		if len(args) != 1 {
			p.errorf(line, "net_config %s takes no further values", args[0])
			return
		}
		p.cfg.Net.Mode = NetMode(args[0])
	case NetStatic:
		if len(args) < 2 {
			p.errorf(line, "net_config static: expected <address/prefix> [gateway] [dns...]")
			return
		}
		pfx, err := netip.ParsePrefix(args[1])
		if err != nil {
			p.errorf(line, "net_config static %q: expected an address with a prefix length, like 192.0.2.10/24", args[1])
			return
		}
		n := Net{Mode: NetStatic, Address: pfx, Interface: p.cfg.Net.Interface}
		if len(args) > 2 && args[2] != "-" {
			gw, err := netip.ParseAddr(args[2])
			if err != nil || gw.Is4() != pfx.Addr().Is4() {
				p.errorf(line, "net_config static: gateway %q is not an address of the same family as %s (use - for none)", args[2], pfx)
				return
			}
			n.Gateway = gw
		}
		for _, d := range args[min(3, len(args)):] {
			a, err := netip.ParseAddr(d)
			if err != nil {
				p.errorf(line, "net_config static: DNS server %q is not an IP address", d)
				return
			}
			n.DNS = append(n.DNS, a)
		}
		p.cfg.Net = n
	default:
		p.errorf(line, "net_config %q: expected auto, dhcp or static", args[0])
	}
}

func setNetInterface(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	if hw, err := net.ParseMAC(v); err == nil {
		p.cfg.Net.Interface = hw.String()
		return
	}
	if len(v) > 15 || strings.ContainsAny(v, "/:") || v == "." || v == ".." {
		p.errorf(line, "net_interface %q: expected an interface name (at most 15 characters) or a MAC address", v)
		return
	}
	p.cfg.Net.Interface = v
}

func setCompression(p *parser, line int, name string, args []string) {
	v, ok := p.one(line, name, args)
	if !ok {
		return
	}
	switch c := Compression(v); c {
	case CompressionNone, CompressionLZ4, CompressionXZ:
		p.cfg.StreamCompression = c
	default:
		p.errorf(line, "stream_compression %q: expected none, lz4 or xz", v)
	}
}

func setRootFS(p *parser, line int, name string, args []string) {
	if len(args) != 2 {
		p.errorf(line, "rootfs: expected <fstype> <device>")
		return
	}
	if !slices.Contains(FSTypes, args[0]) {
		p.errorf(line, "rootfs %q: expected a file system type (%s)", args[0], strings.Join(FSTypes, ", "))
		return
	}
	if !p.checkDevice(line, name, args[1]) {
		return
	}
	p.cfg.RootFS = &RootFS{FSType: args[0], Device: args[1]}
}

// finish applies defaults that depend on several directives and checks
// how directives combine.
func (p *parser) finish() {
	c := p.cfg
	l := c.lines
	if c.ForceRebuild && c.ForceNoRebuild {
		p.errorf(max(l["force_rebuild"], l["force_no_rebuild"]), "force_rebuild 1 and force_no_rebuild 1 contradict each other")
	}
	t := c.Target
	if !p.collectorSet && t.Flattened() {
		c.Collector = append(c.Collector, "-F")
	}
	if p.collectorSet && t.Flattened() && IsMakedumpfile(c.Collector[0]) && !slices.Contains(c.Collector, "-F") {
		p.errorf(l["core_collector"], "core_collector: the %s target needs makedumpfile's -F option (the dump is sent as a stream)", t.Kind)
	}
	// Ignored directives are reset to their defaults so that the Config
	// holds only what takes effect (and Canonical round-trips).
	if t.Kind != TargetSSH {
		for _, d := range []string{"sshkey", "ssh_known_hosts", "ssh_host_key", "ssh_port"} {
			if l[d] != 0 {
				p.warnf(l[d], "%s is ignored: the dump target is not ssh", d)
			}
		}
		c.SSHKey, c.SSHKnownHosts, c.SSHHostKey, c.SSHPort = DefaultSSHKey, "", "", DefaultSSHPort
	}
	if l["ssh_known_hosts"] != 0 && l["ssh_host_key"] != 0 {
		p.errorf(max(l["ssh_known_hosts"], l["ssh_host_key"]), "ssh_known_hosts and ssh_host_key both say how to check the host key; give one")
	}
	if !t.Network() {
		for _, d := range []string{"net_config", "net_interface"} {
			if l[d] != 0 {
				p.warnf(l[d], "%s is ignored: the dump target does not use the network", d)
			}
		}
		c.Net = Net{Mode: NetAuto}
	}
	if c.StreamCompression != CompressionNone && !t.Flattened() {
		p.errorf(l["stream_compression"], "stream_compression applies to ssh and raw targets only (file dumps are compressed page by page)")
	}
	if l["rootfs"] != 0 && c.FailureAction != ActionDumpToRootfs {
		p.warnf(l["rootfs"], "rootfs is ignored: failure_action is not dump_to_rootfs")
		c.RootFS = nil
	}
	if c.MinFree != 0 && t.Kind == TargetRaw {
		p.warnf(l["min_free"], "min_free is ignored for a raw target")
		c.MinFree = 0
	}
	if c.Keep != 0 && t.Kind == TargetRaw {
		p.warnf(l["keep"], "keep is ignored for a raw target")
		c.Keep = 0
	}
	if c.CaptureDeadline != 0 && c.CaptureDeadline <= c.TargetWait {
		p.errorf(l["capture_deadline"], "capture_deadline %v is not longer than target_wait %v", c.CaptureDeadline, c.TargetWait)
	}
}
