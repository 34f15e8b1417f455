package fake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func call(t *testing.T, s *Server, method, path, auth, body string) (int, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Token "+auth)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out, rec.Body.String()
}

// bulk builds a body of n users u0..u(n-1) with a numeric and a text
// property.
func bulk(prefix string, n int) string {
	var b strings.Builder
	b.WriteString(`{"users":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"user_id":"%s%d","company_id":"c1","metadata":{"n":%d,"plan":"free"}}`, prefix, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

func submit(t *testing.T, s *Server, body string) string {
	t.Helper()
	code, out, raw := call(t, s, "POST", BulkIdentifyPath, "k", body)
	if code != http.StatusAccepted {
		t.Fatalf("bulk identify: %d %s", code, raw)
	}
	if out["status"] != StatusQueued {
		t.Fatalf("a new job is %v, want queued", out["status"])
	}
	id, _ := out["job_id"].(string)
	if !strings.HasPrefix(id, "bulk:jobs:NX-") {
		t.Fatalf("job id %q", id)
	}
	return id
}

func poll(t *testing.T, s *Server, id string) (string, int) {
	t.Helper()
	code, out, raw := call(t, s, "GET", JobsPath+"/"+id, "k", "")
	if code != http.StatusOK {
		t.Fatalf("get job: %d %s", code, raw)
	}
	n, _ := out["completed_rows"].(float64)
	return out["status"].(string), int(n)
}

func TestProgressionFollowsTheClock(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	s := New(Options{APIKey: "k", ValidatingFor: 10 * time.Second, Clock: clk.Now})
	id := submit(t, s, bulk("u", 100)) // 1,200 rows a minute: 20 a second, 5 s for 100

	steps := []struct {
		at     time.Duration
		status string
		rows   int
		stored int
	}{
		{0, StatusValidating, 0, 0},
		{9 * time.Second, StatusValidating, 0, 0},
		{10 * time.Second, StatusProcessing, 0, 0},
		{12500 * time.Millisecond, StatusProcessing, 50, 0},
		{14900 * time.Millisecond, StatusProcessing, 98, 0},
		{15 * time.Second, StatusCompleted, 100, 100},
		{time.Hour, StatusCompleted, 100, 100},
	}
	for _, st := range steps {
		clk.Add(t0.Add(st.at).Sub(clk.Now()))
		status, rows := poll(t, s, id)
		if status != st.status || rows != st.rows || s.Count() != st.stored {
			t.Fatalf("at +%s: %s %d rows, %d stored; want %s %d rows, %d stored", st.at, status, rows, s.Count(), st.status, st.rows, st.stored)
		}
	}
	j := s.Jobs()[0]
	if !j.Started.Equal(t0) || !j.Ended.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("job started %s ended %s, want +0s and +15s", j.Started.Sub(t0), j.Ended.Sub(t0))
	}
	u, ok := s.User("u7")
	if !ok || u.CompanyID != "c1" || u.Metadata["n"] != json.Number("7") || u.Metadata["plan"] != "free" {
		t.Fatalf("stored user: %+v %v", u, ok)
	}
}

func TestSetRowsPerMinuteKeepsProgress(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	s := New(Options{APIKey: "k", RowsPerMinute: 600, Clock: clk.Now}) // 10 a second
	id := submit(t, s, bulk("u", 100))
	clk.Add(5 * time.Second)
	if _, rows := poll(t, s, id); rows != 50 {
		t.Fatalf("after 5 s at 10/s: %d rows", rows)
	}
	s.SetRowsPerMinute(3000) // 50 a second: the other 50 take 1 s
	clk.Add(999 * time.Millisecond)
	if status, _ := poll(t, s, id); status != StatusProcessing {
		t.Fatalf("finished early: %s", status)
	}
	clk.Add(time.Millisecond)
	if status, _ := poll(t, s, id); status != StatusCompleted {
		t.Fatalf("not finished at +6s: %s", status)
	}
	if e := s.Jobs()[0].Ended; !e.Equal(t0.Add(6 * time.Second)) {
		t.Fatalf("ended at +%s, want +6s", e.Sub(t0))
	}
}

func TestConflictWhileAJobIsActive(t *testing.T) {
	clk := newClock()
	s := New(Options{APIKey: "k", Clock: clk.Now})
	first := submit(t, s, bulk("a", 20)) // 1 s
	code, out, raw := call(t, s, "POST", BulkIdentifyPath, "k", bulk("b", 5))
	if code != http.StatusConflict {
		t.Fatalf("second bulk: %d %s", code, raw)
	}
	errs, _ := out["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["message"] == "" {
		t.Fatalf("409 body is not the errors body: %s", raw)
	}
	if s.Conflicts() != 1 || s.Received("b0") != 0 || len(s.Jobs()) != 1 {
		t.Fatalf("conflicts %d, received b0 %d, jobs %d", s.Conflicts(), s.Received("b0"), len(s.Jobs()))
	}
	clk.Add(999 * time.Millisecond)
	if code, _, _ := call(t, s, "POST", BulkIdentifyPath, "k", bulk("b", 5)); code != http.StatusConflict {
		t.Fatalf("bulk just before the first job ends: %d", code)
	}
	clk.Add(time.Millisecond)
	submit(t, s, bulk("b", 5))
	if s.Conflicts() != 2 || s.Received("b0") != 1 || s.Received("a0") != 1 {
		t.Fatalf("conflicts %d, received b0 %d a0 %d", s.Conflicts(), s.Received("b0"), s.Received("a0"))
	}
	if st, _ := poll(t, s, first); st != StatusCompleted {
		t.Fatalf("first job %s", st)
	}
	if s.Overlaps() != 0 {
		t.Fatalf("overlaps %d", s.Overlaps())
	}
}

func TestQueuedJobWaitsForTheOneBefore(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	s := New(Options{APIKey: "k", SecondJob: Queue, ValidatingFor: 2 * time.Second, Clock: clk.Now})
	first := submit(t, s, bulk("a", 40))  // 2 s validating + 2 s processing
	clk.Add(time.Second)                  //
	second := submit(t, s, bulk("a", 20)) // the same users again, then 2 s + 1 s
	if s.Conflicts() != 0 {
		t.Fatalf("queue policy refused: %d conflicts", s.Conflicts())
	}
	clk.Add(2 * time.Second) // +3s
	if st, _ := poll(t, s, first); st != StatusProcessing {
		t.Fatalf("first at +3s: %s", st)
	}
	if st, _ := poll(t, s, second); st != StatusQueued {
		t.Fatalf("second at +3s: %s, want queued behind the first", st)
	}
	clk.Add(10 * time.Second) // nobody looks in between
	jobs := s.Jobs()
	if jobs[0].Status != StatusCompleted || jobs[1].Status != StatusCompleted {
		t.Fatalf("statuses %s %s", jobs[0].Status, jobs[1].Status)
	}
	if !jobs[0].Ended.Equal(t0.Add(4*time.Second)) || !jobs[1].Started.Equal(jobs[0].Ended) || !jobs[1].Ended.Equal(t0.Add(7*time.Second)) {
		t.Fatalf("first ended +%s; second started +%s ended +%s", jobs[0].Ended.Sub(t0), jobs[1].Started.Sub(t0), jobs[1].Ended.Sub(t0))
	}
	if s.Overlaps() != 0 || s.Received("a0") != 2 || s.Received("a30") != 1 || s.Count() != 40 {
		t.Fatalf("overlaps %d, received a0 %d a30 %d, count %d", s.Overlaps(), s.Received("a0"), s.Received("a30"), s.Count())
	}
}

func TestUsersAppliedOnCompletionWithoutPolling(t *testing.T) {
	clk := newClock()
	s := New(Options{APIKey: "k", Clock: clk.Now})
	submit(t, s, `{"users":[{"user_id":"x","company_id":"c1","metadata":{"plan":"free","seats":3}}]}`)
	if s.Count() != 0 {
		t.Fatal("users stored before the job ran")
	}
	clk.Add(3 * time.Second) // one row: 50 ms
	if s.Count() != 1 {
		t.Fatalf("count %d after the job's end, nobody polled", s.Count())
	}
	// An update merges metadata and keeps the company when none is sent.
	submit(t, s, `{"users":[{"user_id":"x","metadata":{"plan":"pro","active":true}}]}`)
	clk.Add(3 * time.Second)
	u, _ := s.User("x")
	if u.CompanyID != "c1" || u.Metadata["plan"] != "pro" || u.Metadata["seats"] != json.Number("3") || u.Metadata["active"] != true {
		t.Fatalf("merged user: %+v", u)
	}
	if s.Received("x") != 2 || s.Count() != 1 {
		t.Fatalf("received %d, count %d", s.Received("x"), s.Count())
	}
}

func TestFailNextJob(t *testing.T) {
	clk := newClock()
	s := New(Options{APIKey: "k", Clock: clk.Now})
	s.FailNextJob("Invalid file format")
	id := submit(t, s, bulk("f", 3))
	clk.Add(time.Minute)
	code, out, raw := call(t, s, "GET", JobsPath+"/"+id, "k", "")
	if code != 200 || out["status"] != StatusFailed || !strings.Contains(raw, "Invalid file format") {
		t.Fatalf("failed job: %d %s", code, raw)
	}
	if s.Count() != 0 {
		t.Fatalf("a failed job stored %d users", s.Count())
	}
	// Only the next job fails.
	id = submit(t, s, bulk("g", 3))
	clk.Add(time.Minute)
	if st, _ := poll(t, s, id); st != StatusCompleted || s.Count() != 3 {
		t.Fatalf("job after the failed one: %s, %d stored", st, s.Count())
	}
}

func TestRequestRules(t *testing.T) {
	s := New(Options{APIKey: "k", MaxRows: 3})
	code, _, raw := call(t, s, "POST", BulkIdentifyPath, "wrong", bulk("u", 1))
	if code != http.StatusUnauthorized || !strings.Contains(raw, `"errors"`) {
		t.Fatalf("wrong key: %d %s", code, raw)
	}
	if code, _, _ := call(t, s, "POST", BulkIdentifyPath, "", bulk("u", 1)); code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", code)
	}
	code, _, raw = call(t, s, "POST", BulkIdentifyPath, "k", bulk("u", 4))
	if code != http.StatusBadRequest || !strings.Contains(raw, "at most 3") {
		t.Fatalf("too many: %d %s", code, raw)
	}
	code, _, raw = call(t, s, "POST", BulkIdentifyPath, "k", `{"users":[{"user_id":"a"},{"user_id":"b","metadata":{"tags":["secret-value"]}}]}`)
	if code != http.StatusBadRequest || !strings.Contains(raw, "users[1]") || strings.Contains(raw, "secret-value") {
		t.Fatalf("list metadata: %d %s", code, raw)
	}
	for _, body := range []string{`{"users":[{"company_id":"c"}]}`, `{"users":[{"user_id":5}]}`, `{"users":[]}`, `not json`} {
		if code, _, raw := call(t, s, "POST", BulkIdentifyPath, "k", body); code != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", body, code, raw)
		}
	}
	if len(s.Jobs()) != 0 || s.Received("a") != 0 {
		t.Fatal("a refused request made a job")
	}
	if code, _, raw := call(t, s, "GET", JobsPath+"/bulk:jobs:NX-00000000:nope", "k", ""); code != http.StatusNotFound || !strings.Contains(raw, `"errors"`) {
		t.Fatalf("unknown job: %d %s", code, raw)
	}
	id := submit(t, s, bulk("u", 2))
	// The colons may arrive escaped or not.
	for _, p := range []string{id, url.PathEscape(id), strings.ReplaceAll(id, ":", "%3A")} {
		code, out, raw := call(t, s, "GET", JobsPath+"/"+p, "k", "")
		if code != 200 || out["job_id"] != id {
			t.Fatalf("GET %s: %d %s", p, code, raw)
		}
	}
	req := httptest.NewRequest("GET", JobsPath, nil)
	req.Header.Set("Authorization", "Token k")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var list []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 1 || list[0]["job_id"] != id {
		t.Fatalf("list: %v %s", err, rec.Body.String())
	}
	if _, has := list[0]["completed_rows"]; has {
		t.Fatal("listed jobs carry completed_rows")
	}
}
