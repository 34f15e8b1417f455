package vendorcall

import (
	"context"
	"net/http"
	"testing"
	"time"
)

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

func TestTheVendorTravelsInTheContext(t *testing.T) {
	ctx := context.Background()
	if v := VendorOf(ctx); v != "" {
		t.Fatalf("an unmarked context names %q", v)
	}
	if v := VendorOf(WithVendor(ctx, "nebuly")); v != "nebuly" {
		t.Fatalf("a marked context names %q, want nebuly", v)
	}
}
