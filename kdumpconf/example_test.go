package kdumpconf_test

import (
	"fmt"
	"strings"

	"github.com/kdumpkit/kdumpkit/kdumpconf"
)

func ExampleParse() {
	conf := `
ssh kdump@10.0.2.2   # the collection host
ssh_port 2222
default poweroff
`
	cfg, err := kdumpconf.Parse(strings.NewReader(conf), "/etc/kdump.conf")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range cfg.Warnings {
		fmt.Println("warning:", w)
	}
	fmt.Println(cfg.Target.Kind, cfg.Target.User, cfg.Target.Host, cfg.SSHPort)
	fmt.Println(cfg.Collector)
	fmt.Println(cfg.FailureAction, cfg.FinalAction)
	// Output:
	// warning: /etc/kdump.conf:4: "default" is deprecated; use failure_action
	// ssh kdump 10.0.2.2 2222
	// [makedumpfile -l --message-level 7 -d 31 -F]
	// poweroff reboot
}

func ExampleParse_errors() {
	conf := "ext4 /dev/sdb1\nnfs server:/export\nfinal_action shell\nkeep many\n"
	_, err := kdumpconf.Parse(strings.NewReader(conf), "/etc/kdump.conf")
	fmt.Println(err)
	// Output:
	// /etc/kdump.conf:2: more than one dump target: "nfs" here and another on line 1
	// /etc/kdump.conf:3: final_action "shell": expected reboot, halt or poweroff
	// /etc/kdump.conf:4: keep "many": expected a whole number of dumps (0 keeps all)
}
