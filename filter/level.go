package filter

import (
	"fmt"
	"strconv"
	"strings"
)

// Level is a makedumpfile dump level: an OR of the Exclude bits.
type Level uint8

// Dump level bits, named as in makedumpfile (DL_EXCLUDE_*).
const (
	ExcludeZero         Level = 1  // pages filled with zero
	ExcludeCache        Level = 2  // page cache without private data
	ExcludeCachePrivate Level = 4  // all page cache
	ExcludeUser         Level = 8  // user process data: anonymous, KSM, hugetlb
	ExcludeFree         Level = 16 // free pages (buddy, unaccepted)
	MaxLevel            Level = 31
)

// ParseLevels parses makedumpfile's -d argument: one level or a comma
// list tried in order when the output does not fit ("31,15").
func ParseLevels(s string) ([]Level, error) {
	var out []Level
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > int(MaxLevel) {
			return nil, fmt.Errorf("dump level %q: want a number from 0 to 31", f)
		}
		out = append(out, Level(n))
	}
	return out, nil
}

// Class is what a page was excluded as.
type Class uint8

// Classes, in makedumpfile's order of tests.
const (
	Keep Class = iota
	Free
	Cache
	CachePrivate
	User
	Hwpoison
	Offline
)

var classNames = [...]string{"keep", "free", "cache", "cache private", "user", "hwpoison", "offline"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", c)
}

// Counts are pages excluded per class. makedumpfile counts every pfn of
// an excluded range up to max_mapnr, holes and already-excluded pages
// included; so do we, so the figures match its --show-stats.
type Counts struct {
	Zero, Cache, CachePrivate, User, Free, Hwpoison, Offline uint64
}

func (c *Counts) add(cl Class, n uint64) {
	switch cl {
	case Free:
		c.Free += n
	case Cache:
		c.Cache += n
	case CachePrivate:
		c.CachePrivate += n
	case User:
		c.User += n
	case Hwpoison:
		c.Hwpoison += n
	case Offline:
		c.Offline += n
	}
}

// Excluded is the total of all classes.
func (c Counts) Excluded() uint64 {
	return c.Zero + c.Cache + c.CachePrivate + c.User + c.Free + c.Hwpoison + c.Offline
}
