package failure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"importer/activities/source"
	"importer/activities/vendorapi"
)

// Each vendor answer gets the retry decision its rules call for: refused
// credentials and requests fail at once (with the hint for credentials),
// throttling waits for the vendor's Retry-After, outages retry.
func TestClassifyMakesTheVendorsRetryDecision(t *testing.T) {
	vendorErr := func(status int, retryAfter time.Duration) error {
		return fmt.Errorf("chunk 3: %w", &vendorapi.Error{Vendor: "acme", Op: "send users", Status: status, RetryAfter: retryAfter})
	}
	for _, c := range []struct {
		name      string
		err       error
		kind      string
		retryable bool
		delay     time.Duration
		hint      bool
	}{
		{"refused credentials", vendorErr(401, 0), VendorAuth, false, 0, true},
		{"refused request", vendorErr(422, 0), VendorRejected, false, 0, false},
		{"throttled", vendorErr(429, 7*time.Second), VendorThrottled, true, 7 * time.Second, false},
		{"down", vendorErr(503, 0), VendorUnavailable, true, 0, false},
		{"source unreadable", fmt.Errorf("read: %w", source.ErrPermanent), SourceError, false, 0, false},
		{"no such source", fmt.Errorf("read: %w", source.ErrNotFound), SourceNotFound, false, 0, false},
		{"source changed", fmt.Errorf("read: %w", source.ErrChanged), SourceChanged, false, 0, false},
		{"anything else", errors.New("connection reset"), Transient, true, 0, false},
	} {
		err := Classify(c.err, "check IMPORTER_ACME_API_KEY on the worker")
		var app *temporal.ApplicationError
		if !errors.As(err, &app) {
			t.Errorf("%s: %v is no application error", c.name, err)
			continue
		}
		if app.Type() != c.kind || app.NonRetryable() == c.retryable || app.NextRetryDelay() != c.delay {
			t.Errorf("%s: type %s, retryable %v, delay %s; want %s, %v, %s", c.name, app.Type(), !app.NonRetryable(), app.NextRetryDelay(), c.kind, c.retryable, c.delay)
		}
		if strings.Contains(app.Message(), "IMPORTER_ACME_API_KEY") != c.hint {
			t.Errorf("%s: message %q; the credentials hint belongs to refused credentials only", c.name, app.Message())
		}
	}
	// An application error is passed on as it is, a cancellation as well.
	own := temporal.NewNonRetryableApplicationError("planned rows differ", SourceChanged, nil)
	if err := Classify(fmt.Errorf("chunk 1: %w", own), ""); err != own {
		t.Errorf("a wrapped application error became %v", err)
	}
	if err := Classify(context.Canceled, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancellation became %v", err)
	}
	if Classify(nil, "") != nil {
		t.Error("nil became an error")
	}
}
