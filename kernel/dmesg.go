package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// LogFormat is how the crashed kernel kept its log buffer.
type LogFormat int

const (
	// LogLockless is the lockless printk ring buffer of 5.10 and later
	// (SYMBOL(prb)): a descriptor ring, an info array and a text ring.
	LogLockless LogFormat = iota + 1
	// LogStructured is the variable-length struct printk_log records of
	// 3.5 to 5.9 in log_buf, between log_first_idx and log_next_idx.
	LogStructured
	// LogPlain is the plain character ring of kernels before 3.5
	// (log_buf, log_buf_len, log_end), kept with its "<6>" level prefixes.
	LogPlain
)

func (f LogFormat) String() string {
	switch f {
	case LogLockless:
		return "lockless printk ring buffer"
	case LogStructured:
		return "printk_log records"
	case LogPlain:
		return "plain log_buf"
	}
	return "LogFormat(" + strconv.Itoa(int(f)) + ")"
}

// LogRecord is one message of a LogLockless or LogStructured log.
type LogRecord struct {
	// Seq is the record's sequence number (LogLockless only; 0 else).
	Seq uint64
	// TimeNsec is the timestamp, nanoseconds since boot.
	TimeNsec uint64
	// CallerID is the printk caller: a thread id, or a CPU number with
	// bit 31 set. Valid when Log.HasCallerID.
	CallerID uint32
	// Text is the message without the level or a trailing newline; it may
	// hold any bytes.
	Text []byte
}

// Log is the kernel log read from a dump.
type Log struct {
	Format LogFormat
	// Records are the messages, oldest first (not LogPlain).
	Records []LogRecord
	// Plain is the LogPlain buffer, oldest byte first.
	Plain []byte
	// HasCallerID says the kernel recorded callers (VMCOREINFO has
	// OFFSET(printk_info.caller_id) or OFFSET(printk_log.caller_id)).
	HasCallerID bool
}

// LogOptions choose what ReadLog returns.
type LogOptions struct {
	// Partial keeps only the messages since the log was last cleared
	// (dmesg --clear): makedumpfile's --partial-dmesg.
	Partial bool
}

// ErrLogCorrupt is wrapped by ReadLog errors about log buffers that
// contradict themselves (cycles, indexes outside the buffer). The Log
// returned beside such an error holds the records read before it.
var ErrLogCorrupt = errors.New("kernel log buffer is corrupt")

// Limits on sizes read from the dump. The kernel caps log_buf_len at
// 2 GiB (LOG_BUF_LEN_MAX) and uses one descriptor per 32 bytes of text
// (PRB_AVGBITS), so larger values are corruption. Memory is filled as the
// reads succeed, so a hostile size costs at most what the dump holds.
const (
	maxLogBufBits  = 31
	maxDescBits    = maxLogBufBits - 5 + 2 // some slack for small average records
	maxStructSize  = 4096
	readChunk      = 1 << 20
	descIDMask     = ^(uint64(3) << 62) // DESC_ID_MASK
	descStateShift = 62                 // DESC_FLAGS_SHIFT
)

// Descriptor states (kernel/printk/printk_ringbuffer.h).
const (
	descCommitted = 1
	descFinalized = 2
)

// ErrNoVMCOREINFO means a dump carries no VMCOREINFO note, without which
// the kernel log cannot be found.
var ErrNoVMCOREINFO = errors.New("the dump has no VMCOREINFO note, which the kernel log is found with")

// ReadDumpLog reads the kernel log of a dump's memory m, given the raw
// VMCOREINFO note (nil gives ErrNoVMCOREINFO): the one path vmcore dmesg,
// makedumpfile --dump-dmesg and capture-init share.
func ReadDumpLog(note []byte, m Memory, opt LogOptions) (*Log, error) {
	if note == nil {
		return nil, ErrNoVMCOREINFO
	}
	vi, err := ParseVMCOREINFO(note)
	if err != nil {
		return nil, err
	}
	x, err := NewX86_64(vi, m)
	if err != nil {
		return nil, err
	}
	return ReadLog(vi, x, opt)
}

