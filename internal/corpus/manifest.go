package corpus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/oracle"
)

// ManifestVersion is the version of the manifest layout (and of the build
// recipe): a corpus with another version is rebuilt.
//
// 2: hugetlb pages in the workload, per-level -l --show-stats outputs with
// Stats, kernel series.
const ManifestVersion = 2

// ManifestName is the manifest's file name in the corpus directory.
const ManifestName = "manifest.json"

// Kind says what a corpus file is.
type Kind string

const (
	KindELF        Kind = "elf"        // ELF64 core file
	KindKdump      Kind = "kdump"      // kdump-compressed (diskdump) file
	KindFlattened  Kind = "flattened"  // makedumpfile -F stream; Format says what it wraps
	KindSplit      Kind = "split"      // one member of a --split set
	KindIncomplete Kind = "incomplete" // a dump cut short by -L; Format says which format
	KindVMCOREINFO Kind = "vmcoreinfo" // the VMCOREINFO note text of the ELF source
	KindLog        Kind = "log"        // console and tool logs, for people
)

// Producers of corpus files.
const (
	ProducerQEMU         = "qemu"
	ProducerMakedumpfile = "makedumpfile"
	ProducerMkcorpus     = "mkcorpus"
)

// Compression names, as in makedumpfile's and QEMU's option names.
const (
	CompressionNone   = "none"
	CompressionZlib   = "zlib"
	CompressionLZO    = "lzo"
	CompressionSnappy = "snappy"
)

// Manifest describes a corpus; it is stored as manifest.json.
type Manifest struct {
	Version          int      `json:"version"`
	Kernel           Kernel   `json:"kernel,omitempty"`       // series: Kernel61, Kernel612, or empty for another package
	KernelRelease    string   `json:"kernel_release"`         // uname -r of the guest (from VMCOREINFO OSRELEASE)
	KernelPackage    string   `json:"kernel_package"`         // Debian package booted
	KernelPackageVer string   `json:"kernel_package_version"` // its Debian version
	GuestRAMMiB      int      `json:"guest_ram_mib"`
	PageSize         int      `json:"page_size"` // from VMCOREINFO PAGESIZE
	QEMUVersion      string   `json:"qemu_version"`
	QEMUCommand      []string `json:"qemu_command"`
	// QEMUFormatsMissing lists the dump-guest-memory formats this QEMU
	// build lacks, whose files the corpus therefore does not have (Debian's
	// QEMU has neither kdump-lzo nor kdump-snappy).
	QEMUFormatsMissing  []string `json:"qemu_formats_missing,omitempty"`
	MakedumpfileVersion string   `json:"makedumpfile_version"` // the oracle's `makedumpfile -v` first line
	// MakedumpfileChroot is the chroot the oracle makedumpfile ran in (the
	// sid chroot, for kernels newer than 6.1); empty for the host's.
	MakedumpfileChroot string    `json:"makedumpfile_chroot,omitempty"`
	Workload           Workload  `json:"workload"`
	Created            time.Time `json:"created"`
	BuildSeconds       float64   `json:"build_seconds"`
	Files              []File    `json:"files"`
}

// Workload describes what the guest did before it was dumped.
type Workload struct {
	PageCacheMiB int `json:"page_cache_mib"` // file data read from an ext4 virtio disk
	TmpfsMiB     int `json:"tmpfs_mib"`      // generated data written to tmpfs (shmem)
	AnonMiB      int `json:"anon_mib"`       // anonymous memory with non-zero data
	ZeroMiB      int `json:"zero_mib"`       // anonymous pages written with zeros
	// HugetlbPages huge pages of HugePageKiB are reserved in the hugetlb
	// pool (vm.nr_hugepages) before anything else; HugetlbUsedPages of
	// them are mapped MAP_HUGETLB|MAP_ANONYMOUS and filled with non-zero
	// data, the rest stay free in the pool.
	HugetlbPages     int `json:"hugetlb_pages"`
	HugetlbUsedPages int `json:"hugetlb_used_pages"`
	HugePageKiB      int `json:"huge_page_kib"`
	// HugePagesTotal and HugePagesFree are the guest's /proc/meminfo
	// HugePages_Total and HugePages_Free when ready.
	HugePagesTotal int      `json:"huge_pages_total"`
	HugePagesFree  int      `json:"huge_pages_free"`
	Seed           uint64   `json:"seed"`    // pagegen seed
	Meminfo        []string `json:"meminfo"` // guest /proc/meminfo lines when ready
}

