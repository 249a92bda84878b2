package kexec

import (
	"reflect"
	"testing"
)

func TestCaptureCmdline(t *testing.T) {
	x86 := "irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable cma=0 pcie_ports=compat novmcoredd hugetlb_cma=0 kfence.sample_interval=0 initramfs_options=size=90%"
	tests := []struct {
		name    string
		running string
		opt     CmdlineOptions
		want    string
	}{
		{
			name:    "debian cloud guest",
			running: "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-cloud-amd64 root=UUID=0b1c ro console=ttyS0 quiet crashkernel=256M",
			opt:     CmdlineOptions{Arch: "amd64"},
			want:    "console=ttyS0 " + x86,
		},
		{
			name:    "memory and init parameters dropped, dashes equal underscores",
			running: "console=tty0 hugepages=64 hugepagesz=2M default-hugepagesz=2M rdinit=/bin/sh init=/sbin/init log_buf_len=16M resume=/dev/sda2 panic-on-warn=1 net.ifnames=0",
			opt:     CmdlineOptions{Arch: "amd64"},
			want:    "console=tty0 net.ifnames=0 " + x86,
		},
		{
			name:    "our values replace the running kernel's",
			running: "console=ttyS0,115200 nr_cpus=64 panic=0 irqpoll",
			opt:     CmdlineOptions{Arch: "arm64"},
			want:    "console=ttyS0,115200 irqpoll nr_cpus=1 reset_devices cgroup_disable=memory panic=10 swiotlb=noforce cma=0 novmcoredd hugetlb_cma=0 kfence.sample_interval=0 initramfs_options=size=90%",
		},
		{
			name:    "quoted value with blanks kept whole, init arguments after -- dropped",
			running: `dyndbg="file drivers/block/* +p" console=ttyS0 -- single emergency`,
			opt:     CmdlineOptions{Arch: "riscv64"},
			want:    `dyndbg="file drivers/block/* +p" console=ttyS0 nr_cpus=1 reset_devices cgroup_disable=memory panic=10 cma=0 novmcoredd hugetlb_cma=0 kfence.sample_interval=0 initramfs_options=size=90%`,
		},
		{
			name:    "user remove and append, test id last",
			running: "console=ttyS0 mitigations=off",
			opt:     CmdlineOptions{Arch: "riscv64", Remove: []string{"mitigations"}, Append: []string{"panic=30", "loglevel=7"}, TestID: "1763797428000000000"},
			want:    "console=ttyS0 nr_cpus=1 reset_devices cgroup_disable=memory cma=0 novmcoredd hugetlb_cma=0 kfence.sample_interval=0 initramfs_options=size=90% panic=30 loglevel=7 kdump_test_id=1763797428000000000",
		},
		{
			name:    "empty running line",
			running: "\n",
			opt:     CmdlineOptions{Arch: "s390x"},
			want:    "nr_cpus=1 reset_devices cgroup_disable=memory panic=10 cma=0 novmcoredd hugetlb_cma=0 kfence.sample_interval=0 initramfs_options=size=90%",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CaptureCmdline(tt.running, tt.opt); got != tt.want {
				t.Errorf("CaptureCmdline(%q)\n got %s\nwant %s", tt.running, got, tt.want)
			}
		})
	}
}

func TestSplitCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  a  b\tc\n", []string{"a", "b", "c"}},
		{`x="1 2" "y z" w`, []string{`x="1 2"`, `"y z"`, "w"}},
		{`open="never closed`, []string{`open="never closed`}},
	}
	for _, tt := range tests {
		if got := SplitCmdline(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitCmdline(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParamValue(t *testing.T) {
	line := `crashkernel=128M kdump-test-id=7 quiet a="b c" crashkernel=256M -- crashkernel=1G`
	tests := []struct {
		name, want string
		found      bool
	}{
		{"crashkernel", "256M", true},
		{"kdump_test_id", "7", true},
		{"quiet", "", true},
		{"a", "b c", true},
		{"missing", "", false},
	}
	for _, tt := range tests {
		got, found := ParamValue(line, tt.name)
		if got != tt.want || found != tt.found {
			t.Errorf("ParamValue(%s) = %q, %v; want %q, %v", tt.name, got, found, tt.want, tt.found)
		}
	}
}

func FuzzCaptureCmdline(f *testing.F) {
	f.Add(`BOOT_IMAGE=/vmlinuz root=/dev/sda1 x="a b" crashkernel=1G -- s`)
	f.Add(`"""=""`)
	f.Fuzz(func(t *testing.T, s string) {
		out := CaptureCmdline(s, CmdlineOptions{Arch: "amd64"})
		if v, ok := ParamValue(out, "crashkernel"); ok {
			t.Fatalf("crashkernel survived: %q in %q", v, out)
		}
		if v, _ := ParamValue(out, "nr_cpus"); v != "1" && balancedQuotes(out) {
			t.Fatalf("nr_cpus=%q in %q", v, out)
		}
	})
}

// balancedQuotes reports whether the line has balanced quotes; with an
// unbalanced quote the last parameters are swallowed by it, as in the
// kernel, and nothing can be said about them.
func balancedQuotes(s string) bool {
	n := 0
	for _, r := range s {
		if r == '"' {
			n++
		}
	}
	return n%2 == 0
}
