// Package fake is an in-memory Dynamic (dynamic.xyz) bulk user API for tests
// and the sandbox. It follows what Dynamic documents (POST
// /environments/{environmentId}/users/bulk?upsert=<bool> with a Bearer token
// and a JSON array of users; 201 {"created","updated","failed", "total"}
// with per-user failures inside; the field rules; 150 bulk requests a minute
// per IP, refused with 429, a Retry-After header and {"error":"Too many
// requests. Please try again later."}) and fills the gaps the vendor's
// documentation leaves with configurable assumptions: the shape of a failed
// entry, a users-per-request limit (413), and vendor-side rules a client
// cannot check (an e-mail held by another user, a Reject hook).
//
// The fake is mounted at the API's base URL: tests pass the URL of
// httptest.NewServer(fake) as the client's base URL.
package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"importer/activities/vendorapi/fakeapi"
)

// DefaultEnvironmentID is the environment a fake serves unless told
// another.
const DefaultEnvironmentID = "2762a57b-faa4-41ce-9f16-abff9300e2c9"

// Rate limit Dynamic documents for the bulk endpoint.
const (
	DefaultRequests = 150
	DefaultWindow   = time.Minute
)

// FailedShape is how the fake writes a failed entry; Dynamic types them
// only as "object".
type FailedShape string

const (
	// ShapeUser echoes the user sent: {"user":{...},"error":"..."}
	// (the default).
	ShapeUser FailedShape = "user"
	// ShapeID names the user by id only: {"id":"...","message":"..."};
	// a user sent without an id gets no "id".
	ShapeID FailedShape = "id"
	// ShapeIndex names the user by its 0-based position in the request:
	// {"index":3,"errors":["..."]}.
	ShapeIndex FailedShape = "index"
	// ShapeBare names no one: {"error":"..."}; the client can only tell
	// who failed by who was neither created nor updated.
	ShapeBare FailedShape = "bare"
)

// Options configures a fake.
type Options struct {
	// Token is the API token the fake accepts; requests without it get 401.
	Token string
	// EnvironmentID is the environment served (default
	// DefaultEnvironmentID); requests for others get 404.
	EnvironmentID string
	// MaxUsers per request; more get 413. 0 means no limit (Dynamic
	// documents none).
	MaxUsers int
	// Requests admitted per client IP in any sliding Window (defaults 150
	// and one minute, as documented). A negative Requests turns the limit
	// off.
	Requests int
	Window   time.Duration
	// FailedShape is the shape of failed entries (default ShapeUser).
	FailedShape FailedShape
	// Reject, when it returns a reason, fails a user that passed the field
	// rules: a vendor-side refusal the client cannot foresee. It gets a
	// copy of the user as sent.
	Reject func(user map[string]any) string
	// Latency is added to every request.
	Latency time.Duration
	// Clock drives the rate limit; tests pass a fake one.
	Clock fakeapi.Clock
	// Seed makes generated user ids and injected faults repeatable.
	Seed int64
}

// User is a stored user: its fields as last written (id included), numbers
// as json.Number.
type User struct {
	ID     string
	Email  string
	Fields map[string]any
}

// Server is the fake; it is an http.Handler.
type Server struct {
	opts    Options
	kit     *fakeapi.WindowKit
	handler http.Handler
	now     fakeapi.Clock

	mu       sync.Mutex
	rng      *rand.Rand
	users    map[string]map[string]any // id → fields
	byEmail  map[string]string         // lower-case e-mail → id
	writes   map[string]int            // id → times created or updated
	requests []time.Time
}

