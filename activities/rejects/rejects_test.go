package rejects

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPartsJoinInSourceOrderAndRewritesDoNotDuplicate(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	key := "import-x/1"
	must(t, s.WritePart(key, PartName(1, 0), []Reject{{Line: 30, Vendor: "nebuly", Reason: "c"}}))
	must(t, s.WritePart(key, PartName(0, 1), []Reject{{Line: 20, Vendor: "nebuly", Reason: "b"}}))
	must(t, s.WritePart(key, PartName(0, 0), []Reject{{Line: 10, UserID: "u1", Vendor: "nebuly", Reason: "a"}}))
	// A retried batch writes its part again: it replaces, never appends.
	must(t, s.WritePart(key, PartName(0, 0), []Reject{{Line: 10, UserID: "u1", Vendor: "nebuly", Reason: "a"}}))
	// A part that ends up empty on retry disappears.
	must(t, s.WritePart(key, PartName(2, 0), []Reject{{Line: 40, Vendor: "nebuly", Reason: "gone"}}))
	must(t, s.WritePart(key, PartName(2, 0), nil))

	path, n, err := s.Finalize(key)
	must(t, err)
	if n != 3 {
		t.Fatalf("count %d, want 3", n)
	}
	var lines []int64
	must(t, Read(path, func(r Reject) error { lines = append(lines, r.Line); return nil }))
	if len(lines) != 3 || lines[0] != 10 || lines[1] != 20 || lines[2] != 30 {
		t.Fatalf("lines %v, want [10 20 30]", lines)
	}
	if filepath.Dir(path) != s.Dir && !filepath.IsAbs(path) {
		t.Fatalf("path %s", path)
	}
	// Finalize again (a retried activity): same file, same count.
	path2, n2, err := s.Finalize(key)
	if err != nil || path2 != path || n2 != 3 {
		t.Fatalf("second finalize: %s %d %v", path2, n2, err)
	}
}

func TestFinalizeWithoutRejects(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	path, n, err := s.Finalize("clean")
	if err != nil || path != "" || n != 0 {
		t.Fatalf("got %q %d %v", path, n, err)
	}
	must(t, s.WritePart("clean2", PartName(0, 0), nil))
	if path, n, err := s.Finalize("clean2"); err != nil || path != "" || n != 0 {
		t.Fatalf("got %q %d %v", path, n, err)
	}
	entries, _ := os.ReadDir(s.Dir)
	if len(entries) != 0 {
		t.Fatalf("left files behind: %v", entries)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
