package vendorapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryableFollowsTheVendorRules(t *testing.T) {
	cases := map[int]bool{0: true, 408: true, 429: true, 500: true, 503: true, 301: false, 302: false, 307: false, 308: false, 400: false, 401: false, 403: false, 404: false, 413: false, 422: false}
	for status, want := range cases {
		e := &Error{Vendor: "v", Op: "op", Status: status}
		if e.Retryable() != want {
			t.Errorf("status %d: retryable %v, want %v", status, e.Retryable(), want)
		}
	}
	if !(&Error{Status: 409, Conflict: true}).Retryable() {
		t.Error("a job-already-running conflict must be retryable")
	}
	if !(&Error{Status: 401}).Auth() || (&Error{Status: 400}).Auth() {
		t.Error("Auth")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if d := ParseRetryAfter("7", now); d != 7*time.Second {
		t.Errorf("seconds: %s", d)
	}
	if d := ParseRetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); d != 90*time.Second {
		t.Errorf("date: %s", d)
	}
	for _, h := range []string{"", "soon", "-3", now.Add(-time.Minute).Format(http.TimeFormat)} {
		if d := ParseRetryAfter(h, now); d != 0 {
			t.Errorf("%q: %s, want 0", h, d)
		}
	}
}

func TestErrorMessageAndUnwrap(t *testing.T) {
	base := errors.New("connection reset")
	e := &Error{Vendor: "nebuly", Op: "insert users", Status: 429, Message: "slow down", RetryAfter: 2 * time.Second, Err: base}
	msg := e.Error()
	for _, want := range []string{"nebuly", "insert users", "429", "slow down", "retry after 2s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	wrapped := fmt.Errorf("chunk 3: %w", e)
	if got, ok := As(wrapped); !ok || got != e || !errors.Is(wrapped, base) {
		t.Fatal("As/Unwrap through wrapping")
	}
	if long := Trim(strings.Repeat("x ", 400)); len(long) > MaxMessage+4 {
		t.Errorf("Trim kept %d bytes", len(long))
	}
}
