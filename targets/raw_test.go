package targets

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/dump"
	"github.com/kdumpkit/kdumpkit/internal/dumptest"
)

// writeRaw writes the engine's flattened output to a raw target at dev.
func writeRaw(t *testing.T, dev string, m codec.Method) (want []byte) {
	t.Helper()
	src, p := engineSource(t, 256)
	want = localKdump(t, src, p, m)
	f, err := CreateRaw(dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.WriteKdumpFlat(context.Background(), src, p, m, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestRawFileBacked: a file stands in for the device. The dump is written
// as a flattened stream, found again, refused as an overwrite target,
// recovered byte-identical to a directly written vmcore, and cleared.
func TestRawFileBacked(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "rawdev")
	// Old data on the device beyond where the stream will end.
	if err := os.WriteFile(dev, bytes.Repeat([]byte{0xa5}, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	want := writeRaw(t, dev, codec.Zlib)
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if has, err := RawHasDump(f); err != nil || !has {
		t.Fatalf("RawHasDump = %v, %v", has, err)
	}
	if _, err := CreateRaw(dev); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateRaw over an unrecovered dump: %v, want fs.ErrExist", err)
	}
	out := filepath.Join(t.TempDir(), "vmcore")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := RecoverRaw(f, o); err != nil {
		t.Fatal(err)
	}
	o.Close()
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Fatalf("recovered vmcore (%d bytes) differs from the direct one (%d bytes)", len(got), len(want))
	}

	// The C tool recovers the same bytes from the device (kdumpctl's way).
	{
		mdf := dumptest.CMakedumpfile(t)
		cout := filepath.Join(t.TempDir(), "vmcore-c")
		cmd := exec.Command(mdf, "-R", cout)
		cmd.Stdin = f
		f.Seek(0, 0)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("makedumpfile -R: %v\n%s", err, b)
		}
		cgot, _ := os.ReadFile(cout)
		if !bytes.Equal(cgot, want) {
			t.Fatalf("makedumpfile -R gives %d bytes that differ from the direct vmcore (%d bytes)", len(cgot), len(want))
		}
	}

	if err := ClearRaw(dev); err != nil {
		t.Fatal(err)
	}
	if has, err := RawHasDump(f); err != nil || has {
		t.Fatalf("after ClearRaw: RawHasDump = %v, %v", has, err)
	}
	if err := RecoverRaw(f, o); !errors.Is(err, ErrNoDump) {
		t.Fatalf("RecoverRaw after clearing: %v, want ErrNoDump", err)
	}
	// Cleared, the device takes the next dump.
	writeRaw(t, dev, codec.LZO)

	rf, err := CreateRaw(filepath.Join(t.TempDir(), "missing"))
	if err == nil {
		rf.Close()
		t.Fatal("CreateRaw on a missing device succeeded")
	}
}

func TestRawStreamOnly(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "rawdev")
	os.WriteFile(dev, nil, 0o600)
	f, err := CreateRaw(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("abc"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, ErrNotSeekable) {
		t.Fatalf("WriteAt behind the stream end: %v, want ErrNotSeekable", err)
	}
	if _, err := f.Write([]byte("def")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dev); string(b) != "abcdef" {
		t.Fatalf("device holds %q", b)
	}
}
