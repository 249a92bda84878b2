//go:build !linux

package writeback

import (
	"errors"
	"os"
)

func startWriteback(*os.File) error { return errors.ErrUnsupported }
