package notify

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/internal/connections"
)

// The receiver's secret, as its operator sets it on the worker (the key
// "the receiver's 32-byte HMAC key!"), and another that a forger might
// hold ("a forger's guess at the 32 bytes").
const (
	receiverSecret = "whsec_dGhlIHJlY2VpdmVyJ3MgMzItYnl0ZSBITUFDIGtleSE="
	forgerSecret   = "whsec_YSBmb3JnZXIncyBndWVzcyBhdCB0aGUgMzIgYnl0ZXM="
)

// deliverTo runs the activity once, as attempt 1, with the webhooks the
// environ defines (IMPORTER_WEBHOOK_* variables) and the clock now (nil:
// the system's).
func deliverTo(t *testing.T, environ []string, now func() time.Time, n Notification) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{Webhooks: connections.FromEnv(environ, nil), Now: now, Retry: Backoff{First: time.Second}, Runs: runsOf(n)}
	env.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: DeliverName})
	_, err := env.ExecuteActivity(DeliverName, n)
	return err
}

// verifier is the Standard Webhooks reference library's, with a secret.
func verifier(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

func TestASignedPostVerifiesWithTheStandardWebhooksLibraryAndAForgeryDoesNot(t *testing.T) {
	rec := &receiver{statuses: []int{http.StatusOK}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := sample()
	n.Event, n.Status = OnCompletion, Completed
	environ := []string{"IMPORTER_WEBHOOK_ONCALL_URL=" + srv.URL + "/hook", "IMPORTER_WEBHOOK_ONCALL_SECRET=" + receiverSecret}
	if err := deliverTo(t, environ, nil, n); err != nil {
		t.Fatal(err)
	}
	if len(rec.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(rec.requests))
	}
	body, header := rec.bodies[0], rec.requests[0].Header

	// What the receiver's own code would run, timestamp tolerance included.
	if err := verifier(t, receiverSecret).Verify(body, header); err != nil {
		t.Fatalf("the receiver cannot verify a genuine post: %v (headers %v)", err, header)
	}
	if id := header.Get(HeaderWebhookID); id != n.ID || header.Get("Idempotency-Key") != id {
		t.Errorf("webhook-id %q, Idempotency-Key %q; want both %q", id, header.Get("Idempotency-Key"), n.ID)
	}

	tampered := bytes.Replace(body, []byte(`"rejected":50`), []byte(`"rejected":0`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatalf("the body has no rejected count to change: %s", body)
	}
	later := header.Clone()
	later.Set(HeaderWebhookTimestamp, strconv.FormatInt(time.Now().Unix()+60, 10))
	for name, forged := range map[string]error{
		"a changed body":                verifier(t, receiverSecret).Verify(tampered, header),
		"a signature by another key":    verifier(t, forgerSecret).Verify(body, header),
		"a replay with a new timestamp": verifier(t, receiverSecret).Verify(body, later),
	} {
		if !errors.Is(forged, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("%s: %v, want %v", name, forged, standardwebhooks.ErrNoMatchingSignature)
		}
	}
}

func TestEachAttemptIsSignedAtItsOwnTimeUnderTheSameID(t *testing.T) {
	rec := &receiver{statuses: []int{http.StatusServiceUnavailable, http.StatusOK}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := sample()
	environ := []string{"IMPORTER_WEBHOOK_ONCALL_URL=" + srv.URL, "IMPORTER_WEBHOOK_ONCALL_SECRET=" + receiverSecret}
	first := time.Date(2026, 3, 1, 3, 4, 12, 900_000_000, time.UTC)
	var app *temporal.ApplicationError
	if err := deliverTo(t, environ, func() time.Time { return first }, n); !errors.As(err, &app) || app.Type() != WebhookUnavailable {
		t.Fatalf("the first attempt: %v, want %s", err, WebhookUnavailable)
	}
	if err := deliverTo(t, environ, func() time.Time { return first.Add(90 * time.Second) }, n); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if len(rec.requests) != 2 {
		t.Fatalf("%d requests, want 2", len(rec.requests))
	}
	wh := verifier(t, receiverSecret)
	for i, want := range []int64{first.Unix(), first.Unix() + 90} {
		h := rec.requests[i].Header
		if got := h.Get(HeaderWebhookTimestamp); got != strconv.FormatInt(want, 10) {
			t.Errorf("attempt %d: webhook-timestamp %q, want %d", i+1, got, want)
		}
		if h.Get(HeaderWebhookID) != n.ID {
			t.Errorf("attempt %d: webhook-id %q, want %q", i+1, h.Get(HeaderWebhookID), n.ID)
		}
		// The clock is 2026-03-01: only the tolerance check sees its age.
		if err := wh.VerifyIgnoringTimestamp(rec.bodies[i], h); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
		if err := wh.Verify(rec.bodies[i], h); !errors.Is(err, standardwebhooks.ErrMessageTooOld) && !errors.Is(err, standardwebhooks.ErrMessageTooNew) {
			t.Errorf("attempt %d: a post signed at %s passes the receiver's 5-minute check now: %v", i+1, first, err)
		}
	}
	if rec.requests[0].Header.Get(HeaderWebhookSignature) == rec.requests[1].Header.Get(HeaderWebhookSignature) {
		t.Error("two attempts at different times carry the same signature")
	}
}

func TestAWebhookWithoutASecretPostsUnsigned(t *testing.T) {
	rec := &receiver{statuses: []int{http.StatusOK}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := sample()
	// The default webhook's secret is not the oncall webhook's.
	environ := []string{
		"IMPORTER_WEBHOOK_ONCALL_URL=" + srv.URL,
		"IMPORTER_WEBHOOK_URL=" + srv.URL + "/default", "IMPORTER_WEBHOOK_SECRET=" + receiverSecret,
	}
	if err := deliverTo(t, environ, nil, n); err != nil {
		t.Fatal(err)
	}
	if len(rec.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(rec.requests))
	}
	h := rec.requests[0].Header
	for _, name := range []string{HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature} {
		if v := h.Values(name); len(v) > 0 {
			t.Errorf("an unsigned webhook got %s: %q", name, v)
		}
	}
	if h.Get("Idempotency-Key") != n.ID {
		t.Errorf("Idempotency-Key %q, want %q", h.Get("Idempotency-Key"), n.ID)
	}
}

func TestABadSecretFailsTheNotificationForGoodWithoutPostingOrShowingIt(t *testing.T) {
	rec := &receiver{statuses: []int{http.StatusOK}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := sample()
	// Load refuses such a secret at start; a Set built otherwise reaches
	// Deliver with it.
	environ := []string{"IMPORTER_WEBHOOK_ONCALL_URL=" + srv.URL, "IMPORTER_WEBHOOK_ONCALL_SECRET=sk-live-9f8e7d6c5b4a"}
	err := deliverTo(t, environ, nil, n)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != UnknownWebhook || !app.NonRetryable() {
		t.Fatalf("want a non-retryable %s, got %v", UnknownWebhook, err)
	}
	if !strings.Contains(app.Message(), "IMPORTER_WEBHOOK_ONCALL_SECRET") || strings.Contains(err.Error(), "sk-live") {
		t.Errorf("message %q: want the variable named, not its value", app.Message())
	}
	if len(rec.requests) != 0 {
		t.Errorf("%d unsigned posts to a webhook meant to be signed", len(rec.requests))
	}
}
