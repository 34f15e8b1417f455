// Package vendorapi holds what every vendor shares: the typed error a
// client returns for a failed call and the rules that decide whether it is
// worth retrying (errors.go); the HTTP call every client makes through Do,
// which marks the request with its vendor (internal/vendorcall) and scrubs
// secrets from what the vendor answered, and NoRedirects, the clients'
// redirect policy (http.go); field helpers for row rules (fields.go); and a
// vendor's Spec, Traits and the typed adapters (Batches, Jobs) that keep
// each vendor's payload type from source to client (vendor.go). fakeapi/
// is what the vendors' fake servers share. It imports nothing from Temporal; activities turn these
// errors into Temporal application errors (activities/failure).
package vendorapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is a failed call to a vendor API.
type Error struct {
	Vendor string // "nebuly", "dynamic", ...
	Op     string // what the client was doing, e.g. "insert users"
	// Status is the HTTP status, or 0 when no answer arrived (network error,
	// timeout, connection reset).
	Status int
	// Message is the vendor's own explanation, trimmed to a readable length.
	// Clients must keep user data (request bodies) out of it.
	Message string
	// RetryAfter is the delay the vendor asked for (Retry-After header), or 0.
	RetryAfter time.Duration
	// Conflict marks an answer that means "another job is running, try later"
	// for vendors that run one bulk job at a time.
	Conflict bool
	Err      error // the underlying transport error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Vendor, e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable says whether sending the same request again later can succeed:
// no answer at all, 408, 429, 5xx, and a "job already running" conflict.
// Validation (400, 404, 413, 422) and auth (401, 403) failures are final,
// and so is a redirect (3xx), which Do never follows: sending again would
// meet the same redirect.
func (e *Error) Retryable() bool {
	switch {
	case e.Status >= 300 && e.Status <= 399:
		return false
	case e.Conflict:
		return true
	case e.Status == 0:
		return true
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests:
		return true
	case e.Status >= 500:
		return true
	}
	return false
}

// Auth says whether the vendor refused the credentials.
func (e *Error) Auth() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// As returns the *Error inside err, if there is one.
func As(err error) (*Error, bool) {
	var ve *Error
	if errors.As(err, &ve) {
		return ve, true
	}
	return nil, false
}

// MaxMessage is how much of a vendor's error text is kept.
const MaxMessage = 300

// Trim shortens a vendor message to MaxMessage characters on one line.
func Trim(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage] + "…"
	}
	return msg
}
