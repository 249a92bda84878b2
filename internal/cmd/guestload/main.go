package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kdumpkit/kdumpkit/internal/corpus/pagegen"
)

// ReadyLine is printed on its own line when the workload is in place.
const ReadyLine = "KDUMPKIT-GUESTLOAD-READY"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	cacheDir string
	tmpfsDir string
	tmpfsMiB int
	anonMiB  int
	zeroMiB  int
	// hugetlbPages 2 MiB huge pages are reserved in the hugetlb pool, and
	// hugetlbUsed of them are mapped and filled with non-zero data.
	hugetlbPages int
	hugetlbUsed  int
	// hugetlbSysctl is the file that sets the pool size.
	hugetlbSysctl string
	seed          uint64
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("guestload", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o options
	fl.StringVar(&o.cacheDir, "cache-dir", "", "read every file under `dir` into the page cache")
	fl.StringVar(&o.tmpfsDir, "tmpfs-dir", "", "write tmpfs files into `dir` (a tmpfs mount)")
	fl.IntVar(&o.tmpfsMiB, "tmpfs-mib", 0, "MiB of data to write to tmpfs")
	fl.IntVar(&o.anonMiB, "anon-mib", 0, "MiB of anonymous memory to fill with non-zero data")
	fl.IntVar(&o.zeroMiB, "zero-mib", 0, "MiB of anonymous memory to write with zeros")
	fl.IntVar(&o.hugetlbPages, "hugetlb-pages", 0, "reserve `n` 2 MiB pages in the hugetlb pool")
	fl.IntVar(&o.hugetlbUsed, "hugetlb-used", 0, "map and fill `n` of the reserved hugetlb pages with non-zero data")
	fl.StringVar(&o.hugetlbSysctl, "hugetlb-sysctl", "/proc/sys/vm/nr_hugepages", "the hugetlb pool size `file`")
	fl.Uint64Var(&o.seed, "seed", 1, "seed of the generated data")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if err := load(o, stdout); err != nil {
		fmt.Fprintf(stderr, "guestload: %v\n", err)
		fmt.Fprintln(stdout, "KDUMPKIT-GUESTLOAD-FAILED")
		return 1
	}
	fmt.Fprintln(stdout, ReadyLine)
	// Hold the anonymous memory until the host stops the guest.
	for {
		time.Sleep(time.Hour)
	}
}

func load(o options, out io.Writer) error {
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		fmt.Fprintf(out, "guestload: kernel %s\n", strings.TrimSpace(string(rel)))
	}
	step := func(name string, f func() (int64, error)) error {
		start := time.Now()
		n, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(out, "guestload: %s: %d MiB in %.1fs\n", name, n>>20, time.Since(start).Seconds())
		return nil
	}
	// Reserve the huge pages first, while free memory is not fragmented.
	if o.hugetlbPages > 0 {
		if err := step("hugetlb", func() (int64, error) { return fillHugetlb(o, o.seed+3) }); err != nil {
			return err
		}
	}
	if o.cacheDir != "" {
		if err := step("page cache", func() (int64, error) { return readTree(o.cacheDir) }); err != nil {
			return err
		}
	}
	if o.tmpfsMiB > 0 {
		if err := step("tmpfs", func() (int64, error) { return writeTmpfs(o.tmpfsDir, o.tmpfsMiB, o.seed+1) }); err != nil {
			return err
		}
	}
	if o.anonMiB > 0 {
		if err := step("anonymous", func() (int64, error) { return fillAnon(o.anonMiB, o.seed+2) }); err != nil {
			return err
		}
	}
	if o.zeroMiB > 0 {
		if err := step("anonymous zero", func() (int64, error) { return zeroAnon(o.zeroMiB) }); err != nil {
			return err
		}
	}
	if mi, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(mi), "\n") {
			for _, k := range []string{"MemTotal:", "MemFree:", "Cached:", "Shmem:", "AnonPages:", "AnonHugePages:",
				"HugePages_Total:", "HugePages_Free:", "HugePages_Rsvd:", "Hugepagesize:", "Hugetlb:"} {
				if strings.HasPrefix(line, k) {
					fmt.Fprintf(out, "guestload: meminfo %s\n", strings.Join(strings.Fields(line), " "))
				}
			}
		}
	}
	return nil
}