// New makes a fake.
func New(o Options) *Server {
	if o.EnvironmentID == "" {
		o.EnvironmentID = DefaultEnvironmentID
	}
	if o.Requests == 0 {
		o.Requests = DefaultRequests
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.FailedShape == "" {
		o.FailedShape = ShapeUser
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	s := &Server{opts: o, now: o.Clock, rng: rand.New(rand.NewSource(o.Seed))}
	s.clear()
	limit := o.Requests
	if limit < 0 {
		limit = 0
	}
	s.kit = &fakeapi.WindowKit{
		Window: fakeapi.NewSlidingWindow(limit, o.Window, o.Clock),
		Faults: fakeapi.NewFaults(o.Seed),
		Stats:  &fakeapi.Stats{},
	}
	s.kit.Faults.SetLatency(o.Latency)
	s.handler = s.kit.Wrap(http.HandlerFunc(s.serve))
	return s
}

func (s *Server) clear() {
	s.users = map[string]map[string]any{}
	s.byEmail = map[string]string{}
	s.writes = map[string]int{}
	s.requests = nil
}

// ServeHTTP serves the bulk user API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Faults injects failures. An injected 429 opens a Retry-After window like
// a refusal by the rate limit does.
func (s *Server) Faults() *fakeapi.Faults { return s.kit.Faults }

// Window is the rate limit; SetLimit scales it (a benchmark may run
// Options{Requests: 150, Window: time.Minute / 20}).
func (s *Server) Window() *fakeapi.SlidingWindow { return s.kit.Window }

// SetLatency changes the latency added to each request.
func (s *Server) SetLatency(d time.Duration) { s.kit.Faults.SetLatency(d) }

// Stats counts answers by status, since the fake was made.
func (s *Server) Stats() fakeapi.Snapshot { return s.kit.Stats.Snapshot() }

// Limited counts 429 answers: rate-limit refusals and injected ones.
func (s *Server) Limited() int64 { return s.kit.Window.Limited() }

// EarlyRequests counts requests that arrived inside a Retry-After window
// the fake had handed to the same client: 0 for a client that honours
// Retry-After.
func (s *Server) EarlyRequests() int64 { return s.kit.Window.EarlyRequests() }

// Requests returns the arrival times of the bulk requests the rate limit
// admitted, oldest first.
func (s *Server) Requests() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.requests...)
}

// Count is the number of stored users.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// Users returns the stored users sorted by id.
func (s *Server) Users() []User {
	s.mu.Lock()
	out := make([]User, 0, len(s.users))
	for id := range s.users {
		out = append(out, s.userLocked(id))
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// User returns the user with id.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; !ok {
		return User{}, false
	}
	return s.userLocked(id), true
}

// UserByEmail returns the user holding email, in any case.
func (s *Server) UserByEmail(email string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byEmail[strings.ToLower(email)]
	if !ok {
		return User{}, false
	}
	return s.userLocked(id), true
}

// Writes counts the times the user named by key (an id, or an e-mail in
// any case) was created or updated.
func (s *Server) Writes(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.writes[key]; ok {
		return n
	}
	return s.writes[s.byEmail[strings.ToLower(key)]]
}

// Reset forgets every user, request and rate-limit window. Stats are
// kept.
func (s *Server) Reset() {
	s.mu.Lock()
	s.clear()
	s.mu.Unlock()
	s.kit.Window.Reset()
}

func (s *Server) userLocked(id string) User {
	f := deepCopy(s.users[id]).(map[string]any)
	email, _ := f["email"].(string)
	return User{ID: id, Email: email, Fields: f}
}

