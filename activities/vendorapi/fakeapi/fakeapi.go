// Package fakeapi is what every fake vendor server shares: a rate limiter
// that answers 429 with Retry-After and counts clients that ignore it, fault
// injection (latency, a share of errors, the next N calls failing, hanging),
// and counters; and what each fake's package gives the vendor registry: its
// Sandbox (the fake as the sandbox runs it) and its Sample (the shape of its
// generated user lists). Everything hangs off values the caller creates;
// nothing is global.
package fakeapi

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Clock tells the time; tests pass a fake one.
type Clock func() time.Time

// Limiter is a token bucket per server, plus per-client memory of the
// Retry-After windows it handed out.
type Limiter struct {
	mu        sync.Mutex
	now       Clock
	rate      float64 // tokens a second; 0 = unlimited
	burst     float64
	tokens    float64
	last      time.Time
	waitUntil map[string]time.Time
	early     int64
	limited   int64
}

// NewLimiter makes a limiter; rate 0 admits everything.
func NewLimiter(rate float64, burst int, now Clock) *Limiter {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{now: now, waitUntil: map[string]time.Time{}}
	l.SetRate(rate, burst)
	return l
}

// SetRate changes the limit; the bucket starts full.
func (l *Limiter) SetRate(rate float64, burst int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if burst < 1 {
		burst = 1
	}
	l.rate, l.burst, l.tokens, l.last = rate, float64(burst), float64(burst), l.now()
}

// Admit decides on one request from client key. It returns 0 when the
// request may proceed, or the Retry-After to answer with. A request that
// arrives inside a Retry-After window given to the same key is counted as an
// early retry (a client that ignores Retry-After) and refused again.
func (l *Limiter) Admit(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate <= 0 {
		return 0
	}
	now := l.now()
	if until, ok := l.waitUntil[key]; ok {
		if now.Before(until) {
			l.early++
			l.limited++
			return ceilSecond(until.Sub(now))
		}
		delete(l.waitUntil, key)
	}
	l.tokens = math.Min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return 0
	}
	wait := ceilSecond(time.Duration((1 - l.tokens) / l.rate * float64(time.Second)))
	l.waitUntil[key] = now.Add(wait)
	l.limited++
	return wait
}

// EarlyRetries counts requests sent inside a Retry-After window.
func (l *Limiter) EarlyRetries() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.early
}

// Limited counts 429 answers.
func (l *Limiter) Limited() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limited
}

// ceilSecond rounds up to whole seconds, at least one: Retry-After is in
// seconds, and a client told "0" would come straight back.
func ceilSecond(d time.Duration) time.Duration {
	s := time.Duration(math.Ceil(d.Seconds())) * time.Second
	if s < time.Second {
		s = time.Second
	}
	return s
}

// Faults injects failures into a fake.
type Faults struct {
	mu         sync.Mutex
	latency    time.Duration
	share      float64
	shareCode  int
	failNext   int
	failCode   int
	hang       bool
	retryAfter time.Duration
	rng        *rand.Rand
	injected   int64
}

// NewFaults makes a fault injector with a seeded random source, so a share
// of failures is the same run after run.
func NewFaults(seed int64) *Faults {
	return &Faults{rng: rand.New(rand.NewSource(seed)), retryAfter: time.Second}
}

// SetLatency adds d to every request.
func (f *Faults) SetLatency(d time.Duration) { f.mu.Lock(); f.latency = d; f.mu.Unlock() }

// SetShare answers a share (0..1) of requests with status.
func (f *Faults) SetShare(share float64, status int) {
	f.mu.Lock()
	f.share, f.shareCode = share, status
	f.mu.Unlock()
}

// FailNext answers the next n requests with status.
func (f *Faults) FailNext(n, status int) {
	f.mu.Lock()
	f.failNext, f.failCode = n, status
	f.mu.Unlock()
}

// SetHang makes requests wait until the client gives up.
func (f *Faults) SetHang(on bool) { f.mu.Lock(); f.hang = on; f.mu.Unlock() }

// SetRetryAfter is the Retry-After sent with injected 429s.
func (f *Faults) SetRetryAfter(d time.Duration) { f.mu.Lock(); f.retryAfter = d; f.mu.Unlock() }

// Injected counts injected failures.
func (f *Faults) Injected() int64 { f.mu.Lock(); defer f.mu.Unlock(); return f.injected }

// before runs the configured faults for one request. It returns the status
// to fail with, or 0 to serve the request; false when the client went away.
func (f *Faults) before(ctx context.Context, body io.Reader) (int, time.Duration, bool) {
	f.mu.Lock()
	latency, hang := f.latency, f.hang
	code := 0
	switch {
	case f.failNext > 0:
		f.failNext--
		code = f.failCode
	case f.share > 0 && f.rng.Float64() < f.share:
		code = f.shareCode
	}
	if code != 0 || hang {
		f.injected++
	}
	ra := f.retryAfter
	f.mu.Unlock()
	if hang {
		// The server notices a client hanging up only once the request
		// body has been read, so read it before waiting.
		_, _ = io.Copy(io.Discard, body)
		<-ctx.Done()
		return 0, 0, false
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return 0, 0, false
		case <-t.C:
		}
	}
	return code, ra, true
}

// Stats counts answers by status.
type Stats struct {
	mu       sync.Mutex
	requests int64
	byStatus map[int]int64
}

// Snapshot is a copy of the counters.
type Snapshot struct {
	Requests int64
	ByStatus map[int]int64
}

func (s *Stats) add(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byStatus == nil {
		s.byStatus = map[int]int64{}
	}
	s.requests++
	s.byStatus[status]++
}

// Snapshot returns the counters.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Snapshot{Requests: s.requests, ByStatus: map[int]int64{}}
	for k, v := range s.byStatus {
		out.ByStatus[k] = v
	}
	return out
}

// Kit bundles what a fake wraps its handler with.
type Kit struct {
	Limiter *Limiter
	Faults  *Faults
	Stats   *Stats
	// Key names the client for the limiter (a token, or "ip").
	Key func(*http.Request) string
	// ErrorBody renders the body of an injected or rate-limit answer.
	ErrorBody func(status int, msg string) any
}

// Wrap applies faults, then the rate limit, then next, counting answers.
func (k *Kit) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() { k.Stats.add(rec.status) }()
		code, ra, ok := k.Faults.before(r.Context(), r.Body)
		if !ok {
			rec.status = 0 // the client gave up
			return
		}
		if code != 0 {
			if code == http.StatusTooManyRequests {
				rec.Header().Set("Retry-After", strconv.Itoa(int(ceilSecond(ra).Seconds())))
			}
			WriteJSON(rec, code, k.body(code, "injected fault"))
			return
		}
		key := "ip"
		if k.Key != nil {
			key = k.Key(r)
		}
		if wait := k.Limiter.Admit(key); wait > 0 {
			rec.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
			WriteJSON(rec, http.StatusTooManyRequests, k.body(http.StatusTooManyRequests, "Too many requests. Please try again later."))
			return
		}
		next.ServeHTTP(rec, r)
	})
}

func (k *Kit) body(status int, msg string) any {
	if k.ErrorBody != nil {
		return k.ErrorBody(status, msg)
	}
	return map[string]string{"error": msg}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
