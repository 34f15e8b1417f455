package userpilot_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"importer/activities/userpilot"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/activities/vendorapi"
)

const key = "up-secret-key-123"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func setup(t *testing.T, o userpilotfake.Options) (*userpilotfake.Server, *userpilot.Client, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if o.APIKey == "" {
		o.APIKey = key
	}
	if o.Clock == nil {
		o.Clock = clk.Now
	}
	fake := userpilotfake.New(o)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, userpilot.New(srv.URL, key, &http.Client{Timeout: 5 * time.Second}), clk
}

func users(prefix string, n int) []userpilot.User {
	out := make([]userpilot.User, n)
	for i := range out {
		out[i] = userpilot.User{UserID: fmt.Sprintf("%s%d", prefix, i)}
	}
	return out
}

func TestBulkIdentifyRunsToCompletion(t *testing.T) {
	fake, c, clk := setup(t, userpilotfake.Options{ValidatingFor: 5 * time.Second})
	ctx := context.Background()
	var batch []userpilot.User
	for _, row := range []map[string]any{
		{"user_id": "u1", "company_id": "acme", "metadata.seats": "12", "metadata.paid": "true", "metadata.plan": "pro", "metadata.zip": "00123"},
		{"user_id": "u2", "metadata.score": json.Number("-3.5"), "metadata.beta": false, "metadata.note": ""},
	} {
		u, err := userpilot.FromFields(row)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, u)
	}
	batch = append(batch, users("bulk", 98)...) // 100 rows: 5 s at 1,200 a minute

	job, err := c.BulkIdentify(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != "queued" || job.TotalRows != 100 || job.Terminal() || !strings.Contains(job.JobID, ":") {
		t.Fatalf("accepted job: %+v", job)
	}
	if fake.Count() != 0 {
		t.Fatal("users stored before the job ran")
	}
	seen := map[string]bool{}
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatalf("job never ended; last %+v", job)
		}
		job, err = c.Job(ctx, job.JobID)
		if err != nil {
			t.Fatal(err)
		}
		seen[job.Status] = true
		if job.Terminal() {
			break
		}
		if job.CompletedRows >= job.TotalRows {
			t.Fatalf("running job reports every row done: %+v", job)
		}
		clk.Add(time.Second)
	}
	if job.Failed() || job.Status != "completed" || job.CompletedRows != 100 || job.TotalRows != 100 {
		t.Fatalf("final job: %+v", job)
	}
	if !seen["validating"] || !seen["processing"] {
		t.Fatalf("statuses seen: %v", seen)
	}
	if fake.Count() != 100 {
		t.Fatalf("stored %d users, want 100", fake.Count())
	}
	u1, _ := fake.User("u1")
	want := map[string]any{"seats": json.Number("12"), "paid": true, "plan": "pro", "zip": "00123"}
	if u1.CompanyID != "acme" || fmt.Sprint(u1.Metadata) != fmt.Sprint(want) {
		t.Fatalf("u1: %+v, want company acme and metadata %v", u1, want)
	}
	for k, v := range want {
		if fmt.Sprintf("%T", u1.Metadata[k]) != fmt.Sprintf("%T", v) {
			t.Fatalf("u1 metadata %s is a %T, want %T", k, u1.Metadata[k], v)
		}
	}
	u2, _ := fake.User("u2")
	if u2.Metadata["score"] != json.Number("-3.5") || u2.Metadata["beta"] != false {
		t.Fatalf("u2: %+v", u2)
	}
	if _, has := u2.Metadata["note"]; has {
		t.Fatal("an empty value was sent")
	}
	if fake.Received("u1") != 1 {
		t.Fatalf("u1 received %d times", fake.Received("u1"))
	}
}

func TestSecondBulkWhileAJobRunsIsARetryableConflict(t *testing.T) {
	fake, c, clk := setup(t, userpilotfake.Options{})
	ctx := context.Background()
	if _, err := c.BulkIdentify(ctx, users("a", 600)); err != nil { // 30 s
		t.Fatal(err)
	}
	_, err := c.BulkIdentify(ctx, users("b", 1))
	ve, ok := vendorapi.As(err)
	if !ok || !ve.Conflict || !ve.Retryable() || ve.Status != http.StatusConflict || ve.Auth() {
		t.Fatalf("second bulk: %v", err)
	}
	if ve.Message == "" {
		t.Fatal("the vendor's explanation was dropped")
	}
	if fake.Received("b0") != 0 || fake.Conflicts() != 1 {
		t.Fatalf("received %d, conflicts %d", fake.Received("b0"), fake.Conflicts())
	}
	clk.Add(30 * time.Second)
	job, err := c.BulkIdentify(ctx, users("b", 1))
	if err != nil {
		t.Fatalf("after the first job ended: %v", err)
	}
	clk.Add(time.Second)
	if job, err = c.Job(ctx, job.JobID); err != nil || job.Status != "completed" {
		t.Fatalf("second job: %+v %v", job, err)
	}
	if fake.Count() != 601 {
		t.Fatalf("stored %d", fake.Count())
	}
}

