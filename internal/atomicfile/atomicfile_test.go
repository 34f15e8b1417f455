package atomicfile

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteReplacesWholeOrNotAtAll(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := Write(path, func(w *bufio.Writer) error { _, err := w.WriteString("first\n"); return err }); err != nil {
		t.Fatal(err)
	}
	// A fill that fails half-way leaves the old file and no temporary.
	boom := errors.New("boom")
	err := Write(path, func(w *bufio.Writer) error {
		_, _ = w.WriteString("half of the second")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the fill's error", err)
	}
	// ErrSkip is no error and changes nothing either.
	if err := Write(path, func(w *bufio.Writer) error { _, _ = w.WriteString("x"); return ErrSkip }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first\n" {
		t.Fatalf("target holds %q, want the first file", b)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("directory holds %v, want only the target", names)
	}
	if err := Write(path, func(w *bufio.Writer) error { _, err := w.WriteString("second\n"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "second\n" {
		t.Fatalf("target holds %q, want the second file", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestWriteIntoAMissingDirectoryNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "file")
	err := Write(path, func(*bufio.Writer) error { return nil })
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}
