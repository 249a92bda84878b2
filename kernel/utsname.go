package kernel

import (
	"bytes"
	"fmt"
)

// Utsname is struct new_utsname: six NUL-padded 65-byte fields, the
// layout the kdump header copies verbatim.
type Utsname struct {
	Raw [6 * 65]byte
}

// Field indexes into Utsname.
const (
	UtsSysname = iota
	UtsNodename
	UtsRelease
	UtsVersion
	UtsMachine
	UtsDomainname
)

// Field returns field i (UtsSysname..UtsDomainname) without its padding.
func (u *Utsname) Field(i int) string {
	b := u.Raw[i*65 : (i+1)*65]
	if j := bytes.IndexByte(b, 0); j >= 0 {
		b = b[:j]
	}
	return string(b)
}

// ReadUtsname reads init_uts_ns.name from the dump, as makedumpfile does
// to fill the kdump header.
func ReadUtsname(vi *VMCOREINFO, x *X86_64) (*Utsname, error) {
	sym, ok := vi.Symbol("init_uts_ns")
	if !ok {
		return nil, &MissingError{What: "utsname", Keys: []string{"SYMBOL(init_uts_ns)"}}
	}
	// OFFSET(uts_namespace.name) appeared in 4.x; before it the name was
	// the first member after a kref (makedumpfile's fallback is the same
	// 0 offset used by the symbol of system_utsname on old kernels).
	off, _ := vi.Offset("uts_namespace.name")
	u := &Utsname{}
	if err := x.ReadVirt(u.Raw[:], sym+uint64(off)); err != nil {
		return nil, fmt.Errorf("read init_uts_ns: %w", err)
	}
	return u, nil
}
