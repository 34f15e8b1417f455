package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/workflows"
)

// importFile imports a literal CSV into the fake Nebuly.
func (h *harness) importFile(id, name, content string, in workflows.ImportInput) (workflows.ImportResult, error) {
	h.t.Helper()
	path := filepath.Join(h.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		h.t.Fatal(err)
	}
	in.Vendor = "nebuly"
	in.Source = source.Ref{URI: path, Format: source.CSV}
	return h.wait(h.start(id, in), time.Minute)
}

func TestBadInputGivesAClearErrorOrPerRowRejects(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	const head = "end_user,active_from\n"

	t.Run("empty file", func(t *testing.T) {
		_, err := h.importFile("bad-empty", "empty.csv", "", workflows.ImportInput{})
		if err == nil || !strings.Contains(err.Error(), "is empty: a CSV needs a header row") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("header only", func(t *testing.T) {
		res, err := h.importFile("bad-header", "header.csv", head, workflows.ImportInput{})
		if err != nil || res.RowsRead != 0 || res.Accepted != 0 {
			t.Fatalf("a list with no rows: %+v %v", res, err)
		}
	})
	t.Run("missing required column", func(t *testing.T) {
		_, err := h.importFile("bad-cols", "cols.csv", "end_user,plan\na@x.io,Pro\n", workflows.ImportInput{})
		if err == nil || !strings.Contains(err.Error(), "no column for the nebuly fields active_from") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wrong delimiter", func(t *testing.T) {
		_, err := h.importFile("bad-delim", "semi.csv", "end_user;active_from\na@x.io;2026-01-01\n", workflows.ImportInput{})
		if err == nil || !strings.Contains(err.Error(), "semicolon-separated") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("invalid UTF-8 and a 10 MB line", func(t *testing.T) {
		long := "big@x.io,2026-01-01,\"" + strings.Repeat("x", 10<<20) + "\"\n"
		content := "end_user,active_from,tags.Note\n" +
			"ok1@x.io,2026-01-01,fine\n" +
			"bad\xff\xfe@x.io,2026-01-01,latin-1\n" +
			long +
			"ok2@x.io,2026-01-01,fine\n"
		res, err := h.importFile("bad-bytes", "bytes.csv", content, workflows.ImportInput{})
		if err != nil {
			t.Fatal(err)
		}
		if res.RowsRead != 4 || res.Accepted != 2 || res.Rejected != 2 {
			t.Fatalf("%+v; want 4 rows, the 2 good ones accepted", res)
		}
		rs := h.readRejects(res.WorkflowID)
		if len(rs) != 2 || !strings.Contains(rs[0].Reason, "not valid UTF-8") || rs[0].Line != 3 || !strings.Contains(rs[1].Reason, "longer than 1 MiB") || rs[1].Line != 4 {
			t.Fatalf("rejects %+v", rs)
		}
		if _, ok := h.fake.User("ok2@x.io"); !ok {
			t.Fatal("the row after the long one was lost")
		}
	})
	t.Run("duplicate users across chunks: the last row wins", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("end_user,active_from,tags.Plan\n")
		for i := 0; i < 1000; i++ {
			plan := "Free"
			if i == 5 {
				plan = "Old"
			}
			fmt.Fprintf(&b, "dup%04d@x.io,2026-01-01,%s\n", i, plan)
		}
		b.WriteString("dup0005@x.io,2026-01-01,New\n") // line 1002, chunks away from line 7
		res, err := h.importFile("bad-dup", "dup.csv", b.String(), workflows.ImportInput{BatchSize: 50, ChunkRows: 50, Concurrency: 8})
		if err != nil {
			t.Fatal(err)
		}
		if res.RowsRead != 1001 || res.Accepted != 1000 || res.Rejected != 1 || res.Duplicates != 1 {
			t.Fatalf("%+v", res)
		}
		if u, _ := h.fake.User("dup0005@x.io"); u.Tags["Plan"] != "New" {
			t.Fatalf("the last row did not win: %+v", u)
		}
		rs := h.readRejects(res.WorkflowID)
		if len(rs) != 1 || rs[0].Line != 7 || !strings.Contains(rs[0].Reason, "line 1002") {
			t.Fatalf("rejects %+v; want line 7, replaced by line 1002", rs)
		}
	})
}

func TestURLSourcesThatVanishOrChangeAreReported(t *testing.T) {
	h := newHarness(t)
	h.fake.SetLatency(20 * time.Millisecond)
	h.startWorker(h.conns(apiKey), 0)
	var list bytes.Buffer
	st, err := gen.VendorCSV(&list, "nebuly", gen.Options{Rows: 6000})
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	var grown atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone.csv" {
			http.NotFound(w, r)
			return
		}
		content := list.Bytes()
		if grown.Load() {
			content = append(append([]byte{}, content...), "late@x.io,2026-01-01,,,,\n"...)
		}
		requests.Add(1)
		http.ServeContent(w, r, "users.csv", time.Time{}, bytes.NewReader(content))
	}))
	defer srv.Close()

	_, err = h.wait(h.start("url-404", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: srv.URL + "/gone.csv?sig=secret", Format: source.CSV}}), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("want a 404 failure without the URL's query, got %v", err)
	}

	run := h.start("url-grows", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: srv.URL + "/users.csv", Format: source.CSV},
		BatchSize: 100, ChunkRows: 500, Concurrency: 2})
	deadline := time.Now().Add(time.Minute)
	for h.fake.Count() < 1000 {
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
		time.Sleep(10 * time.Millisecond)
	}
	grown.Store(true)
	_, err = h.wait(run, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("a source that grew mid-import must fail as changed, got %v", err)
	}
	if h.fake.Count() >= st.Rows {
		t.Fatalf("the import went on with the changed source (%d users stored)", h.fake.Count())
	}
}

func TestAVendorDownPastTheDeadlineFailsSayingSoAndARerunConverges(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	path, st := h.generate("users.csv", gen.Options{Rows: 3000})
	in := workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV}, VendorDeadline: 5 * time.Second}
	h.fake.Faults().SetShare(1, 503)
	_, err := h.wait(h.start("down-1", in), time.Minute)
	if err == nil {
		t.Fatal("the import succeeded with its vendor down")
	}
	for _, want := range []string{"the 5s deadline ran out while retrying", "the last error", "503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the failure %q does not say %q", err, want)
		}
	}
	h.fake.Faults().SetShare(0, 0)
	res, err := h.wait(h.start("down-2", in), time.Minute)
	if err != nil || res.Accepted != int64(st.Valid) || h.fake.Count() != st.Valid {
		t.Fatalf("the re-run: %+v, %v; the fake holds %d of %d", res, err, h.fake.Count(), st.Valid)
	}
}
