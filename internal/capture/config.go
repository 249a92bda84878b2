package capture

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

// Config is what capture-init acts on: the parsed kdump.conf the builder
// baked into the initramfs, with the collector line turned into engine
// settings, plus the module list.
type Config struct {
	Conf *kdumpconf.Config

	Level  filter.Level
	Method codec.Method
	// Flatten is the collector's -F. It is informational: the target
	// decides (a stream where files cannot seek), as kdump-utils adds or
	// removes -F by target.
	Flatten bool

	// Modules are loaded in this order: paths in the initramfs.
	Modules []string

	// KnownHosts and SSHKey are the in-image paths of the SSH files.
	KnownHosts, SSHKey string

	// Deadline bounds the whole capture (0: none); WaitTimeout bounds
	// each wait for a device, the network or a server.
	Deadline    time.Duration
	WaitTimeout time.Duration
}

// NewConfig resolves a parsed kdump.conf for the capture.
func NewConfig(kc *kdumpconf.Config, modules []string) (*Config, error) {
	c := &Config{
		Conf:        kc,
		Modules:     modules,
		Deadline:    kc.CaptureDeadline,
		WaitTimeout: kc.TargetWait,
		SSHKey:      "/etc/kdumpkit/id_ssh",
		KnownHosts:  "/etc/kdumpkit/known_hosts",
	}
	if c.WaitTimeout <= 0 {
		c.WaitTimeout = kdumpconf.DefaultTargetWait
	}
	if err := c.parseCollector(kc.Collector); err != nil {
		return nil, fmt.Errorf("%s:%d: core_collector: %w", kc.File, kc.Line("core_collector"), err)
	}
	return c, nil
}

// ReadModules reads the builder's module list: one absolute path per line.
func ReadModules(r io.Reader, name string) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !strings.HasPrefix(l, "/") {
			return nil, fmt.Errorf("%s:%d: %q is not an absolute path", name, n, l)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// parseCollector reads the makedumpfile options that matter to the
// in-process engine. Options it does not know are refused: silently
// ignoring one could write a dump the user did not ask for.
func (c *Config) parseCollector(args []string) error {
	if len(args) == 0 || !kdumpconf.IsMakedumpfile(args[0]) {
		return fmt.Errorf("only makedumpfile collectors run in-process, got %q", strings.Join(args, " "))
	}
	c.Method = codec.Raw
	c.Level = 0
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-c":
			c.Method = codec.Zlib
		case a == "-l":
			c.Method = codec.LZO
		case a == "-p":
			c.Method = codec.Snappy
		case a == "-z":
			c.Method = codec.Zstd
		case a == "-F":
			c.Flatten = true
		case a == "-d" || a == "--message-level":
			if i+1 >= len(args) {
				return fmt.Errorf("%s needs a value", a)
			}
			i++
			if a == "-d" {
				if err := c.setLevel(args[i]); err != nil {
					return err
				}
			}
		case strings.HasPrefix(a, "-d"):
			if err := c.setLevel(a[2:]); err != nil {
				return err
			}
		case strings.HasPrefix(a, "--message-level="):
		default:
			return fmt.Errorf("makedumpfile option %q is not supported in the capture kernel", a)
		}
	}
	return nil
}

func (c *Config) setLevel(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > int(filter.MaxLevel) {
		return fmt.Errorf("dump level %q: want 0 to %d", s, filter.MaxLevel)
	}
	c.Level = filter.Level(n)
	return nil
}
