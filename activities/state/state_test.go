package state

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

func rec(key string, content uint64, kept bool) Record {
	return Record{KeyHash: KeyHash(key), ContentHash: content, Key: key, Kept: kept}
}

func disappeared(t *testing.T, s Store, stateKey, run string) []string {
	t.Helper()
	var out []string
	if err := s.Disappeared(stateKey, run, func(k string) error { out = append(out, k); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestARunBecomesTheStateOnlyWhenCommitted(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if x, err := s.LoadIndex("sched"); err != nil || x.Len() != 0 {
		t.Fatalf("no state yet should be an empty index: %v %d", err, x.Len())
	}
	if err := s.WritePart("sched", "run1", "c0", []Record{rec("a", 1, true), rec("b", 2, true)}); err != nil {
		t.Fatal(err)
	}
	if err := s.WritePart("sched", "run1", "c1", []Record{rec("c", 3, true), rec("bad", 9, false)}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Prepare("sched", "run1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Users != 3 || p.Disappeared != 0 {
		t.Fatalf("prepared %+v; want 3 users (the refused one not kept), none gone", p)
	}
	// Prepared but not committed: the next run still sees nothing.
	if x, _ := s.LoadIndex("sched"); x.Len() != 0 {
		t.Fatalf("a prepared run leaked into the state: %d users", x.Len())
	}
	if err := s.Commit("sched", "run1"); err != nil {
		t.Fatal(err)
	}
	x, err := s.LoadIndex("sched")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]uint64{"a": 1, "b": 2, "c": 3} {
		if got, ok := x.Lookup(KeyHash(key)); !ok || got != want {
			t.Errorf("%s: %d %v, want %d", key, got, ok, want)
		}
	}
	if _, ok := x.Lookup(KeyHash("bad")); ok {
		t.Error("a user the vendor refused is in the state; the next run would skip it")
	}
	if err := s.Commit("sched", "run1"); err != nil {
		t.Fatalf("committing twice must be a no-op: %v", err)
	}
}

func TestDisappearedUsersAreTheOldOnesTheListLacks(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	_ = s.WritePart("k", "r1", "c0", []Record{rec("a", 1, true), rec("b", 2, true), rec("c", 3, true), rec("d", 4, true)})
	if _, err := s.Prepare("k", "r1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("k", "r1"); err != nil {
		t.Fatal(err)
	}
	// Run 2: a unchanged, b changed, c in the list but refused this time, d gone, e new.
	_ = s.WritePart("k", "r2", "c0", []Record{rec("a", 1, true), rec("b", 20, true), rec("c", 30, false), rec("e", 5, true)})
	p, err := s.Prepare("k", "r2")
	if err != nil {
		t.Fatal(err)
	}
	if got := disappeared(t, s, "k", "r2"); p.Disappeared != 1 || len(got) != 1 || got[0] != "d" {
		t.Fatalf("disappeared %v (%d); want only d: c is still in the list", got, p.Disappeared)
	}
	if err := s.Commit("k", "r2"); err != nil {
		t.Fatal(err)
	}
	x, _ := s.LoadIndex("k")
	if x.Len() != 3 {
		t.Fatalf("state has %d users, want a, b, e", x.Len())
	}
	if h, _ := x.Lookup(KeyHash("b")); h != 20 {
		t.Fatalf("b has content %d, want the new 20", h)
	}
	if _, ok := x.Lookup(KeyHash("c")); ok {
		t.Fatal("c was refused in run 2, so run 3 must send it again")
	}
}

func TestAFailedRunLeavesTheLastSuccess(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	_ = s.WritePart("k", "ok", "c0", []Record{rec("a", 1, true)})
	_, _ = s.Prepare("k", "ok")
	_ = s.Commit("k", "ok")
	_ = s.WritePart("k", "failed", "c0", []Record{rec("a", 2, true), rec("b", 3, true)})
	if _, err := s.Prepare("k", "failed"); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard("k", "failed"); err != nil {
		t.Fatal(err)
	}
	x, _ := s.LoadIndex("k")
	if h, _ := x.Lookup(KeyHash("a")); x.Len() != 1 || h != 1 {
		t.Fatalf("after a discarded run the state changed: %d users, a=%d", x.Len(), h)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "k", "runs", "failed")); !os.IsNotExist(err) {
		t.Fatalf("the failed run's files are still there: %v", err)
	}
}

func TestARetriedBatchReplacesItsPart(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	_ = s.WritePart("k", "r", "c0-b0", []Record{rec("a", 1, true), rec("b", 2, true)})
	// The retry of the same batch saw b refused.
	_ = s.WritePart("k", "r", "c0-b0", []Record{rec("a", 1, true), rec("b", 2, false)})
	p, err := s.Prepare("k", "r")
	if err != nil || p.Users != 1 {
		t.Fatalf("%+v %v; want only a", p, err)
	}
}

func TestContentHashIsStableAndSensitive(t *testing.T) {
	type user struct {
		ID   string            `json:"id"`
		Tags map[string]string `json:"tags"`
	}
	a1, _ := ContentHash(user{ID: "1", Tags: map[string]string{"x": "1", "y": "2"}})
	a2, _ := ContentHash(user{ID: "1", Tags: map[string]string{"y": "2", "x": "1"}})
	b, _ := ContentHash(user{ID: "1", Tags: map[string]string{"x": "1", "y": "3"}})
	if a1 != a2 {
		t.Fatal("equal payloads hash differently")
	}
	if a1 == b {
		t.Fatal("a changed tag does not change the hash")
	}
}

func TestACorruptStateIsAnError(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(s.Dir, "k"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.CurrentPath("k"), []byte("not a state"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadIndex("k"); err == nil {
		t.Fatal("a file that is not a state was read as one")
	}
}
