//go:build !unix && !windows

package store

import (
	"errors"
	"os"
)

// tryLock has no file lock to take on this system.
func tryLock(*os.File) error {
	return errors.New("file locks are not supported on this system; use PostgreSQL")
}
