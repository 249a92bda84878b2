package kernel_test

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// This file builds kernel log buffers the way the kernel lays them out,
// into a region of fake memory, for the dmesg tests and the fuzz seeds.
// Layouts are those the real 6.1 kernel exports (corpus VMCOREINFO).

// region is a piece of fake kernel memory at virtual address va.
type region struct {
	b    []byte
	va   uint64
	next int
}

// alloc returns the offset of n fresh bytes aligned to 8.
func (r *region) alloc(n int) int {
	off := (r.next + 7) &^ 7
	if off+n > len(r.b) {
		panic(fmt.Sprintf("region of %d bytes is full", len(r.b)))
	}
	r.next = off + n
	return off
}

func (r *region) put64(off int, v uint64) { binary.LittleEndian.PutUint64(r.b[off:], v) }
func (r *region) put32(off int, v uint32) { binary.LittleEndian.PutUint32(r.b[off:], v) }
func (r *region) put16(off int, v uint16) { binary.LittleEndian.PutUint16(r.b[off:], v) }

// vmcoreinfo collects the lines a builder exports.
type vmcoreinfo []string

func (v *vmcoreinfo) add(format string, a ...any) { *v = append(*v, fmt.Sprintf(format, a...)) }
func (v vmcoreinfo) String() string               { return strings.Join(v, "\n") + "\n" }

// The 6.1 lockless layout.
const (
	prbSize      = 88
	prbTextRing  = 48
	descSize     = 24
	infoSize     = 88
	descIDMask   = ^(uint64(3) << 62)
	stReserved   = 0
	stCommitted  = 1
	stFinalized  = 2
	stReusable   = 3
	descFlagsShf = 62
)

func locklessVMCOREINFO(v *vmcoreinfo, prbSym, clearSeqSym uint64, caller bool) {
	v.add("SYMBOL(prb)=%x", prbSym)
	if clearSeqSym != 0 {
		v.add("SYMBOL(clear_seq)=%x", clearSeqSym)
	}
	v.add("SIZE(printk_ringbuffer)=%d", prbSize)
	v.add("OFFSET(printk_ringbuffer.desc_ring)=0")
	v.add("OFFSET(printk_ringbuffer.text_data_ring)=%d", prbTextRing)
	v.add("OFFSET(printk_ringbuffer.fail)=80")
	v.add("SIZE(prb_desc_ring)=48")
	v.add("OFFSET(prb_desc_ring.count_bits)=0")
	v.add("OFFSET(prb_desc_ring.descs)=8")
	v.add("OFFSET(prb_desc_ring.infos)=16")
	v.add("OFFSET(prb_desc_ring.head_id)=24")
	v.add("OFFSET(prb_desc_ring.tail_id)=32")
	v.add("SIZE(prb_desc)=%d", descSize)
	v.add("OFFSET(prb_desc.state_var)=0")
	v.add("OFFSET(prb_desc.text_blk_lpos)=8")
	v.add("SIZE(prb_data_blk_lpos)=16")
	v.add("OFFSET(prb_data_blk_lpos.begin)=0")
	v.add("OFFSET(prb_data_blk_lpos.next)=8")
	v.add("SIZE(printk_info)=%d", infoSize)
	v.add("OFFSET(printk_info.seq)=0")
	v.add("OFFSET(printk_info.ts_nsec)=8")
	v.add("OFFSET(printk_info.text_len)=16")
	if caller {
		v.add("OFFSET(printk_info.caller_id)=20")
	}
	v.add("OFFSET(printk_info.dev_info)=24")
	v.add("SIZE(prb_data_ring)=32")
	v.add("OFFSET(prb_data_ring.size_bits)=0")
	v.add("OFFSET(prb_data_ring.data)=8")
	v.add("OFFSET(prb_data_ring.head_lpos)=16")
	v.add("OFFSET(prb_data_ring.tail_lpos)=24")
	v.add("SIZE(atomic_long_t)=8")
	v.add("OFFSET(atomic_long_t.counter)=0")
	v.add("SIZE(latched_seq)=24")
	v.add("OFFSET(latched_seq.val)=8")
}