func fail(w http.ResponseWriter, status int, msg string) {
	fakeapi.WriteJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, isEnv := strings.CutPrefix(r.URL.Path, "/environments/")
	env, tail, _ := strings.Cut(rest, "/")
	if !isEnv || tail != "users/bulk" {
		fail(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, s.now())
	s.mu.Unlock()
	if s.opts.Token == "" || r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		fail(w, http.StatusUnauthorized, "Unauthorized: invalid or missing API token")
		return
	}
	if env != s.opts.EnvironmentID {
		fail(w, http.StatusNotFound, "Environment not found")
		return
	}
	upsert := false
	if q := r.URL.Query().Get("upsert"); q != "" {
		b, err := strconv.ParseBool(q)
		if err != nil {
			fail(w, http.StatusBadRequest, "upsert must be a boolean value")
			return
		}
		upsert = b
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err != nil {
		fail(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var body any
	if err := dec.Decode(&body); err != nil || dec.More() {
		fail(w, http.StatusBadRequest, "body must be valid JSON")
		return
	}
	items, isList := body.([]any)
	if !isList {
		fail(w, http.StatusBadRequest, "body must be an array of users")
		return
	}
	if s.opts.MaxUsers > 0 && len(items) > s.opts.MaxUsers {
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("too many users in one request: %d, at most %d", len(items), s.opts.MaxUsers))
		return
	}
	fakeapi.WriteJSON(w, http.StatusCreated, s.bulk(items, upsert))
}

// bulk stores the users of one request, in order, and builds the answer.
func (s *Server) bulk(items []any, upsert bool) map[string]any {
	created, updated, failed := []any{}, []any{}, []any{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, item := range items {
		user, reason := s.write(item, upsert)
		switch {
		case reason != "":
			failed = append(failed, s.failedEntry(i, item, reason))
		case user.created:
			created = append(created, s.answerUser(user.fields))
		default:
			updated = append(updated, s.answerUser(user.fields))
		}
	}
	return map[string]any{"created": created, "updated": updated, "failed": failed, "total": len(items)}
}

type written struct {
	fields  map[string]any
	created bool
}

// write applies one user; the reason is why it failed. s.mu is held.
func (s *Server) write(item any, upsert bool) (written, string) {
	m, ok := item.(map[string]any)
	if !ok {
		return written{}, "user must be an object"
	}
	if reason := validate(m); reason != "" {
		return written{}, reason
	}
	if s.opts.Reject != nil {
		if reason := s.opts.Reject(deepCopy(m).(map[string]any)); reason != "" {
			return written{}, reason
		}
	}
	id, _ := m["id"].(string)
	email, _ := m["email"].(string)
	existing := ""
	if id != "" {
		if _, ok := s.users[id]; ok {
			existing = id
		}
	} else if email != "" {
		existing = s.byEmail[strings.ToLower(email)]
	}
	if existing != "" && !upsert {
		return written{}, "user already exists"
	}
	target := existing
	if target == "" {
		target = id
	}
	if email != "" {
		if owner, ok := s.byEmail[strings.ToLower(email)]; ok && owner != target {
			return written{}, "email already in use by another user"
		}
	}
	if existing == "" {
		if target == "" {
			target = s.newID()
		}
		fields := deepCopy(m).(map[string]any)
		fields["id"] = target
		for k, v := range fields {
			if v == nil {
				delete(fields, k)
			}
		}
		s.users[target] = fields
		if email != "" {
			s.byEmail[strings.ToLower(email)] = target
		}
		s.writes[target]++
		return written{fields: fields, created: true}, ""
	}
	fields := s.users[existing]
	if old, _ := fields["email"].(string); old != "" {
		if _, replaced := m["email"]; replaced {
			delete(s.byEmail, strings.ToLower(old))
		}
	}
	// Fields given replace the stored ones, null clears one; fields not
	// given stay.
	for k, v := range deepCopy(m).(map[string]any) {
		if k == "id" {
			continue
		}
		if v == nil {
			delete(fields, k)
			continue
		}
		fields[k] = v
	}
	if e, _ := fields["email"].(string); e != "" {
		s.byEmail[strings.ToLower(e)] = existing
	}
	s.writes[existing]++
	return written{fields: fields}, ""
}

// answerUser renders a stored user as the answer lists it.
func (s *Server) answerUser(fields map[string]any) map[string]any {
	u := deepCopy(fields).(map[string]any)
	u["projectEnvironmentId"] = s.opts.EnvironmentID
	return u
}

func (s *Server) failedEntry(i int, item any, reason string) map[string]any {
	switch s.opts.FailedShape {
	case ShapeID:
		e := map[string]any{"message": reason}
		if m, ok := item.(map[string]any); ok {
			if id, ok := m["id"].(string); ok && id != "" {
				e["id"] = id
			}
		}
		return e
	case ShapeIndex:
		return map[string]any{"index": i, "errors": []string{reason}}
	case ShapeBare:
		return map[string]any{"error": reason}
	}
	return map[string]any{"user": item, "error": reason}
}

// newID makes a version 4 UUID that no stored user has. s.mu is held.
func (s *Server) newID() string {
	for {
		var b [16]byte
		s.rng.Read(b[:])
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		if _, taken := s.users[id]; !taken {
			return id
		}
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
