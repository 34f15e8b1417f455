package vendorapi

import (
	"errors"
	"fmt"
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