func TestQueuedSecondJobWaits(t *testing.T) {
	fake, c, clk := setup(t, userpilotfake.Options{SecondJob: userpilotfake.Queue})
	ctx := context.Background()
	first, err := c.BulkIdentify(ctx, users("a", 1200)) // 60 s
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.BulkIdentify(ctx, users("b", 20)) // 1 s more
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(59 * time.Second)
	if j, _ := c.Job(ctx, second.JobID); j.Status != "queued" || j.Terminal() {
		t.Fatalf("second job while the first runs: %+v", j)
	}
	if j, _ := c.Job(ctx, first.JobID); j.Status != "processing" || j.CompletedRows != 1180 {
		t.Fatalf("first job at +59s: %+v", j)
	}
	clk.Add(1500 * time.Millisecond)
	if j, _ := c.Job(ctx, second.JobID); j.Status != "processing" {
		t.Fatalf("second job after the first ended: %+v", j)
	}
	clk.Add(500 * time.Millisecond)
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 2 || jobs[0].JobID != first.JobID || jobs[1].JobID != second.JobID {
		t.Fatalf("list: %+v %v", jobs, err)
	}
	for _, j := range jobs {
		if j.Status != "completed" || !j.Terminal() || j.TotalRows == 0 {
			t.Fatalf("listed job: %+v", j)
		}
	}
	if fake.Overlaps() != 0 || fake.Conflicts() != 0 || fake.Count() != 1220 {
		t.Fatalf("overlaps %d, conflicts %d, count %d", fake.Overlaps(), fake.Conflicts(), fake.Count())
	}
}

func TestFailedJobCarriesReason(t *testing.T) {
	fake, c, clk := setup(t, userpilotfake.Options{})
	ctx := context.Background()
	fake.FailNextJob("Metadata column 'plan' has mixed types")
	job, err := c.BulkIdentify(ctx, users("a", 3))
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	job, err = c.Job(ctx, job.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if !job.Failed() || !job.Terminal() || !strings.Contains(job.Reason, "mixed types") {
		t.Fatalf("failed job: %+v", job)
	}
	if fake.Count() != 0 {
		t.Fatalf("a failed job stored %d users", fake.Count())
	}
}

func TestUnauthorizedIsFinalAndHidesTheKey(t *testing.T) {
	fake := userpilotfake.New(userpilotfake.Options{APIKey: "the-right-key"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := userpilot.New(srv.URL, key, nil)
	_, err := c.BulkIdentify(context.Background(), []userpilot.User{{UserID: "secret-user@x.io"}})
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusUnauthorized || ve.Retryable() || !ve.Auth() || ve.Conflict {
		t.Fatalf("wrong key: %v", err)
	}
	if msg := err.Error(); strings.Contains(msg, key) || strings.Contains(msg, "secret-user") || !strings.Contains(msg, "API key") {
		t.Fatalf("message: %q", msg)
	}
}

func TestValidationErrorIsFinalAndReadable(t *testing.T) {
	_, c, _ := setup(t, userpilotfake.Options{})
	// The client never sends a list as metadata (FromFields refuses it), but
	// a User built by hand can.
	_, err := c.BulkIdentify(context.Background(), []userpilot.User{{UserID: "a"}, {UserID: "b", Metadata: map[string]any{"tags": []string{"private-value"}}}})
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusBadRequest || ve.Retryable() {
		t.Fatalf("bad metadata: %v", err)
	}
	if !strings.Contains(ve.Message, "users[1]") || !strings.Contains(ve.Message, "Invalid request body: ") || strings.Contains(ve.Message, "private-value") {
		t.Fatalf("message: %q", ve.Message)
	}
}

func TestMoreThanMaxBulkIsRefusedBeforeSending(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c := userpilot.New(srv.URL, key, nil)
	_, err := c.BulkIdentify(context.Background(), users("u", userpilot.MaxBulk+1))
	if err == nil || hits.Load() != 0 {
		t.Fatalf("err %v, requests sent %d", err, hits.Load())
	}
	if _, ok := vendorapi.As(err); ok {
		t.Fatal("a local refusal looks like a vendor answer")
	}
	// Exactly MaxBulk is fine for the fake too.
	fake, c2, _ := setup(t, userpilotfake.Options{})
	if _, err := c2.BulkIdentify(context.Background(), users("u", userpilot.MaxBulk)); err != nil {
		t.Fatal(err)
	}
	if fake.Received("u9999") != 1 {
		t.Fatal("the 10,000th user did not arrive")
	}
}

func TestJobIDWithColonsRoundTrips(t *testing.T) {
	const id = "bulk:jobs:NX-ac54070e:c6f91301-54c1-4df7-a077-b34715c38875"
	var gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.EscapedPath()
		if r.Header.Get("Authorization") != "Token "+key || r.Header.Get("Accept") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		// The shape of the docs' prose example: no row counts at all.
		fmt.Fprintf(w, `{"job_id":%q,"status":"processing","submitted_at":"2025-02-02T12:34:56Z"}`, id)
	}))
	defer srv.Close()
	c := userpilot.New(srv.URL+"/", key, nil)
	job, err := c.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if job.JobID != id || job.Status != "processing" || job.Terminal() {
		t.Fatalf("job: %+v", job)
	}
	if gotPath != "/v1/background_jobs/"+id {
		t.Fatalf("path %q", gotPath)
	}

	// And against the fake, with an ID it made.
	_, fc, _ := setup(t, userpilotfake.Options{})
	j, err := fc.BulkIdentify(context.Background(), users("u", 1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := fc.Job(context.Background(), j.JobID)
	if err != nil || got.JobID != j.JobID || strings.Count(j.JobID, ":") < 3 {
		t.Fatalf("fake job %q: %+v %v", j.JobID, got, err)
	}
	_, err = fc.Job(context.Background(), "bulk:jobs:NX-00000000:unknown")
	if ve, ok := vendorapi.As(err); !ok || ve.Status != http.StatusNotFound || ve.Retryable() {
		t.Fatalf("unknown job: %v", err)
	}
}

func TestLenientJobDecoding(t *testing.T) {
	cases := []struct {
		body    string
		want    userpilot.Job
		wantErr bool
	}{
		{`{"job_id":"j1","status":"failed","total_rows":"5","error":"File too large"}`,
			userpilot.Job{JobID: "j1", Status: "failed", TotalRows: 5, Reason: "File too large"}, false},
		{`{"job_id":"j1","status":"failed","errors":[{"message":"Validation failed","details":"row 3"}]}`,
			userpilot.Job{JobID: "j1", Status: "failed", Reason: "Validation failed: row 3"}, false},
		{`{"job_id":"j1","status":"completed","message":"done","total_rows":7,"completed_rows":7,"end_time":"x"}`,
			userpilot.Job{JobID: "j1", Status: "completed", TotalRows: 7, CompletedRows: 7}, false},
		{`{"status":"queued"}`, userpilot.Job{}, true},
		{`{"job_id":"j1"}`, userpilot.Job{}, true},
		{`<html>oops</html>`, userpilot.Job{}, true},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, tc.body)
		}))
		job, err := userpilot.New(srv.URL, key, nil).Job(context.Background(), "j1")
		srv.Close()
		if (err != nil) != tc.wantErr || job != tc.want {
			t.Fatalf("%s: %+v %v", tc.body, job, err)
		}
		if err != nil {
			if ve, ok := vendorapi.As(err); !ok || ve.Message == "" {
				t.Fatalf("%s: %v", tc.body, err)
			}
		}
	}
}

