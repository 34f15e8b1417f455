package store

import (
	"io/fs"
	"strings"
	"testing"
)

// TestSQLiteTablesAreWithoutRowid checks the one rewrite SQLite's schema
// gets: every CREATE TABLE, and nothing else, ends WITHOUT ROWID.
func TestSQLiteTablesAreWithoutRowid(t *testing.T) {
	pg, err := subFS(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	lite, err := subFS(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(pg, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations %v: %v", names, err)
	}
	for _, n := range names {
		a, _ := fs.ReadFile(pg, n)
		b, err := fs.ReadFile(lite, n)
		if err != nil {
			t.Fatalf("%s is missing for SQLite: %v", n, err)
		}
		tables := strings.Count(string(a), "CREATE TABLE")
		if got := strings.Count(string(b), ") WITHOUT ROWID;"); got != tables || tables == 0 {
			t.Errorf("%s: %d tables, %d WITHOUT ROWID", n, tables, got)
		}
		if strings.ReplaceAll(string(b), " WITHOUT ROWID;", ";") != string(a) {
			t.Errorf("%s: SQLite's copy differs beyond WITHOUT ROWID", n)
		}
	}
}
