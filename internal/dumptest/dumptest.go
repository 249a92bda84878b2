// Package dumptest holds checks shared by the tests of several packages
// that write dumps. It is test support, not product code.
package dumptest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/oracle"
	"github.com/kdumpkit/kdumpkit/mem"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// CheckIncomplete opens the dump at name and checks what an incomplete
// dump promises: it is marked incomplete, every stored page either equals
// the source's or reads as lost, and vmcore.Verify agrees with those
// counts. It returns the numbers of intact and lost pages.
func CheckIncomplete(t testing.TB, src vmcore.Dump, name string) (intact, lost uint64) {
	t.Helper()
	d, err := vmcore.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if x, ok := d.(interface{ Incomplete() bool }); !ok || !x.Incomplete() {
		t.Fatal("dump not marked incomplete")
	}
	got, want := make([]byte, d.PageSize()), make([]byte, src.PageSize())
	for p, ok := d.Stored().Next(0); ok; p, ok = d.Stored().Next(p + 1) {
		err := d.ReadPage(p, got)
		if errors.Is(err, mem.ErrLost) {
			lost++
			continue
		}
		if err != nil {
			t.Fatalf("pfn %#x: %v", p, err)
		}
		if err := src.ReadPage(p, want); err != nil {
			t.Fatalf("source pfn %#x: %v", p, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pfn %#x differs from the source", p)
		}
		intact++
	}
	res, err := vmcore.Verify(d, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.Pages != intact || res.Lost != lost {
		t.Errorf("verify counted %d pages, %d lost; we read %d, %d", res.Pages, res.Lost, intact, lost)
	}
	return intact, lost
}

// CMakedumpfile returns the path of the host's C makedumpfile, failing
// the test if it is missing (CI installs it).
func CMakedumpfile(t testing.TB) string {
	t.Helper()
	p, err := oracle.LookPath("makedumpfile")
	if err != nil {
		t.Fatalf("the C makedumpfile is not installed (apt-get install makedumpfile): %v", err)
	}
	return p
}
