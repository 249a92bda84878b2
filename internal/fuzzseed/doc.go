// Package fuzzseed derives small fuzz seeds from the real-kernel dump
// corpus of internal/corpus: the real headers, notes, VMCOREINFO,
// bitmaps and a few pages of each dump, in files of tens of KiB instead of
// a GiB. Only tests import it; it does not import the readers it seeds.
package fuzzseed
