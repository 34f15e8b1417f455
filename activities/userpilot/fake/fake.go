// Package fake is an in-memory Userpilot bulk identify API with background
// jobs, for tests and the sandbox. It follows what Userpilot documents (POST
// /v1/users/bulk_identify answers 202 with a job, at most 10,000 users a
// request, primitive metadata only, about 1,200 rows processed a minute, one
// job at a time, Token auth, {"errors":[…]} bodies) and fills the gaps the
// vendor's documentation leaves with configurable assumptions: what a second
// bulk request does while a job runs (409 or queue), how long a job
// validates, and how a failed job reports itself.
//
// Jobs need no goroutines: their progress is computed from the Clock
// whenever the fake's state is observed (any request, Count, User, Users,
// Jobs), and a job's users are stored at the moment it completes, whether or
// not anyone polled it.
package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"importer/activities/vendorapi/fakeapi"
)

// Paths the fake serves.
const (
	BulkIdentifyPath = "/v1/users/bulk_identify"
	JobsPath         = "/v1/background_jobs"
)

// Job statuses.
const (
	StatusQueued     = "queued"
	StatusValidating = "validating"
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
)

// SecondJobPolicy is what a bulk request does while a job is active;
// Userpilot says it runs one job at a time but not how it refuses more.
type SecondJobPolicy string

const (
	// Conflict refuses the request with 409 and the errors body (the
	// default; what Userpilot's Import API documents).
	Conflict SecondJobPolicy = "conflict"
	// Queue accepts it; the job stays queued until the earlier one ends.
	Queue SecondJobPolicy = "queue"
)

// Options configures a fake.
type Options struct {
	// APIKey is the key the fake accepts; requests without it get 401.
	APIKey string
	// RowsPerMinute is the processing speed (default 1,200, as documented).
	RowsPerMinute float64
	// ValidatingFor is how long a job stays "validating" (default 0).
	ValidatingFor time.Duration
	// SecondJob is the one-job-at-a-time policy (default Conflict).
	SecondJob SecondJobPolicy
	// MaxRows per request (default 10,000); more is refused with 400.
	MaxRows int
	// Latency is added to every request.
	Latency time.Duration
	// Clock drives job progress and the rate limiter; tests pass a fake one.
	Clock fakeapi.Clock
	// Seed makes job IDs and injected faults repeatable.
	Seed int64
}

// User is a stored user, as the fake keeps it. Metadata numbers are
// json.Number, so a test can tell a number from text.
type User struct {
	UserID    string
	CompanyID string
	Metadata  map[string]any
}

// JobInfo is what the fake knows of a job.
type JobInfo struct {
	ID            string
	Status        string
	Rows          int
	CompletedRows int
	Reason        string    // why a failed job failed
	Created       time.Time // accepted
	Started       time.Time // left "queued"; zero until then
	Ended         time.Time // completed or failed; zero until then
}

// job is one background job and its progress as of the last advance.
type job struct {
	id      string
	users   []User // dropped once applied
	rows    int
	fail    string // non-empty: the job fails validation with this reason
	status  string
	created time.Time
	started time.Time // validating from
	procAt  time.Time // processing from
	done    float64   // rows processed as of doneAt
	doneAt  time.Time
	ended   time.Time
}

func (j *job) terminal() bool { return j.status == StatusCompleted || j.status == StatusFailed }

// Server is the fake; it is an http.Handler.
type Server struct {
	opts    Options
	kit     *fakeapi.Kit
	handler http.Handler

	mu        sync.Mutex
	rng       *rand.Rand
	rate      float64
	users     map[string]User
	received  map[string]int
	jobs      []*job
	byID      map[string]*job
	failNext  string
	conflicts int64
	overlaps  int64
}

