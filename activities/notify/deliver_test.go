package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/internal/connections"
)

// receiver is a webhook that answers with the statuses given, in turn
// (the last one for ever), and records what it was sent.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	header   http.Header // of the last answer
	bodies   [][]byte
	requests []*http.Request
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, b)
	r.requests = append(r.requests, req)
	code := r.statuses[0]
	if len(r.statuses) > 1 {
		r.statuses = r.statuses[1:]
	}
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte("answer " + http.StatusText(code)))
}

// deliver runs the activity once, as attempt 1, against a webhook named
// "oncall" at url.
func deliver(t *testing.T, url string, n Notification) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{Webhooks: connections.FromEnv(nil, nil).WithWebhook("oncall", url), UI: "http://ui.example", Retry: Backoff{First: 3 * time.Second, Max: time.Minute},
		Runs: runsOf(n)}
	env.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: DeliverName})
	_, err := env.ExecuteActivity(DeliverName, n)
	return err
}

func TestDeliverPostsThePayloadWithAnIdempotencyKey(t *testing.T) {
	rec := &receiver{statuses: []int{http.StatusOK}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := sample()
	n.Webhook, n.Event, n.Status = "oncall", OnCompletion, Completed
	if err := deliver(t, srv.URL+"/services/T0/B0/token", n); err != nil {
		t.Fatal(err)
	}
	if len(rec.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(rec.requests))
	}
	req := rec.requests[0]
	if req.Method != http.MethodPost || req.URL.Path != "/services/T0/B0/token" || req.Header.Get("Content-Type") != "application/json" ||
		req.Header.Get("Idempotency-Key") != n.ID || req.Header.Get("X-Importer-Event") != OnCompletion {
		t.Fatalf("request %s %s %v", req.Method, req.URL, req.Header)
	}
	var p Payload
	if err := json.Unmarshal(rec.bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	if p.Text == "" || p.ID != n.ID || p.Counts != n.Counts || p.Source != "https://exports.example.com/users.csv" {
		t.Fatalf("payload %+v", p)
	}
}

func TestAnUnknownWebhookFailsForGoodNamingWhatToSet(t *testing.T) {
	n := sample()
	n.Webhook = "ops"
	err := deliver(t, "http://127.0.0.1:9/never", n)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != UnknownWebhook || !app.NonRetryable() {
		t.Fatalf("want a non-retryable %s, got %v", UnknownWebhook, err)
	}
	want := `the worker has no webhook named "ops" (it knows oncall): set IMPORTER_WEBHOOK_OPS_URL in its environment or webhooks.ops.url in its config file`
	if app.Message() != want {
		t.Fatalf("message %q\n want %q", app.Message(), want)
	}
}

func TestRetryableAnswersAskForTheNextAttemptAfterTheBackoffOrRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		wait       time.Duration
	}{
		{"5xx", http.StatusInternalServerError, "", 3 * time.Second},
		{"429 with Retry-After", http.StatusTooManyRequests, "7", 7 * time.Second},
		{"408", http.StatusRequestTimeout, "", 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &receiver{statuses: []int{tc.status}, header: http.Header{}}
			if tc.retryAfter != "" {
				rec.header.Set("Retry-After", tc.retryAfter)
			}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			n := sample()
			n.Webhook = "oncall"
			err := deliver(t, srv.URL+"/secret-path", n)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != WebhookUnavailable || app.NonRetryable() || app.NextRetryDelay() != tc.wait {
				t.Fatalf("want a retryable %s after %s, got %v (after %v)", WebhookUnavailable, tc.wait, err, app.NextRetryDelay())
			}
			if !strings.HasPrefix(app.Message(), `webhook "oncall" answered `+strconv.Itoa(tc.status)) {
				t.Errorf("message %q", app.Message())
			}
			if strings.Contains(err.Error(), "secret-path") || strings.Contains(err.Error(), srv.URL) {
				t.Errorf("the error shows the URL: %v", err)
			}
		})
	}
}

func TestARefusalFailsForGoodAndAnUnreachableWebhookIsNotQuoted(t *testing.T) {
	rec := &receiver{statuses: []int{http.StatusNotFound}}
	srv := httptest.NewServer(rec)
	n := sample()
	n.Webhook = "oncall"
	err := deliver(t, srv.URL+"/secret-path", n)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != WebhookRefused || !app.NonRetryable() ||
		app.Message() != `webhook "oncall" refused the notification: 404 Not Found: answer Not Found` {
		t.Fatalf("a 404: %v", err)
	}
	srv.Close()
	err = deliver(t, srv.URL+"/secret-path", n)
	if !errors.As(err, &app) || app.Type() != WebhookUnavailable || app.NonRetryable() ||
		!strings.HasPrefix(app.Message(), `webhook "oncall" did not answer: `) {
		t.Fatalf("a closed server: %v", err)
	}
	if strings.Contains(err.Error(), "secret-path") || strings.Contains(err.Error(), srv.URL) {
		t.Errorf("the error shows the URL: %v", err)
	}
}

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	b := Backoff{First: time.Second, Max: 5 * time.Second}
	for attempt, want := range map[int32]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 40: 5 * time.Second} {
		if got := b.Delay(attempt); got != want {
			t.Errorf("Delay(%d) = %s, want %s", attempt, got, want)
		}
	}
	if got := (Backoff{}).Delay(100); got != DefaultMaxRetry {
		t.Errorf("default cap = %s", got)
	}
}

// fakeRuns answers as Temporal would for a notification that its run
// started: the Notify workflow's parent is that run, which ended as ended
// says (by default, as the notification says).
type fakeRuns struct {
	parent Execution
	ended  Ended
}

func (f fakeRuns) Parent(context.Context, string, string) (Execution, error) { return f.parent, nil }
func (f fakeRuns) Ended(context.Context, string, string) (Ended, error)      { return f.ended, nil }

// runsOf is the record of n's run as n itself describes it.
func runsOf(n Notification) fakeRuns {
	c := n.Counts
	return fakeRuns{parent: Execution{WorkflowID: n.WorkflowID, RunID: n.RunID},
		ended: Ended{Kind: n.Kind, Status: n.Status, Error: n.Error, RejectsCommand: n.RejectsCommand, Counts: &c}}
}