// ReadLog reads the kernel log from a dump with the kernel's VMCOREINFO
// and page tables. It picks the format the way makedumpfile's
// --dump-dmesg does: SYMBOL(prb) means the lockless ring buffer; else
// log_buf with log_first_idx/log_next_idx (printk_log records) or, when
// SYMBOL(log_end) exists, the plain character buffer.
//
// Errors name the VMCOREINFO entries that are missing (*MissingError) or
// wrap ErrLogCorrupt; in the latter case the returned Log holds what was
// read before the corruption, as makedumpfile writes it too.
func ReadLog(vi *VMCOREINFO, x *X86_64, opt LogOptions) (*Log, error) {
	if _, ok := vi.Symbol("prb"); ok {
		return readLockless(vi, x, opt)
	}
	var missing []string
	for _, s := range []string{"log_buf", "log_buf_len"} {
		if _, ok := vi.Symbol(s); !ok {
			missing = append(missing, "SYMBOL("+s+")")
		}
	}
	if len(missing) > 0 {
		return nil, &MissingError{What: "kernel log", Keys: append([]string{"SYMBOL(prb)"}, missing...)}
	}
	if _, ok := vi.Symbol("log_end"); ok {
		return readPlain(vi, x)
	}
	return readStructured(vi, x, opt)
}

// fields collects VMCOREINFO numbers and the keys that are missing, so
// that one error names them all.
type fields struct {
	vi      *VMCOREINFO
	missing []string
}

func (f *fields) sym(name string) uint64 {
	v, ok := f.vi.Symbol(name)
	if !ok {
		f.missing = append(f.missing, "SYMBOL("+name+")")
	}
	return v
}

func (f *fields) size(name string) int64 {
	v, ok := f.vi.Size(name)
	if !ok {
		f.missing = append(f.missing, "SIZE("+name+")")
	}
	return v
}

func (f *fields) off(name string) int64 {
	v, ok := f.vi.Offset(name)
	if !ok {
		f.missing = append(f.missing, "OFFSET("+name+")")
	}
	return v
}

func (f *fields) err(what string) error {
	if len(f.missing) == 0 {
		return nil
	}
	return &MissingError{What: what, Keys: f.missing}
}

// inStruct checks that a field of n bytes at off lies inside a struct of
// size bytes.
func inStruct(name string, off, n, size int64) error {
	if off < 0 || off > size-n {
		return fmt.Errorf("OFFSET(%s)=%d does not fit a %d-byte field in a %d-byte struct", name, off, n, size)
	}
	return nil
}

// readVirt reads n bytes at va, growing the buffer only as reads succeed.
func readVirt(x *X86_64, va uint64, n uint64) ([]byte, error) {
	var buf []byte
	for done := uint64(0); done < n; {
		k := min(n-done, readChunk)
		buf = slices.Grow(buf, int(k))[:done+k]
		if err := x.ReadVirt(buf[done:done+k], va+done); err != nil {
			return nil, err
		}
		done += k
	}
	return buf, nil
}

func u16(b []byte, off int64) uint64 { return uint64(binary.LittleEndian.Uint16(b[off:])) }
func u32(b []byte, off int64) uint64 { return uint64(binary.LittleEndian.Uint32(b[off:])) }
func u64(b []byte, off int64) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// lockless is the lockless ring buffer's layout from VMCOREINFO.
type lockless struct {
	prbSize, descRing, textRing             int64 // printk_ringbuffer
	countBits, descs, infos, headID, tailID int64 // prb_desc_ring
	counter                                 int64 // atomic_long_t.counter
	descSize, stateVar, textLpos            int64 // prb_desc
	lposBegin, lposNext                     int64 // prb_data_blk_lpos
	sizeBits, data                          int64 // prb_data_ring
	infoSize, tsNsec, textLen, callerID     int64 // printk_info
	hasCaller                               bool
}

