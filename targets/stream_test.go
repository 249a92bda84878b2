package targets

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdumpkit/kdumpkit/codec"
	"github.com/kdumpkit/kdumpkit/codec/stream"
	"github.com/kdumpkit/kdumpkit/dump"
	"github.com/kdumpkit/kdumpkit/filter"
	"github.com/kdumpkit/kdumpkit/kdumpfile"
	"github.com/kdumpkit/kdumpkit/vmcore"
)

// writeWrapped writes the engine's flattened output wrapped in container
// s to f, the way capture-init applies stream_compression.
func writeWrapped(t *testing.T, f File, s codec.Stream, src vmcore.Dump, p *filter.Plan, m codec.Method) {
	t.Helper()
	sw, err := stream.NewWriter(f, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.WriteKdumpFlat(context.Background(), src, p, m, sw); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
}

// samePages checks that every page src stores reads back identically
// from the dump file at name, opened with vmcore.Open.
func samePages(t *testing.T, src vmcore.Dump, name string) {
	t.Helper()
	d, err := vmcore.Open(name)
	if err != nil {
		t.Fatalf("vmcore.Open %s: %v", name, err)
	}
	defer d.Close()
	ps := src.PageSize()
	want, got := make([]byte, ps), make([]byte, ps)
	n := 0
	for pfn, ok := src.Stored().Next(0); ok; pfn, ok = src.Stored().Next(pfn + 1) {
		if err := src.ReadPage(pfn, want); err != nil {
			t.Fatal(err)
		}
		err := d.ReadPage(pfn, got)
		if bytes.Equal(want, make([]byte, ps)) && errors.Is(err, vmcore.ErrExcluded) {
			continue // zero pages are dropped by the writer
		}
		if err != nil {
			t.Fatalf("%s: page %#x: %v", name, pfn, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: page %#x differs", name, pfn)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("%s: no page compared", name)
	}
}

// unwrapRearrange unwraps and rearranges a wrapped flattened file.
func unwrapRearrange(t *testing.T, name string) []byte {
	t.Helper()
	in, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, s, err := codec.OpenStream(in)
	if err != nil {
		t.Fatal(err)
	}
	if s == codec.StreamNone {
		t.Fatalf("%s is not wrapped in a stream container", name)
	}
	out := filepath.Join(t.TempDir(), "rearranged")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := kdumpfile.Rearrange(r, o); err != nil {
		t.Fatalf("rearrange %s: %v", name, err)
	}
	o.Close()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSSHDExecStreamCompression: through a real sshd in exec mode, the
// flattened vmcore wrapped in lz4 or xz lands as vmcore.flat.<ext>, counts
// as a complete dump, unwraps to exactly the local engine output, and
// vmcore.Open reads every page back from it.
func TestSSHDExecStreamCompression(t *testing.T) {
	for _, s := range []codec.Stream{codec.StreamLZ4, codec.StreamXZ} {
		t.Run(s.String(), func(t *testing.T) {
			sd := startSSHD(t, false)
			src, p := engineSource(t, 256)
			want := localKdump(t, src, p, codec.Zlib)
			root := filepath.Join(t.TempDir(), "crash")
			tg, err := DialSSH(testCtx(t), sd.clientConfig(SSHExec, root))
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			d, err := Begin(tg, Options{Host: "10.0.2.15", Time: crashTime, Stream: s})
			if err != nil {
				t.Fatal(err)
			}
			if wantName := VmcoreFlatName + "." + s.String(); d.VmcoreName() != wantName || d.Stream() != s {
				t.Fatalf("VmcoreName %q, Stream %v; want %q, %v", d.VmcoreName(), d.Stream(), wantName, s)
			}
			f, err := d.CreateVmcore()
			if err != nil {
				t.Fatal(err)
			}
			writeWrapped(t, f, s, src, p, codec.Zlib)
			if err := d.FinishVmcore(f); err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(root, d.Dir(), d.VmcoreName())
			head := make([]byte, codec.StreamMagicLen)
			if b, err := os.ReadFile(name); err != nil || len(b) < len(head) {
				t.Fatalf("read %s: %v", name, err)
			} else if got := codec.DetectStream(b); got != s {
				t.Fatalf("%s starts as %v, want %v", name, got, s)
			}
			if got := unwrapRearrange(t, name); !bytes.Equal(got, want) {
				t.Fatalf("unwrapped %s (%d bytes) differs from the local engine output (%d bytes)", name, len(got), len(want))
			}
			samePages(t, src, name)
			infos, err := List(tg)
			if err != nil || len(infos) != 1 || !infos[0].Complete {
				t.Fatalf("List = %+v, %v", infos, err)
			}
		})
	}
}

// TestStreamCompressionSeekableIgnored: a seekable target takes a
// kdump-compressed vmcore; Options.Stream does not rename or wrap it.
func TestStreamCompressionSeekableIgnored(t *testing.T) {
	tg, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d, err := Begin(tg, Options{Host: "127.0.0.1", Time: crashTime, Stream: codec.StreamXZ})
	if err != nil {
		t.Fatal(err)
	}
	if d.VmcoreName() != VmcoreName || d.Stream() != codec.StreamNone {
		t.Fatalf("seekable target: VmcoreName %q, Stream %v", d.VmcoreName(), d.Stream())
	}
}

// TestRawFileBackedStream: a wrapped stream on a file-backed raw device is
// found, protected from overwriting, recovered to exactly the direct
// vmcore, read page by page with vmcore.Open, and cleared.
func TestRawFileBackedStream(t *testing.T) {
	for _, s := range []codec.Stream{codec.StreamLZ4, codec.StreamXZ} {
		t.Run(s.String(), func(t *testing.T) {
			dev := filepath.Join(t.TempDir(), "rawdev")
			if err := os.WriteFile(dev, bytes.Repeat([]byte{0xa5}, 8<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			src, p := engineSource(t, 256)
			want := localKdump(t, src, p, codec.LZO)
			f, err := CreateRaw(dev)
			if err != nil {
				t.Fatal(err)
			}
			writeWrapped(t, f, s, src, p, codec.LZO)
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			rd, err := os.Open(dev)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if has, err := RawHasDump(rd); err != nil || !has {
				t.Fatalf("RawHasDump = %v, %v", has, err)
			}
			if _, err := CreateRaw(dev); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("CreateRaw over an unrecovered %v dump: %v, want fs.ErrExist", s, err)
			}
			out := filepath.Join(t.TempDir(), "vmcore")
			o, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := RecoverRaw(rd, o); err != nil {
				t.Fatal(err)
			}
			o.Close()
			if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
				t.Fatalf("recovered vmcore (%d bytes) differs from the direct one (%d bytes)", len(got), len(want))
			}
			samePages(t, src, out)
			if err := ClearRaw(dev); err != nil {
				t.Fatal(err)
			}
			if has, err := RawHasDump(rd); err != nil || has {
				t.Fatalf("after ClearRaw: RawHasDump = %v, %v", has, err)
			}
		})
	}
}

// TestRawHasDumpContainerOfOtherData: a container whose contents are not
// a flattened dump is old data, not a dump to protect.
func TestRawHasDumpContainerOfOtherData(t *testing.T) {
	for _, s := range []codec.Stream{codec.StreamLZ4, codec.StreamXZ} {
		var b bytes.Buffer
		sw, err := stream.NewWriter(&b, s)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(sw, "not a makedumpfile flattened stream, just some text\n")
		sw.Close()
		if has, err := RawHasDump(bytes.NewReader(b.Bytes())); err != nil || has {
			t.Errorf("%v container of text: RawHasDump = %v, %v", s, has, err)
		}
		if err := RecoverRaw(bytes.NewReader(b.Bytes()), nil); !errors.Is(err, ErrNoDump) {
			t.Errorf("%v container of text: RecoverRaw = %v, want ErrNoDump", s, err)
		}
	}
}
