package crashkernel

import (
	"errors"
	"fmt"
	"strings"
)

// GrubDropInPath is where reset-crashkernel writes on GRUB systems
// without grubby (Debian, Ubuntu), relative to the root directory.
// grub-mkconfig sources /etc/default/grub.d/*.cfg in name order after
// /etc/default/grub, and "kdump.cfg" sorts after Debian's
// "kdump-tools.cfg".
const GrubDropInPath = "etc/default/grub.d/kdump.cfg"

// CheckSet validates a set of values meant to go on one command line
// together: at least one, at most one per kind, ,low only beside ,high,
// and not a plain value beside ,high (the kernel would ignore ,high).
func CheckSet(specs []Spec) error {
	if len(specs) == 0 {
		return errors.New("no crashkernel= value")
	}
	seen := map[Suffix]bool{}
	for _, s := range specs {
		if seen[s.Suffix] {
			return fmt.Errorf("two crashkernel= values of the same kind (%s)", s.Param())
		}
		seen[s.Suffix] = true
	}
	switch {
	case seen[Plain] && seen[High]:
		return errors.New("a plain crashkernel= makes the kernel ignore crashkernel=,high; give one of them")
	case seen[Low] && !seen[High]:
		return errors.New("crashkernel=,low only counts beside crashkernel=,high")
	case !seen[Plain] && !seen[High]:
		return errors.New("need a plain crashkernel= or crashkernel=,high")
	}
	return nil
}

func params(specs []Spec) string {
	p := make([]string, len(specs))
	for i, s := range specs {
		p[i] = s.Param()
	}
	return strings.Join(p, " ")
}

// GrubDropIn returns the content of GrubDropInPath for the given values.
// The file is POSIX sh (grub-mkconfig sources it): it drops every
// crashkernel= word from GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT
// (so an older value, Debian's kdump-tools.cfg included, cannot win by
// coming later or by being plain beside our ,high) and appends ours to
// GRUB_CMDLINE_LINUX_DEFAULT, as Debian's kdump-tools does (recovery
// entries get none).
func GrubDropIn(specs []Spec) ([]byte, error) {
	if err := CheckSet(specs); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(`# Written by kdumpctl reset-crashkernel (kdumpkit). Delete this file and
# run update-grub to go back to the bootloader's own setting.
# Any earlier crashkernel= is dropped so that the value below is the one
# the kernel sees.
kdumpkit_glob=$-
set -f
`)
	for _, v := range []string{"GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"} {
		fmt.Fprintf(&b, `kdumpkit_new=
for kdumpkit_w in $%[1]s; do
	case $kdumpkit_w in
	crashkernel=*) ;;
	*) kdumpkit_new="$kdumpkit_new $kdumpkit_w" ;;
	esac
done
%[1]s=${kdumpkit_new# }
`, v)
	}
	fmt.Fprintf(&b, `case $kdumpkit_glob in *f*) ;; *) set +f ;; esac
unset kdumpkit_glob kdumpkit_new kdumpkit_w
GRUB_CMDLINE_LINUX_DEFAULT="${GRUB_CMDLINE_LINUX_DEFAULT:+$GRUB_CMDLINE_LINUX_DEFAULT }%s"
`, params(specs))
	return []byte(b.String()), nil
}

// GrubbyArgs returns the grubby command lines that set the values on a
// kernel entry ("ALL", "DEFAULT" or a kernel path): one removing every
// crashkernel= argument, one adding ours. grubby keeps one argument per
// name, so only a single value is accepted.
func GrubbyArgs(kernel string, specs []Spec) ([][]string, error) {
	if err := CheckSet(specs); err != nil {
		return nil, err
	}
	if len(specs) != 1 {
		return nil, errors.New("grubby keeps one crashkernel= per kernel entry; use a single value (a range list or a plain size)")
	}
	if kernel == "" {
		kernel = "ALL"
	}
	return [][]string{
		{"grubby", "--update-kernel=" + kernel, "--remove-args=crashkernel"},
		{"grubby", "--update-kernel=" + kernel, "--args=" + specs[0].Param()},
	}, nil
}