// New makes a fake.
func New(o Options) *Server {
	if o.RowsPerMinute == 0 {
		o.RowsPerMinute = 1200
	}
	if o.SecondJob == "" {
		o.SecondJob = Conflict
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 10000
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	s := &Server{
		opts:     o,
		rng:      rand.New(rand.NewSource(o.Seed)),
		rate:     o.RowsPerMinute,
		users:    map[string]User{},
		received: map[string]int{},
		byID:     map[string]*job{},
	}
	s.kit = &fakeapi.Kit{
		Limiter: fakeapi.NewLimiter(0, 0, o.Clock),
		Faults:  fakeapi.NewFaults(o.Seed),
		Stats:   &fakeapi.Stats{},
		Key:     func(r *http.Request) string { return r.Header.Get("Authorization") },
		ErrorBody: func(status int, msg string) any {
			return errorsBody(http.StatusText(status), strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_")), msg, "")
		},
	}
	s.kit.Faults.SetLatency(o.Latency)
	s.handler = s.kit.Wrap(http.HandlerFunc(s.serve))
	return s
}

// ServeHTTP serves the bulk identify and background jobs API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Faults injects failures.
func (s *Server) Faults() *fakeapi.Faults { return s.kit.Faults }

// Limiter is the fake's request rate limiter (unlimited until SetRate).
// Userpilot documents no request limit for the bulk endpoints.
func (s *Server) Limiter() *fakeapi.Limiter { return s.kit.Limiter }

// Stats counts answers by status.
func (s *Server) Stats() fakeapi.Snapshot { return s.kit.Stats.Snapshot() }

// SetRowsPerMinute changes the processing speed from now on; rows already
// processed stay processed. 0 or less stalls processing.
func (s *Server) SetRowsPerMinute(r float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	s.rate = r
}

// FailNextJob makes the next accepted job fail (at the end of validation)
// with reason; none of its users are stored.
func (s *Server) FailNextJob(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		reason = "job failed"
	}
	s.failNext = reason
}

// Count is the number of stored users.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	return len(s.users)
}

// User returns one stored user.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	u, ok := s.users[id]
	return copyUser(u), ok
}

// Users returns the stored users sorted by user_id.
func (s *Server) Users() []User {
	s.mu.Lock()
	s.advance()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, copyUser(u))
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UserID < out[j].UserID })
	return out
}

// Received counts the times a user_id arrived in accepted bulk requests.
func (s *Server) Received(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[userID]
}

// Jobs returns every job, oldest first.
func (s *Server) Jobs() []JobInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	out := make([]JobInfo, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, JobInfo{ID: j.id, Status: j.status, Rows: j.rows, CompletedRows: completed(j),
			Reason: j.fail, Created: j.created, Started: j.started, Ended: j.ended})
	}
	return out
}

// Conflicts counts bulk requests refused because a job was active.
func (s *Server) Conflicts() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conflicts
}

// Overlaps counts the times a job started while another was validating or
// processing. The one-job rule makes it 0 under both policies; anything
// else is a bug in the fake.
func (s *Server) Overlaps() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	return s.overlaps
}

func copyUser(u User) User {
	if u.Metadata != nil {
		m := make(map[string]any, len(u.Metadata))
		for k, v := range u.Metadata {
			m[k] = v
		}
		u.Metadata = m
	}
	return u
}

// advance brings every job up to the clock. Jobs run one at a time in the
// order they were accepted: a job may start when it was accepted or when
// the one before it ended, whichever is later. Transitions are stamped with
// the time they happened, not the time they were noticed. s.mu is held.
func (s *Server) advance() {
	now := s.opts.Clock()
	var free time.Time // when the last ended job ended
	for _, j := range s.jobs {
		if j.terminal() {
			if j.ended.After(free) {
				free = j.ended
			}
			continue
		}
		if j.status == StatusQueued {
			start := j.created
			if free.After(start) {
				start = free
			}
			if start.After(now) {
				return
			}
			for _, o := range s.jobs {
				if o != j && (o.status == StatusValidating || o.status == StatusProcessing) {
					s.overlaps++
				}
			}
			j.status, j.started = StatusValidating, start
		}
		if j.status == StatusValidating {
			end := j.started.Add(s.opts.ValidatingFor)
			if end.After(now) {
				return
			}
			if j.fail != "" {
				j.status, j.ended, j.users = StatusFailed, end, nil
				free = end
				continue
			}
			j.status, j.procAt, j.done, j.doneAt = StatusProcessing, end, 0, end
		}
		// processing
		left := float64(j.rows) - j.done
		if left <= 0 {
			s.complete(j, j.doneAt)
			free = j.ended
			continue
		}
		if s.rate <= 0 {
			j.doneAt = now
			return
		}
		finish := j.doneAt.Add(time.Duration(math.Ceil(left / s.rate * float64(time.Minute))))
		if !finish.After(now) {
			s.complete(j, finish)
			free = finish
			continue
		}
		j.done += now.Sub(j.doneAt).Minutes() * s.rate
		if j.done > float64(j.rows) {
			j.done = float64(j.rows)
		}
		j.doneAt = now
		return
	}
}

