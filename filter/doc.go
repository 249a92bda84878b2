// Package filter decides which pages of a dump to keep for a makedumpfile
// dump level (-d 0..31): it walks the crashed kernel's mem_map and
// classifies every page as free, page cache (with or without private
// data), user data (anonymous, KSM, hugetlb), hardware-poisoned or
// offline, following makedumpfile's rules page for page, and counts each
// class the way makedumpfile --show-stats reports them.
//
// It computes a plan and moves no page data; zero pages, which need the
// page contents, are left to the writer (or to ExcludeZero).
//
// A plan normally holds the keep map of the whole machine (Plan.Keep),
// which costs 4 KiB per 128 MiB chunk where kept and excluded pages mix.
// When that would exceed Options.Budget (makedumpfile's --cyclic-buffer),
// the plan is cyclic (Plan.Cyclic): it holds the counts, two bytes per
// chunk, and gives the keep map a window of pfns at a time
// (Cycles.Iter), classifying mem_map again for each window; the windows
// joined are the one-pass keep map bit for bit.
package filter
