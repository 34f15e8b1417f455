// Package fake is an in-memory BitLabs Import Users API for tests and the
// sandbox. It follows what BitLabs documents (POST {"users":[...]} with an
// X-S2S-Token header; a request with more than one user is a bulk import and
// only one bulk runs at a time, while single-user requests may run in
// parallel; per-user validation failures come back as entries of a 200) and
// fills the gaps the vendor's documentation leaves with configurable
// assumptions: the status of an overlapping bulk (409 by default), a
// users-per-request limit, the answer envelope of BitLabs' SDK, and the
// exact validation rules.
package fake

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"importer/activities/vendorapi/fakeapi"
)

// Path is the endpoint the fake serves.
const Path = "/v1/publishers/users"

// MaxUID is the longest uid BitLabs supports.
const MaxUID = 65

// DefaultLanguages are the languages the fake supports unless told others.
var DefaultLanguages = []string{"en", "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "da", "no", "fi", "cs", "tr", "ja", "ko", "zh", "ru"}

// Options configures a fake.
type Options struct {
	// Token is the S2S token the fake accepts; requests without it get 401.
	Token string
	// BulkLatency is how long a bulk request (more than one user) holds the
	// per-token bulk lock. Single-user requests use Latency only.
	BulkLatency time.Duration
	// Latency is added to every request.
	Latency time.Duration
	// OverlapStatus answers a bulk arriving while another bulk of the same
	// token runs (default 409; BitLabs does not document it).
	OverlapStatus int
	// MaxUsers per request (default 10,000); more is refused with 400.
	MaxUsers int
	// SupportedLanguages (default DefaultLanguages); a user with none of
	// them is ignored and reported as unsupported_languages.
	SupportedLanguages []string
	// Rate limits requests a second per token (0: unlimited, as BitLabs
	// documents no limit); Burst is the bucket size.
	Rate  float64
	Burst int
	// Clock drives the rate limiter and "birthdate in the future".
	Clock fakeapi.Clock
	// Seed makes injected faults and trace ids repeatable.
	Seed int64
}

// Question is a profiling answer, as the fake keeps it.
type Question struct {
	ID           string   `json:"id"`
	NetworkID    *int     `json:"network_id"`
	DirectValues []string `json:"direct_values"`
}

// User is a user, as the fake reads and keeps it.
type User struct {
	UID       string     `json:"uid"`
	Country   string     `json:"country"`
	Languages []string   `json:"languages"`
	Zipcode   string     `json:"zipcode,omitempty"`
	Birthdate string     `json:"birthdate"`
	Gender    string     `json:"gender"`
	Questions []Question `json:"questions"`
	Username  string     `json:"username,omitempty"`
}

// AnswerFormat is the invalid_answer_format of an errors entry.
type AnswerFormat struct {
	Question string `json:"question"`
	Reason   string `json:"reason"`
}

// ErrorEntry is one user the fake refused, as it answers it. A check
// failed when its field is not null (or true).
type ErrorEntry struct {
	UID                  string        `json:"uid"`
	InvalidBirthdate     *string       `json:"invalid_birthdate"`
	InvalidGender        *string       `json:"invalid_gender"`
	InvalidZipcode       *string       `json:"invalid_zipcode"`
	InvalidQuestion      *string       `json:"invalid_question"`
	UnsupportedLanguages bool          `json:"unsupported_languages"`
	InvalidAnswerFormat  *AnswerFormat `json:"invalid_answer_format"`
}

func (e ErrorEntry) failed() bool {
	return e.InvalidBirthdate != nil || e.InvalidGender != nil || e.InvalidZipcode != nil ||
		e.InvalidQuestion != nil || e.UnsupportedLanguages || e.InvalidAnswerFormat != nil
}

// Server is the fake. It is an http.Handler serving Path.
type Server struct {
	opts      Options
	kit       *fakeapi.Kit
	handler   http.Handler
	now       fakeapi.Clock
	supported map[string]bool

	mu          sync.Mutex
	bulkLatency time.Duration
	users       map[string]User
	received    map[string]int
	bulkBusy    map[string]bool // token → a bulk is running
	bulks       int64
	overlaps    int64
	rng         *rand.Rand
}

// New makes a fake.
func New(o Options) *Server {
	if o.OverlapStatus == 0 {
		o.OverlapStatus = http.StatusConflict
	}
	if o.MaxUsers <= 0 {
		o.MaxUsers = 10000
	}
	if len(o.SupportedLanguages) == 0 {
		o.SupportedLanguages = DefaultLanguages
	}
	now := o.Clock
	if now == nil {
		now = time.Now
	}
	s := &Server{opts: o, now: now, supported: map[string]bool{}, bulkLatency: o.BulkLatency,
		users: map[string]User{}, received: map[string]int{}, bulkBusy: map[string]bool{},
		rng: rand.New(rand.NewSource(o.Seed))}
	for _, l := range o.SupportedLanguages {
		s.supported[strings.ToLower(l)] = true
	}
	s.kit = &fakeapi.Kit{
		Limiter: fakeapi.NewLimiter(o.Rate, o.Burst, o.Clock),
		Faults:  fakeapi.NewFaults(o.Seed),
		Stats:   &fakeapi.Stats{},
		Key:     func(r *http.Request) string { return r.Header.Get("X-S2S-Token") },
		ErrorBody: func(status int, msg string) any {
			return s.errorBody(status, msg)
		},
	}
	s.kit.Faults.SetLatency(o.Latency)
	s.handler = s.kit.Wrap(http.HandlerFunc(s.serve))
	return s
}

// ServeHTTP serves the Import Users API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetBulkLatency changes how long a bulk holds the bulk lock.
func (s *Server) SetBulkLatency(d time.Duration) {
	s.mu.Lock()
	s.bulkLatency = d
	s.mu.Unlock()
}

// SetLatency changes the latency added to each request.
func (s *Server) SetLatency(d time.Duration) { s.kit.Faults.SetLatency(d) }

// Faults injects failures.
func (s *Server) Faults() *fakeapi.Faults { return s.kit.Faults }

// Limiter is the fake's rate limiter.
func (s *Server) Limiter() *fakeapi.Limiter { return s.kit.Limiter }

// Stats counts answers by status.
func (s *Server) Stats() fakeapi.Snapshot { return s.kit.Stats.Snapshot() }

// Count is the number of stored users.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// Users returns the stored users sorted by uid.
func (s *Server) Users() []User {
	s.mu.Lock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out
}

// User returns one stored user.
func (s *Server) User(uid string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[uid]
	return u, ok
}

// Received counts how many times uid arrived in an accepted (200) request,
// whether or not it was valid.
func (s *Server) Received(uid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[uid]
}

// Bulks counts bulk requests that took the bulk lock.
func (s *Server) Bulks() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bulks
}

