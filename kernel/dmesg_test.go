package kernel_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kdumpkit/kdumpkit/internal/fakekernel"
	"github.com/kdumpkit/kdumpkit/kernel"
)

// fakeLogKernel is a fake kernel whose section 2 (RAM without a mem_map,
// unused by the fake) holds a log buffer, addressed through the direct
// map.
type fakeLogKernel struct {
	k *fakekernel.Kernel
	r *region
}

func newFakeLogKernel() *fakeLogKernel {
	k := fakekernel.New(fakekernel.Config{Era: fakekernel.EraByName("6.1")})
	k.Omit("SYMBOL(prb)")
	const base = 2 << fakekernel.SectionSizeBits
	return &fakeLogKernel{k: k, r: &region{b: k.Phys[base : base+1<<fakekernel.SectionSizeBits], va: k.PageOffset + base}}
}

// read parses the fake's VMCOREINFO plus extra and reads the log, either
// from the fake's memory directly or through its ELF core.
func (f *fakeLogKernel) read(t *testing.T, extra vmcoreinfo, opt kernel.LogOptions, viaELF bool) (*kernel.Log, error) {
	t.Helper()
	vi, err := kernel.ParseVMCOREINFO([]byte(f.k.VMCOREINFO() + extra.String()))
	if err != nil {
		t.Fatal(err)
	}
	var m kernel.Memory = fakekernel.Memory{K: f.k}
	if viaELF {
		d, err := f.k.Dump()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		m = d
	}
	x, err := kernel.NewX86_64(vi, m)
	if err != nil {
		t.Fatal(err)
	}
	return kernel.ReadLog(vi, x, opt)
}

