package kdumpconf

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/good/*.golden")

// TestGoodFiles parses every testdata/good/*.conf, compares the canonical
// form and the warnings with the .golden file, and checks that the
// canonical form parses back to the same Config.
func TestGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := ParseFile(f)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var got bytes.Buffer
			got.Write(Canonical(cfg))
			for _, w := range cfg.Warnings {
				got.WriteString("# warning: " + w.Error() + "\n")
			}
			golden := strings.TrimSuffix(f, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got.String() != string(want) {
				t.Errorf("canonical form differs from %s:\n--- got\n%s\n--- want\n%s", golden, got.String(), want)
			}
			checkRoundTrip(t, cfg)
		})
	}
}

// checkRoundTrip parses Canonical(cfg) and wants the same effective
// config back, with no warnings (the canonical form never holds an
// ignored directive).
func checkRoundTrip(t *testing.T, cfg *Config) {
	t.Helper()
	text := Canonical(cfg)
	again, err := Parse(bytes.NewReader(text), "canonical")
	if err != nil {
		t.Fatalf("canonical form does not parse: %v\n%s", err, text)
	}
	for _, w := range again.Warnings {
		if !strings.Contains(w.Msg, "deprecated") && !strings.Contains(w.Msg, "not applicable") &&
			!strings.Contains(w.Msg, "not supported") && !strings.Contains(w.Msg, "no shell") &&
			!strings.Contains(w.Msg, "built-in makedumpfile") {
			t.Errorf("canonical form gives an unexpected warning: %v", w)
		}
	}
	if !sameConfig(cfg, again) {
		t.Errorf("round trip changed the config:\nfirst:  %+v\nsecond: %+v\ntext:\n%s", *cfg, *again, text)
	}
	if again2 := Canonical(again); !bytes.Equal(again2, text) {
		t.Errorf("canonical form is not stable:\n%s\n%s", text, again2)
	}
}

// sameConfig compares the effective settings, not where they came from.
func sameConfig(a, b *Config) bool {
	x, y := *a, *b
	x.File, y.File = "", ""
	x.Warnings, y.Warnings = nil, nil
	x.lines, y.lines = nil, nil
	x.Target.Line, y.Target.Line = 0, 0
	return reflect.DeepEqual(x, y)
}

func parseString(t *testing.T, text string) (*Config, error) {
	t.Helper()
	return Parse(strings.NewReader(text), "kdump.conf")
}

func TestDefaults(t *testing.T) {
	cfg, err := parseString(t, "# nothing\n\n   \n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != "/var/crash" || cfg.FailureAction != ActionReboot || cfg.FinalAction != ActionReboot {
		t.Errorf("defaults: path %q failure %q final %q", cfg.Path, cfg.FailureAction, cfg.FinalAction)
	}
	if !slices.Equal(cfg.Collector, []string{"makedumpfile", "-l", "--message-level", "7", "-d", "31"}) {
		t.Errorf("default collector %q", cfg.Collector)
	}
	if cfg.Target.Kind != TargetDefault || cfg.SSHKey != DefaultSSHKey || !cfg.AutoResetCrashkernel {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.TargetWait != 5*time.Minute || cfg.CaptureDeadline != 0 || cfg.SSHPort != 22 || cfg.Net.Mode != NetAuto {
		t.Errorf("our defaults: %+v", cfg)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
}

// TestCollectorFlattened checks kdump-utils' -F rules: added to the
// default collector for ssh and raw, required in a configured makedumpfile
// collector there, removed for file targets.
func TestCollectorFlattened(t *testing.T) {
	tests := []struct {
		conf      string
		want      []string
		wantFile  []string
		wantFlat  []string
		wantError string
	}{
		{conf: "ssh a@b\n", want: []string{"makedumpfile", "-l", "--message-level", "7", "-d", "31", "-F"}},
		{conf: "raw /dev/sdb\n", want: []string{"makedumpfile", "-l", "--message-level", "7", "-d", "31", "-F"}},
		{conf: "ext4 /dev/sdb\n", want: DefaultCollector()},
		{conf: "nfs h:/e\n", want: DefaultCollector()},
		{
			conf:     "ext4 /dev/sdb\ncore_collector makedumpfile -F -c -d 1\n",
			want:     []string{"makedumpfile", "-F", "-c", "-d", "1"},
			wantFile: []string{"makedumpfile", "-c", "-d", "1"},
			wantFlat: []string{"makedumpfile", "-c", "-d", "1", "-F"},
		},
		{conf: "ssh a@b\ncore_collector makedumpfile -c -d 1\n", wantError: "kdump.conf:2: core_collector: the ssh target needs makedumpfile's -F option"},
		{conf: "core_collector makedumpfile -c -d 1\nraw /dev/sdb\n", wantError: "kdump.conf:1: core_collector: the raw target needs"},
		{
			conf:     "ssh a@b\ncore_collector scp\n",
			want:     []string{"scp"},
			wantFile: []string{"scp"},
			wantFlat: []string{"scp"},
		},
	}
	for _, tt := range tests {
		cfg, err := parseString(t, tt.conf)
		if tt.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("%q: error %v, want %q", tt.conf, err, tt.wantError)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.conf, err)
			continue
		}
		if !slices.Equal(cfg.Collector, tt.want) {
			t.Errorf("%q: collector %q, want %q", tt.conf, cfg.Collector, tt.want)
		}
		if tt.wantFile != nil && !slices.Equal(cfg.CollectorArgs(false), tt.wantFile) {
			t.Errorf("%q: file collector %q, want %q", tt.conf, cfg.CollectorArgs(false), tt.wantFile)
		}
		if tt.wantFlat != nil && !slices.Equal(cfg.CollectorArgs(true), tt.wantFlat) {
			t.Errorf("%q: flat collector %q, want %q", tt.conf, cfg.CollectorArgs(true), tt.wantFlat)
		}
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		conf string
		want Target
	}{
		{"xfs LABEL=crash", Target{Kind: TargetFS, FSType: "xfs", Device: "LABEL=crash", Line: 1}},
		{"btrfs PARTUUID=abcd-01", Target{Kind: TargetFS, FSType: "btrfs", Device: "PARTUUID=abcd-01", Line: 1}},
		{"vfat /dev/vdb1", Target{Kind: TargetFS, FSType: "vfat", Device: "/dev/vdb1", Line: 1}},
		{"raw /dev/mapper/vg-kdump", Target{Kind: TargetRaw, Device: "/dev/mapper/vg-kdump", Line: 1}},
		{"nfs 10.0.2.2:/srv/nfs", Target{Kind: TargetNFS, Host: "10.0.2.2", Export: "/srv/nfs", Line: 1}},
		{"nfs [fd00::1]:/x", Target{Kind: TargetNFS, Host: "fd00::1", Export: "/x", Line: 1}},
		{"ssh root@10.0.2.2", Target{Kind: TargetSSH, User: "root", Host: "10.0.2.2", Line: 1}},
		{"ssh kdump@2001:db8::1:2:3:4", Target{Kind: TargetSSH, User: "kdump", Host: "2001:db8::1:2:3:4", Line: 1}},
		{"ssh kdump@[2001:db8::1]", Target{Kind: TargetSSH, User: "kdump", Host: "2001:db8::1", Line: 1}},
	}
	for _, tt := range tests {
		cfg, err := parseString(t, tt.conf+"\n")
		if err != nil {
			t.Errorf("%q: %v", tt.conf, err)
			continue
		}
		if cfg.Target != tt.want {
			t.Errorf("%q: target %+v, want %+v", tt.conf, cfg.Target, tt.want)
		}
	}
}

// TestBad: every bad file fails, and each expected problem is reported
// with its line number and reason.
func TestBad(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []string // each must appear as a line of the error text
	}{
		{"unknown", "path /var/crash\nfrobnicate 1\n", []string{`kdump.conf:2: unknown directive "frobnicate"`}},
		{"duplicate", "path /a\npath /b\n", []string{"kdump.conf:2: path given twice (first on line 1)"}},
		{"default and failure_action", "failure_action reboot\ndefault halt\n", []string{"kdump.conf:2: failure_action given twice (first on line 1)"}},
		{"two targets", "ext4 /dev/sda1\nssh a@b\n", []string{`kdump.conf:2: more than one dump target: "ssh" here and another on line 1`}},
		{"two fs targets", "ext4 /dev/sda1\nxfs /dev/sda2\n", []string{`kdump.conf:2: more than one dump target: "xfs" here and another on line 1`}},
		{"missing value", "path\n", []string{"kdump.conf:1: path needs a value"}},
		{"missing value comment", "final_action # later\n", []string{"kdump.conf:1: final_action needs a value"}},
		{"two values", "path /a /b\n", []string{"kdump.conf:1: path takes one value, got 2 (/a /b)"}},
		{"relative path", "path var/crash\n", []string{`kdump.conf:1: path "var/crash": expected an absolute path`}},
		{"bad device", "ext4 sda1\n", []string{`kdump.conf:1: ext4 "sda1": expected a device as /dev/..., UUID=, LABEL=, PARTUUID= or PARTLABEL=`}},
		{"empty uuid", "raw UUID=\n", []string{`kdump.conf:1: raw "UUID=": empty UUID`}},
		{"nfs no export", "nfs server\n", []string{`kdump.conf:1: nfs "server": expected host:/export`}},
		{"nfs relative export", "nfs server:export\n", []string{`kdump.conf:1: nfs "server:export": export "export" is not an absolute path`}},
		{"nfs bad v6", "nfs [fe80::zz]:/x\n", []string{`kdump.conf:1: nfs "[fe80::zz]:/x": "fe80::zz" is not an IPv6 address`}},
		{"ssh no user", "ssh host.example.com\n", []string{`kdump.conf:1: ssh "host.example.com": expected user@host`}},
		{"ssh bad host", "ssh a@bad!host\n", []string{`kdump.conf:1: ssh "a@bad!host": host "bad!host": bad character '!'`}},
		{"virtiofs", "virtiofs myfs\n", []string{"kdump.conf:1: virtiofs targets are not supported by kdumpkit"}},
		{"removed net", "net user@host\n", []string{`kdump.conf:1: "net" was removed from kdump.conf: use nfs <host:/export> or ssh <user@host>`}},
		{"removed disk_timeout", "disk_timeout 10\n", []string{`kdump.conf:1: "disk_timeout" was removed from kdump.conf: use target_wait`}},
		{"failure action", "failure_action explode\n", []string{`kdump.conf:1: failure_action "explode": expected reboot, halt, poweroff, shell or dump_to_rootfs`}},
		{"final action shell", "final_action shell\n", []string{`kdump.conf:1: final_action "shell": expected reboot, halt or poweroff`}},
		{"force values", "force_rebuild yes\n", []string{`kdump.conf:1: force_rebuild "yes": expected 0 or 1`}},
		{"force conflict", "force_rebuild 1\nforce_no_rebuild 1\n", []string{"kdump.conf:2: force_rebuild 1 and force_no_rebuild 1 contradict each other"}},
		{"auto reset", "auto_reset_crashkernel 1\n", []string{`kdump.conf:1: auto_reset_crashkernel "1": expected yes or no`}},
		{"hook relative", "kdump_pre pre.sh\n", []string{`kdump.conf:1: kdump_pre "pre.sh": expected an absolute path`}},
		{"extra bins relative", "extra_bins /bin/ok lftp\n", []string{`kdump.conf:1: extra_bins "lftp": expected an absolute path`}},
		{"extra modules file", "extra_modules /lib/modules/x.ko\n", []string{`kdump.conf:1: extra_modules "/lib/modules/x.ko": expected a module name`}},
		{"unterminated quote", "path \"/var/crash\n", []string{"kdump.conf:1: unterminated double quote"}},
		{"unterminated single", "kdump_pre '/x\n", []string{"kdump.conf:1: unterminated single quote"}},
		{"keep", "keep -1\n", []string{`kdump.conf:1: keep "-1": expected a whole number of dumps (0 keeps all)`}},
		{"min_free", "min_free 2X\n", []string{`kdump.conf:1: min_free: size "2X": expected a number with an optional K, M, G or T suffix`}},
		{"min_free overflow", "min_free 99999999999T\n", []string{`kdump.conf:1: min_free: size "99999999999T": expected a number with an optional K, M, G or T suffix, below 16E`}},
		{"deadline", "capture_deadline soon\n", []string{`kdump.conf:1: capture_deadline "soon": expected a duration like 90s, 10m or 2h (at most 168h), or none`}},
		{"deadline fraction", "capture_deadline 1.5s\n", []string{`kdump.conf:1: capture_deadline "1.5s": use whole seconds`}},
		{"target_wait none", "target_wait none\n", []string{`kdump.conf:1: target_wait "none": the wait for the target needs a bound`}},
		{"deadline short", "target_wait 10m\ncapture_deadline 5m\n", []string{"kdump.conf:2: capture_deadline 5m0s is not longer than target_wait 10m0s"}},
		{"ssh port", "ssh a@b\nssh_port 70000\n", []string{`kdump.conf:2: ssh_port "70000": expected a port number 1-65535`}},
		{"host key type", "ssh a@b\nssh_host_key ssh-dss AAAA\n", []string{`kdump.conf:2: ssh_host_key: unknown key type "ssh-dss"`}},
		{"host key base64", "ssh a@b\nssh_host_key ssh-ed25519 !!!\n", []string{"kdump.conf:2: ssh_host_key: key is not valid base64"}},
		{"host key mismatch", "ssh a@b\nssh_host_key ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n", []string{"kdump.conf:2: ssh_host_key: the key data does not hold a ssh-rsa key"}},
		{"host key and known hosts", "ssh a@b\nssh_known_hosts /k\nssh_host_key ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n", []string{"kdump.conf:3: ssh_known_hosts and ssh_host_key both say how to check the host key; give one"}},
		{"net mode", "nfs h:/e\nnet_config bootp\n", []string{`kdump.conf:2: net_config "bootp": expected auto, dhcp or static`}},
		{"net static prefix", "nfs h:/e\nnet_config static 192.0.2.1\n", []string{`kdump.conf:2: net_config static "192.0.2.1": expected an address with a prefix length, like 192.0.2.10/24`}},
		{"net static gw family", "nfs h:/e\nnet_config static 192.0.2.1/24 fe80::1\n", []string{`kdump.conf:2: net_config static: gateway "fe80::1" is not an address of the same family as 192.0.2.1/24 (use - for none)`}},
		{"net dhcp extra", "nfs h:/e\nnet_config dhcp eth0\n", []string{"kdump.conf:2: net_config dhcp takes no further values"}},
		{"net interface", "nfs h:/e\nnet_interface a-very-long-interface-name\n", []string{`kdump.conf:2: net_interface "a-very-long-interface-name": expected an interface name (at most 15 characters) or a MAC address`}},
		{"compression value", "ssh a@b\nstream_compression gzip\n", []string{`kdump.conf:2: stream_compression "gzip": expected none, lz4 or xz`}},
		{"compression target", "ext4 /dev/sda\nstream_compression lz4\n", []string{"kdump.conf:2: stream_compression applies to ssh and raw targets only"}},
		{"rootfs", "failure_action dump_to_rootfs\nrootfs zfs /dev/sda\n", []string{`kdump.conf:2: rootfs "zfs": expected a file system type`}},
		{"fence node", "fence_kdump_nodes node1 bad/node\n", []string{`kdump.conf:1: fence_kdump_nodes: host "bad/node": bad character '/'`}},
		{
			"several problems",
			"path rel\nfoo\next4 /dev/sda\nnfs h:/e\nfinal_action\npath /again\n",
			[]string{
				`kdump.conf:1: path "rel": expected an absolute path`,
				`kdump.conf:2: unknown directive "foo"`,
				`kdump.conf:4: more than one dump target: "nfs" here and another on line 3`,
				"kdump.conf:5: final_action needs a value",
				"kdump.conf:6: path given twice (first on line 1)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseString(t, tt.conf)
			if err == nil {
				t.Fatalf("no error for:\n%s", tt.conf)
			}
			if cfg == nil {
				t.Fatal("nil Config with error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not Errors", err)
			}
			lines := strings.Split(err.Error(), "\n")
			for _, w := range tt.want {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing %q in:\n%s", w, err)
				}
			}
			if len(lines) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(lines), len(tt.want), err)
			}
			for _, p := range errs {
				if p.Line < 1 || p.File != "kdump.conf" || p.Msg == "" {
					t.Errorf("problem without a line or reason: %+v", p)
				}
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		conf string
		want string
	}{
		{"default halt\n", `kdump.conf:1: "default" is deprecated; use failure_action`},
		{"dracut_args --add-drivers x\n", "kdump.conf:1: dracut_args is not applicable"},
		{"fence_kdump_nodes n1\n", "kdump.conf:1: fence_kdump_nodes: fence_kdump is not supported by kdumpkit"},
		{"sshkey /k\n", "kdump.conf:1: sshkey is ignored: the dump target is not ssh"},
		{"ext4 /dev/x\nnet_config dhcp\n", "kdump.conf:2: net_config is ignored: the dump target does not use the network"},
		{"rootfs ext4 /dev/x\n", "kdump.conf:1: rootfs is ignored: failure_action is not dump_to_rootfs"},
		{"failure_action shell\n", "kdump.conf:1: failure_action shell: the capture initramfs has no shell"},
		{"core_collector cp\n", `kdump.conf:1: core_collector "cp": kdumpkit's capture environment runs only its built-in makedumpfile`},
	}
	for _, tt := range tests {
		cfg, err := parseString(t, tt.conf)
		if err != nil {
			t.Errorf("%q: %v", tt.conf, err)
			continue
		}
		if len(cfg.Warnings) != 1 || !strings.HasPrefix(cfg.Warnings[0].Error(), tt.want) {
			t.Errorf("%q: warnings %v, want %q", tt.conf, cfg.Warnings, tt.want)
		}
	}
}

func TestLineAndProblemf(t *testing.T) {
	cfg, err := parseString(t, "\n# c\nssh a@b\nsshkey /root/k\ndefault poweroff\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Line("target") != 3 || cfg.Line("sshkey") != 4 || cfg.Line("failure_action") != 5 || cfg.Line("path") != 0 {
		t.Errorf("lines: target %d sshkey %d failure_action %d path %d", cfg.Line("target"), cfg.Line("sshkey"), cfg.Line("failure_action"), cfg.Line("path"))
	}
	if got := cfg.Problemf("sshkey", "%s does not exist", cfg.SSHKey).Error(); got != "kdump.conf:4: /root/k does not exist" {
		t.Errorf("Problemf: %q", got)
	}
	if got := cfg.Problemf("path", "no space").Error(); got != "kdump.conf: no space" {
		t.Errorf("Problemf without line: %q", got)
	}
}

func TestSplitLine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   # only a comment", nil},
		{"a b\tc", []string{"a", "b", "c"}},
		{"a#b c", []string{"a"}},
		{"a 'b c' d", []string{"a", "b c", "d"}},
		{`a "b \"c\" \\ \d"`, []string{"a", `b "c" \ \d`}},
		{`a "#not comment"`, []string{"a", "#not comment"}},
		{`x'y'"z"`, []string{"xyz"}},
		{`a ''`, []string{"a", ""}},
		{`back\slash`, []string{`back\slash`}},
	}
	for _, tt := range tests {
		got, err := splitLine(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitLine(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, w := range []string{"", "plain", "a b", "it's", `"q"`, `\`, `a\"b`, "#", "tab\there", `'"mixed"'`} {
		got, err := splitLine("x " + quoteWord(w))
		if err != nil || len(got) != 2 || got[1] != w {
			t.Errorf("quoteWord(%q) = %s, reads back as %q, %v", w, quoteWord(w), got, err)
		}
	}
}

func TestSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
	}{{"0", 0}, {"512", 512}, {"64K", 64 << 10}, {"2g", 2 << 30}, {"1T", 1 << 40}, {"1536M", 1536 << 20}} {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		back, err := ParseSize(FormatSize(got))
		if err != nil || back != got {
			t.Errorf("FormatSize(%d) = %q does not parse back", got, FormatSize(got))
		}
	}
	for _, bad := range []string{"", "M", "-1", "1.5G", "0x10", "12Q", "18446744073709551616"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
	if FormatSize(1536<<20) != "1536M" || FormatSize(0) != "0" || FormatSize(1000) != "1000" {
		t.Errorf("FormatSize: %s %s %s", FormatSize(1536<<20), FormatSize(0), FormatSize(1000))
	}
}

func TestLongLine(t *testing.T) {
	text := "path /a\nextra_bins /" + strings.Repeat("x", maxLine) + "\n"
	_, err := parseString(t, text)
	if err == nil || !strings.Contains(err.Error(), "kdump.conf:2: line longer than") {
		t.Errorf("long line: %v", err)
	}
}

func TestTooManyProblems(t *testing.T) {
	_, err := parseString(t, strings.Repeat("bogus\n", 1000))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != maxProblems+1 || !strings.Contains(errs[maxProblems].Msg, "too many problems") {
		t.Errorf("got %d problems", len(errs))
	}
}

// TestBadFiles: every testdata/bad/*.conf fails, with exactly the
// problems listed in its .err file.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := ParseFile(f)
			if err == nil {
				t.Fatal("no error")
			}
			golden := strings.TrimSuffix(f, ".conf") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run go test -update to create it)", rerr)
			}
			if err.Error()+"\n" != string(want) {
				t.Errorf("errors differ from %s:\n--- got\n%s\n--- want\n%s", golden, err, want)
			}
		})
	}
}

// TestExample: the shipped kdump.conf.example parses cleanly, and so does
// each commented-out directive in it when enabled on its own (beside an
// ssh target unless it is a target itself).
func TestExample(t *testing.T) {
	const name = "../kdump.conf.example"
	cfg, err := ParseFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, "#") || len(l) < 2 || l[1] < 'a' || l[1] > 'z' {
			continue
		}
		line := l[1:]
		words, err := splitLine(line)
		if err != nil || len(words) < 2 {
			continue
		}
		d, ok := directives[words[0]]
		if !ok {
			t.Errorf("example mentions unknown directive: %s", line)
			continue
		}
		text := "ssh a@b.example\n" + line + "\n"
		if d.key == "target" {
			text = line + "\n"
		}
		n++
		if _, err := parseString(t, text); err != nil {
			t.Errorf("example line %q: %v", line, err)
		}
	}
	if n < 20 {
		t.Errorf("only %d commented directives found in the example", n)
	}
}

// TestDocsInStep: every directive is documented in the man page and
// shown in the example.
func TestDocsInStep(t *testing.T) {
	man, err := os.ReadFile("../docs/kdump.conf.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../kdump.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range directives {
		if d.key == "target" && name != "raw" && name != "nfs" && name != "ssh" {
			continue // file system types are documented as a list
		}
		if !bytes.Contains(man, []byte("`"+name+"`")) {
			t.Errorf("docs/kdump.conf.md does not document %s", name)
		}
		if name != "virtiofs" && !bytes.Contains(example, []byte(name+" ")) {
			t.Errorf("kdump.conf.example does not show %s", name)
		}
	}
	for _, fs := range FSTypes {
		if !bytes.Contains(man, []byte("`"+fs+"`")) {
			t.Errorf("docs/kdump.conf.md does not list %s", fs)
		}
	}
}
