package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// retryAfterSlack forgives a retry that arrives this much before its
// Retry-After ran out. The window opens when the fake writes its answer,
// before the client can have read it, so a client that waits exactly
// Retry-After is never early; the slack only absorbs timer granularity.
const retryAfterSlack = 25 * time.Millisecond

// watch stands between the workers and a fake vendor and judges, request by
// request, what the fakes' own counters cannot:
//
//   - A request sent again (same method, URL and body) before the
//     Retry-After of its previous 429 ran out is early: the client ignored
//     Retry-After. The fakes keep such windows per client key only (and
//     only Dynamic's opens one for an injected 429); here they are kept per
//     request, which is what a client retrying one call must honour.
//   - A request the fake accepts (2xx) a second time with the same body is
//     a replay: a worker that died before its progress reached Temporal, or
//     an answer lost on the way, makes a retried attempt send the same
//     batch again. At-least-once is safe for upserts, so the users such a
//     request carries again are counted as resent, not as duplicates.
type watch struct {
	next http.Handler
	// alike names requests that every worker sends with the same body (an
	// OAuth token grant): another worker's request cannot be told from a
	// retry or a replay of one, so they are not judged.
	alike func(*http.Request) bool
	now   func() time.Time

	mu            sync.Mutex
	until         map[[32]byte]time.Time
	accepted      map[[32]byte]int
	early         int64
	answered      int64 // 2xx answers of any kind
	replays       int64
	replayedUsers int64
}

func newWatch(next http.Handler, alike func(*http.Request) bool) *watch {
	return &watch{next: next, alike: alike, now: time.Now,
		until: map[[32]byte]time.Time{}, accepted: map[[32]byte]int{}}
}

// watchCounts is a snapshot of a watch's counters.
type watchCounts struct {
	early, answered, replays, replayedUsers int64
}

func (w *watch) counts() watchCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return watchCounts{early: w.early, answered: w.answered, replays: w.replays, replayedUsers: w.replayedUsers}
}

// forget starts a new import: its requests are replays only of its own.
func (w *watch) forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.accepted = map[[32]byte]int{}
}

func (w *watch) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, "read request body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	key := fingerprint(r, body)
	judged := w.alike == nil || !w.alike(r)
	if judged {
		w.mu.Lock()
		if until, ok := w.until[key]; ok && w.now().Before(until.Add(-retryAfterSlack)) {
			w.early++
		}
		w.mu.Unlock()
	}
	// A fake that writes nothing has seen its client give up (a hang);
	// status 0 counts the request as neither accepted nor limited.
	rec := &answer{ResponseWriter: rw, now: w.now}
	w.next.ServeHTTP(rec, r)

	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case !judged:
	case rec.status == http.StatusTooManyRequests:
		if secs, err := strconv.Atoi(rec.Header().Get("Retry-After")); err == nil && secs > 0 {
			w.until[key] = rec.at.Add(time.Duration(secs) * time.Second)
		}
	case rec.status >= 200 && rec.status < 300:
		w.answered++
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			break
		}
		// Reads (job polls) are repeated by design; only writes replay.
		w.accepted[key]++
		if w.accepted[key] > 1 {
			w.replays++
			w.replayedUsers += int64(usersIn(body))
		}
	}
}

// fingerprint identifies a request by what a retry of it sends again.
func fingerprint(r *http.Request, body []byte) [32]byte {
	h := sha256.New()
	_, _ = io.WriteString(h, r.Method+" "+r.URL.RequestURI()+"\n")
	_, _ = h.Write(body)
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// usersIn counts the users a bulk body carries: a JSON array of users
// (Dynamic), or an object with one list of them ({"users": [...]}:
// BitLabs, Userpilot). Anything else carries none.
func usersIn(body []byte) int {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return 0
	}
	switch t := v.(type) {
	case []any:
		return len(t)
	case map[string]any:
		for _, x := range t {
			if list, ok := x.([]any); ok {
				return len(list)
			}
		}
	}
	return 0
}

// answer records the status of a response and when its header was written.
type answer struct {
	http.ResponseWriter
	status int
	wrote  bool
	at     time.Time
	now    func() time.Time
}

func (a *answer) WriteHeader(code int) {
	if !a.wrote {
		a.status, a.wrote, a.at = code, true, a.now()
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *answer) Write(p []byte) (int, error) {
	if !a.wrote {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(p)
}
