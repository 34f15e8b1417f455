// Package rejects stores the rows an import could not deliver, with the
// reason, as NDJSON. Rows never travel through workflow history, so activities
// write rejects straight to disk: one part file per batch, written whole and
// renamed into place, so an activity that runs twice overwrites its own part
// instead of duplicating it. Finalize joins the parts, in source order, into
// the import's rejects file.
//
// The directory must be shared by all workers of one deployment (a volume);
// with the embedded dev setup everything runs on one machine.
package rejects

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"importer/internal/atomicfile"
	"importer/internal/fsname"
)

// Reject is one row that did not reach the vendor, or that the vendor refused.
type Reject struct {
	Line   int64  `json:"line"`              // 1-based physical line in the source
	UserID string `json:"user_id,omitempty"` // the vendor's user key, when the row had one
	Vendor string `json:"vendor"`
	Reason string `json:"reason"`
}

// Store is a directory of rejects files.
type Store struct {
	Dir string
}

// Path is where the rejects file of an import ends up.
func (s Store) Path(importKey string) string {
	return filepath.Join(s.Dir, fsname.Safe(importKey)+".rejects.ndjson")
}

func (s Store) partsDir(importKey string) string {
	return filepath.Join(s.Dir, fsname.Safe(importKey)+".parts")
}

// PartName names the part of one batch of one chunk; names sort in source order.
func PartName(chunk, batch int) string { return fmt.Sprintf("c%08d-b%05d.ndjson", chunk, batch) }

// WritePart writes (or rewrites) one part. An empty list removes the part.
func (s Store) WritePart(importKey, part string, rs []Reject) error {
	dir := s.partsDir(importKey)
	path := filepath.Join(dir, part)
	if len(rs) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove rejects part: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create rejects directory: %w", err)
	}
	err := atomicfile.Write(path, func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write rejects part: %w", err)
	}
	return nil
}

// ReadParts returns the rejects in the parts whose names start with prefix,
// in part-name order, so a caller can merge them into one part.
func (s Store) ReadParts(importKey, prefix string) ([]Reject, []string, error) {
	dir := s.partsDir(importKey)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read rejects parts: %w", err)
	}
	var out []Reject
	var names []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), prefix) || !strings.HasSuffix(e.Name(), ".ndjson") {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		if err := Read(filepath.Join(dir, n), func(r Reject) error { out = append(out, r); return nil }); err != nil {
			return nil, nil, err
		}
	}
	return out, names, nil
}

// RemovePart deletes one part; a missing part is no error.
func (s Store) RemovePart(importKey, part string) error {
	if err := os.Remove(filepath.Join(s.partsDir(importKey), part)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove rejects part: %w", err)
	}
	return nil
}

// Finalize joins the parts into the rejects file and returns its path and the
// number of rejects in it. With no rejects at all it returns "" and 0. It is
// safe to run again after it succeeded (the parts are gone, the file stays).
func (s Store) Finalize(importKey string) (string, int, error) {
	dir := s.partsDir(importKey)
	final := s.Path(importKey)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		n, cerr := countLines(final)
		if errors.Is(cerr, os.ErrNotExist) {
			return "", 0, nil
		}
		if cerr != nil {
			return "", 0, cerr
		}
		return absPath(final), n, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("read rejects parts: %w", err)
	}
	var parts []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".ndjson") {
			parts = append(parts, e.Name())
		}
	}
	sort.Strings(parts)
	count := 0
	err = atomicfile.Write(final, func(w *bufio.Writer) error {
		for _, p := range parts {
			n, err := appendFile(w, filepath.Join(dir, p))
			if err != nil {
				return err
			}
			count += n
		}
		if count == 0 {
			return atomicfile.ErrSkip
		}
		return nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("write rejects file: %w", err)
	}
	if count == 0 {
		return "", 0, os.RemoveAll(dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", 0, fmt.Errorf("remove rejects parts: %w", err)
	}
	return absPath(final), count, nil
}

// Read calls fn for each reject in a rejects file.
func Read(path string, fn func(Reject) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open rejects file: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var r Reject
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read rejects file %s: %w", path, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

func appendFile(w io.Writer, path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read rejects part: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return 0, fmt.Errorf("write rejects file: %w", err)
	}
	return strings.Count(string(data), "\n"), nil
}

func countLines(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(data), "\n"), nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
