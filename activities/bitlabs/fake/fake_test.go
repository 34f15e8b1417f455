package fake

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "tok"

type answer struct {
	Status int
	Body   struct {
		Data *struct {
			SuccessCount int                          `json:"success_count"`
			Errors       []map[string]json.RawMessage `json:"errors"`
		} `json:"data"`
		Error *struct {
			Details struct {
				HTTP string `json:"http"`
				Msg  string `json:"msg"`
			} `json:"details"`
		} `json:"error"`
		Status  string `json:"status"`
		TraceID string `json:"trace_id"`
	}
}

func post(t *testing.T, h http.Handler, method, path, tok, body string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("X-S2S-Token", tok)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a answer
	a.Status = rec.Code
	if err := json.Unmarshal(rec.Body.Bytes(), &a.Body); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	if a.Body.TraceID == "" {
		t.Fatalf("answer %d has no trace_id: %q", rec.Code, rec.Body.String())
	}
	return a
}

func user(uid string) string {
	return `{"uid":"` + uid + `","country":"DE","languages":["de"],"birthdate":"1990-05-01","gender":"MALE","questions":[]}`
}

func body(users ...string) string { return `{"users":[` + strings.Join(users, ",") + `]}` }

func wantError(t *testing.T, a answer, status int, msg string) {
	t.Helper()
	if a.Status != status || a.Body.Status != "error" || a.Body.Error == nil || a.Body.Data != nil ||
		a.Body.Error.Details.HTTP != strconv.Itoa(status) || !strings.Contains(a.Body.Error.Details.Msg, msg) {
		t.Fatalf("answer %+v, want %d envelope with %q", a, status, msg)
	}
}

func TestAuthRoutesAndBadRequests(t *testing.T) {
	s := New(Options{Token: token, MaxUsers: 2})
	wantError(t, post(t, s, "POST", Path, "", body(user("a"))), 401, "invalid S2S token")
	wantError(t, post(t, s, "POST", Path, "wrong", body(user("a"))), 401, "invalid S2S token")
	wantError(t, post(t, s, "POST", "/v1/publishers/other", token, body(user("a"))), 404, "not found")
	wantError(t, post(t, s, "GET", Path, token, ""), 405, "method not allowed")
	wantError(t, post(t, s, "POST", Path, token, `{"users":[`), 400, "invalid request body")
	wantError(t, post(t, s, "POST", Path, token, `{}`), 400, "users is required")
	wantError(t, post(t, s, "POST", Path, token, body(user("a"), user("b"), user("c"))), 400, "too many users in one request: 3, at most 2")
	wantError(t, post(t, s, "POST", Path, token, body(user(strings.Repeat("x", 66)))), 400, "users[0].uid is 66 characters long")
	wantError(t, post(t, s, "POST", Path, token, body(`{"country":"DE","languages":["de"],"birthdate":"1990-05-01","gender":"MALE","questions":[]}`)), 400, "users[0].uid is required")
	wantError(t, post(t, s, "POST", Path, token, body(`{"uid":"a","country":"DE","languages":["de"],"birthdate":"1990-05-01","gender":"MALE"}`)), 400, "users[0].questions is required")
	wantError(t, post(t, s, "POST", Path, token, body(strings.Replace(user("a"), `"gender"`, `"username":"a b","gender"`, 1))), 400, "only alpha-numeric")
	if s.Count() != 0 || s.Received("a") != 0 {
		t.Fatalf("refused requests stored users: count %d", s.Count())
	}
	if st := s.Stats(); st.ByStatus[401] != 2 || st.ByStatus[400] != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestValidationEntries(t *testing.T) {
	clock := func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }
	s := New(Options{Token: token, Clock: clock, SupportedLanguages: []string{"de", "en"}})
	mod := func(uid, from, to string) string { return strings.Replace(user(uid), from, to, 1) }
	a := post(t, s, "POST", Path, token, body(
		user("ok"),
		mod("future", `"1990-05-01"`, `"2026-03-02"`),
		mod("today", `"1990-05-01"`, `"2026-03-01"`),
		mod("badfmt", `"1990-05-01"`, `"01.05.1990"`),
		mod("gender", `"MALE"`, `"male"`),
		mod("zip", `"gender"`, `"zipcode":"1","gender"`),
		mod("zipok", `"gender"`, `"zipcode":"SW1A 1AA","gender"`),
		mod("question", `"questions":[]`, `"questions":[{"id":"q1","direct_values":["a"]}]`),
		mod("answer", `"questions":[]`, `"questions":[{"id":"q1","network_id":0,"direct_values":[]}]`),
		mod("lang", `["de"]`, `["fr","xx"]`),
		mod("nolang", `["de"]`, `[]`),
		mod("EN", `["de"]`, `["EN"]`),
	))
	if a.Status != 200 || a.Body.Status != "success" || a.Body.Error != nil || a.Body.Data == nil {
		t.Fatalf("answer %+v", a)
	}
	want := map[string]string{
		"future":   "invalid_birthdate",
		"badfmt":   "invalid_birthdate",
		"gender":   "invalid_gender",
		"zip":      "invalid_zipcode",
		"question": "invalid_question",
		"answer":   "invalid_answer_format",
		"lang":     "unsupported_languages",
		"nolang":   "unsupported_languages",
	}
	if a.Body.Data.SuccessCount != 4 || len(a.Body.Data.Errors) != len(want) {
		t.Fatalf("success_count %d, %d errors: %+v", a.Body.Data.SuccessCount, len(a.Body.Data.Errors), a.Body.Data.Errors)
	}
	for _, e := range a.Body.Data.Errors {
		var uid string
		_ = json.Unmarshal(e["uid"], &uid)
		field, ok := want[uid]
		if !ok {
			t.Fatalf("unexpected entry %s", uid)
		}
		for _, k := range []string{"invalid_birthdate", "invalid_gender", "invalid_zipcode", "invalid_question", "unsupported_languages", "invalid_answer_format"} {
			raw, present := e[k]
			if !present {
				t.Fatalf("%s: entry lacks %s (every documented field is sent)", uid, k)
			}
			failed := string(raw) != "null" && string(raw) != "false"
			if failed != (k == field) {
				t.Errorf("%s: %s = %s", uid, k, raw)
			}
		}
	}
	for _, uid := range []string{"ok", "today", "zipok", "EN"} {
		if _, ok := s.User(uid); !ok {
			t.Errorf("valid user %s not stored", uid)
		}
	}
	if s.Count() != 4 || s.Received("lang") != 1 || s.Received("never") != 0 {
		t.Fatalf("count %d, received(lang) %d", s.Count(), s.Received("lang"))
	}
	got := s.Users()
	if len(got) != 4 || got[0].UID != "EN" || got[3].UID != "zipok" {
		t.Fatalf("Users() not sorted by uid: %+v", got)
	}
}

