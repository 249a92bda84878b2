package codec

// The per-page Huffman builders (deflate's and zstd's) sort the symbols a
// page uses by frequency before computing code lengths. A key packs the
// frequency above bit shift and the symbol below, so comparing keys
// orders by frequency with ties in symbol order. Pages use a few dozen
// symbols with counts below 2^13: sorting runs for every page and must
// cost next to nothing.

// insertionSortKeys sorts a short list of keys in place.
func insertionSortKeys[T uint32 | uint64](keys []T) {
	for i := 1; i < len(keys); i++ {
		k := keys[i]
		j := i
		for ; j > 0 && keys[j-1] > k; j-- {
			keys[j] = keys[j-1]
		}
		keys[j] = k
	}
}

// radixSortKeys sorts keys by the bits at and above shift with a stable
// radix sort on 6-bit digits, only as many passes as the largest key
// needs (two for a 4 KiB page). The symbols below shift are in order
// already. tmp must have len(keys) elements; the passes alternate
// between the two slices, so the result is either of them: sorted is the
// one holding the keys, spare the other.
func radixSortKeys[T uint32 | uint64](keys, tmp []T, shift uint) (sorted, spare []T) {
	var all T
	for _, k := range keys {
		all |= k
	}
	bits := uint(32)
	if ^T(0) > T(^uint32(0)) {
		bits = 64
	}
	for sh := shift; sh < bits && all>>sh != 0; sh += 6 {
		var count [65]int
		for _, k := range keys {
			count[(k>>sh)&63+1]++
		}
		for i := 1; i < 65; i++ {
			count[i] += count[i-1]
		}
		for _, k := range keys {
			b := (k >> sh) & 63
			tmp[count[b]] = k
			count[b]++
		}
		keys, tmp = tmp, keys
	}
	return keys, tmp
}
