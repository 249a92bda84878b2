package crashkernel

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// stub writes an executable shell script that appends its name and
// arguments to log.
func stub(t *testing.T, dir, name, log string, fail bool) {
	t.Helper()
	exit := "0"
	if fail {
		exit = "1"
	}
	script := "#!/bin/sh\necho \"" + name + " $*\" >> " + log + "\necho stub output\nexit " + exit + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestApplyBootloaderAt checks the wiring of reset-crashkernel with
// stand-ins for grubby and update-grub on $PATH (no bootloader is touched).
func TestApplyBootloaderAt(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	sp, _ := Default("amd64")
	ctx := context.Background()

	t.Run("update-grub", func(t *testing.T) {
		bin, root := t.TempDir(), t.TempDir()
		log := filepath.Join(t.TempDir(), "log")
		stub(t, bin, "update-grub", log, false)
		t.Setenv("PATH", bin)
		res, err := ApplyBootloaderAt(ctx, root, "", []Spec{sp})
		if err != nil {
			t.Fatal(err)
		}
		if res.Method != "grub.d" || !res.Changed || !reflect.DeepEqual(res.Ran, [][]string{{"update-grub"}}) {
			t.Errorf("result %+v", res)
		}
		if _, err := os.Stat(filepath.Join(root, GrubDropInPath)); err != nil {
			t.Error(err)
		}
		b, _ := os.ReadFile(log)
		if string(b) != "update-grub \n" {
			t.Errorf("ran %q", b)
		}
	})

	t.Run("grub-mkconfig", func(t *testing.T) {
		bin, root := t.TempDir(), t.TempDir()
		log := filepath.Join(t.TempDir(), "log")
		stub(t, bin, "grub-mkconfig", log, true)
		t.Setenv("PATH", bin)
		_, err := ApplyBootloaderAt(ctx, root, "", []Spec{sp})
		if err == nil || !strings.Contains(err.Error(), "grub-mkconfig -o /boot/grub/grub.cfg") || !strings.Contains(err.Error(), "stub output") {
			t.Errorf("failing grub-mkconfig: %v", err)
		}
	})

	t.Run("grubby", func(t *testing.T) {
		bin, root := t.TempDir(), t.TempDir()
		log := filepath.Join(t.TempDir(), "log")
		stub(t, bin, "grubby", log, false)
		stub(t, bin, "update-grub", log, false)
		t.Setenv("PATH", bin)
		res, err := ApplyBootloaderAt(ctx, root, "DEFAULT", []Spec{sp})
		if err != nil || res.Method != "grubby" {
			t.Fatalf("%+v %v", res, err)
		}
		b, _ := os.ReadFile(log)
		want := "grubby --update-kernel=DEFAULT --remove-args=crashkernel\ngrubby --update-kernel=DEFAULT --args=crashkernel=" + sp.String() + "\n"
		if string(b) != want {
			t.Errorf("ran %q, want %q", b, want)
		}
		if _, err := os.Stat(filepath.Join(root, GrubDropInPath)); err == nil {
			t.Error("grubby path also wrote the drop-in")
		}
	})

	t.Run("nothing installed", func(t *testing.T) {
		root := t.TempDir()
		t.Setenv("PATH", t.TempDir())
		_, err := ApplyBootloaderAt(ctx, root, "", []Spec{sp})
		if err == nil || !strings.Contains(err.Error(), "neither grubby, update-grub nor grub-mkconfig") {
			t.Errorf("no tools: %v", err)
		}
	})
}
