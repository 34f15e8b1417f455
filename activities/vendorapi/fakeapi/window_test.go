package fakeapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time            { return c.t }
func (c *fakeClock) add(d time.Duration)       { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock                 { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func admitted(w *SlidingWindow, k string) bool { return w.Admit(k) == 0 }

func TestSlidingWindowHoldsAtTheBoundary(t *testing.T) {
	c := newFakeClock()
	w := NewSlidingWindow(3, 10*time.Second, c.now)
	start := c.t
	for i := 0; i < 3; i++ {
		if !admitted(w, "a") {
			t.Fatalf("request %d of 3 refused", i+1)
		}
		c.add(2 * time.Second) // admitted at +0s, +2s, +4s
	}
	// At +6s the window holds 3: the first slot frees at +10s.
	if d := w.Admit("a"); d != 4*time.Second {
		t.Fatalf("Retry-After %s, want 4s", d)
	}
	// Another client has its own window.
	if !admitted(w, "b") {
		t.Fatal("a second client was refused by the first one's window")
	}
	c.t = start.Add(10*time.Second - time.Nanosecond)
	if d := w.Admit("a"); d != time.Second {
		t.Fatalf("just before the first slot frees: Retry-After %s, want 1s (rounded up)", d)
	}
	c.t = start.Add(10 * time.Second)
	if !admitted(w, "a") {
		t.Fatal("refused at exactly the end of the first request's window")
	}
	// Now +2s, +4s, +10s fill the window; the next slot frees at +12s.
	if d := w.Admit("a"); d != 2*time.Second {
		t.Fatalf("Retry-After %s, want 2s", d)
	}
	if got := w.Limited(); got != 3 {
		t.Fatalf("limited %d, want 3", got)
	}
}

func TestSlidingWindowIsNotATokenBucket(t *testing.T) {
	// A token bucket of 2/10s refills one token every 5s; a sliding window
	// of 2 per 10s must not admit a third request 5s after the first two.
	c := newFakeClock()
	w := NewSlidingWindow(2, 10*time.Second, c.now)
	admitted(w, "k")
	admitted(w, "k")
	c.add(5 * time.Second)
	if d := w.Admit("k"); d != 5*time.Second {
		t.Fatalf("5s into a full window: Retry-After %s, want 5s", d)
	}
}

func TestSlidingWindowCountsEarlyRequests(t *testing.T) {
	c := newFakeClock()
	w := NewSlidingWindow(1, 3*time.Second, c.now)
	if !admitted(w, "k") {
		t.Fatal("first request refused")
	}
	if w.Arrived("k") {
		t.Fatal("a request with no Retry-After handed out counted as early")
	}
	if d := w.Admit("k"); d != 3*time.Second {
		t.Fatalf("Retry-After %s, want 3s", d)
	}
	c.add(time.Second)
	if !w.Arrived("k") || w.Arrived("other") {
		t.Fatal("a request 1s into a 3s Retry-After is early for k only")
	}
	w.Admit("k") // refused again, same window end
	c.add(2 * time.Second)
	if w.Arrived("k") {
		t.Fatal("a request at exactly the end of the Retry-After counted as early")
	}
	if !admitted(w, "k") {
		t.Fatal("refused after waiting as told")
	}
	w.Opened("k", 5*time.Second)
	c.add(4 * time.Second)
	if !w.Arrived("k") {
		t.Fatal("a request inside a window opened by Opened is not early")
	}
	if w.EarlyRequests() != 2 || w.Limited() != 3 {
		t.Fatalf("early %d limited %d, want 2 and 3", w.EarlyRequests(), w.Limited())
	}
	w.Reset()
	if w.EarlyRequests() != 0 || w.Limited() != 0 || w.Arrived("k") {
		t.Fatal("Reset kept counters or windows")
	}
}

func TestSlidingWindowLimitChanges(t *testing.T) {
	c := newFakeClock()
	w := NewSlidingWindow(0, time.Minute, c.now)
	for i := 0; i < 500; i++ {
		if !admitted(w, "k") {
			t.Fatal("a limit of 0 refused a request")
		}
	}
	w = NewSlidingWindow(4, time.Minute, c.now)
	for i := 0; i < 4; i++ {
		admitted(w, "k")
		c.add(time.Second)
	}
	w.SetLimit(2, time.Minute)
	if n, d := w.Limit(); n != 2 || d != time.Minute {
		t.Fatalf("Limit %d/%s", n, d)
	}
	// 4 requests at +0..+3s and a limit of 2: three must leave before one
	// more fits, the third of them (admitted at +2s) at +62s; it is +4s now.
	if d := w.Admit("k"); d != 58*time.Second {
		t.Fatalf("after lowering the limit: Retry-After %s, want 58s", d)
	}
}

func TestWindowKitInjected429OpensAWindow(t *testing.T) {
	c := newFakeClock()
	k := &WindowKit{Window: NewSlidingWindow(1, time.Minute, c.now), Faults: NewFaults(1), Stats: &Stats{}}
	h := k.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusCreated, "ok") }))
	send := func(remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	k.Faults.FailNext(1, http.StatusTooManyRequests)
	k.Faults.SetRetryAfter(1500 * time.Millisecond)
	rec := send("10.0.0.1:1111")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("injected 429: %d Retry-After %q, want 429 and 2", rec.Code, rec.Header().Get("Retry-After"))
	}
	c.add(time.Second)
	if rec := send("10.0.0.1:2222"); rec.Code != http.StatusCreated {
		t.Fatalf("an early request within the limit: %d, want it served", rec.Code)
	}
	if k.Window.EarlyRequests() != 1 {
		t.Fatalf("early %d, want 1 (same IP, other port)", k.Window.EarlyRequests())
	}
	rec = send("10.0.0.1:3333")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "60" {
		t.Fatalf("over the window: %d Retry-After %q, want 429 and 60", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := send("10.0.0.2:1111"); rec.Code != http.StatusCreated {
		t.Fatalf("another IP: %d, want it served", rec.Code)
	}
	s := k.Stats.Snapshot()
	if s.Requests != 4 || s.ByStatus[429] != 2 || s.ByStatus[201] != 2 || k.Window.Limited() != 2 {
		t.Fatalf("stats %+v limited %d", s, k.Window.Limited())
	}
}

func TestSlidingWindowTellsInFlightFromIgnoredRetryAfter(t *testing.T) {
	c := newFakeClock()
	w := NewSlidingWindow(10, time.Minute, c.now)
	w.Opened("k", 3*time.Second)
	c.add(20 * time.Millisecond) // sent before the client could know
	w.Arrived("k")
	c.add(time.Second) // sent a second after the 429: ignored it
	w.Arrived("k")
	if w.EarlyRequests() != 2 || w.EarlyRequestsAfter(500*time.Millisecond) != 1 || w.EarlyRequestsAfter(0) != 2 {
		t.Fatalf("early %d, after 500ms %d", w.EarlyRequests(), w.EarlyRequestsAfter(500*time.Millisecond))
	}
	// A later 429 while the window is open keeps its opening time.
	w.Opened("k", 5*time.Second)
	c.add(time.Second)
	w.Arrived("k")
	if got := w.EarlyRequestsAfter(2 * time.Second); got != 1 {
		t.Fatalf("a request 2.02s after the first 429 counted %d times past 2s, want 1", got)
	}
}
