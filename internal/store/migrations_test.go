package store

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestTheTwoBackendsHaveOneSchema keeps migrations/postgres and
// migrations/sqlite alike: the same files, with the same statements but
// for SQLite's WITHOUT ROWID and the comments.
func TestTheTwoBackendsHaveOneSchema(t *testing.T) {
	pg, err := fs.ReadDir(migrations, "migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	lite, err := fs.ReadDir(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) == 0 || len(pg) != len(lite) {
		t.Fatalf("%d PostgreSQL migrations, %d SQLite ones", len(pg), len(lite))
	}
	comment := regexp.MustCompile(`(?m)^--(?: \+goose)?.*$`)
	norm := func(b []byte) string {
		s := string(b)
		goose := strings.Join(regexp.MustCompile(`(?m)^-- \+goose .*$`).FindAllString(s, -1), "\n")
		s = comment.ReplaceAllString(s, "")
		s = strings.ReplaceAll(s, " WITHOUT ROWID", "")
		return goose + "\n" + strings.Join(strings.Fields(s), " ")
	}
	for i := range pg {
		if pg[i].Name() != lite[i].Name() {
			t.Fatalf("migration %d is %s on PostgreSQL and %s on SQLite", i+1, pg[i].Name(), lite[i].Name())
		}
		a, _ := migrations.ReadFile("migrations/postgres/" + pg[i].Name())
		b, _ := migrations.ReadFile("migrations/sqlite/" + lite[i].Name())
		if norm(a) != norm(b) {
			t.Errorf("%s differs between the backends beyond WITHOUT ROWID:\npostgres: %s\nsqlite:   %s", pg[i].Name(), norm(a), norm(b))
		}
	}
}