func TestBulkOverlapCounting(t *testing.T) {
	s := New(Options{Token: token, BulkLatency: 300 * time.Millisecond})
	srv := httptest.NewServer(s)
	defer srv.Close()
	send := func(b string) int {
		req, _ := http.NewRequest("POST", srv.URL+Path, strings.NewReader(b))
		req.Header.Set("X-S2S-Token", token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	done := make(chan int, 1)
	go func() { done <- send(body(user("a"), user("b"))) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Bulks() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := send(body(user("c"), user("d"))); got != 409 {
		t.Fatalf("overlapping bulk got %d, want 409", got)
	}
	if got := send(body(user("e"))); got != 200 {
		t.Fatalf("single user during a bulk got %d, want 200", got)
	}
	if got := send(body(user("c"), user("d"))); got != 409 {
		t.Fatalf("second overlapping bulk got %d, want 409", got)
	}
	if got := <-done; got != 200 {
		t.Fatalf("first bulk got %d", got)
	}
	if s.Overlaps() != 2 || s.Bulks() != 1 {
		t.Fatalf("overlaps %d bulks %d, want 2 and 1", s.Overlaps(), s.Bulks())
	}
	// The lock is released: the next bulk is served, fast once the latency drops.
	s.SetBulkLatency(0)
	if got := send(body(user("c"), user("d"))); got != 200 {
		t.Fatalf("bulk after the first got %d", got)
	}
	if s.Bulks() != 2 || s.Count() != 5 || s.Received("c") != 1 {
		t.Fatalf("bulks %d count %d received(c) %d", s.Bulks(), s.Count(), s.Received("c"))
	}
}

func TestCustomOverlapStatusAndCancelledBulkReleasesTheLock(t *testing.T) {
	s := New(Options{Token: token, BulkLatency: time.Hour, OverlapStatus: 423})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		req := httptest.NewRequest("POST", Path, strings.NewReader(body(user("a"), user("b")))).WithContext(ctx)
		req.Header.Set("X-S2S-Token", token)
		s.ServeHTTP(httptest.NewRecorder(), req)
	}()
	for s.Bulks() == 0 {
		time.Sleep(time.Millisecond)
	}
	wantError(t, post(t, s, "POST", Path, token, body(user("c"), user("d"))), 423, "bulk import already running")
	cancel()
	wg.Wait()
	if s.Count() != 0 {
		t.Fatal("a cancelled bulk stored users")
	}
	s.SetBulkLatency(0)
	if a := post(t, s, "POST", Path, token, body(user("c"), user("d"))); a.Status != 200 {
		t.Fatalf("lock not released after a cancelled bulk: %+v", a)
	}
}

func TestInjectedFaultsUseTheEnvelope(t *testing.T) {
	s := New(Options{Token: token})
	s.Faults().FailNext(1, 503)
	wantError(t, post(t, s, "POST", Path, token, body(user("a"))), 503, "injected fault")
	if a := post(t, s, "POST", Path, token, body(user("a"))); a.Status != 200 || a.Body.Data.SuccessCount != 1 {
		t.Fatalf("%+v", a)
	}
}
