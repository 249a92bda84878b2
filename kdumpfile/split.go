package kdumpfile

import (
	"errors"
	"fmt"
	"sort"

	"github.com/kdumpkit/kdumpkit/mem"
)

// OpenSet combines the files of a makedumpfile --split set (in any order)
// into one File that reads every page from the member covering it. Each
// member covers [start_pfn_64, end_pfn_64) with its own descriptor table
// starting at index 0, and carries bitmaps for the whole range. The members
// must come from the same dump (same block size, max_mapnr, utsname, crash
// time and RAM bitmap) and their ranges must tile [0, max_mapnr) without
// gaps or overlaps. Header and SubHeader of the result are those of the
// member starting at pfn 0.
//
// The stored-pages bitmap of the set takes each pfn range from its own
// member, so members need only agree within their own ranges.
func OpenSet(files []*File) (*File, error) {
	if len(files) == 0 {
		return nil, errors.New("split set: no files")
	}
	ms := append([]*File(nil), files...)
	for i, m := range ms {
		if m.members != nil || len(m.parts) != 1 {
			return nil, fmt.Errorf("split set: file %d is itself a set", i)
		}
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].parts[0].start < ms[j].parts[0].start })
	first := ms[0]
	for i, m := range ms {
		sp := m.parts[0]
		if len(ms) > 1 && (!m.hasSub || m.sub.Split == 0) {
			return nil, fmt.Errorf("split set: member %d (pfn range [%#x, %#x)) is not a --split file", i, uint64(sp.start), uint64(sp.end))
		}
		if m.block != first.block {
			return nil, fmt.Errorf("split set: member %d has block_size %d, member 0 has %d", i, m.block, first.block)
		}
		if m.maxMap != first.maxMap {
			return nil, fmt.Errorf("split set: member %d has max_mapnr %#x, member 0 has %#x", i, uint64(m.maxMap), uint64(first.maxMap))
		}
		if m.hdr.Utsname != first.hdr.Utsname || m.hdr.Timestamp != first.hdr.Timestamp {
			return nil, fmt.Errorf("split set: member %d comes from another dump (utsname or crash time differ)", i)
		}
		if !m.ram.Equal(first.ram) {
			return nil, fmt.Errorf("split set: member %d has a different RAM bitmap", i)
		}
		want := mem.PFN(0)
		if i > 0 {
			want = ms[i-1].parts[0].end
		}
		switch {
		case sp.start > want:
			return nil, fmt.Errorf("split set: no member covers pfns [%#x, %#x)", uint64(want), uint64(sp.start))
		case sp.start < want:
			return nil, fmt.Errorf("split set: members overlap at pfns [%#x, %#x)", uint64(sp.start), uint64(min(want, sp.end)))
		}
	}
	if last := ms[len(ms)-1].parts[0].end; last != first.maxMap {
		return nil, fmt.Errorf("split set: no member covers pfns [%#x, %#x)", uint64(last), uint64(first.maxMap))
	}

	set := &File{
		hdr:     first.hdr,
		sub:     first.sub,
		hasSub:  first.hasSub,
		block:   first.block,
		maxMap:  first.maxMap,
		ram:     first.ram,
		members: ms,
	}
	stored := mem.NewBitmap(first.maxMap)
	for _, m := range ms {
		sp := m.parts[0]
		stored.CopyRange(m.stored, sp.start, sp.end)
	}
	stored.Freeze()
	set.stored = stored
	for _, m := range ms {
		sp := m.parts[0]
		// The member's descriptor index for pfn is the rank within its
		// own range, which the combined bitmap reproduces.
		p := &part{r: sp.r, size: sp.size, start: sp.start, end: sp.end, block: sp.block,
			rankBase: stored.Rank(sp.start), pdOff: sp.pdOff, pdEnd: sp.pdEnd, dataOff: sp.dataOff,
			incomplete: sp.incomplete}
		set.parts = append(set.parts, p)
	}
	return set, nil
}