// prbRing writes records the way the kernel's prb_reserve/prb_commit do:
// ids start just below a wrap of the id space (DESC0_ID), a record's
// sequence number is congruent to its id modulo the descriptor count,
// data blocks are the id followed by the text, aligned to 8, and a block
// that would cross the end of the text ring is stored at its start.
// Records that no longer fit are evicted from the tail.
type prbRing struct {
	r                   *region
	prb, descs, infos   int
	data, clearSeq      int
	countBits, sizeBits uint
	head, tail          uint64 // descriptor ids
	headLpos, tailLpos  uint64
	lposOf              map[uint64][2]uint64
	seq                 uint64
	evicted, wraps      int // for tests to check what they exercised
}

func newPRBRing(r *region, countBits, sizeBits uint) *prbRing {
	p := &prbRing{r: r, countBits: countBits, sizeBits: sizeBits, lposOf: map[uint64][2]uint64{}}
	count := uint64(1) << countBits
	ptr := r.alloc(8) // the prb pointer variable
	p.prb = r.alloc(prbSize)
	p.descs = r.alloc(int(count) * descSize)
	p.infos = r.alloc(int(count) * infoSize)
	p.data = r.alloc(1 << sizeBits)
	p.clearSeq = r.alloc(24)
	r.put64(ptr, r.va+uint64(p.prb))
	r.put32(p.prb, uint32(countBits))
	r.put64(p.prb+8, r.va+uint64(p.descs))
	r.put64(p.prb+16, r.va+uint64(p.infos))
	r.put32(p.prb+prbTextRing, uint32(sizeBits))
	r.put64(p.prb+prbTextRing+8, r.va+uint64(p.data))
	// DESC0_ID: the descriptor before the first record, reusable and
	// data-less.
	p.head = (-(count + 1)) & descIDMask
	p.tail = p.head
	p.setDesc(p.head, stReusable, 1, 1)
	p.sync()
	return p
}

// symbols are the VMCOREINFO symbols of the ring.
func (p *prbRing) vmcoreinfo(caller bool) vmcoreinfo {
	var v vmcoreinfo
	locklessVMCOREINFO(&v, p.r.va+uint64(p.prb)-8, p.r.va+uint64(p.clearSeq), caller)
	return v
}

func (p *prbRing) setDesc(id, state, begin, next uint64) {
	off := p.descs + int(id%(1<<p.countBits))*descSize
	p.r.put64(off, state<<descFlagsShf|id)
	p.r.put64(off+8, begin)
	p.r.put64(off+16, next)
}

func (p *prbRing) sync() {
	p.r.put64(p.prb+24, p.head)
	p.r.put64(p.prb+32, p.tail)
	p.r.put64(p.prb+prbTextRing+16, p.headLpos)
	p.r.put64(p.prb+prbTextRing+24, p.tailLpos)
}

// push appends a record in the given state and returns its id. textLen,
// when >= 0, overrides the info's text_len (a truncated record).
func (p *prbRing) push(ts uint64, caller uint32, text string, state uint64, textLen int) uint64 {
	count, size := uint64(1)<<p.countBits, uint64(1)<<p.sizeBits
	id := (p.head + 1) & descIDMask
	blk := (8 + uint64(len(text)) + 7) &^ 7
	begin := p.headLpos
	next := begin + blk
	wrapped := begin/size != next/size
	if wrapped {
		next = next/size*size + blk
	}
	if blk > size/2 {
		panic("record too large for the ring")
	}
	// Evict from the tail what the new block or descriptor would
	// overwrite: the evicted descriptor becomes reusable.
	for p.tail != p.head && (next-p.tailLpos > size || (id-p.tail)&descIDMask >= count) {
		if lp, ok := p.lposOf[p.tail]; ok {
			p.tailLpos = lp[1]
			p.setDesc(p.tail, stReusable, lp[0], lp[1])
			p.evicted++
		}
		p.tail = (p.tail + 1) & descIDMask
	}
	if wrapped {
		p.wraps++
	}
	at := begin % size
	if wrapped {
		at = 0
	}
	p.r.put64(p.data+int(at), id)
	copy(p.r.b[p.data+int(at)+8:], text)
	p.setDesc(id, state, begin, next)
	p.lposOf[id] = [2]uint64{begin, next}
	info := p.infos + int(id%count)*infoSize
	seq := p.seq
	p.seq++
	p.r.put64(info, seq)
	p.r.put64(info+8, ts)
	n := len(text)
	if textLen >= 0 {
		n = textLen
	}
	p.r.put16(info+16, uint16(n))
	p.r.put32(info+20, caller)
	p.head = id
	p.headLpos = next
	p.sync()
	return id
}

