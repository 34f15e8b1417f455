package store_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"importer/internal/store"
	"importer/internal/store/storetest"
)

// partName names a part the way the import's activities do: chunk and
// batch, in an order that sorts as the source does.
func partName(chunk, batch int) string { return fmt.Sprintf("c%08d-b%05d", chunk, batch) }

// keyHash stands for the incremental state's key hash; the store keeps
// whatever 64 bits it is given.
func keyHash(key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return h.Sum64()
}

// backends runs a contract test against both backends, each on a fresh
// database: a SQLite file and a PostgreSQL database of its own.
func backends(t *testing.T, fn func(t *testing.T, url string, s *store.Store)) {
	for _, b := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			s, err := store.Open(context.Background(), store.Options{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if s.Backend() != b.name {
				t.Fatalf("opened %s, want %s", s.Backend(), b.name)
			}
			fn(t, url, s)
		})
	}
}

func rej(line int64, user string) store.Reject {
	return store.Reject{Line: line, UserID: user, Vendor: "nebuly", Reason: "bad " + user}
}

func allRejects(t *testing.T, s *store.Store, key, prefix string) []store.Reject {
	t.Helper()
	var out []store.Reject
	if err := s.Rejects(context.Background(), key, prefix, func(_ string, r store.Reject) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestARetriedBatchReplacesItsRejectsInsteadOfDoublingThem(t *testing.T) {
	backends(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		p0, p1 := partName(0, 0), partName(1, 0)
		must(t, s.PutRejects(ctx, "imp", p1, []store.Reject{rej(30, "c"), rej(31, "d")}))
		must(t, s.PutRejects(ctx, "imp", p0, []store.Reject{rej(2, "a"), rej(5, "b")}))
		// The attempt that runs again writes its part again, differently.
		must(t, s.PutRejects(ctx, "imp", p0, []store.Reject{rej(2, "a"), rej(5, "b"), rej(7, "e")}))
		must(t, s.PutRejects(ctx, "other", p0, []store.Reject{rej(1, "z")}))
		n, err := s.CountRejects(ctx, "imp")
		must(t, err)
		if n != 5 {
			t.Fatalf("the store holds %d rejects of the import, want 5", n)
		}
		got := allRejects(t, s, "imp", "")
		var lines []int64
		for _, r := range got {
			lines = append(lines, r.Line)
		}
		if fmt.Sprint(lines) != "[2 5 7 30 31]" || got[0] != rej(2, "a") {
			t.Fatalf("rejects not in source order or not as written: %+v", got)
		}
		// An empty list clears a part (a batch that, retried, rejected nothing).
		must(t, s.PutRejects(ctx, "imp", p1, nil))
		if n, _ := s.CountRejects(ctx, "imp"); n != 3 {
			t.Fatalf("after clearing a part the store holds %d, want 3", n)
		}
		// Prefixes select and delete parts; LIKE's wildcards are literal.
		must(t, s.PutRejects(ctx, "imp", "v_attrs-1", []store.Reject{rej(9, "v")}))
		must(t, s.PutRejects(ctx, "imp", "vXattrs-2", []store.Reject{rej(10, "w")}))
		if got := allRejects(t, s, "imp", "v_"); len(got) != 1 || got[0].UserID != "v" {
			t.Fatalf("prefix v_ matched %+v", got)
		}
		must(t, s.DeleteRejects(ctx, "imp", "v_"))
		if n, _ := s.CountRejects(ctx, "imp"); n != 4 {
			t.Fatalf("after deleting prefix v_ the store holds %d, want 4", n)
		}
	})
}

func TestTheDuplicateScanIsLookedUpByBatch(t *testing.T) {
	backends(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		if _, err := s.SupersededAmong(ctx, "imp", []int64{1}); !errors.Is(err, store.ErrNoScan) {
			t.Fatalf("a scan this store never saw: got %v, want ErrNoScan", err)
		}
		must(t, s.PutDuplicates(ctx, "imp", []store.Superseded{{Line: 2, By: 9}, {Line: 4, By: 9}, {Line: 100, By: 200}}))
		got, err := s.SupersededAmong(ctx, "imp", []int64{1, 2, 3, 4, 5})
		must(t, err)
		if len(got) != 2 || got[2] != 9 || got[4] != 9 {
			t.Fatalf("superseded among 1-5: %v", got)
		}
		// A scan without duplicates is recorded too, so a chunk can tell it
		// from a scan that went to another store.
		must(t, s.PutDuplicates(ctx, "clean", nil))
		if got, err := s.SupersededAmong(ctx, "clean", []int64{1, 2}); err != nil || len(got) != 0 {
			t.Fatalf("clean scan: %v, %v", got, err)
		}
	})
}