func TestTransportErrorAndCancel(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := userpilot.New(url, key, nil).Jobs(context.Background())
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != 0 || ve.Err == nil || !ve.Retryable() {
		t.Fatalf("closed server: %v", err)
	}

	fake, c, _ := setup(t, userpilotfake.Options{})
	fake.Faults().SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.BulkIdentify(ctx, users("u", 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, ok := vendorapi.As(err); ok {
		t.Fatal("a cancelled call looks like a vendor failure")
	}
}

func TestRetryAfterIsKept(t *testing.T) {
	fake, c, _ := setup(t, userpilotfake.Options{})
	fake.Faults().SetRetryAfter(7 * time.Second)
	fake.Faults().FailNext(1, http.StatusTooManyRequests)
	_, err := c.Jobs(context.Background())
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusTooManyRequests || ve.RetryAfter != 7*time.Second || !ve.Retryable() {
		t.Fatalf("429: %v", err)
	}
}

func TestFailedAnswerMessages(t *testing.T) {
	cases := []struct {
		name, ctype, body string
		status            int
		want              string
	}{
		{"proxy html page", "text/html", "<html><body>Bad Gateway</body></html>", 502, ""},
		{"plain text", "text/plain", " upstream\n  reset ", 503, "upstream reset"},
		{"errors list, said twice", "application/json",
			`{"errors":[{"message":"Invalid request body","details":"users[2].metadata.plan must be a primitive"},{"message":"Invalid request body","details":"users[2].metadata.plan must be a primitive"}],"message":"Invalid request body: users[2].metadata.plan must be a primitive"}`,
			400, "Invalid request body: users[2].metadata.plan must be a primitive"},
		{"error code only", "application/json", `{"errors":[{"error":"rate_limited","error_code":"429"}]}`, 429, "rate_limited: 429"},
		{"message echoing the key", "application/json", `{"message":"token ` + key + ` unknown"}`, 401, "token [redacted] unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := userpilot.New(srv.URL, key, srv.Client()).BulkIdentify(context.Background(), users("u", 3))
			ve, ok := vendorapi.As(err)
			if !ok || ve.Status != tc.status || ve.Conflict {
				t.Fatalf("want a *vendorapi.Error with status %d and no conflict, got %v", tc.status, err)
			}
			if ve.Message != tc.want {
				t.Fatalf("message %q, want %q", ve.Message, tc.want)
			}
		})
	}
}
