package kdumpconf

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Canonical renders c as kdump.conf text: one directive per line in a
// fixed order, every effective value written out (defaults included,
// directives that do not apply to the target left out), quoted where
// needed. Equal configs give equal bytes, so the text can go into a
// reproducible initramfs and into its content hash. Parse of the result
// gives back c (apart from File, Warnings and line numbers).
func Canonical(c *Config) []byte {
	var b strings.Builder
	b.WriteString("# kdump.conf as kdumpkit applies it (canonical form: defaults spelled out)\n")
	w := func(name string, words ...string) {
		b.WriteString(name)
		if len(words) > 0 {
			b.WriteByte(' ')
			b.WriteString(quoteWords(words))
		}
		b.WriteByte('\n')
	}
	w("path", c.Path)
	t := c.Target
	switch t.Kind {
	case TargetFS:
		w(t.FSType, t.Device)
	case TargetRaw:
		w("raw", t.Device)
	case TargetNFS:
		h := t.Host
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		w("nfs", h+":"+t.Export)
	case TargetSSH:
		w("ssh", t.User+"@"+t.Host)
		w("sshkey", c.SSHKey)
		w("ssh_port", strconv.Itoa(c.SSHPort))
		if c.SSHKnownHosts != "" {
			w("ssh_known_hosts", c.SSHKnownHosts)
		}
		if c.SSHHostKey != "" {
			w("ssh_host_key", strings.Fields(c.SSHHostKey)...)
		}
	}
	w("core_collector", c.Collector...)
	if c.Hooks.Pre != "" {
		w("kdump_pre", c.Hooks.Pre)
	}
	if c.Hooks.Post != "" {
		w("kdump_post", c.Hooks.Post)
	}
	if c.Hooks.Emergency != "" {
		w("kdump_emergency", c.Hooks.Emergency)
	}
	if len(c.ExtraBins) > 0 {
		w("extra_bins", c.ExtraBins...)
	}
	if len(c.ExtraModules) > 0 {
		w("extra_modules", c.ExtraModules...)
	}
	w("failure_action", string(c.FailureAction))
	if c.RootFS != nil {
		w("rootfs", c.RootFS.FSType, c.RootFS.Device)
	}
	w("final_action", string(c.FinalAction))
	w("force_rebuild", bool01(c.ForceRebuild))
	w("force_no_rebuild", bool01(c.ForceNoRebuild))
	if c.AutoResetCrashkernel {
		w("auto_reset_crashkernel", "yes")
	} else {
		w("auto_reset_crashkernel", "no")
	}
	if len(c.DracutArgs) > 0 {
		w("dracut_args", c.DracutArgs...)
	}
	if len(c.FenceKdumpNodes) > 0 {
		w("fence_kdump_nodes", c.FenceKdumpNodes...)
	}
	if len(c.FenceKdumpArgs) > 0 {
		w("fence_kdump_args", c.FenceKdumpArgs...)
	}
	if t.Kind != TargetRaw {
		w("keep", strconv.Itoa(c.Keep))
		w("min_free", FormatSize(c.MinFree))
	}
	w("target_wait", FormatDuration(c.TargetWait))
	w("capture_deadline", FormatDuration(c.CaptureDeadline))
	if t.Network() {
		switch c.Net.Mode {
		case NetStatic:
			args := []string{string(NetStatic), c.Net.Address.String()}
			if c.Net.Gateway.IsValid() {
				args = append(args, c.Net.Gateway.String())
			} else if len(c.Net.DNS) > 0 {
				args = append(args, "-")
			}
			for _, d := range c.Net.DNS {
				args = append(args, d.String())
			}
			w("net_config", args...)
		default:
			w("net_config", string(c.Net.Mode))
		}
		if c.Net.Interface != "" {
			w("net_interface", c.Net.Interface)
		}
	}
	if t.Flattened() {
		w("stream_compression", string(c.StreamCompression))
	}
	return []byte(b.String())
}

func bool01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// FormatDuration renders a whole-second duration the way the config
// writes it ("90s", "10m", "2h", "none" for 0).
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "none"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}
