// Package fake is an in-memory Nebuly eligible-users API for tests and the
// sandbox. It follows what Nebuly documents (POST inserts new users and
// answers with the ones inserted, PUT replaces existing users matched on
// end_user, DELETE takes a JSON body, GET lists everything, Bearer auth) and
// fills the gaps the vendor's documentation leaves with configurable
// assumptions: what POST does with an existing user, a users-per-request
// limit, a rate limit answered with 429 and Retry-After, and FastAPI-style
// 422 details.
package fake

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"importer/activities/vendorapi/fakeapi"
)

// Path is the endpoint the fake serves.
const Path = "/api/external/eligible-users"

// DuplicatePolicy is what POST does with a user that already exists; Nebuly
// does not document it.
type DuplicatePolicy string

const (
	// Skip leaves existing users untouched and out of the answer (the default:
	// "insert new users" read literally).
	Skip DuplicatePolicy = "skip"
	// Upsert replaces them and answers as if inserted.
	Upsert DuplicatePolicy = "upsert"
	// Conflict refuses the whole request with 409.
	Conflict DuplicatePolicy = "conflict"
)

// Options configures a fake.
type Options struct {
	// APIKey is the project key the fake accepts; requests without it get 401.
	APIKey          string
	DuplicatePolicy DuplicatePolicy
	// MaxUsers per request (default 10,000); more is refused with 413.
	MaxUsers int
	// Rate limits requests a second (0: unlimited); Burst is the bucket size.
	Rate  float64
	Burst int
	// Latency is added to every request.
	Latency time.Duration
	// Clock drives the rate limiter; tests pass a fake one.
	Clock fakeapi.Clock
	// Seed makes injected faults repeatable.
	Seed int64
	// Compact keeps, instead of each user, 16 bytes: a hash of its end_user
	// and a hash of its content. Count and Digest work as before; Users and
	// User find nothing. It is for lists of millions (the 10M benchmark),
	// where the full map would need gigabytes. Two different end_users
	// sharing a 64-bit hash would count as one: about one chance in 300,000
	// at 10M users.
	Compact bool
}

// User is a stored user, as the fake keeps it.
type User struct {
	EndUser    string            `json:"end_user"`
	Tags       map[string]string `json:"tags"`
	ActiveFrom string            `json:"active_from"`
	ActiveTo   string            `json:"active_to,omitempty"`
}

// Server is the fake. It is an http.Handler serving Path.
type Server struct {
	opts    Options
	kit     *fakeapi.Kit
	handler http.Handler

	mu      sync.Mutex
	users   map[string]User
	compact map[uint64]uint64 // with Options.Compact: hash of end_user → hash of the user
	digest  uint64            // with Options.Compact: the sum of the users' hashes
	calls   map[string]int    // method → requests that reached the handler
	stray   int               // requests for a path the fake does not serve (404)
	rows    map[string]int    // method → users in the bodies of those requests
}

// New makes a fake.
func New(o Options) *Server {
	if o.DuplicatePolicy == "" {
		o.DuplicatePolicy = Skip
	}
	if o.MaxUsers <= 0 {
		o.MaxUsers = 10000
	}
	s := &Server{opts: o, calls: map[string]int{}, rows: map[string]int{}}
	s.clear()
	s.kit = &fakeapi.Kit{
		Limiter: fakeapi.NewLimiter(o.Rate, o.Burst, o.Clock),
		Faults:  fakeapi.NewFaults(o.Seed),
		Stats:   &fakeapi.Stats{},
		Key:     func(r *http.Request) string { return r.Header.Get("Authorization") },
		ErrorBody: func(status int, msg string) any {
			return map[string]string{"detail": msg}
		},
	}
	s.kit.Faults.SetLatency(o.Latency)
	s.handler = s.kit.Wrap(http.HandlerFunc(s.serve))
	return s
}

// ServeHTTP serves the eligible-users API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetLatency changes the latency added to each request.
func (s *Server) SetLatency(d time.Duration) { s.kit.Faults.SetLatency(d) }

// Faults injects failures.
func (s *Server) Faults() *fakeapi.Faults { return s.kit.Faults }

// Limiter is the fake's rate limiter.
func (s *Server) Limiter() *fakeapi.Limiter { return s.kit.Limiter }

// Stats counts answers by status.
func (s *Server) Stats() fakeapi.Snapshot { return s.kit.Stats.Snapshot() }