// Overlaps counts bulk requests refused because another bulk of the same
// token was running.
func (s *Server) Overlaps() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overlaps
}

// Reset forgets every user and counter.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = map[string]User{}
	s.received = map[string]int{}
	s.bulks, s.overlaps = 0, 0
}

// errorBody is BitLabs' envelope for a failed request.
func (s *Server) errorBody(status int, msg string) any {
	return map[string]any{
		"data":     nil,
		"error":    map[string]any{"details": map[string]string{"http": strconv.Itoa(status), "msg": msg}},
		"status":   "error",
		"trace_id": s.traceID(),
	}
}

func (s *Server) traceID() string {
	var b [16]byte
	s.mu.Lock()
	s.rng.Read(b[:])
	s.mu.Unlock()
	return hex.EncodeToString(b[:])
}

func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	fakeapi.WriteJSON(w, status, s.errorBody(status, msg))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		s.fail(w, http.StatusNotFound, "route not found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	token := r.Header.Get("X-S2S-Token")
	if s.opts.Token == "" || token != s.opts.Token {
		s.fail(w, http.StatusUnauthorized, "invalid S2S token")
		return
	}
	users, msg := s.decode(r)
	if msg != "" {
		s.fail(w, http.StatusBadRequest, msg)
		return
	}
	if len(users) > 1 {
		release, ok := s.lockBulk(token)
		if !ok {
			s.fail(w, s.opts.OverlapStatus, "bulk import already running")
			return
		}
		defer release()
		s.mu.Lock()
		d := s.bulkLatency
		s.mu.Unlock()
		if !sleep(r.Context(), d) {
			return // the client gave up; nothing is imported
		}
	}
	n, entries := s.importUsers(users)
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{
		"data":     map[string]any{"success_count": n, "errors": entries},
		"error":    nil,
		"status":   "success",
		"trace_id": s.traceID(),
	})
}

