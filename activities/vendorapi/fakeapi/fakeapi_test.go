package fakeapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestLimiterHandsOutRetryAfterAndCountsEarlyRetries(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(2, 2, func() time.Time { return now })
	for i := 0; i < 2; i++ {
		if d := l.Admit("k"); d != 0 {
			t.Fatalf("request %d within the burst refused for %s", i, d)
		}
	}
	d := l.Admit("k")
	if d != time.Second {
		t.Fatalf("over the limit: retry after %s, want 1s", d)
	}
	now = now.Add(500 * time.Millisecond)
	if l.Admit("k") == 0 {
		t.Fatal("a request inside the Retry-After window was admitted")
	}
	if l.EarlyRetries() != 1 || l.Limited() != 2 {
		t.Fatalf("early %d limited %d, want 1 and 2", l.EarlyRetries(), l.Limited())
	}
	now = now.Add(600 * time.Millisecond)
	if d := l.Admit("k"); d != 0 {
		t.Fatalf("after the window: refused for %s", d)
	}
	if l.Admit("other") == 0 {
		// the bucket is shared: 1.1s at 2/s refilled 2 tokens, one taken above
		t.Log("other client admitted from the shared bucket")
	}
}

func TestUnlimitedLimiterAdmitsAll(t *testing.T) {
	l := NewLimiter(0, 0, nil)
	for i := 0; i < 1000; i++ {
		if l.Admit("k") != 0 {
			t.Fatal("refused with no limit")
		}
	}
}

func TestKitInjectsFaultsAndCounts(t *testing.T) {
	k := &Kit{Limiter: NewLimiter(0, 0, nil), Faults: NewFaults(1), Stats: &Stats{}}
	h := k.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, "ok") }))
	k.Faults.FailNext(2, http.StatusTooManyRequests)
	k.Faults.SetRetryAfter(3 * time.Second)
	var codes []int
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		codes = append(codes, rec.Code)
		if rec.Code == http.StatusTooManyRequests && rec.Header().Get("Retry-After") != "3" {
			t.Fatalf("Retry-After %q, want 3", rec.Header().Get("Retry-After"))
		}
	}
	if codes[0] != 429 || codes[1] != 429 || codes[2] != 200 {
		t.Fatalf("codes %v", codes)
	}
	s := k.Stats.Snapshot()
	if s.Requests != 3 || s.ByStatus[429] != 2 || s.ByStatus[200] != 1 || k.Faults.Injected() != 2 {
		t.Fatalf("stats %+v injected %d", s, k.Faults.Injected())
	}
}

func TestShareOfFailuresIsRepeatable(t *testing.T) {
	count := func() int {
		f := NewFaults(42)
		f.SetShare(0.3, 503)
		n := 0
		for i := 0; i < 1000; i++ {
			if code, _, _ := f.before(t.Context(), http.NoBody); code == 503 {
				n++
			}
		}
		return n
	}
	a, b := count(), count()
	if a != b || a < 200 || a > 400 {
		t.Fatalf("failures %d and %d; want the same, near 300", a, b)
	}
}
