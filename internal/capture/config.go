package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/collector"
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

	// MoreLevels are the further -d levels of a list like -d 1,31:
	// as makedumpfile, a dump that fills the target is tried again at
	// the next level, in the same dump directory.
	MoreLevels []filter.Level

	// CyclicBuffer is the collector's --cyclic-buffer in bytes (0 when
	// not given): the budget of the dump's keep map, beyond which
	// mem_map is walked twice, a window at a time.
	CyclicBuffer int64

	// Stream is kdump.conf's stream_compression: the container a
	// flattened vmcore (ssh exec mode, raw) is wrapped in, StreamNone
	// for none. Seekable targets take kdump-compressed files and ignore
	// it.
	Stream codec.Stream

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
	switch kc.StreamCompression {
	case "", kdumpconf.CompressionNone:
	case kdumpconf.CompressionLZ4:
		c.Stream = codec.StreamLZ4
	case kdumpconf.CompressionXZ:
		c.Stream = codec.StreamXZ
	default:
		return nil, fmt.Errorf("%s:%d: stream_compression: unknown %q, want none, lz4 or xz", kc.File, kc.Line("stream_compression"), kc.StreamCompression)
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

// parseCollector reads the core_collector line with package collector,
// as makedumpfile would get it from kdump-utils' capture script (the
// input and output appended), and keeps what the in-process engine acts
// on. Options it cannot honour in the capture kernel are refused: silently
// ignoring one could write a dump the user did not ask for.
func (c *Config) parseCollector(argv []string) error {
	if len(argv) == 0 || !kdumpconf.IsMakedumpfile(argv[0]) {
		return fmt.Errorf("only makedumpfile collectors run in-process, got %q", strings.Join(argv, " "))
	}
	for _, a := range argv[1:] {
		if a == "-F" {
			c.Flatten = true
		}
	}
	args := append(slices.Clone(c.Conf.CollectorArgs(false)[1:]), "/proc/vmcore", "vmcore")
	o, err := collector.Parse(args)
	if err != nil {
		return err
	}
	switch {
	case o.Mode != collector.ModeCreate || len(o.DumpFiles) > 0:
		return errors.New("only a plain dump (no --split, --reassemble, --dump-dmesg, ...) is written in the capture kernel")
	case o.ELF:
		return errors.New("-E (ELF output) is not supported in the capture kernel yet")
	case o.Limit > 0:
		return errors.New("-L is not supported in the capture kernel yet")
	case o.DryRun || o.CheckOnly:
		return errors.New("--dry-run and --check-params write no dump")
	}
	c.Method = o.Codec
	c.CyclicBuffer = o.CyclicBufferKiB << 10
	c.Level = o.Levels[0]
	c.MoreLevels = o.Levels[1:]
	return nil
}