// complete ends a job and stores its users: created, or updated with
// company_id replaced when given and metadata merged key by key.
func (s *Server) complete(j *job, at time.Time) {
	j.status, j.ended, j.done, j.doneAt = StatusCompleted, at, float64(j.rows), at
	for _, u := range j.users {
		old, ok := s.users[u.UserID]
		if !ok {
			s.users[u.UserID] = copyUser(u)
			continue
		}
		if u.CompanyID != "" {
			old.CompanyID = u.CompanyID
		}
		if len(u.Metadata) > 0 {
			if old.Metadata == nil {
				old.Metadata = map[string]any{}
			}
			for k, v := range u.Metadata {
				old.Metadata[k] = v
			}
		}
		s.users[u.UserID] = old
	}
	j.users = nil
}

func completed(j *job) int {
	switch j.status {
	case StatusCompleted:
		return j.rows
	case StatusProcessing:
		n := int(math.Floor(j.done + 1e-9))
		if n >= j.rows {
			n = j.rows - 1 // not completed until it completes
		}
		if n < 0 {
			n = 0
		}
		return n
	}
	return int(math.Floor(j.done + 1e-9))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.opts.APIKey == "" || r.Header.Get("Authorization") != "Token "+s.opts.APIKey {
		fakeapi.WriteJSON(w, http.StatusUnauthorized, errorsBody("Unauthorized", "UNAUTHORIZED",
			"Authentication failed", "Invalid or missing API key"))
		return
	}
	path := r.URL.EscapedPath()
	switch {
	case path == BulkIdentifyPath:
		if r.Method != http.MethodPost {
			s.methodNotAllowed(w, "POST")
			return
		}
		s.bulkIdentify(w, r)
	case path == JobsPath || path == JobsPath+"/":
		if r.Method != http.MethodGet {
			s.methodNotAllowed(w, "GET")
			return
		}
		s.listJobs(w)
	case strings.HasPrefix(path, JobsPath+"/"):
		if r.Method != http.MethodGet {
			s.methodNotAllowed(w, "GET")
			return
		}
		// Job IDs hold colons; take the rest of the path whole.
		id, err := url.PathUnescape(strings.TrimPrefix(path, JobsPath+"/"))
		if err != nil {
			id = ""
		}
		s.getJob(w, id)
	default:
		fakeapi.WriteJSON(w, http.StatusNotFound, errorsBody("Not Found", "NOT_FOUND", "Not found", "No route for "+r.Method+" "+path))
	}
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	fakeapi.WriteJSON(w, http.StatusMethodNotAllowed, errorsBody("Method Not Allowed", "METHOD_NOT_ALLOWED", "Method not allowed", ""))
}