func srec(key string, content uint64, kept bool) store.StateRecord {
	return store.StateRecord{KeyHash: keyHash(key), ContentHash: content, Key: key, Kept: kept}
}

func lookup(t *testing.T, s *store.Store, stateKey string, keys ...string) map[string]uint64 {
	t.Helper()
	var hs []uint64
	for _, k := range keys {
		hs = append(hs, keyHash(k))
	}
	got, err := s.LookupState(context.Background(), stateKey, hs)
	must(t, err)
	out := map[string]uint64{}
	for _, k := range keys {
		if c, ok := got[keyHash(k)]; ok {
			out[k] = c
		}
	}
	return out
}

func gone(t *testing.T, s *store.Store, run string) []string {
	t.Helper()
	var out []string
	must(t, s.Disappeared(context.Background(), run, func(k string) error { out = append(out, k); return nil }))
	sort.Strings(out)
	return out
}

func TestARunBecomesTheStateOnlyWhenCommitted(t *testing.T) {
	backends(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		must(t, s.StageState(ctx, "sched", "run1", "c0-b0", []store.StateRecord{srec("a", 1, true), srec("b", 2, true), srec("bad", 3, false)}))
		if got := lookup(t, s, "sched", "a", "b"); len(got) != 0 {
			t.Fatalf("staged records are visible before the commit: %v", got)
		}
		p, err := s.PrepareState(ctx, "sched", "run1")
		must(t, err)
		if p.Users != 2 || p.Disappeared != 0 {
			t.Fatalf("prepared %+v, want 2 users and none gone", p)
		}
		if got := lookup(t, s, "sched", "a"); len(got) != 0 {
			t.Fatalf("a prepared run is visible before the commit: %v", got)
		}
		must(t, s.CommitState(ctx, "sched", "run1"))
		if got := lookup(t, s, "sched", "a", "b", "bad", "new"); fmt.Sprint(got) != "map[a:1 b:2]" {
			t.Fatalf("after commit: %v", got)
		}
		must(t, s.CommitState(ctx, "sched", "run1")) // a retried commit
		if n, _ := s.StagedCount(ctx, "sched", "run1"); n != 0 {
			t.Fatalf("the committed run left %d staged records", n)
		}

		// The second run: b changed, a left the list, c is new.
		must(t, s.StageState(ctx, "sched", "run2", "c0-b0", []store.StateRecord{srec("b", 22, true), srec("c", 3, true)}))
		p, err = s.PrepareState(ctx, "sched", "run2")
		must(t, err)
		if p.Users != 2 || p.Disappeared != 1 {
			t.Fatalf("prepared %+v, want 2 users and 1 gone", p)
		}
		if g := gone(t, s, "run2"); fmt.Sprint(g) != "[a]" {
			t.Fatalf("gone: %v", g)
		}
		if _, err := s.PrepareState(ctx, "sched", "run2"); err != nil { // a retried prepare
			t.Fatal(err)
		}
		if g := gone(t, s, "run2"); fmt.Sprint(g) != "[a]" {
			t.Fatalf("gone after a second prepare: %v", g)
		}
		must(t, s.CommitState(ctx, "sched", "run2"))
		if got := lookup(t, s, "sched", "a", "b", "c"); fmt.Sprint(got) != "map[b:22 c:3]" {
			t.Fatalf("after the second commit: %v", got)
		}
		if n, _ := s.StateUsers(ctx, "sched"); n != 2 {
			t.Fatalf("the state has %d users, want 2 (the old run's are dropped)", n)
		}
		// The report of a committed run stays readable.
		if g := gone(t, s, "run2"); fmt.Sprint(g) != "[a]" {
			t.Fatalf("gone after commit: %v", g)
		}
		if err := s.CommitState(ctx, "sched", "never"); !errors.Is(err, store.ErrNotPrepared) {
			t.Fatalf("committing an unprepared run: %v", err)
		}
	})
}