// File describes one corpus file.
type File struct {
	Name string `json:"name"` // file name in the corpus directory
	Kind Kind   `json:"kind"`
	// Format is the dump format inside: "elf" or "kdump" (for flattened,
	// split and incomplete files it is the wrapped or cut format); empty
	// for non-dumps.
	Format   string   `json:"format,omitempty"`
	Producer string   `json:"producer"`
	Command  []string `json:"command,omitempty"` // exact command line (QMP command for qemu)
	// Stdout is true when the command wrote the file to standard output.
	Stdout      bool   `json:"stdout,omitempty"`
	ExitCode    int    `json:"exit_code"`
	DumpLevel   int    `json:"dump_level"`            // -1 when not a dump
	Compression string `json:"compression,omitempty"` // CompressionNone, ...Zlib, ...LZO, ...Snappy
	Source      string `json:"source,omitempty"`      // corpus file it was made from
	// SplitSet lists every member of the split set, in order, and
	// SplitIndex is this file's position (0-based) in it.
	SplitSet   []string `json:"split_set,omitempty"`
	SplitIndex int      `json:"split_index,omitempty"`
	// Stats is makedumpfile's --show-stats report of the run that made
	// this file (the per-level outputs, see Corpus.LevelDumps), and
	// StatsLog the corpus file with the report's text.
	Stats    *oracle.Stats `json:"stats,omitempty"`
	StatsLog string        `json:"stats_log,omitempty"`
	Size     int64         `json:"size"`
	SHA256   string        `json:"sha256"`
}

// IsDump reports whether f holds (part of) a dump.
func (f File) IsDump() bool { return f.Format != "" }

// Corpus is a built corpus directory and its manifest.
type Corpus struct {
	Dir      string
	Manifest Manifest
}

// Open reads dir/manifest.json and checks that every file it lists exists
// with the recorded size.
func Open(dir string) (*Corpus, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", filepath.Join(dir, ManifestName), err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("corpus: %s: manifest version %d, want %d", dir, m.Version, ManifestVersion)
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("corpus: %s: manifest lists no files", dir)
	}
	for _, f := range m.Files {
		st, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		if st.Size() != f.Size {
			return nil, fmt.Errorf("corpus: %s: size %d, manifest says %d", f.Name, st.Size(), f.Size)
		}
	}
	return &Corpus{Dir: dir, Manifest: m}, nil
}

// Path returns the path of the corpus file name.
func (c *Corpus) Path(name string) string { return filepath.Join(c.Dir, name) }

// File returns the manifest entry of name.
func (c *Corpus) File(name string) (File, bool) {
	for _, f := range c.Manifest.Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// Files returns the files of the given kinds (all files if none given), in
// manifest order.
func (c *Corpus) Files(kinds ...Kind) []File {
	return c.Select(func(f File) bool {
		if len(kinds) == 0 {
			return true
		}
		for _, k := range kinds {
			if f.Kind == k {
				return true
			}
		}
		return false
	})
}

// Select returns the files for which keep returns true, in manifest order.
func (c *Corpus) Select(keep func(File) bool) []File {
	var out []File
	for _, f := range c.Manifest.Files {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

// Source returns the ELF dump every makedumpfile output was made from
// (vmcore.elf: QEMU's ELF with the program headers moved next to the ELF
// header): the reference for page contents. QEMUELFName is QEMU's file as
// written.
func (c *Corpus) Source() File {
	f, _ := c.File(SourceName)
	return f
}

// SplitSets returns the split sets, each as its member file names in order.
func (c *Corpus) SplitSets() [][]string {
	var sets [][]string
	for _, f := range c.Files(KindSplit) {
		if f.SplitIndex == 0 {
			sets = append(sets, f.SplitSet)
		}
	}
	return sets
}

// LevelDumps returns the per-level outputs of the oracle makedumpfile:
// `makedumpfile -l --show-stats -d N vmcore.elf` for each N in StatsLevels
// (makedumpfile-l-dN.kdump), each with its Stats, ordered by level.
func (c *Corpus) LevelDumps() []File {
	fs := c.Select(func(f File) bool { return f.Stats != nil })
	slices.SortStableFunc(fs, func(a, b File) int { return a.DumpLevel - b.DumpLevel })
	return fs
}

// LevelDump returns the per-level output for dump level level.
func (c *Corpus) LevelDump(level int) (File, bool) {
	for _, f := range c.LevelDumps() {
		if f.DumpLevel == level {
			return f, true
		}
	}
	return File{}, false
}

// VMCOREINFO returns the VMCOREINFO note text of the source dump.
func (c *Corpus) VMCOREINFO() (string, error) {
	b, err := os.ReadFile(c.Path(VMCOREINFOName))
	if err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	return string(b), nil
}
