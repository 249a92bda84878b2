// Package filter decides which pages of a dump to keep for a makedumpfile
// dump level (-d 0..31): it walks the crashed kernel's mem_map and
// classifies every page as free, page cache (with or without private
// data), user data (anonymous, KSM, hugetlb), hardware-poisoned or
// offline, following makedumpfile's rules page for page, and counts each
// class the way makedumpfile --show-stats reports them.
//
// It computes a plan and moves no page data; zero pages, which need the
// page contents, are left to the writer (or to ExcludeZero).
package filter