func TestAFailedRunIsDiscardedAndTheLastSuccessStays(t *testing.T) {
	backends(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		must(t, s.StageState(ctx, "k", "ok", "p", []store.StateRecord{srec("a", 1, true)}))
		_, err := s.PrepareState(ctx, "k", "ok")
		must(t, err)
		must(t, s.CommitState(ctx, "k", "ok"))
		must(t, s.StageState(ctx, "k", "failed", "p", []store.StateRecord{srec("a", 9, true), srec("b", 9, true)}))
		_, err = s.PrepareState(ctx, "k", "failed")
		must(t, err)
		must(t, s.DiscardState(ctx, "k", "failed"))
		if got := lookup(t, s, "k", "a", "b"); fmt.Sprint(got) != "map[a:1]" {
			t.Fatalf("after a discarded run: %v", got)
		}
		if n, _ := s.StagedCount(ctx, "k", "failed"); n != 0 {
			t.Fatalf("the discarded run left %d records", n)
		}
		if err := s.CommitState(ctx, "k", "failed"); !errors.Is(err, store.ErrNotPrepared) {
			t.Fatalf("a discarded run could still be committed: %v", err)
		}
		// Discarding the current run (a late, confused call) changes nothing.
		must(t, s.DiscardState(ctx, "k", "ok"))
		if got := lookup(t, s, "k", "a"); fmt.Sprint(got) != "map[a:1]" {
			t.Fatalf("discarding the current run changed it: %v", got)
		}
	})
}

func TestTheLaterRecordOfAUserWinsAndARetriedBatchReplacesItsPart(t *testing.T) {
	backends(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		// Line 3 (chunk 0) is superseded by line 90 (chunk 2): seen, not kept, then kept.
		must(t, s.StageState(ctx, "k", "r", partName(2, 0), []store.StateRecord{srec("u", 7, true)}))
		must(t, s.StageState(ctx, "k", "r", partName(0, 0), []store.StateRecord{srec("u", 1, false), srec("x", 1, true)}))
		// Within a part, the later record wins too.
		must(t, s.StageState(ctx, "k", "r", partName(1, 0), []store.StateRecord{srec("y", 1, true), srec("y", 2, false)}))
		// The retried batch of chunk 0 writes again: x now refused.
		must(t, s.StageState(ctx, "k", "r", partName(0, 0), []store.StateRecord{srec("u", 1, false), srec("x", 1, false)}))
		if n, _ := s.StagedCount(ctx, "k", "r"); n != 5 {
			t.Fatalf("staged %d records, want 5", n)
		}
		p, err := s.PrepareState(ctx, "k", "r")
		must(t, err)
		must(t, s.CommitState(ctx, "k", "r"))
		if got := lookup(t, s, "k", "u", "x", "y"); p.Users != 1 || fmt.Sprint(got) != "map[u:7]" {
			t.Fatalf("prepared %+v, state %v; want only u with its later content", p, got)
		}
	})
}

func TestLargeStatesGoThroughTheBulkPathAndLookupsByBatch(t *testing.T) {
	const users = 200_000
	backends(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		const part = 10_000
		for p := 0; p < users/part; p++ {
			recs := make([]store.StateRecord, part)
			for i := range recs {
				recs[i] = srec("user-"+strconv.Itoa(p*part+i), uint64(i), true)
			}
			must(t, s.StageState(ctx, "big", "r1", partName(p, 0), recs))
		}
		p, err := s.PrepareState(ctx, "big", "r1")
		must(t, err)
		must(t, s.CommitState(ctx, "big", "r1"))
		if p.Users != users {
			t.Fatalf("prepared %d users, want %d", p.Users, users)
		}
		var keys []string
		for i := 0; i < 1000; i++ {
			keys = append(keys, "user-"+strconv.Itoa(i*197))
		}
		keys = append(keys, "nobody")
		got := lookup(t, s, "big", keys...)
		if len(got) != 1000 || got["user-197"] != 197 {
			t.Fatalf("looked up 1001 keys, found %d (user-197: %d)", len(got), got["user-197"])
		}
		rs := make([]store.Reject, 50_000)
		for i := range rs {
			rs[i] = rej(int64(i+2), "u"+strconv.Itoa(i))
		}
		must(t, s.PutRejects(ctx, "big", partName(0, 0), rs))
		if n, _ := s.CountRejects(ctx, "big"); n != int64(len(rs)) {
			t.Fatalf("bulk rejects: %d", n)
		}
	})
}