// Stray counts the requests for a path the fake does not serve, which it
// answered 404 (and Stats counts): no client of the API sends one, so they
// come from elsewhere, such as another test's request to a closed server
// whose port this fake's server has since taken.
func (s *Server) Stray() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stray
}

// Calls counts the requests of a method that passed auth and limits.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Rows counts the users sent in the well-formed POST or PUT requests that
// reached the handler: what a client paid in row-sends.
func (s *Server) Rows(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rows[method]
}

// SetDuplicatePolicy changes what POST does with existing users.
func (s *Server) SetDuplicatePolicy(p DuplicatePolicy) {
	s.mu.Lock()
	s.opts.DuplicatePolicy = p
	s.mu.Unlock()
}

// Count is the number of stored users.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.compact != nil {
		return len(s.compact)
	}
	return len(s.users)
}

// Digest is an order-free fingerprint of the stored users: the sum of a
// 64-bit hash of each user's content. Two fakes that hold the same users
// have the same digest, whether they are compact or not.
func (s *Server) Digest() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.compact != nil {
		return s.digest
	}
	var d uint64
	for _, u := range s.users {
		d += u.hash()
	}
	return d
}

// Users returns the stored users sorted by end_user (none when compact).
func (s *Server) Users() []User {
	s.mu.Lock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].EndUser < out[j].EndUser })
	return out
}

// User returns one stored user (none when compact).
func (s *Server) User(endUser string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[endUser]
	return u, ok
}

// Put stores users directly, to set up a test.
func (s *Server) Put(users ...User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		s.put(u)
	}
}