// setClearSeq stores clear_seq as a latched_seq with its latch at 1.
func (p *prbRing) setClearSeq(seq uint64) {
	p.r.put64(p.clearSeq, 1)
	p.r.put64(p.clearSeq+8, 0xdead)
	p.r.put64(p.clearSeq+16, seq)
}

// printkLog builds the 3.5-5.9 structured log_buf. Records are placed by
// the caller (to shape wraps and corruption); a record is struct
// printk_log (ts_nsec@0, len@8, text_len@10, dict_len@12, caller_id@16
// when callers are recorded) followed by text and dict, aligned to 8.
type printkLog struct {
	r                                           *region
	buf, bufLen                                 int
	logBuf, logBufLen, first, next, clear, hdrN int
	caller                                      bool
}

func newPrintkLog(r *region, bufLen int, caller bool) *printkLog {
	l := &printkLog{r: r, bufLen: bufLen, caller: caller, hdrN: 16}
	if caller {
		l.hdrN = 24
	}
	l.logBuf = r.alloc(8)
	l.logBufLen = r.alloc(4)
	l.first = r.alloc(4)
	l.next = r.alloc(4)
	l.clear = r.alloc(4)
	l.buf = r.alloc(bufLen)
	r.put64(l.logBuf, r.va+uint64(l.buf))
	r.put32(l.logBufLen, uint32(bufLen))
	return l
}

// put writes a record at off and returns the offset after it.
func (l *printkLog) put(off int, ts uint64, caller uint32, text, dict string) int {
	n := (l.hdrN + len(text) + len(dict) + 7) &^ 7
	b := l.buf + off
	l.r.put64(b, ts)
	l.r.put16(b+8, uint16(n))
	l.r.put16(b+10, uint16(len(text)))
	l.r.put16(b+12, uint16(len(dict)))
	if l.caller {
		l.r.put32(b+16, caller)
	}
	copy(l.r.b[b+l.hdrN:], text)
	copy(l.r.b[b+l.hdrN+len(text):], dict)
	return off + n
}

// endMarker writes the len 0 header that sends readers to the start.
func (l *printkLog) endMarker(off int) { l.r.put16(l.buf+off+8, 0) }

func (l *printkLog) setIdx(first, next, clear int) {
	l.r.put32(l.first, uint32(first))
	l.r.put32(l.next, uint32(next))
	l.r.put32(l.clear, uint32(clear))
}

// vmcoreinfo exports the symbols; oldName uses 3.5-3.10's struct log.
func (l *printkLog) vmcoreinfo(oldName bool) vmcoreinfo {
	var v vmcoreinfo
	va := func(off int) uint64 { return l.r.va + uint64(off) }
	v.add("SYMBOL(log_buf)=%x", va(l.logBuf))
	v.add("SYMBOL(log_buf_len)=%x", va(l.logBufLen))
	v.add("SYMBOL(log_first_idx)=%x", va(l.first))
	v.add("SYMBOL(clear_idx)=%x", va(l.clear))
	v.add("SYMBOL(log_next_idx)=%x", va(l.next))
	name := "printk_log"
	if oldName {
		name = "log"
	}
	v.add("SIZE(%s)=%d", name, l.hdrN)
	v.add("OFFSET(%s.ts_nsec)=0", name)
	v.add("OFFSET(%s.len)=8", name)
	v.add("OFFSET(%s.text_len)=10", name)
	if l.caller {
		v.add("OFFSET(%s.caller_id)=16", name)
	}
	return v
}

// plainLog builds the character log_buf of kernels before 3.5.
type plainLog struct {
	r                              *region
	buf, logBuf, logBufLen, logEnd int
}

func newPlainLog(r *region, bufLen int, end uint32, content string) *plainLog {
	l := &plainLog{r: r}
	l.logBuf = r.alloc(8)
	l.logBufLen = r.alloc(4)
	l.logEnd = r.alloc(8)
	l.buf = r.alloc(bufLen)
	r.put64(l.logBuf, r.va+uint64(l.buf))
	r.put32(l.logBufLen, uint32(bufLen))
	r.put32(l.logEnd, end)
	copy(r.b[l.buf:], content)
	return l
}

func (l *plainLog) vmcoreinfo() vmcoreinfo {
	var v vmcoreinfo
	va := func(off int) uint64 { return l.r.va + uint64(off) }
	v.add("SYMBOL(log_buf)=%x", va(l.logBuf))
	v.add("SYMBOL(log_buf_len)=%x", va(l.logBufLen))
	v.add("SYMBOL(log_end)=%x", va(l.logEnd))
	return v
}
