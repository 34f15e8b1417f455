// Package atomicfile writes files that readers see whole or not at all: the
// data goes to a hidden temporary file in the same directory, is synced,
// and is renamed over the target. After a crash the target holds the old
// file or the new one, never half of one, and no temporary is left behind
// by a write that failed.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrSkip, returned by fill, drops the new file without an error and
// leaves the target as it was.
var ErrSkip = errors.New("atomicfile: skip")

// File is a replacement of a file being written: write to it, then Commit
// to put it in place, or Abort (safe after Commit, so it can be deferred).
type File struct {
	*bufio.Writer
	path string
	tmp  *os.File
	done bool
}

// Create starts a replacement of path (mode 0600). The directory must
// exist.
func Create(path string) (*File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{Writer: bufio.NewWriterSize(tmp, 64<<10), path: path, tmp: tmp}, nil
}

// Commit flushes, syncs and renames the file over its target.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	if err := f.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	// Sync before the rename, or a crash could leave the new name on an
	// empty file.
	if err := f.tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", f.path, err)
	}
	if err := f.tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		_ = os.Remove(f.tmp.Name())
		f.done = true
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	f.done = true
	return nil
}

// Abort drops the replacement, leaving the target as it was. It does
// nothing after Commit.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	_ = f.tmp.Close()
	_ = os.Remove(f.tmp.Name())
}

// Write creates or replaces path with what fill writes. An error from fill
// is returned as is; errors of the file system name path.
func Write(path string, fill func(w *bufio.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fill(f.Writer); err != nil {
		if errors.Is(err, ErrSkip) {
			return nil
		}
		return err
	}
	return f.Commit()
}
