package collector

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
)

func TestParse(t *testing.T) {
	lv := func(l ...filter.Level) []filter.Level { return l }
	tests := []struct {
		args []string
		want Options
	}{
		{[]string{"vmcore", "dump"}, Options{BlockOrder: 4, Mode: ModeCreate, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore", DumpFile: "dump"}},
		{[]string{"-l", "-d", "31", "vmcore", "dump"}, Options{BlockOrder: 4, Mode: ModeCreate, Codec: codec.LZO, Compressed: true, Levels: lv(31), LevelsSet: true, MessageLevel: 7, VMCORE: "vmcore", DumpFile: "dump"}},
		// Bundled short options, an attached argument, the last
		// compression wins, options after the operands.
		{[]string{"-cld31", "vmcore", "dump", "-z"}, Options{BlockOrder: 4, Mode: ModeCreate, Codec: codec.Zstd, Compressed: true, Levels: lv(31), LevelsSet: true, MessageLevel: 7, VMCORE: "vmcore", DumpFile: "dump"}},
		{[]string{"-p", "-d", "1,31", "-L", "1G", "-f", "vmcore", "dump"}, Options{BlockOrder: 4, Mode: ModeCreate, Codec: codec.Snappy, Compressed: true, Levels: lv(1, 31), LevelsSet: true, Limit: 1 << 30, Force: true, MessageLevel: 7, VMCORE: "vmcore", DumpFile: "dump"}},
		{[]string{"-E", "-d", "31", "vmcore", "dump"}, Options{BlockOrder: 4, Mode: ModeCreate, ELF: true, Levels: lv(31), LevelsSet: true, MessageLevel: 7, VMCORE: "vmcore", DumpFile: "dump"}},
		{[]string{"-F", "-c", "vmcore"}, Options{BlockOrder: 4, Mode: ModeCreate, Flatten: true, Codec: codec.Zlib, Compressed: true, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore"}},
		{[]string{"-F", "-E", "vmcore"}, Options{BlockOrder: 4, Mode: ModeCreate, Flatten: true, ELF: true, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore"}},
		{[]string{"-R", "dump"}, Options{BlockOrder: 4, Mode: ModeRearrange, Levels: lv(0), MessageLevel: 7, DumpFile: "dump"}},
		{[]string{"-R", "-f", "-L", "0x100", "dump"}, Options{BlockOrder: 4, Mode: ModeRearrange, Force: true, Limit: 256, Levels: lv(0), MessageLevel: 7, DumpFile: "dump"}},
		{[]string{"--split", "-c", "--splitblock-size=1024", "vmcore", "a", "b", "c"}, Options{BlockOrder: 4, Mode: ModeSplit, Codec: codec.Zlib, Compressed: true, SplitBlock: 1 << 20, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore", DumpFiles: []string{"a", "b", "c"}}},
		{[]string{"--reassemble", "a", "b", "out"}, Options{BlockOrder: 4, Mode: ModeReassemble, Levels: lv(0), MessageLevel: 7, Members: []string{"a", "b"}, DumpFile: "out"}},
		// -D and --show-stats add to the message level; abbreviated
		// long options.
		{[]string{"--mess", "1", "-D", "--show-stats", "vmcore", "dump"}, Options{BlockOrder: 4, Mode: ModeCreate, Levels: lv(0), MessageLevel: 1 | 8 | 16, ShowStats: true, VMCORE: "vmcore", DumpFile: "dump"}},
		{[]string{"--message-level=0", "--dry-run", "--check-params", "--non-mmap", "vmcore", "dump"}, Options{BlockOrder: 4, Mode: ModeCreate, Levels: lv(0), MessageLevel: 7, DryRun: true, CheckOnly: true, NoMmap: true, VMCORE: "vmcore", DumpFile: "dump"}},
		{[]string{"-d", "31", "--", "-vmcore", "dump"}, Options{BlockOrder: 4, Mode: ModeCreate, Levels: lv(31), LevelsSet: true, MessageLevel: 7, VMCORE: "-vmcore", DumpFile: "dump"}},
		// Options the engine takes as hints, and -i.
		{[]string{"-b", "8", "--num-threads", "2", "--cyclic-buffer=4096", "--work-dir", "/tmp", "-i", "vi.txt", "-l", "vmcore", "dump"}, Options{BlockOrder: 8, NumThreads: 2, CyclicBufferKiB: 4096, WorkDir: "/tmp", VMCOREINFOFile: "vi.txt", Mode: ModeCreate, Codec: codec.LZO, Compressed: true, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore", DumpFile: "dump"}},
		// C's atoi: junk is 0, a negative thread count is 0.
		{[]string{"-b", "x", "--num-threads=-3", "vmcore", "dump"}, Options{BlockOrder: 0, Mode: ModeCreate, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore", DumpFile: "dump"}},
		{[]string{"--num-threads", "0", "-E", "vmcore", "dump"}, Options{BlockOrder: 4, Mode: ModeCreate, ELF: true, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore", DumpFile: "dump"}},
		{[]string{"--dump-dmesg", "vmcore", "log"}, Options{BlockOrder: 4, Mode: ModeDumpDmesg, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore", DumpFile: "log"}},
		{[]string{"--dump-dmesg", "--partial-dmesg", "-f", "vmcore", "log"}, Options{BlockOrder: 4, Mode: ModeDumpDmesg, PartialDmesg: true, Force: true, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore", DumpFile: "log"}},
		{[]string{"-F", "--dump-dmesg", "vmcore"}, Options{BlockOrder: 4, Mode: ModeDumpDmesg, Flatten: true, Levels: lv(0), MessageLevel: 7, VMCORE: "vmcore"}},
		{[]string{"--mem-usage", "/proc/kcore"}, Options{BlockOrder: 4, Mode: ModeMemUsage, Levels: lv(0), MessageLevel: 7, VMCORE: "/proc/kcore"}},
		{[]string{"-h"}, Options{BlockOrder: 4, Mode: ModeHelp, Levels: lv(0), MessageLevel: 7}},
		{[]string{"--help", "-x", "vmlinux"}, Options{BlockOrder: 4, Mode: ModeHelp, Levels: lv(0), MessageLevel: 7}},
		{[]string{"-v"}, Options{BlockOrder: 4, Mode: ModeVersion, Levels: lv(0), MessageLevel: 7}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := Parse(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // 0: rejected
	}{
		{"1", 1},
		{"100000", 100000},
		{"0x10", 16},
		{"010", 8},
		{"1k", 1 << 10},
		{"1K", 1 << 10},
		{"3M", 3 << 20},
		{"2g", 2 << 30},
		{"1T", 1 << 40},
		{"1P", 1 << 50},
		{"7E", 7 << 60},
		{"0x1E", 30}, // strtoull takes the E as a hex digit
		{"0x10K", 16 << 10},
		{"8E", 0},
		{"0", 0},
		{"", 0},
		{"K", 0},
		{"-1", 0},
		{"+1", 0},
		{"1_000", 0},
		{"0o7", 0},
		{"1KB", 0},
		{"1.5G", 0},
		{"18446744073709551616", 0},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// rejectTable lists command lines makedumpfile rejects (unsupported
// empty) and ones with options kdumpkit refuses (unsupported names it).
var rejectTable = []struct {
	args        []string
	unsupported string
}{
	{nil, ""},
	{[]string{"vmcore"}, ""},
	{[]string{"vmcore", "a", "b"}, ""},
	{[]string{"-Q", "vmcore", "dump"}, ""},
	{[]string{"--bogus", "vmcore", "dump"}, ""},
	{[]string{"--s", "vmcore", "a", "b"}, ""}, // ambiguous: --split, --splitblock-size, --show-stats
	{[]string{"--split=1", "vmcore", "a", "b"}, ""},
	{[]string{"-d"}, ""},
	{[]string{"-d", "32", "vmcore", "dump"}, ""},
	{[]string{"-d", "x", "vmcore", "dump"}, ""},
	{[]string{"-L", "0", "vmcore", "dump"}, ""},
	{[]string{"-L", "1Q", "vmcore", "dump"}, ""},
	{[]string{"-L", "0b101", "vmcore", "dump"}, ""},
	{[]string{"--message-level", "32", "vmcore", "dump"}, ""},
	{[]string{"--message-level", "x", "vmcore", "dump"}, ""},
	{[]string{"--splitblock-size", "0", "--split", "vmcore", "a", "b"}, ""},
	// Conflicts, as makedumpfile's check_param_for_*.
	{[]string{"-E", "-c", "vmcore", "dump"}, ""},
	{[]string{"-l", "-E", "-F", "vmcore"}, ""},
	{[]string{"-F", "vmcore", "dump"}, ""},
	{[]string{"-F", "--split", "vmcore", "a", "b"}, ""},
	{[]string{"-E", "--split", "vmcore", "a", "b"}, ""},
	{[]string{"--split", "vmcore", "a"}, ""},
	{[]string{"-R"}, ""},
	{[]string{"-R", "a", "b"}, ""},
	{[]string{"-R", "-d", "31", "a"}, ""},
	{[]string{"-R", "-c", "a"}, ""},
	{[]string{"-R", "-i", "vi", "a"}, ""},
	{[]string{"-R", "--split", "a", "b", "c"}, ""},
	{[]string{"--reassemble", "a"}, ""},
	{[]string{"--reassemble", "-c", "a", "b", "c"}, ""},
	{[]string{"--dry-run", "--reassemble", "a", "b", "c"}, ""},
	{[]string{"--partial-dmesg", "vmcore", "log"}, ""},
	{[]string{"--dump-dmesg", "vmcore"}, ""},
	{[]string{"--dump-dmesg", "--dry-run", "vmcore", "log"}, ""},
	{[]string{"--dump-dmesg", "--split", "vmcore", "a", "b"}, ""},
	{[]string{"--mem-usage", "/proc/kcore", "out"}, ""},
	{[]string{"--mem-usage", "-F", "/proc/kcore"}, ""},
	{[]string{"--num-threads", "2", "-E", "vmcore", "dump"}, ""},
	{[]string{"--num-threads", "2", "--split", "vmcore", "a", "b"}, ""},
	{[]string{"-x", "vmlinux", "-i", "vmcoreinfo", "vmcore", "dump"}, ""},
	{[]string{"--config", "f", "vmcore", "dump"}, ""},
	{[]string{"-e", "vmcore", "dump"}, ""},
	{[]string{"-g", "vmcoreinfo"}, ""},
	{[]string{"-g", "vmcoreinfo", "-x", "vmlinux", "-d", "31"}, ""},
	{[]string{"-g", "vmcoreinfo", "-x", "vmlinux", "--dry-run"}, ""},
	// Refused.
	{[]string{"-x", "vmlinux", "vmcore", "dump"}, "-x"},
	{[]string{"-g", "vmcoreinfo", "-x", "vmlinux"}, "-g"},
	{[]string{"-X", "vmcore", "dump"}, "-X"},
	{[]string{"--xen-syms", "x", "vmcore", "dump"}, "--xen-syms"},
	{[]string{"--xen-vmcoreinfo", "x", "vmcore", "dump"}, "--xen-vmcoreinfo"},
	{[]string{"--xen_phys_start", "0x1000", "vmcore", "dump"}, "--xen_phys_start"},
	{[]string{"--diskset=sda", "--diskset=sdb", "dump"}, "--diskset"},
	{[]string{"--eppic", "m.c", "-x", "vmlinux", "vmcore", "dump"}, "--eppic"},
	{[]string{"-e", "--work-dir", "/tmp", "vmcore", "dump"}, "-e"},
	{[]string{"--config", "f", "-x", "vmlinux", "vmcore", "dump"}, "--config"},
	{[]string{"--vtop", "0xffffffff81000000", "vmcore"}, "--vtop"},
}

// TestParseRejects: command lines makedumpfile rejects (a usage error)
// and options kdumpkit refuses (an error naming the option).
func TestParseRejects(t *testing.T) {
	for _, tt := range rejectTable {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := Parse(tt.args)
			if err == nil {
				t.Fatal("accepted")
			}
			var ue *UsageError
			switch {
			case tt.unsupported == "" && !errors.As(err, &ue):
				t.Fatalf("%v: not a usage error", err)
			case tt.unsupported != "" && !errors.Is(err, ErrUnsupported):
				t.Fatalf("%v: not an unsupported-option error", err)
			case tt.unsupported != "" && !strings.Contains(err.Error(), "option "+tt.unsupported+" "):
				t.Fatalf("%v: does not name %s", err, tt.unsupported)
			}
		})
	}
}

// TestDistributionCollectorLines: the core_collector lines the
// distributions ship parse as their authors mean them.
func TestDistributionCollectorLines(t *testing.T) {
	tests := []struct {
		line string
		want func(*Options) bool
	}{
		{"makedumpfile -l --message-level 7 -d 31 /proc/vmcore out", func(o *Options) bool {
			return o.Codec == codec.LZO && o.MessageLevel == 7 && reflect.DeepEqual(o.Levels, []filter.Level{31}) && o.DumpFile == "out"
		}},
		{"makedumpfile -F -c -d 31 /proc/vmcore", func(o *Options) bool {
			return o.Flatten && o.Codec == codec.Zlib && o.DumpFile == "" && o.VMCORE == "/proc/vmcore"
		}},
		{"makedumpfile -z -d 31 /proc/vmcore out", func(o *Options) bool { return o.Codec == codec.Zstd }},
		{"/usr/sbin/makedumpfile -c --message-level 1 -d 31 /proc/vmcore out", func(o *Options) bool {
			return o.MessageLevel == 1 && o.Codec == codec.Zlib
		}},
	}
	for _, tt := range tests {
		argv := strings.Fields(tt.line)
		if !IsMakedumpfile(argv[0]) {
			t.Fatalf("%s: not makedumpfile", argv[0])
		}
		o, err := Parse(argv[1:])
		if err != nil || !tt.want(o) {
			t.Errorf("%s: %+v, %v", tt.line, o, err)
		}
	}
}

// FuzzParse: any command line (a kdump.conf core_collector line is
// configuration a user wrote) parses or is rejected, never panics, and an
// accepted one is consistent.
func FuzzParse(f *testing.F) {
	f.Add("-l --message-level 7 -d 31 /proc/vmcore out")
	f.Add("-F -c -d 31 /proc/vmcore")
	f.Add("--split -z -d 1,31 --splitblock-size=1024 v a b c")
	f.Add("--dump-dmesg --partial-dmesg -i vi v log")
	f.Add("-cld31 -L 0x1E v o --num-threads=2 -b x")
	f.Add("--reassemble a b c")
	f.Fuzz(func(t *testing.T, line string) {
		o, err := Parse(strings.Fields(line))
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%q: error of neither kind: %v", line, err)
			}
			return
		}
		if len(o.Levels) == 0 || o.MessageLevel < 0 || o.MessageLevel > MaxMessageLevel || o.Limit < 0 || o.NumThreads < 0 {
			t.Fatalf("%q: inconsistent %+v", line, o)
		}
		switch o.Mode {
		case ModeCreate, ModeDumpDmesg:
			if o.VMCORE == "" || (o.DumpFile == "") != o.Flatten {
				t.Fatalf("%q: operands %+v", line, o)
			}
		case ModeSplit:
			if len(o.DumpFiles) < 2 {
				t.Fatalf("%q: split into %d", line, len(o.DumpFiles))
			}
		case ModeReassemble:
			if len(o.Members) < 1 || o.DumpFile == "" {
				t.Fatalf("%q: reassemble %+v", line, o)
			}
		}
	})
}