// readTree reads every regular file under dir and discards the data, so
// that it stays in the page cache.
func readTree(dir string) (int64, error) {
	buf := make([]byte, 1<<20)
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			n, err := f.Read(buf)
			total += int64(n)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
		}
	})
	return total, err
}

// writeTmpfs writes mib MiB of generated data in 16 MiB files.
func writeTmpfs(dir string, mib int, seed uint64) (int64, error) {
	const fileMiB = 16
	buf := make([]byte, 1<<20)
	var total int64
	for i := 0; mib > 0; i++ {
		n := min(mib, fileMiB)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("shmem-%03d", i)))
		if err != nil {
			return total, err
		}
		for j := 0; j < n; j++ {
			pagegen.Fill(buf, seed+uint64(i), uint64(j)<<20)
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return total, err
			}
			total += int64(len(buf))
		}
		if err := f.Close(); err != nil {
			return total, err
		}
		mib -= n
	}
	return total, nil
}

// anonRegions keeps the mappings referenced for the life of the process.
var anonRegions [][]byte

func mapAnon(mib int) ([]byte, error) {
	b, err := syscall.Mmap(-1, 0, mib<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, fmt.Errorf("mmap %d MiB: %w", mib, err)
	}
	anonRegions = append(anonRegions, b)
	return b, nil
}

// fillAnon maps mib MiB of anonymous memory and fills it with generated
// non-zero data.
func fillAnon(mib int, seed uint64) (int64, error) {
	b, err := mapAnon(mib)
	if err != nil {
		return 0, err
	}
	pagegen.Fill(b, seed, 0)
	return int64(len(b)), nil
}

// zeroAnon maps mib MiB of anonymous memory and writes a zero byte into
// every page: each page gets its own zero-filled frame (a write fault),
// unlike pages that are only read, which all map the shared zero page.
func zeroAnon(mib int) (int64, error) {
	b, err := mapAnon(mib)
	if err != nil {
		return 0, err
	}
	for i := 0; i < len(b); i += pagegen.PageSize {
		b[i] = 0
	}
	return int64(len(b)), nil
}

// HugePageSize is the size of the hugetlb pages the workload uses (x86_64's
// default huge page size).
const HugePageSize = 2 << 20

// fillHugetlb sets the hugetlb pool to o.hugetlbPages pages, checks that
// the kernel reserved them all, then maps o.hugetlbUsed of them with
// MAP_HUGETLB and fills them with generated non-zero data. The rest stay
// in the pool, free.
func fillHugetlb(o options, seed uint64) (int64, error) {
	if o.hugetlbUsed > o.hugetlbPages {
		return 0, fmt.Errorf("%d hugetlb pages to use but only %d reserved", o.hugetlbUsed, o.hugetlbPages)
	}
	if err := os.WriteFile(o.hugetlbSysctl, []byte(fmt.Sprintf("%d\n", o.hugetlbPages)), 0o644); err != nil {
		return 0, fmt.Errorf("reserve hugetlb pages: %w", err)
	}
	got, err := os.ReadFile(o.hugetlbSysctl)
	if err != nil {
		return 0, err
	}
	if n := strings.TrimSpace(string(got)); n != fmt.Sprint(o.hugetlbPages) {
		return 0, fmt.Errorf("asked for %d hugetlb pages, the kernel reserved %s", o.hugetlbPages, n)
	}
	if o.hugetlbUsed == 0 {
		return 0, nil
	}
	b, err := syscall.Mmap(-1, 0, o.hugetlbUsed*HugePageSize, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_HUGETLB)
	if err != nil {
		return 0, fmt.Errorf("mmap %d hugetlb pages: %w", o.hugetlbUsed, err)
	}
	anonRegions = append(anonRegions, b)
	pagegen.Fill(b, seed, 0)
	return int64(len(b)), nil
}
