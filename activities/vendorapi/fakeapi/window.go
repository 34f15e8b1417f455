package fakeapi

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// SlidingWindow admits at most a number of requests per client key in any
// window of a given length (the form vendors such as Dynamic document:
// "150 requests a minute per IP"), unlike Limiter's token bucket, which lets
// a full burst through again as soon as it has refilled.
//
// Only admitted requests occupy the window: a refused request does not push
// the next free slot further away, so the Retry-After it hands out is exact.
//
// It also remembers, per key, the Retry-After windows handed out (its own
// and those reported through Opened, such as injected 429s) and counts the
// requests that arrive inside one: the measure of a client that does not
// honour Retry-After.
type SlidingWindow struct {
	mu        sync.Mutex
	now       Clock
	limit     int
	length    time.Duration
	admitted  map[string][]time.Time // per key, oldest first, inside the window
	waitUntil map[string]time.Time
	openedAt  map[string]time.Time // when the key's current window opened
	early     int64
	// earlyAfter holds, per early request, how long after its window
	// opened it arrived: a request sent in the few milliseconds before the
	// client heard of the 429 is in flight, not ignoring it.
	earlyAfter []time.Duration
	limited    int64
}

// NewSlidingWindow makes a limiter admitting limit requests per key in any
// window of length; limit 0 or less (or length 0 or less) admits everything.
func NewSlidingWindow(limit int, length time.Duration, now Clock) *SlidingWindow {
	if now == nil {
		now = time.Now
	}
	return &SlidingWindow{now: now, limit: limit, length: length,
		admitted: map[string][]time.Time{}, waitUntil: map[string]time.Time{}, openedAt: map[string]time.Time{}}
}

// SetLimit changes the limit from now on. Requests already admitted keep
// their place, so lowering the limit does not reopen the window at once.
func (w *SlidingWindow) SetLimit(limit int, length time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.limit, w.length = limit, length
}

// Limit returns the current limit and window length.
func (w *SlidingWindow) Limit() (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit, w.length
}

// Arrived notes the arrival of a request from key, before anything else
// decides on it, and says whether it came inside a Retry-After window
// handed out to that key. Such a request is counted in EarlyRequests.
func (w *SlidingWindow) Arrived(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	until, ok := w.waitUntil[key]
	if !ok {
		return false
	}
	if now := w.now(); now.Before(until) {
		w.early++
		w.earlyAfter = append(w.earlyAfter, now.Sub(w.openedAt[key]))
		return true
	}
	delete(w.waitUntil, key)
	delete(w.openedAt, key)
	return false
}

// Admit decides on one request from key: 0 admits it and gives it a slot
// in the window; otherwise the request is refused and the result is the
// Retry-After to answer with, the time until a slot frees rounded up to
// whole seconds (at least one).
func (w *SlidingWindow) Admit(key string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if w.limit <= 0 || w.length <= 0 {
		return 0
	}
	times := w.admitted[key]
	// A request admitted at t occupies the window until t+length
	// (exclusive): at exactly t+length its slot is free again.
	drop := 0
	for drop < len(times) && !now.Before(times[drop].Add(w.length)) {
		drop++
	}
	times = times[drop:]
	if len(times) < w.limit {
		w.admitted[key] = append(times, now)
		return 0
	}
	w.admitted[key] = times
	// Enough slots free once all but limit-1 of the requests now in the
	// window have left it.
	frees := times[len(times)-w.limit].Add(w.length)
	wait := ceilSecond(frees.Sub(now))
	w.openLocked(key, now, wait)
	return wait
}

// Opened records a Retry-After of d handed out to key by someone else
// (an injected 429), so that requests arriving inside it count as early.
func (w *SlidingWindow) Opened(key string, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.openLocked(key, w.now(), d)
}

func (w *SlidingWindow) openLocked(key string, now time.Time, d time.Duration) {
	w.limited++
	until := now.Add(d)
	if until.After(w.waitUntil[key]) {
		if _, open := w.waitUntil[key]; !open {
			w.openedAt[key] = now
		}
		w.waitUntil[key] = until
	}
}

// EarlyRequestsAfter counts the early requests that arrived at least grace
// after their Retry-After window opened: with a grace longer than it takes
// a client to hear of a 429, each one is a request sent in spite of it.
func (w *SlidingWindow) EarlyRequestsAfter(grace time.Duration) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for _, d := range w.earlyAfter {
		if d >= grace {
			n++
		}
	}
	return n
}

// EarlyRequests counts requests that arrived inside a Retry-After window
// handed out to the same key.
func (w *SlidingWindow) EarlyRequests() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.early
}

// Limited counts the Retry-After windows handed out: refusals by Admit and
// those reported through Opened.
func (w *SlidingWindow) Limited() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limited
}

// Reset forgets every admitted request, window and counter; the limit
// stays.
func (w *SlidingWindow) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.admitted = map[string][]time.Time{}
	w.waitUntil = map[string]time.Time{}
	w.openedAt = map[string]time.Time{}
	w.earlyAfter = nil
	w.early, w.limited = 0, 0
}

// ClientIP keys a request by the host of its remote address, as a vendor
// limiting "per IP" does.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// WindowKit is Kit for a fake limited by a SlidingWindow: it applies
// faults, then the window, then the handler, and makes an injected 429
// open a Retry-After window just as a refusal by the limiter does.
type WindowKit struct {
	Window *SlidingWindow
	Faults *Faults
	Stats  *Stats
	// Key names the client for the window; nil means ClientIP.
	Key func(*http.Request) string
	// ErrorBody renders the body of an injected or rate-limit answer; nil
	// means {"error": msg}.
	ErrorBody func(status int, msg string) any
}

// LimitMessage is the body text of a rate-limited answer.
const LimitMessage = "Too many requests. Please try again later."

// Wrap applies faults, then the sliding window, then next, counting
// answers and requests sent inside a Retry-After window.
func (k *WindowKit) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() { k.Stats.add(rec.status) }()
		key := ClientIP(r)
		if k.Key != nil {
			key = k.Key(r)
		}
		// Counted on arrival, so that early requests refused by an
		// injected fault count too.
		k.Window.Arrived(key)
		code, ra, ok := k.Faults.before(r.Context(), r.Body)
		if !ok {
			rec.status = 0 // the client gave up
			return
		}
		if code != 0 {
			msg := "injected fault"
			if code == http.StatusTooManyRequests {
				ra = ceilSecond(ra)
				k.Window.Opened(key, ra)
				rec.Header().Set("Retry-After", strconv.Itoa(int(ra.Seconds())))
				msg = LimitMessage
			}
			WriteJSON(rec, code, k.body(code, msg))
			return
		}
		if wait := k.Window.Admit(key); wait > 0 {
			rec.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
			WriteJSON(rec, http.StatusTooManyRequests, k.body(http.StatusTooManyRequests, LimitMessage))
			return
		}
		next.ServeHTTP(rec, r)
	})
}

func (k *WindowKit) body(status int, msg string) any {
	if k.ErrorBody != nil {
		return k.ErrorBody(status, msg)
	}
	return map[string]string{"error": msg}
}
