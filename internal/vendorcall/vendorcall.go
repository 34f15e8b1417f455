// Package vendorcall owns what travels with a request to a vendor for the
// layers below the vendors to read: which vendor the request is for (set
// by the vendor client, read by the worker's metrics transport), and how
// a Retry-After header is read. It imports nothing of the importer.
package vendorcall

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type vendorKey struct{}

// WithVendor marks the requests made with ctx as calls to a vendor, so that
// the worker's HTTP transport can count them by vendor (internal/metrics).
// The vendor clients' shared call (vendorapi.Do) marks its own; a call
// that does not go through it marks its context.
func WithVendor(ctx context.Context, vendor string) context.Context {
	return context.WithValue(ctx, vendorKey{}, vendor)
}

// VendorOf is the vendor WithVendor named in ctx, or "".
func VendorOf(ctx context.Context) string {
	v, _ := ctx.Value(vendorKey{}).(string)
	return v
}

// ParseRetryAfter reads a Retry-After header: delta-seconds or an HTTP date.
// It returns 0 for an absent or unreadable header.
func ParseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(h, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
