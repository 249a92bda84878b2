package capture

import (
	"strings"
	"testing"
	"time"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/filter"
)

func TestParseKdumpConf(t *testing.T) {
	in := `# comment
ext4 LABEL=kdump
path /dumps   # trailing comment
core_collector makedumpfile -c --message-level 7 -d 17
failure_action dump_to_rootfs
final_action poweroff
kdump_post /bin/post
capture_modules /lib/modules/a.ko /lib/modules/b.ko
capture_deadline 5m
`
	c, err := ParseKdumpConf(strings.NewReader(in), "kdump.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Target != (Target{Kind: TargetLocal, Device: "LABEL=kdump", FSType: "ext4"}) || c.Path != "/dumps" ||
		c.Method != codec.Zlib || c.Level != filter.Level(17) || c.FailureAction != ActionDumpToRootfs ||
		c.FinalAction != ActionPoweroff || c.Post != "/bin/post" || len(c.Modules) != 2 || c.Deadline != 5*time.Minute {
		t.Errorf("parsed %+v", c)
	}
}

func TestParseKdumpConfErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"failure_action explode\n", `kdump.conf:1: failure_action: unknown action "explode"`},
		{"\nfinal_action shell\n", `kdump.conf:2: final_action: unknown action "shell"`},
		{"core_collector cp /proc/vmcore\n", "only makedumpfile collectors"},
		{"core_collector makedumpfile -d 99\n", `dump level "99"`},
		{"core_collector makedumpfile --split\n", `"--split" is not supported`},
		{"path\n", "path: want one value, got 0"},
		{"capture_deadline soon\n", `"soon" is not a positive duration`},
	}
	for _, tt := range tests {
		_, err := ParseKdumpConf(strings.NewReader(tt.in), "kdump.conf")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err %v, want %q", tt.in, err, tt.want)
		}
	}
}