func locklessLayout(vi *VMCOREINFO) (*lockless, error) {
	f := &fields{vi: vi}
	l := &lockless{
		prbSize:   f.size("printk_ringbuffer"),
		descRing:  f.off("printk_ringbuffer.desc_ring"),
		textRing:  f.off("printk_ringbuffer.text_data_ring"),
		countBits: f.off("prb_desc_ring.count_bits"),
		descs:     f.off("prb_desc_ring.descs"),
		infos:     f.off("prb_desc_ring.infos"),
		headID:    f.off("prb_desc_ring.head_id"),
		tailID:    f.off("prb_desc_ring.tail_id"),
		counter:   f.off("atomic_long_t.counter"),
		descSize:  f.size("prb_desc"),
		stateVar:  f.off("prb_desc.state_var"),
		textLpos:  f.off("prb_desc.text_blk_lpos"),
		lposBegin: f.off("prb_data_blk_lpos.begin"),
		lposNext:  f.off("prb_data_blk_lpos.next"),
		sizeBits:  f.off("prb_data_ring.size_bits"),
		data:      f.off("prb_data_ring.data"),
		infoSize:  f.size("printk_info"),
		tsNsec:    f.off("printk_info.ts_nsec"),
		textLen:   f.off("printk_info.text_len"),
	}
	if err := f.err("kernel log (lockless printk ring buffer)"); err != nil {
		return nil, err
	}
	l.callerID, l.hasCaller = vi.Offset("printk_info.caller_id")
	for _, s := range []struct {
		name string
		v    int64
	}{{"printk_ringbuffer", l.prbSize}, {"prb_desc", l.descSize}, {"printk_info", l.infoSize}} {
		if s.v <= 0 || s.v > maxStructSize {
			return nil, fmt.Errorf("SIZE(%s)=%d is not a plausible struct size", s.name, s.v)
		}
	}
	checks := []struct {
		name      string
		off, n, s int64
	}{
		{"printk_ringbuffer.desc_ring+prb_desc_ring.count_bits", l.descRing + l.countBits, 4, l.prbSize},
		{"printk_ringbuffer.desc_ring+prb_desc_ring.descs", l.descRing + l.descs, 8, l.prbSize},
		{"printk_ringbuffer.desc_ring+prb_desc_ring.infos", l.descRing + l.infos, 8, l.prbSize},
		{"printk_ringbuffer.desc_ring+prb_desc_ring.head_id", l.descRing + l.headID + l.counter, 8, l.prbSize},
		{"printk_ringbuffer.desc_ring+prb_desc_ring.tail_id", l.descRing + l.tailID + l.counter, 8, l.prbSize},
		{"printk_ringbuffer.text_data_ring+prb_data_ring.size_bits", l.textRing + l.sizeBits, 4, l.prbSize},
		{"printk_ringbuffer.text_data_ring+prb_data_ring.data", l.textRing + l.data, 8, l.prbSize},
		{"prb_desc.state_var", l.stateVar + l.counter, 8, l.descSize},
		{"prb_desc.text_blk_lpos+prb_data_blk_lpos.begin", l.textLpos + l.lposBegin, 8, l.descSize},
		{"prb_desc.text_blk_lpos+prb_data_blk_lpos.next", l.textLpos + l.lposNext, 8, l.descSize},
		{"printk_info.ts_nsec", l.tsNsec, 8, l.infoSize},
		{"printk_info.text_len", l.textLen, 2, l.infoSize},
	}
	if l.hasCaller {
		checks = append(checks, struct {
			name      string
			off, n, s int64
		}{"printk_info.caller_id", l.callerID, 4, l.infoSize})
	}
	for _, c := range checks {
		if err := inStruct(c.name, c.off, c.n, c.s); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// readLockless follows makedumpfile's dump_lockless_dmesg: every
// descriptor from tail_id to head_id whose state is committed or
// finalized and whose text block holds data becomes a record.
func readLockless(vi *VMCOREINFO, x *X86_64, opt LogOptions) (*Log, error) {
	l, err := locklessLayout(vi)
	if err != nil {
		return nil, err
	}
	prbPtr, err := x.ReadU64(mustSym(vi, "prb"))
	if err != nil {
		return nil, fmt.Errorf("read prb: %w", err)
	}
	prb, err := readVirt(x, prbPtr, uint64(l.prbSize))
	if err != nil {
		return nil, fmt.Errorf("read printk_ringbuffer at %#x: %w", prbPtr, err)
	}
	countBits := u32(prb, l.descRing+l.countBits)
	sizeBits := u32(prb, l.textRing+l.sizeBits)
	if countBits > maxDescBits {
		return nil, fmt.Errorf("%w: prb_desc_ring.count_bits %d is above %d", ErrLogCorrupt, countBits, maxDescBits)
	}
	if sizeBits > maxLogBufBits || sizeBits < 4 {
		return nil, fmt.Errorf("%w: prb_data_ring.size_bits %d is outside 4..%d", ErrLogCorrupt, sizeBits, maxLogBufBits)
	}
	count, size := uint64(1)<<countBits, uint64(1)<<sizeBits
	descsVA, infosVA := u64(prb, l.descRing+l.descs), u64(prb, l.descRing+l.infos)
	dataVA := u64(prb, l.textRing+l.data)
	descs, err := readVirt(x, descsVA, count*uint64(l.descSize))
	if err != nil {
		return nil, fmt.Errorf("read prb.desc_ring.descs (%d descriptors at %#x): %w", count, descsVA, err)
	}
	infos, err := readVirt(x, infosVA, count*uint64(l.infoSize))
	if err != nil {
		return nil, fmt.Errorf("read prb.desc_ring.infos (%d at %#x): %w", count, infosVA, err)
	}
	text, err := readVirt(x, dataVA, size)
	if err != nil {
		return nil, fmt.Errorf("read prb.text_data_ring (%d bytes at %#x): %w", size, dataVA, err)
	}
	head := u64(prb, l.descRing+l.headID+l.counter) & descIDMask
	tail := u64(prb, l.descRing+l.tailID+l.counter) & descIDMask

	var minSeq uint64
	if opt.Partial {
		if minSeq, err = clearSeq(vi, x); err != nil {
			return nil, err
		}
	}

	log := &Log{Format: LogLockless, HasCallerID: l.hasCaller}
	add := func(id uint64) {
		i := id % count
		desc := descs[i*uint64(l.descSize):]
		sv := u64(desc, l.stateVar+l.counter)
		if sv&descIDMask != id {
			return // an older or newer record now owns the slot
		}
		if st := sv >> descStateShift; st != descCommitted && st != descFinalized {
			return // reserved (being written) or reusable
		}
		begin := u64(desc, l.textLpos+l.lposBegin) % size
		next := u64(desc, l.textLpos+l.lposNext) % size
		if begin == next {
			return // a data-less record
		}
		info := infos[i*uint64(l.infoSize):]
		seq := u64(info, 0)
		if off, ok := vi.Offset("printk_info.seq"); ok && off >= 0 && off+8 <= l.infoSize {
			seq = u64(info, off)
		}
		if opt.Partial && seq < minSeq {
			return
		}
		n := u16(info, l.textLen)
		if begin > next {
			begin = 0 // a wrapped block keeps its data at the start of the ring
		}
		begin += 8 // the block starts with its descriptor id
		if next >= begin && next-begin < n {
			n = next - begin // truncated message
		}
		if begin >= size {
			n = 0
		} else {
			n = min(n, size-begin)
		}
		r := LogRecord{Seq: seq, TimeNsec: u64(info, l.tsNsec), Text: text[begin : begin+n]}
		if l.hasCaller {
			r.CallerID = uint32(u32(info, l.callerID))
		}
		log.Records = append(log.Records, r)
	}
	if dist := (head - tail) & descIDMask; dist < count {
		for id := tail; ; id = (id + 1) & descIDMask {
			add(id)
			if id == head {
				break
			}
		}
	} else {
		// Corrupt indexes: walking every id between them could take
		// 2^62 steps. Only ids that a descriptor holds can print, so
		// take those that lie in [tail, head], in id order.
		var ids []uint64
		for i := uint64(0); i < count; i++ {
			id := u64(descs[i*uint64(l.descSize):], l.stateVar+l.counter) & descIDMask
			if id%count == i && (id-tail)&descIDMask <= dist {
				ids = append(ids, id)
			}
		}
		slices.SortFunc(ids, func(a, b uint64) int {
			da, db := (a-tail)&descIDMask, (b-tail)&descIDMask
			switch {
			case da < db:
				return -1
			case da > db:
				return 1
			}
			return 0
		})
		for _, id := range ids {
			add(id)
		}
	}
	return log, nil
}

func mustSym(vi *VMCOREINFO, name string) uint64 { v, _ := vi.Symbol(name); return v }

// clearSeq reads clear_seq, the first sequence number after the last
// dmesg --clear; 0 when the kernel does not export it (then everything
// is printed, as makedumpfile does). Since 5.13 it is a struct
// latched_seq whose current copy the latch's low bit selects.
func clearSeq(vi *VMCOREINFO, x *X86_64) (uint64, error) {
	sym, ok := vi.Symbol("clear_seq")
	if !ok {
		return 0, nil
	}
	seq, err := x.ReadU64(sym)
	if err != nil {
		return 0, fmt.Errorf("read clear_seq: %w", err)
	}
	if _, ok := vi.Size("latched_seq"); ok {
		off, ok := vi.Offset("latched_seq.val")
		if !ok {
			return 0, &MissingError{What: "partial kernel log", Keys: []string{"OFFSET(latched_seq.val)"}}
		}
		va := sym + uint64(off) + (seq&1)*8
		if seq, err = x.ReadU64(va); err != nil {
			return 0, fmt.Errorf("read latched clear_seq: %w", err)
		}
	}
	return seq, nil
}

// readU32 reads a 32-bit value at va.
func readU32(x *X86_64, va uint64) (uint32, error) {
	var b [4]byte
	if err := x.ReadVirt(b[:], va); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// logBuf reads SYMBOL(log_buf) (a pointer) and SYMBOL(log_buf_len) (an
// int) and checks the length.
func logBuf(vi *VMCOREINFO, x *X86_64) (va uint64, n uint64, err error) {
	if va, err = x.ReadU64(mustSym(vi, "log_buf")); err != nil {
		return 0, 0, fmt.Errorf("read log_buf: %w", err)
	}
	l, err := readU32(x, mustSym(vi, "log_buf_len"))
	if err != nil {
		return 0, 0, fmt.Errorf("read log_buf_len: %w", err)
	}
	if int32(l) <= 0 || l > 1<<maxLogBufBits {
		return 0, 0, fmt.Errorf("%w: log_buf_len %d", ErrLogCorrupt, int32(l))
	}
	return va, uint64(l), nil
}

// readPlain reads the character ring of kernels before 3.5: the bytes
// before log_end, or, once the ring has wrapped, the log_buf_len bytes
// ending at log_end.
func readPlain(vi *VMCOREINFO, x *X86_64) (*Log, error) {
	bufVA, n, err := logBuf(vi, x)
	if err != nil {
		return nil, err
	}
	// log_end became "unsigned" (from unsigned long) in 2.6.25.
	var end uint64
	if v, verr := ParseVersion(vi.OSRelease()); verr == nil && v < MakeVersion(2, 6, 25) {
		end, err = x.ReadU64(mustSym(vi, "log_end"))
	} else {
		var e uint32
		e, err = readU32(x, mustSym(vi, "log_end"))
		end = uint64(e)
	}
	if err != nil {
		return nil, fmt.Errorf("read log_end: %w", err)
	}
	if end < n {
		b, err := readVirt(x, bufVA, end)
		if err != nil {
			return nil, fmt.Errorf("read log_buf (%d bytes at %#x): %w", end, bufVA, err)
		}
		return &Log{Format: LogPlain, Plain: b}, nil
	}
	b, err := readVirt(x, bufVA, n)
	if err != nil {
		return nil, fmt.Errorf("read log_buf (%d bytes at %#x): %w", n, bufVA, err)
	}
	// The kernel indexes with log_end & (log_buf_len-1); the length is a
	// power of two.
	i := end & (n - 1)
	return &Log{Format: LogPlain, Plain: append(b[i:], b[:i]...)}, nil
}

// structured is struct printk_log's layout (struct log in 3.5 to 3.10).
type structured struct {
	size, tsNsec, len, textLen, callerID int64
	hasCaller                            bool
}

func structuredLayout(vi *VMCOREINFO) (*structured, error) {
	name := "printk_log"
	if _, ok := vi.Size(name); !ok {
		if _, ok := vi.Size("log"); ok {
			name = "log"
		}
	}
	f := &fields{vi: vi}
	s := &structured{
		size:    f.size(name),
		tsNsec:  f.off(name + ".ts_nsec"),
		len:     f.off(name + ".len"),
		textLen: f.off(name + ".text_len"),
	}
	if err := f.err("kernel log (" + name + " records)"); err != nil {
		return nil, err
	}
	if name == "printk_log" {
		s.callerID, s.hasCaller = vi.Offset("printk_log.caller_id")
	}
	if s.size <= 0 || s.size > maxStructSize {
		return nil, fmt.Errorf("SIZE(%s)=%d is not a plausible struct size", name, s.size)
	}
	for _, c := range []struct {
		field   string
		off, sz int64
	}{{"ts_nsec", s.tsNsec, 8}, {"len", s.len, 2}, {"text_len", s.textLen, 2}} {
		if err := inStruct(name+"."+c.field, c.off, c.sz, s.size); err != nil {
			return nil, err
		}
	}
	if s.hasCaller {
		if err := inStruct("printk_log.caller_id", s.callerID, 4, s.size); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readStructured follows makedumpfile's dump_dmesg for 3.5 to 5.9: records
// from log_first_idx (clear_idx with Partial) to log_next_idx, where a
// record of len 0 marks the end of the buffer and the walk goes on at its
// start.
func readStructured(vi *VMCOREINFO, x *X86_64, opt LogOptions) (*Log, error) {
	f := &fields{vi: vi}
	firstSym := "log_first_idx"
	if opt.Partial {
		if _, ok := vi.Symbol("clear_idx"); ok {
			firstSym = "clear_idx"
		}
	}
	first := f.sym(firstSym)
	nextSym := f.sym("log_next_idx")
	if err := f.err("kernel log (printk_log records)"); err != nil {
		return nil, err
	}
	s, err := structuredLayout(vi)
	if err != nil {
		return nil, err
	}
	firstIdx, err := readU32(x, first)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", firstSym, err)
	}
	nextIdx, err := readU32(x, nextSym)
	if err != nil {
		return nil, fmt.Errorf("read log_next_idx: %w", err)
	}
	bufVA, n, err := logBuf(vi, x)
	if err != nil {
		return nil, err
	}
	buf, err := readVirt(x, bufVA, n)
	if err != nil {
		return nil, fmt.Errorf("read log_buf (%d bytes at %#x): %w", n, bufVA, err)
	}
	log := &Log{Format: LogStructured, HasCallerID: s.hasCaller}
	hdr := uint64(s.size)
	if n < hdr {
		return nil, fmt.Errorf("%w: log_buf_len %d is below SIZE(printk_log) %d", ErrLogCorrupt, n, hdr)
	}
	last := n - hdr // the highest offset a record header fits at
	recLen := func(p uint64) uint64 { return u16(buf, int64(p)+s.len) }
	corrupt := func(what string, p uint64) error {
		return fmt.Errorf("%w: %s (log_buf %#x, index %#x)", ErrLogCorrupt, what, bufVA, p)
	}
	ptr := uint64(firstIdx)
	if ptr > last {
		return log, corrupt("log_first_idx outside log_buf", ptr)
	}
	seen := make([]uint64, (n+63)/64)
	for ptr != uint64(nextIdx) {
		if seen[ptr/64]&(1<<(ptr%64)) != 0 {
			return log, corrupt("cycle in the records", ptr)
		}
		seen[ptr/64] |= 1 << (ptr % 64)
		// A record of len 0 marks the end: the record is the one at
		// the start of the buffer, and the walk continues after it.
		rec, next := ptr, ptr+recLen(ptr)
		if recLen(ptr) == 0 {
			rec, next = 0, recLen(0)
		}
		text := rec + hdr
		tl := min(u16(buf, int64(rec)+s.textLen), n-text)
		r := LogRecord{TimeNsec: u64(buf, int64(rec)+s.tsNsec), Text: buf[text : text+tl]}
		if s.hasCaller {
			r.CallerID = uint32(u32(buf, int64(rec)+s.callerID))
		}
		log.Records = append(log.Records, r)
		if next > last {
			return log, corrupt("index outside log_buf", next)
		}
		ptr = next
	}
	return log, nil
}

// DmesgOptions choose how WriteDmesg formats records.
type DmesgOptions struct {
	// CallerID adds the "[    T123] " caller field after the timestamp
	// when the kernel recorded callers, as makedumpfile 1.7.5 and later
	// do; 1.7.4 and earlier never print it.
	CallerID bool
}

// WriteDmesg writes the log in makedumpfile --dump-dmesg's format: per
// record "[%5d.%06d] " seconds and microseconds, optionally the caller,
// then the text with each byte that is neither printable ASCII nor
// white space written as \xNN (bytes from 0x80 as \xffffffNN, since the
// C tool formats a sign-extended char) and each newline followed by an
// indent to the text column; a LogPlain buffer is written as it is.
func (l *Log) WriteDmesg(w io.Writer, opt DmesgOptions) error {
	if l.Format == LogPlain {
		_, err := w.Write(l.Plain)
		return err
	}
	var buf []byte
	for _, r := range l.Records {
		buf = appendRecord(buf[:0], r, opt.CallerID && l.HasCallerID)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

const hexDigits = "0123456789abcdef"

func appendRecord(b []byte, r LogRecord, caller bool) []byte {
	start := len(b)
	b = append(b, '[')
	b = appendPadded(b, strconv.AppendUint(nil, r.TimeNsec/1e9, 10), 5, ' ')
	b = append(b, '.')
	b = appendPadded(b, strconv.AppendUint(nil, r.TimeNsec%1e9/1000, 10), 6, '0')
	b = append(b, "] "...)
	if caller {
		kind, id := byte('T'), r.CallerID
		if id&0x80000000 != 0 {
			kind, id = 'C', id&^0x80000000
		}
		b = append(b, '[')
		b = appendPadded(b, strconv.AppendUint([]byte{kind}, uint64(id), 10), 8, ' ')
		b = append(b, "] "...)
	}
	indent := len(b) - start
	for _, c := range r.Text {
		switch {
		case c == '\n':
			b = append(b, '\n')
			for range indent {
				b = append(b, ' ')
			}
		case c >= 0x20 && c < 0x7f, c >= '\t' && c <= '\r':
			b = append(b, c)
		case c >= 0x80:
			b = append(b, '\\', 'x', 'f', 'f', 'f', 'f', 'f', 'f', hexDigits[c>>4], hexDigits[c&15])
		default:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return append(b, '\n')
}

// appendPadded appends s right-aligned in width characters.
func appendPadded(b, s []byte, width int, pad byte) []byte {
	for i := len(s); i < width; i++ {
		b = append(b, pad)
	}
	return append(b, s...)
}