// lockBulk takes the token's bulk lock, or reports an overlap.
func (s *Server) lockBulk(token string) (func(), bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bulkBusy[token] {
		s.overlaps++
		return nil, false
	}
	s.bulkBusy[token] = true
	s.bulks++
	return func() {
		s.mu.Lock()
		delete(s.bulkBusy, token)
		s.mu.Unlock()
	}, true
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// decode reads the body and refuses, as a whole, what is malformed: bad
// JSON, no users, too many users, a missing or too long uid, a missing
// required field, or a username that is not alphanumeric. Everything else
// is checked per user by importUsers.
func (s *Server) decode(r *http.Request) ([]User, string) {
	var body struct {
		Users []User `json:"users"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 256<<20)).Decode(&body); err != nil {
		return nil, "invalid request body: " + err.Error()
	}
	if body.Users == nil {
		return nil, "users is required"
	}
	if len(body.Users) > s.opts.MaxUsers {
		return nil, fmt.Sprintf("too many users in one request: %d, at most %d", len(body.Users), s.opts.MaxUsers)
	}
	for i, u := range body.Users {
		at := fmt.Sprintf("users[%d]", i)
		switch n := utf8.RuneCountInString(u.UID); {
		case n == 0:
			return nil, at + ".uid is required"
		case n > MaxUID:
			return nil, fmt.Sprintf("%s.uid is %d characters long; only up to %d are supported", at, n, MaxUID)
		}
		switch {
		case u.Country == "":
			return nil, at + ".country is required"
		case u.Languages == nil:
			return nil, at + ".languages is required"
		case u.Birthdate == "":
			return nil, at + ".birthdate is required"
		case u.Gender == "":
			return nil, at + ".gender is required"
		case u.Questions == nil:
			return nil, at + ".questions is required"
		}
		for _, c := range u.Username {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return nil, at + ".username: only alpha-numeric characters are allowed"
			}
		}
	}
	return body.Users, ""
}

// importUsers validates each user, stores the valid ones (replacing a
// stored user with the same uid) and returns the count and the refusals.
func (s *Server) importUsers(users []User) (int, []ErrorEntry) {
	today := s.now().UTC().Format("2006-01-02")
	entries := []ErrorEntry{}
	valid := make([]User, 0, len(users))
	for _, u := range users {
		e := s.check(u, today)
		if e.failed() {
			entries = append(entries, e)
			continue
		}
		valid = append(valid, u)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		s.received[u.UID]++
	}
	for _, u := range valid {
		s.users[u.UID] = u
	}
	return len(valid), entries
}

func (s *Server) check(u User, today string) ErrorEntry {
	e := ErrorEntry{UID: u.UID}
	str := func(msg string) *string { return &msg }
	if t, err := time.Parse("2006-01-02", u.Birthdate); err != nil {
		e.InvalidBirthdate = str("birthdate must be YYYY-MM-DD")
	} else if t.Format("2006-01-02") > today {
		e.InvalidBirthdate = str("birthdate is in the future")
	}
	if u.Gender != "MALE" && u.Gender != "FEMALE" && u.Gender != "OTHER" {
		e.InvalidGender = str("gender must be one of MALE, FEMALE, OTHER")
	}
	if u.Zipcode != "" && !zipOK(u.Zipcode) {
		e.InvalidZipcode = str("zipcode cannot be validated")
	}
	for _, q := range u.Questions {
		if q.ID == "" || q.NetworkID == nil {
			e.InvalidQuestion = str("question needs an id and a network_id")
			break
		}
		if len(q.DirectValues) == 0 {
			e.InvalidAnswerFormat = &AnswerFormat{Question: q.ID, Reason: "no answer values given"}
			break
		}
	}
	supported := false
	for _, l := range u.Languages {
		if s.supported[strings.ToLower(l)] {
			supported = true
			break
		}
	}
	e.UnsupportedLanguages = !supported
	return e
}

// zipOK: 3 to 10 letters, digits, dashes or spaces.
func zipOK(z string) bool {
	if len(z) < 3 || len(z) > 10 {
		return false
	}
	for _, c := range z {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == ' ') {
			return false
		}
	}
	return true
}