func dmesgText(t *testing.T, l *kernel.Log, callerID bool) string {
	t.Helper()
	var b bytes.Buffer
	if err := l.WriteDmesg(&b, kernel.DmesgOptions{CallerID: callerID}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// line is how the test expects one plain-text record to print.
func line(ts uint64, text string) string {
	return fmt.Sprintf("[%5d.%06d] %s\n", ts/1e9, ts%1e9/1000, text)
}

type pushed struct {
	id    uint64
	ts    uint64
	text  string
	shown bool // committed or finalized with data
}

// TestDmesgLockless fills a small lockless ring (16 descriptors, 512
// bytes of text) with more records than it holds, so that old records
// are evicted, text blocks wrap to the start of the ring and descriptor
// ids wrap through 2^62; reserved and data-less records are skipped.
func TestDmesgLockless(t *testing.T) {
	for _, viaELF := range []bool{false, true} {
		t.Run(fmt.Sprintf("elf=%v", viaELF), func(t *testing.T) {
			f := newFakeLogKernel()
			p := newPRBRing(f.r, 4, 9)
			var all []pushed
			for i := 0; i < 60; i++ {
				ts := uint64(i)*1234567891 + 5
				text := fmt.Sprintf("message %d %s", i, strings.Repeat("x", i%23))
				state := uint64(stFinalized)
				switch i {
				case 57:
					state = stCommitted
				case 59:
					state = stReserved // still being written: skipped
				}
				id := p.push(ts, uint32(i), text, state, -1)
				all = append(all, pushed{id, ts, text, state != stReserved})
			}
			// A data-less record (begin == next), as after a failed
			// reservation: skipped.
			id := p.push(99e9, 0, "gone", stFinalized, -1)
			p.setDesc(id, stFinalized, 1, 1)
			if p.evicted == 0 || p.wraps == 0 || p.head > 1<<20 {
				t.Fatalf("the ring did not exercise eviction (%d), block wraps (%d) and id wrap (head %#x)", p.evicted, p.wraps, p.head)
			}
			var want strings.Builder
			n := 0
			for _, r := range all {
				if (r.id-p.tail)&descIDMask <= (p.head-p.tail)&descIDMask && r.shown {
					want.WriteString(line(r.ts, r.text))
					n++
				}
			}
			l, err := f.read(t, p.vmcoreinfo(false), kernel.LogOptions{}, viaELF)
			if err != nil {
				t.Fatal(err)
			}
			if l.Format != kernel.LogLockless || l.HasCallerID {
				t.Errorf("format %v, caller id %v", l.Format, l.HasCallerID)
			}
			if got := dmesgText(t, l, true); got != want.String() {
				t.Errorf("got:\n%s\nwant (%d records):\n%s", got, n, want.String())
			}
			if n < 5 {
				t.Errorf("only %d records survive", n)
			}
		})
	}
}

// TestDmesgLocklessCallerAndPartial: the caller field (thread or CPU),
// printed only when asked, and --partial-dmesg's clear_seq.
func TestDmesgLocklessCallerAndPartial(t *testing.T) {
	f := newFakeLogKernel()
	p := newPRBRing(f.r, 5, 12)
	p.push(0, 1, "Linux version 6.1", stFinalized, -1)
	p.push(1500000, 0x80000003, "on cpu 3", stFinalized, -1)
	p.push(2000001000, 123456, "after clear", stFinalized, -1)
	p.push(12345678901234, 7, "last", stCommitted, -1)
	p.setClearSeq(2)
	vi := p.vmcoreinfo(true)

	l, err := f.read(t, vi, kernel.LogOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "[    0.000000] [      T1] Linux version 6.1\n" +
		"[    0.001500] [      C3] on cpu 3\n" +
		"[    2.000001] [ T123456] after clear\n" +
		"[12345.678901] [      T7] last\n"
	if got := dmesgText(t, l, true); got != want {
		t.Errorf("with callers:\n%s\nwant:\n%s", got, want)
	}
	if l.Records[2].Seq != 2 || l.Records[1].CallerID != 0x80000003 {
		t.Errorf("records: %+v", l.Records)
	}
	want = "[    0.000000] Linux version 6.1\n[    0.001500] on cpu 3\n[    2.000001] after clear\n[12345.678901] last\n"
	if got := dmesgText(t, l, false); got != want {
		t.Errorf("without callers:\n%s\nwant:\n%s", got, want)
	}

	l, err = f.read(t, vi, kernel.LogOptions{Partial: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	want = "[    2.000001] after clear\n[12345.678901] last\n"
	if got := dmesgText(t, l, false); got != want {
		t.Errorf("partial:\n%s\nwant:\n%s", got, want)
	}
}

// TestDmesgEscapes: the C tool's byte handling, and a text_len longer
// than the data block (truncated to the block, as the C tool does).
func TestDmesgEscapes(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"plain ascii ~!", "plain ascii ~!"},
		{"tab\there\r\v\f", "tab\there\r\v\f"},
		{"two\nlines", "two\n               lines"},
		{"bell\a nul\x00 del\x7f esc\x1b", `bell\x07 nul\x00 del\x7f esc\x1b`},
		{"utf-8 \u00e9 \xff", `utf-8 \xffffffc3\xffffffa9 \xffffffff`},
		{"trailing\n", "trailing\n               "},
	}
	f := newFakeLogKernel()
	p := newPRBRing(f.r, 4, 10)
	var want strings.Builder
	for _, tt := range tests {
		p.push(0, 0, tt.text, stFinalized, -1)
		want.WriteString("[    0.000000] " + tt.want + "\n")
	}
	// text_len 200 in a block of 8+5 bytes (rounded to 16): the reader
	// stops at the block's end, as the C tool does, which shows the
	// three padding bytes.
	p.push(0, 0, "short", stFinalized, 200)
	want.WriteString(`[    0.000000] short\x00\x00\x00` + "\n")
	l, err := f.read(t, p.vmcoreinfo(false), kernel.LogOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := dmesgText(t, l, true); got != want.String() {
		t.Errorf("got:\n%q\nwant:\n%q", got, want.String())
	}
	// With a caller field the continuation indent is wider.
	p = newPRBRing(&region{b: f.r.b, va: f.r.va}, 4, 10)
	p.push(0, 5, "a\nb", stFinalized, -1)
	l, err = f.read(t, p.vmcoreinfo(true), kernel.LogOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dmesgText(t, l, true), "[    0.000000] [      T5] a\n"+strings.Repeat(" ", 26)+"b\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestDmesgStructured: printk_log records of 3.5 to 5.9, with a wrap
// (a len 0 header at the end sends the reader to the start), dicts that
// are not printed, callers, the struct log naming of 3.5 to 3.10 and
// clear_idx for --partial-dmesg.
func TestDmesgStructured(t *testing.T) {
	for _, tc := range []struct {
		name            string
		oldName, caller bool
	}{{"printk_log", false, false}, {"printk_log-caller", false, true}, {"log", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLogKernel()
			l := newPrintkLog(f.r, 512, tc.caller)
			// Stale bytes where the wrapped writer left them.
			o := l.put(0, 9, 0, "stale record", "")
			_ = o
			// The oldest live records sit at the end of the buffer.
			first := 312
			o = l.put(first, 1000, 1, "oldest", "SUBSYSTEM=pci")
			o = l.put(o, 2000, 2, "second\nline", "")
			l.endMarker(o)
			o = l.put(0, 3000000, 0x80000001, "wrapped to start", "")
			clear := o
			o = l.put(o, 4000000000, 4, "newest", "DEVICE=+pci:0000:00:01.0")
			l.setIdx(first, o, clear)

			log, err := f.read(t, l.vmcoreinfo(tc.oldName), kernel.LogOptions{}, false)
			if err != nil {
				t.Fatal(err)
			}
			if log.Format != kernel.LogStructured || log.HasCallerID != tc.caller {
				t.Errorf("format %v, caller %v", log.Format, log.HasCallerID)
			}
			want := line(1000, "oldest") + line(2000, "second\n               line") + line(3000000, "wrapped to start") + line(4000000000, "newest")
			if tc.caller {
				want = "[    0.000001] [      T1] oldest\n" +
					"[    0.000002] [      T2] second\n" + strings.Repeat(" ", 26) + "line\n" +
					"[    0.003000] [      C1] wrapped to start\n" +
					"[    4.000000] [      T4] newest\n"
			}
			if got := dmesgText(t, log, true); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			log, err = f.read(t, l.vmcoreinfo(tc.oldName), kernel.LogOptions{Partial: true}, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := dmesgText(t, log, false); got != line(4000000000, "newest") {
				t.Errorf("partial: %q", got)
			}
		})
	}
}

// TestDmesgStructuredCorrupt: a cycle and an index outside log_buf stop
// the walk with ErrLogCorrupt; the records before are returned.
func TestDmesgStructuredCorrupt(t *testing.T) {
	f := newFakeLogKernel()
	l := newPrintkLog(f.r, 256, false)
	a := l.put(0, 1000, 0, "a", "")
	b := l.put(a, 2000, 0, "b", "")
	l.put(b, 3000, 0, "c", "")
	// c becomes an end marker: the walk goes on with the record at 0
	// ("a" again) and then "b": a cycle that never reaches next_idx.
	l.endMarker(b)
	l.setIdx(0, 200, 0)
	log, err := f.read(t, l.vmcoreinfo(false), kernel.LogOptions{}, false)
	if !errors.Is(err, kernel.ErrLogCorrupt) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: %v", err)
	}
	if got, want := dmesgText(t, log, false), line(1000, "a")+line(2000, "b")+line(1000, "a"); got != want {
		t.Errorf("before the cycle:\n%s\nwant:\n%s", got, want)
	}

	l.put(b, 3000, 0, "c", "")
	f.r.put16(l.buf+b+8, 0xfff0) // past the end of the buffer
	log, err = f.read(t, l.vmcoreinfo(false), kernel.LogOptions{}, false)
	if !errors.Is(err, kernel.ErrLogCorrupt) || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("outside: %v", err)
	}
	if len(log.Records) != 3 {
		t.Errorf("%d records before the bad index", len(log.Records))
	}

	l.setIdx(300, 200, 0)
	if _, err = f.read(t, l.vmcoreinfo(false), kernel.LogOptions{}, false); !errors.Is(err, kernel.ErrLogCorrupt) {
		t.Fatalf("first index outside: %v", err)
	}
}

// TestDmesgPlain: the character buffer of kernels before 3.5, before and
// after it wrapped, with the 8-byte log_end of kernels before 2.6.25.
func TestDmesgPlain(t *testing.T) {
	content := "<6>third line\n<6>first line\n<6>second line\n"
	for _, tc := range []struct {
		name, release string
		end           uint32
		want          string
	}{
		{"unwrapped", "3.2.0-4-amd64", 14, "<6>third line\n"},
		// log_end 0x100+14: the oldest byte is at 14.
		{"wrapped", "3.2.0-4-amd64", 256 + 14, content[14:] + strings.Repeat("\x00", 256-len(content)) + content[:14]},
		{"2.6.18", "2.6.18-398.el5", 14, "<6>third line\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLogKernel()
			f.k.Set("OSRELEASE", tc.release)
			l := newPlainLog(f.r, 256, tc.end, content)
			log, err := f.read(t, l.vmcoreinfo(), kernel.LogOptions{}, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := dmesgText(t, log, true); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestDmesgMissing: errors name the VMCOREINFO entries a format needs.
func TestDmesgMissing(t *testing.T) {
	f := newFakeLogKernel()
	_, err := f.read(t, nil, kernel.LogOptions{}, false)
	var me *kernel.MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "SYMBOL(prb)") || !strings.Contains(err.Error(), "SYMBOL(log_buf)") {
		t.Errorf("no log at all: %v", err)
	}

	p := newPRBRing(f.r, 4, 9)
	var vi vmcoreinfo
	for _, l := range p.vmcoreinfo(false) {
		if !strings.HasPrefix(l, "OFFSET(prb_desc.state_var)") && !strings.HasPrefix(l, "SIZE(printk_info)") {
			vi = append(vi, l)
		}
	}
	_, err = f.read(t, vi, kernel.LogOptions{}, false)
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "OFFSET(prb_desc.state_var)") || !strings.Contains(err.Error(), "SIZE(printk_info)") {
		t.Errorf("lockless: %v", err)
	}

	l := newPrintkLog(&region{b: f.r.b, va: f.r.va}, 256, false)
	vi = nil
	for _, s := range l.vmcoreinfo(false) {
		if !strings.HasPrefix(s, "SYMBOL(log_next_idx)") && !strings.HasPrefix(s, "OFFSET(printk_log.len)") {
			vi = append(vi, s)
		}
	}
	_, err = f.read(t, vi, kernel.LogOptions{}, false)
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "SYMBOL(log_next_idx)") {
		t.Errorf("structured symbols: %v", err)
	}
	vi = append(vi, fmt.Sprintf("SYMBOL(log_next_idx)=%x", f.r.va+uint64(l.next)))
	_, err = f.read(t, vi, kernel.LogOptions{}, false)
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "OFFSET(printk_log.len)") {
		t.Errorf("structured offsets: %v", err)
	}
}

// TestDmesgHostileIndexes: head and tail ids far apart (a walk of 2^62
// ids) finish at once and print the live records in id order.
func TestDmesgHostileIndexes(t *testing.T) {
	f := newFakeLogKernel()
	p := newPRBRing(f.r, 4, 10)
	for i := 0; i < 5; i++ {
		p.push(uint64(i)*1000, 0, fmt.Sprintf("r%d", i), stFinalized, -1)
	}
	vi := p.vmcoreinfo(false)
	good, err := f.read(t, vi, kernel.LogOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	f.r.put64(p.prb+32, (p.head+2)&descIDMask) // tail just after head
	bad, err := f.read(t, vi, kernel.LogOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dmesgText(t, bad, false), dmesgText(t, good, false); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// count_bits and size_bits beyond the kernel's limits.
	f.r.put32(p.prb, 40)
	if _, err := f.read(t, vi, kernel.LogOptions{}, false); !errors.Is(err, kernel.ErrLogCorrupt) {
		t.Errorf("count_bits 40: %v", err)
	}
	f.r.put32(p.prb, 4)
	f.r.put32(p.prb+prbTextRing, 63)
	if _, err := f.read(t, vi, kernel.LogOptions{}, false); !errors.Is(err, kernel.ErrLogCorrupt) {
		t.Errorf("size_bits 63: %v", err)
	}
}