// Reset forgets every user and call count.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clear()
	s.calls = map[string]int{}
	s.stray = 0
	s.rows = map[string]int{}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		s.mu.Lock()
		s.stray++
		s.mu.Unlock()
		fakeapi.WriteJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey || s.opts.APIKey == "" {
		fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]string{"detail": "Invalid API key"})
		return
	}
	s.mu.Lock()
	s.calls[r.Method]++
	s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		fakeapi.WriteJSON(w, http.StatusOK, map[string][]User{"users": s.Users()})
	case http.MethodPost, http.MethodPut:
		users, problems, status := s.decodeUsers(r)
		if status != 0 {
			fakeapi.WriteJSON(w, status, map[string]any{"detail": problems})
			return
		}
		s.mu.Lock()
		s.rows[r.Method] += len(users)
		s.mu.Unlock()
		if r.Method == http.MethodPost {
			s.insert(w, users)
		} else {
			s.update(w, users)
		}
	case http.MethodDelete:
		var body struct {
			Users []string `json:"users"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&body); err != nil || body.Users == nil {
			fakeapi.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []problem{{Loc: []any{"body", "users"}, Msg: "Field required", Type: "missing"}}})
			return
		}
		s.mu.Lock()
		n := 0
		for _, id := range body.Users {
			if s.remove(id) {
				n++
			}
		}
		s.mu.Unlock()
		fakeapi.WriteJSON(w, http.StatusOK, map[string]string{"message": fmt.Sprintf("%d users deleted", n)})
	default:
		w.Header().Set("Allow", "GET, POST, PUT, DELETE")
		fakeapi.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"detail": "Method Not Allowed"})
	}
}

func (s *Server) insert(w http.ResponseWriter, users []User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	policy := s.opts.DuplicatePolicy
	if policy == Conflict {
		for _, u := range users {
			if s.has(u.EndUser) {
				fakeapi.WriteJSON(w, http.StatusConflict, map[string]string{"detail": "Some users already exist"})
				return
			}
		}
	}
	inserted := []User{}
	for _, u := range users {
		if s.has(u.EndUser) && policy == Skip {
			continue
		}
		s.put(u)
		inserted = append(inserted, u)
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string][]User{"users": inserted})
}

func (s *Server) update(w http.ResponseWriter, users []User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	updated := []User{}
	for _, u := range users {
		if !s.has(u.EndUser) {
			continue
		}
		s.put(u) // metadata is replaced, not merged
		updated = append(updated, u)
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string][]User{"users": updated})
}

// clear forgets every user; the caller holds mu or owns s.
func (s *Server) clear() {
	if s.opts.Compact {
		s.compact, s.digest = map[uint64]uint64{}, 0
		return
	}
	s.users = map[string]User{}
}

// has, put and remove are the user store under mu, full or compact.
func (s *Server) has(endUser string) bool {
	if s.compact != nil {
		_, ok := s.compact[keyHash(endUser)]
		return ok
	}
	_, ok := s.users[endUser]
	return ok
}

func (s *Server) put(u User) {
	if s.compact != nil {
		k, h := keyHash(u.EndUser), u.hash()
		s.digest += h - s.compact[k]
		s.compact[k] = h
		return
	}
	s.users[u.EndUser] = u
}

func (s *Server) remove(endUser string) bool {
	if s.compact != nil {
		k := keyHash(endUser)
		h, ok := s.compact[k]
		if ok {
			s.digest -= h
			delete(s.compact, k)
		}
		return ok
	}
	_, ok := s.users[endUser]
	delete(s.users, endUser)
	return ok
}

func keyHash(endUser string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(endUser))
	return h.Sum64()
}

// hash is a 64-bit hash of everything the fake keeps of a user, tags in
// key order.
func (u User) hash() uint64 {
	h := fnv.New64a()
	for _, f := range []string{u.EndUser, u.ActiveFrom, u.ActiveTo} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	keys := make([]string, 0, len(u.Tags))
	for k := range u.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(u.Tags[k]))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// problem is one FastAPI-style validation error.
type problem struct {
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Type  string `json:"type"`
	Input any    `json:"input,omitempty"`
}

// decodeUsers reads and validates a {"users":[...]} body the way a typed
// backend would: one problem per bad field, and the whole request refused
// if there is any.
func (s *Server) decodeUsers(r *http.Request) ([]User, any, int) {
	var body struct {
		Users []map[string]json.RawMessage `json:"users"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 256<<20)).Decode(&body); err != nil {
		return nil, []problem{{Loc: []any{"body"}, Msg: "JSON decode error: " + err.Error(), Type: "json_invalid"}}, http.StatusUnprocessableEntity
	}
	if body.Users == nil {
		return nil, []problem{{Loc: []any{"body", "users"}, Msg: "Field required", Type: "missing"}}, http.StatusUnprocessableEntity
	}
	if len(body.Users) > s.opts.MaxUsers {
		return nil, fmt.Sprintf("Too many users in one request: %d, at most %d", len(body.Users), s.opts.MaxUsers), http.StatusRequestEntityTooLarge
	}
	var problems []problem
	users := make([]User, 0, len(body.Users))
	for i, raw := range body.Users {
		at := func(field string) []any { return []any{"body", "users", i, field} }
		var u User
		str := func(field string, required bool, dst *string) {
			v, ok := raw[field]
			if !ok || string(v) == "null" {
				if required {
					problems = append(problems, problem{Loc: at(field), Msg: "Field required", Type: "missing"})
				}
				return
			}
			if err := json.Unmarshal(v, dst); err != nil {
				problems = append(problems, problem{Loc: at(field), Msg: "Input should be a valid string", Type: "string_type", Input: v})
			}
		}
		str("end_user", true, &u.EndUser)
		str("active_from", true, &u.ActiveFrom)
		str("active_to", false, &u.ActiveTo)
		if u.EndUser == "" && raw["end_user"] != nil && string(raw["end_user"]) == `""` {
			problems = append(problems, problem{Loc: at("end_user"), Msg: "String should have at least 1 character", Type: "string_too_short"})
		}
		if t, ok := raw["tags"]; !ok || string(t) == "null" {
			problems = append(problems, problem{Loc: at("tags"), Msg: "Field required", Type: "missing"})
		} else if err := json.Unmarshal(t, &u.Tags); err != nil {
			problems = append(problems, problem{Loc: at("tags"), Msg: "Input should be an object of strings", Type: "dict_type", Input: t})
		}
		from, fromErr := parseDate(u.ActiveFrom)
		if u.ActiveFrom != "" && fromErr != nil {
			problems = append(problems, problem{Loc: at("active_from"), Msg: "Input should be a valid date", Type: "date_parsing", Input: u.ActiveFrom})
		}
		if u.ActiveTo != "" {
			to, err := parseDate(u.ActiveTo)
			switch {
			case err != nil:
				problems = append(problems, problem{Loc: at("active_to"), Msg: "Input should be a valid date", Type: "date_parsing", Input: u.ActiveTo})
			case fromErr == nil && to.Before(from):
				problems = append(problems, problem{Loc: at("active_to"), Msg: "active_to must not be before active_from", Type: "value_error", Input: u.ActiveTo})
			}
		}
		users = append(users, u)
	}
	if len(problems) > 0 {
		return nil, problems, http.StatusUnprocessableEntity
	}
	return users, nil, 0
}

// parseDate takes what the docs show (YYYY-MM-DD) and, since the field is
// typed "string / timestamp", an RFC 3339 timestamp.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	return t, err
}