func (s *Server) bulkIdentify(w http.ResponseWriter, r *http.Request) {
	users, problem := s.decode(r)
	if problem != "" {
		fakeapi.WriteJSON(w, http.StatusBadRequest, errorsBody("Bad Request", "VALIDATION_ERROR", "Invalid request body", problem))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	for _, j := range s.jobs {
		if !j.terminal() && s.opts.SecondJob != Queue {
			s.conflicts++
			fakeapi.WriteJSON(w, http.StatusConflict, errorsBody("Conflict", "JOB_IN_PROGRESS",
				"Bulk job already in progress", "Only one bulk job can run at a time; retry when job "+j.id+" has ended"))
			return
		}
	}
	j := &job{id: s.newID(), users: users, rows: len(users), fail: s.failNext, status: StatusQueued, created: s.opts.Clock()}
	s.failNext = ""
	s.jobs = append(s.jobs, j)
	s.byID[j.id] = j
	for _, u := range users {
		s.received[u.UserID]++
	}
	// Answered as "queued", as documented; the next look at the job finds
	// it started at its acceptance time if nothing was before it.
	fakeapi.WriteJSON(w, http.StatusAccepted, s.jobJSON(j, true))
}

// decode reads and validates a {"users":[...]} body. The problem it returns
// names the user by index and the field, never the value.
func (s *Server) decode(r *http.Request) ([]User, string) {
	var body struct {
		Users []json.RawMessage `json:"users"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 50<<20))
	if err := dec.Decode(&body); err != nil {
		return nil, "body is not a JSON object with a users list"
	}
	if body.Users == nil {
		return nil, "users is required"
	}
	if len(body.Users) == 0 {
		return nil, "users must not be empty"
	}
	if len(body.Users) > s.opts.MaxRows {
		return nil, fmt.Sprintf("too many users: %d, at most %d per request", len(body.Users), s.opts.MaxRows)
	}
	users := make([]User, 0, len(body.Users))
	for i, raw := range body.Users {
		var fields map[string]any
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&fields); err != nil || fields == nil {
			return nil, fmt.Sprintf("users[%d] must be an object", i)
		}
		var u User
		id, ok := fields["user_id"].(string)
		if !ok || strings.TrimSpace(id) == "" {
			return nil, fmt.Sprintf("users[%d].user_id is required and must be a non-empty string", i)
		}
		u.UserID = id
		switch c := fields["company_id"].(type) {
		case nil:
		case string:
			u.CompanyID = c
		default:
			return nil, fmt.Sprintf("users[%d].company_id must be a string", i)
		}
		switch m := fields["metadata"].(type) {
		case nil:
		case map[string]any:
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				switch m[k].(type) {
				case nil, string, json.Number, bool:
				default:
					return nil, fmt.Sprintf("users[%d].metadata.%s: only primitive values (string, number, boolean, null) are supported", i, k)
				}
			}
			if len(m) > 0 {
				u.Metadata = m
			}
		default:
			return nil, fmt.Sprintf("users[%d].metadata must be an object", i)
		}
		users = append(users, u)
	}
	return users, ""
}

func (s *Server) listJobs(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	out := make([]map[string]any, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, s.jobJSON(j, false))
	}
	fakeapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getJob(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	j, ok := s.byID[id]
	if !ok {
		fakeapi.WriteJSON(w, http.StatusNotFound, errorsBody("Not Found", "JOB_NOT_FOUND", "Background job not found", ""))
		return
	}
	fakeapi.WriteJSON(w, http.StatusOK, s.jobJSON(j, true))
}

// jobJSON renders a job in the OpenAPI schema's shape; listed jobs carry
// no completed_rows. A failed job carries its reason in an errors list.
func (s *Server) jobJSON(j *job, withCompleted bool) map[string]any {
	out := map[string]any{
		"job_id":     j.id,
		"status":     j.status,
		"total_rows": j.rows,
		"type":       "users",
		"start_time": j.created.UTC().Format(time.RFC3339),
		"end_time":   nil,
		"file_size":  0,
		"filename":   "",
		"links":      "",
	}
	if withCompleted {
		out["completed_rows"] = completed(j)
	}
	if !j.ended.IsZero() {
		out["end_time"] = j.ended.UTC().Format(time.RFC3339)
		out["elapsed_time"] = j.ended.Sub(j.created).Seconds()
	}
	if j.status == StatusFailed {
		out["errors"] = []map[string]string{{"error": "Job Failed", "error_code": "JOB_FAILED", "message": j.fail}}
	}
	return out
}

// newID makes an ID in Userpilot's documented form,
// bulk:jobs:NX-<8 hex>:<uuid>. s.mu is held.
func (s *Server) newID() string {
	for {
		b := make([]byte, 20)
		for i := range b {
			b[i] = byte(s.rng.Intn(256))
		}
		id := fmt.Sprintf("bulk:jobs:NX-%x:%x-%x-%x-%x-%x", b[0:4], b[4:8], b[8:10], b[10:12], b[12:14], b[14:20])
		if _, dup := s.byID[id]; !dup {
			return id
		}
	}
}

// errorsBody is Userpilot's ErrorResponse.
func errorsBody(errName, code, message, details string) any {
	return map[string]any{"errors": []map[string]string{{
		"details": details, "error": errName, "error_code": code, "message": message,
	}}}
}