// helperEnv makes the test binary a writer process for
// TestTwoProcessesWriteOneStore.
const helperEnv = "IMPORTER_STORE_TEST_WRITER"

func TestTwoProcessesWriteOneStore(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		return // the writer runs in TestMain
	}
	backends(t, func(t *testing.T, url string, s *store.Store) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), helperEnv+"="+strconv.Itoa(w), store.EnvVar+"="+url)
				out, err := cmd.CombinedOutput()
				if err != nil {
					errs[w] = fmt.Errorf("writer %d: %v: %s", w, err, out)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			must(t, err)
		}
		ctx := context.Background()
		if n, _ := s.CountRejects(ctx, "shared"); n != 2*writerParts*writerRows {
			t.Fatalf("two processes wrote %d rejects, want %d", n, 2*writerParts*writerRows)
		}
		if n, _ := s.StagedCount(ctx, "shared", "run"); n != 2*writerParts*writerRows {
			t.Fatalf("two processes staged %d records, want %d", n, 2*writerParts*writerRows)
		}
	})
}

const writerParts, writerRows = 40, 100

// writer is one process of TestTwoProcessesWriteOneStore: it opens the
// store (migrating it at the same time as the other), then writes its
// parts, each twice, as retried activities do.
func writer(id int, url string) error {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: url})
	if err != nil {
		return err
	}
	defer s.Close()
	for p := range writerParts {
		part := partName(id, p)
		rs := make([]store.Reject, writerRows)
		recs := make([]store.StateRecord, writerRows)
		for i := range rs {
			rs[i] = rej(int64(p*writerRows+i), fmt.Sprintf("w%d-%d-%d", id, p, i))
			recs[i] = srec(rs[i].UserID, 1, true)
		}
		for range 2 {
			if err := s.PutRejects(ctx, "shared", part, rs); err != nil {
				return err
			}
			if err := s.StageState(ctx, "shared", "run", part, recs); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	if os.Getenv(openerEnv) != "" {
		if err := opener(os.Getenv(store.EnvVar)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if w := os.Getenv(helperEnv); w != "" {
		id, _ := strconv.Atoi(w)
		if err := writer(id, os.Getenv(store.EnvVar)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestOpenExplainsABadStoreSetting(t *testing.T) {
	for _, u := range []string{"mysql://x", "postgres://user:secret@[::1", "sqlite:"} {
		_, err := store.Open(context.Background(), store.Options{URL: u})
		if err == nil {
			t.Fatalf("%q opened", u)
		}
		if msg := err.Error(); !contains(msg, store.EnvVar) || contains(msg, "secret") {
			t.Fatalf("%q: %v (want the variable named and no password)", u, err)
		}
	}
}

// Whatever form a store setting takes, and however it is wrong, the error
// says what is wrong without the password: in the URL's user info or
// query, in keyword/value settings, or in a setting that is no store.
func TestNoStoreErrorShowsThePassword(t *testing.T) {
	const pw = "Hunter2pw"
	for _, tc := range []struct{ setting, want string }{
		{"host=db user=importer password=" + pw, "keyword/value settings (host, user, password)"},
		{"host=db sslpassword='" + pw + " x' sslmode=verify-full", "(host, sslpassword, sslmode)"},
		{"mysql://importer:" + pw + "@db/importer", "a mysql:// URL, which is not a store"},
		{"importer:" + pw + "@db:5432/importer", "is not a store"},
		{pw, "is not a store"},
		{"postgres://importer:" + pw + "@[::1", "missing ']'"},
		{"postgres://importer:ab%zz" + pw + "@db/importer", "invalid URL escape"},
		{"postgres://importer@db/importer?password=" + pw + "&sslmode=bogus", "sslmode is invalid"},
		{"postgres://importer@db/importer?sslpassword=" + pw + "&sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "unable to read CA file"},
		{"postgres://importer:" + pw + "@db/importer?target_session_attrs=" + pw, "not a PostgreSQL URL"},
		// Parsed, then refused by a server that is not there.
		{"postgres://importer:" + pw + "@127.0.0.1:1/importer?sslmode=disable&connect_timeout=5", "importer@127.0.0.1:1/importer"},
		{"postgres://importer@127.0.0.1:1/importer?sslmode=disable&password=" + pw, "failed to connect"},
	} {
		_, err := store.Open(context.Background(), store.Options{URL: tc.setting})
		if err == nil {
			t.Fatalf("%s opened", tc.want)
		}
		msg := err.Error()
		if contains(msg, pw) || contains(msg, "Hunter") || contains(msg, "2pw") || contains(msg, "%zz") {
			t.Errorf("the error shows the password: %s", msg)
		}
		if !contains(msg, tc.want) {
			t.Errorf("error %q lacks %q", msg, tc.want)
		}
	}
}

func TestTheSchemaIsMigratedOnceAndTheVersionKnown(t *testing.T) {
	backends(t, func(t *testing.T, url string, s *store.Store) {
		v, err := s.SchemaVersion(context.Background())
		must(t, err)
		if v < 1 {
			t.Fatalf("schema version %d", v)
		}
		again, err := store.Open(context.Background(), store.Options{URL: url})
		must(t, err)
		defer again.Close()
		if v2, _ := again.SchemaVersion(context.Background()); v2 != v {
			t.Fatalf("reopening moved the schema from %d to %d", v, v2)
		}
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A scan's plan is read back page by page, in order, the last page saying
// so; a scan that runs again replaces the plan; imports keep their own.
func TestAPlanIsReadBackInPagesAndAScanRunTwiceReplacesIt(t *testing.T) {
	backends(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		plan := func(n, rows int) []store.PlannedChunk {
			var cs []store.PlannedChunk
			for i := 0; i < n; i++ {
				cs = append(cs, store.PlannedChunk{Index: i, Offset: int64(100 + i*1000), Length: 1000, Rows: rows, FirstLine: int64(2 + i*rows)})
			}
			return cs
		}
		if err := s.PutPlan(ctx, "imp-1", plan(9, 50)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPlan(ctx, "imp-2", plan(2, 7)); err != nil {
			t.Fatal(err)
		}
		var got []store.PlannedChunk
		for from, pages := 0, 0; ; pages++ {
			page, done, err := s.PlanPage(ctx, "imp-1", from, 4)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			from += len(page)
			if done {
				if pages != 2 {
					t.Fatalf("%d pages of 4 for 9 chunks, want 3", pages+1)
				}
				break
			}
		}
		if !slices.Equal(got, plan(9, 50)) {
			t.Fatalf("read back %+v", got)
		}
		if err := s.PutPlan(ctx, "imp-1", plan(3, 500)); err != nil {
			t.Fatal(err)
		}
		page, done, err := s.PlanPage(ctx, "imp-1", 0, 100)
		if err != nil || !done || !slices.Equal(page, plan(3, 500)) {
			t.Fatalf("after a second scan: %+v %v %v; want its 3 chunks only", page, done, err)
		}
		if page, _, _ := s.PlanPage(ctx, "imp-2", 0, 100); !slices.Equal(page, plan(2, 7)) {
			t.Fatalf("another import's plan changed: %+v", page)
		}
	})
}

// A vendor's Retry-After is held for every worker of the store, and a
// later, shorter one never shortens it.
func TestAVendorHoldIsOnlyEverExtended(t *testing.T) {
	backends(t, func(t *testing.T, _ string, s *store.Store) {
		ctx := context.Background()
		if h, err := s.VendorHold(ctx, "nebuly", "default"); err != nil || !h.IsZero() {
			t.Fatalf("no hold yet: %v %v", h, err)
		}
		later := time.UnixMilli(time.Now().Add(time.Minute).UnixMilli())
		for _, until := range []time.Time{later.Add(-30 * time.Second), later, later.Add(-10 * time.Second)} {
			if err := s.HoldVendor(ctx, "nebuly", "default", until); err != nil {
				t.Fatal(err)
			}
		}
		if h, err := s.VendorHold(ctx, "nebuly", "default"); err != nil || !h.Equal(later) {
			t.Fatalf("hold %v %v, want %v", h, err, later)
		}
		if h, err := s.VendorHold(ctx, "nebuly", "eu"); err != nil || !h.IsZero() {
			t.Fatalf("another connection is held: %v %v", h, err)
		}
	})
}
