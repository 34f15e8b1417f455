// Package fake is an in-memory Fynd Platform application for tests and the
// sandbox: the "Audience" API (user attribute definitions, the bulk
// attribute update with its background job, user groups built from a CSV
// file_url, group members, refresh of total users) behind OAuth2 client
// credentials.
//
// It follows the Audience API reference where it speaks (bodies, answers,
// 202s, error shape {code, message, ...}) and fills the gaps the vendor's
// documentation leaves with assumptions a test can see and move: paths
// (Options.Paths), the job status endpoint and its answer, the group
// statuses after "pending" (in_progress, completed, failed), the CSV
// identifier columns (user_id, email, phone_number), how long each
// background state lasts, and whether unknown users are created or rejected.
//
// Everything heavy runs in the background, as at Fynd: a job or a group
// really fetches its file_url over HTTP while it is "in progress". States
// advance on real timers (JobStep, GroupStep, RefreshDelay) or, with
// ManualSteps, one at a time when a test calls Step, so that a test can look
// at every intermediate state without timing assumptions.
package fake

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"importer/activities/vendorapi/fakeapi"
)

// platformPrefix is the application-scoped prefix of the user APIs.
const platformPrefix = "/service/platform/user/v1.0/company/{company_id}/application/{application_id}"

// Default paths the fake serves. {company_id}, {application_id} and {id}
// match one path segment each.
const (
	TokenPath          = "/service/panel/authentication/v1.0/company/{company_id}/oauth/token"
	DefinitionsPath    = platformPrefix + "/user_attribute/definition"
	DefinitionPath     = DefinitionsPath + "/{id}"
	BulkAttributesPath = platformPrefix + "/user_attribute/bulk"
	BulkJobPath        = BulkAttributesPath + "/{id}"
	GroupsPath         = platformPrefix + "/user_group"
	GroupPath          = GroupsPath + "/{id}"
	GroupUsersPath     = GroupPath + "/users"
	GroupRefreshPath   = GroupPath + "/refresh"
	// ErrorFilePath serves the error files of groups (the fake's own; Fynd
	// hands out a storage URL).
	ErrorFilePath = "/_fyndfake/error_files/{id}"
)

// Route names, for Calls.
const (
	RouteToken          = "token"
	RouteDefinitions    = "definitions"
	RouteDefinition     = "definition"
	RouteBulkAttributes = "bulk_attributes"
	RouteBulkJob        = "bulk_job"
	RouteGroups         = "groups"
	RouteGroup          = "group"
	RouteGroupUsers     = "group_users"
	RouteGroupRefresh   = "group_refresh"
	RouteErrorFile      = "error_file"
)

// Job statuses of a bulk attribute update.
const (
	JobQueued     = "queued"
	JobProcessing = "processing"
	JobCompleted  = "completed"
	JobFailed     = "failed"
)

// Group statuses. Fynd shows only "pending"; the rest are assumptions.
const (
	GroupPending    = "pending"
	GroupInProgress = "in_progress"
	GroupCompleted  = "completed"
	GroupFailed     = "failed"
)

// Paths are the URL path templates the fake serves; an empty field keeps
// its default. A variable ({id}) takes (part of) one path segment.
type Paths struct {
	Token, Definitions, Definition, BulkAttributes, BulkJob string
	Groups, Group, GroupUsers, GroupRefresh, ErrorFile      string
}

// DefaultPaths returns the paths the fake serves unless told otherwise.
func DefaultPaths() Paths {
	return Paths{
		Token: TokenPath, Definitions: DefinitionsPath, Definition: DefinitionPath,
		BulkAttributes: BulkAttributesPath, BulkJob: BulkJobPath,
		Groups: GroupsPath, Group: GroupPath, GroupUsers: GroupUsersPath, GroupRefresh: GroupRefreshPath,
		ErrorFile: ErrorFilePath,
	}
}

// Options configures a fake.
type Options struct {
	// ClientID and ClientSecret are the only credentials that get a token;
	// with either empty, none do.
	ClientID, ClientSecret string
	// CompanyID and ApplicationID, when set, are the only ones served;
	// other ids in a path answer 404.
	CompanyID, ApplicationID string
	// TokenTTL is how long an access token lives (default 1h). The answer's
	// expires_in is in whole seconds, at least 1.
	TokenTTL time.Duration
	// BadCredentialsStatus answers a token request with wrong credentials
	// (default 401; OAuth servers also use 400).
	BadCredentialsStatus int

	// Users seeds the application's users.
	Users []User
	// AutoCreateUsers makes an identifier no user has create a user, as a
	// storefront that registers users on first sight would; without it
	// such a row is an error entry.
	AutoCreateUsers bool

	// HTTP fetches file_urls (default: a client with a 30 s timeout).
	HTTP *http.Client
	// JobStep is the time a bulk attribute job spends in each state
	// (default 200ms); GroupStep the same for group processing (default
	// 200ms); RefreshDelay how long a refresh of total users takes
	// (default 300ms).
	JobStep, GroupStep, RefreshDelay time.Duration
	// ManualSteps holds every background transition until Step is called,
	// instead of timers.
	ManualSteps bool

	// Paths moves routes (zero fields keep the defaults).
	Paths Paths
	// PublicURL is the fake's base URL as clients reach it, used in the
	// error file URLs it hands out. Empty: taken from the request that
	// started the work (host, and any prefix a mux stripped).
	PublicURL string

	// Latency is added to every request.
	Latency time.Duration
	// Clock stamps tokens (expiry) and records (created_at, updated_at);
	// tests pass a fake one. Background steps use real time regardless.
	Clock fakeapi.Clock
	// Seed makes ids, tokens and injected faults repeatable.
	Seed int64
}

// User is a user of the application.
type User struct {
	UserID      string // 24 hex digits; generated when empty
	Email       string
	Phone       string
	CountryCode int // sent as phone_numbers[].country_code when set
}

// Server is the fake; it is an http.Handler.
type Server struct {
	opts    Options
	kit     *fakeapi.Kit
	handler http.Handler
	routes  []route

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	steps  chan chan struct{}

	mu            sync.Mutex
	closed        bool
	rng           *rand.Rand
	reqSeq        int64
	tokens        map[string]time.Time
	tokensIssued  int
	rejectTokens  bool
	users         map[string]*user // by user id
	byEmail       map[string]string
	byPhone       map[string]string
	definitions   []*definition
	jobs          map[string]*job
	jobsSubmitted int
	failNextJob   string
	groups        []*group
	groupsByID    map[string]*group
	nextUID       int64
	failNextGroup string
	errorFiles    map[string][]byte
	calls         map[string]int
}

// New makes a fake. Call Close when done with it.
func New(o Options) *Server {
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.BadCredentialsStatus == 0 {
		o.BadCredentialsStatus = http.StatusUnauthorized
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if o.JobStep <= 0 {
		o.JobStep = 200 * time.Millisecond
	}
	if o.GroupStep <= 0 {
		o.GroupStep = 200 * time.Millisecond
	}
	if o.RefreshDelay <= 0 {
		o.RefreshDelay = 300 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	o.Paths = o.Paths.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: o, ctx: ctx, cancel: cancel, steps: make(chan chan struct{}),
		rng:        rand.New(rand.NewSource(o.Seed)),
		tokens:     map[string]time.Time{},
		users:      map[string]*user{},
		byEmail:    map[string]string{},
		byPhone:    map[string]string{},
		jobs:       map[string]*job{},
		groupsByID: map[string]*group{},
		nextUID:    1000,
		errorFiles: map[string][]byte{},
		calls:      map[string]int{},
	}
	p := o.Paths
	for _, r := range []struct{ name, path string }{
		{RouteToken, p.Token}, {RouteDefinitions, p.Definitions}, {RouteDefinition, p.Definition},
		{RouteBulkAttributes, p.BulkAttributes}, {RouteBulkJob, p.BulkJob},
		{RouteGroups, p.Groups}, {RouteGroup, p.Group}, {RouteGroupUsers, p.GroupUsers},
		{RouteGroupRefresh, p.GroupRefresh}, {RouteErrorFile, p.ErrorFile},
	} {
		s.routes = append(s.routes, compileRoute(r.name, r.path))
	}
	for _, u := range o.Users {
		s.addUser(u)
	}
	s.kit = &fakeapi.Kit{
		Limiter: fakeapi.NewLimiter(0, 0, o.Clock),
		Faults:  fakeapi.NewFaults(o.Seed),
		Stats:   &fakeapi.Stats{},
		Key:     func(r *http.Request) string { return r.Header.Get("Authorization") },
		ErrorBody: func(status int, msg string) any {
			return map[string]any{"code": codeFor(status), "message": msg}
		},
	}
	s.kit.Faults.SetLatency(o.Latency)
	s.handler = s.kit.Wrap(http.HandlerFunc(s.serve))
	return s
}

func (p Paths) withDefaults() Paths {
	d := DefaultPaths()
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&p.Token, d.Token}, {&p.Definitions, d.Definitions}, {&p.Definition, d.Definition},
		{&p.BulkAttributes, d.BulkAttributes}, {&p.BulkJob, d.BulkJob}, {&p.Groups, d.Groups},
		{&p.Group, d.Group}, {&p.GroupUsers, d.GroupUsers}, {&p.GroupRefresh, d.GroupRefresh},
		{&p.ErrorFile, d.ErrorFile},
	} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	return p
}

// ServeHTTP serves the Audience API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close stops background work (jobs, group processing, refreshes) and
// waits for it to end. Work still running is abandoned where it is.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Faults injects failures.
func (s *Server) Faults() *fakeapi.Faults { return s.kit.Faults }

// Limiter is the request rate limiter (unlimited until SetRate; Fynd
// documents no limit).
func (s *Server) Limiter() *fakeapi.Limiter { return s.kit.Limiter }

// Stats counts answers by status.
func (s *Server) Stats() fakeapi.Snapshot { return s.kit.Stats.Snapshot() }

// Calls counts the requests that matched a route, whether or not they were
// authorized: "groups" counts every method, "POST groups" one.
func (s *Server) Calls(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[route]
}

// RevokeTokens invalidates every token issued so far, as an expiry or a
// revocation in the middle of a sync would.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]time.Time{}
}

// SetRejectTokens makes every API call answer 401 while on, tokens new and
// old alike: credentials that get a token but lack access to the
// application.
func (s *Server) SetRejectTokens(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectTokens = on
}

// TokensIssued counts the access tokens handed out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// Step lets one waiting background transition happen (with ManualSteps)
// and returns once it has been applied. It waits for a transition to be
// waiting, up to a safety limit of 10 s.
func (s *Server) Step() error {
	ack := make(chan struct{})
	limit := time.NewTimer(10 * time.Second)
	defer limit.Stop()
	select {
	case s.steps <- ack:
	case <-s.ctx.Done():
		return errors.New("fyndfake: step: server closed")
	case <-limit.C:
		return errors.New("fyndfake: step: no background transition is waiting")
	}
	select {
	case <-ack:
		return nil
	case <-s.ctx.Done():
		return errors.New("fyndfake: step: server closed")
	}
}

// background runs fn on its own goroutine unless the fake is closed.
func (s *Server) background(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// pause waits before a background transition: d of real time, or with
// ManualSteps a call to Step. The function it returns must be called once
// the transition is applied (it releases Step). ok is false when the fake
// closed.
func (s *Server) pause(d time.Duration) (applied func(), ok bool) {
	if s.opts.ManualSteps {
		select {
		case ack := <-s.steps:
			return func() { close(ack) }, true
		case <-s.ctx.Done():
			return nil, false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return func() {}, true
	case <-s.ctx.Done():
		return nil, false
	}
}

// route is a compiled path template.
type route struct {
	name    string
	segs    []string // "{name}" segments are variables
	literal int      // literal segments, to prefer the most specific match
}

func compileRoute(name, path string) route {
	r := route{name: name, segs: splitPath(path)}
	for _, s := range r.segs {
		if !isVar(s) {
			r.literal++
		}
	}
	return r
}

// segVar splits a template segment holding a variable ("{id}", or
// "{id}.csv") into the text around it and its name.
func segVar(seg string) (prefix, name, suffix string, ok bool) {
	open := strings.Index(seg, "{")
	end := strings.Index(seg, "}")
	if open < 0 || end < open {
		return "", "", "", false
	}
	return seg[:open], seg[open+1 : end], seg[end+1:], true
}

func isVar(seg string) bool { _, _, _, ok := segVar(seg); return ok }

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match finds the route for a request path and its variables.
func (s *Server) match(escapedPath string) (route, map[string]string, bool) {
	raw := splitPath(escapedPath)
	segs := make([]string, len(raw))
	for i, seg := range raw {
		v, err := url.PathUnescape(seg)
		if err != nil {
			return route{}, nil, false
		}
		segs[i] = v
	}
	var best route
	var bestVars map[string]string
	found := false
	for _, r := range s.routes {
		if len(r.segs) != len(segs) || (found && r.literal <= best.literal) {
			continue
		}
		vars := map[string]string{}
		ok := true
		for i, t := range r.segs {
			pre, name, suf, isV := segVar(t)
			switch {
			case isV:
				v, cut := strings.CutPrefix(segs[i], pre)
				v, cut2 := strings.CutSuffix(v, suf)
				if !cut || !cut2 || v == "" {
					ok = false
				}
				vars[name] = v
			case t != segs[i]:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok {
			best, bestVars, found = r, vars, true
		}
	}
	return best, bestVars, found
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rt, vars, ok := s.match(r.URL.EscapedPath())
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "no route for "+r.Method+" "+r.URL.Path)
		return
	}
	s.mu.Lock()
	s.calls[rt.name]++
	s.calls[r.Method+" "+rt.name]++
	s.mu.Unlock()
	if c, ok := vars["company_id"]; ok && s.opts.CompanyID != "" && c != s.opts.CompanyID {
		s.fail(w, http.StatusNotFound, "COMPANY_NOT_FOUND", "company not found")
		return
	}
	if a, ok := vars["application_id"]; ok && s.opts.ApplicationID != "" && a != s.opts.ApplicationID {
		s.fail(w, http.StatusNotFound, "APPLICATION_NOT_FOUND", "application not found")
		return
	}
	switch rt.name {
	case RouteToken:
		if s.allow(w, r, http.MethodPost) {
			s.issueToken(w, r)
		}
		return
	case RouteErrorFile:
		// Error files are handed out as plain links, like a storage URL.
		if s.allow(w, r, http.MethodGet) {
			s.serveErrorFile(w, vars["id"])
		}
		return
	}
	if !s.authorized(w, r) {
		return
	}
	id := vars["id"]
	switch rt.name {
	case RouteDefinitions:
		if s.allow(w, r, http.MethodGet, http.MethodPost) {
			if r.Method == http.MethodGet {
				s.listDefinitions(w, r)
			} else {
				s.createDefinition(w, r)
			}
		}
	case RouteDefinition:
		if s.allow(w, r, http.MethodGet, http.MethodPut) {
			if r.Method == http.MethodGet {
				s.getDefinition(w, id)
			} else {
				s.updateDefinition(w, r, id)
			}
		}
	case RouteBulkAttributes:
		if s.allow(w, r, http.MethodPatch) {
			s.bulkUpdate(w, r)
		}
	case RouteBulkJob:
		if s.allow(w, r, http.MethodGet) {
			s.getJob(w, id)
		}
	case RouteGroups:
		if s.allow(w, r, http.MethodGet, http.MethodPost) {
			if r.Method == http.MethodGet {
				s.listGroups(w, r)
			} else {
				s.createGroup(w, r)
			}
		}
	case RouteGroup:
		if s.allow(w, r, http.MethodGet, http.MethodPatch) {
			if r.Method == http.MethodGet {
				s.getGroup(w, id)
			} else {
				s.patchGroup(w, r, id)
			}
		}
	case RouteGroupUsers:
		if s.allow(w, r, http.MethodGet) {
			s.groupUsers(w, r, id)
		}
	case RouteGroupRefresh:
		if s.allow(w, r, http.MethodPost) {
			s.refreshGroup(w, id)
		}
	}
}

// allow answers 405 unless the request's method is one of methods.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	s.fail(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed")
	return false
}

// issueToken is the client credentials grant: Basic auth with the client
// id and secret, a form body with grant_type=client_credentials.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		s.oauthFail(w, http.StatusBadRequest, "invalid_request", "body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	if err := r.ParseForm(); err != nil {
		s.oauthFail(w, http.StatusBadRequest, "invalid_request", "body is not a form")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		s.oauthFail(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || s.opts.ClientID == "" || s.opts.ClientSecret == "" || id != s.opts.ClientID || secret != s.opts.ClientSecret {
		s.oauthFail(w, s.opts.BadCredentialsStatus, "invalid_client", "invalid client credentials")
		return
	}
	s.mu.Lock()
	tok := "fp_" + s.hexID(16)
	refresh := "fpr_" + s.hexID(16)
	s.tokens[tok] = s.opts.Clock().Add(s.opts.TokenTTL)
	s.tokensIssued++
	s.mu.Unlock()
	secs := int64(s.opts.TokenTTL / time.Second)
	if secs < 1 {
		secs = 1
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": secs, "refresh_token": refresh,
	})
}

func (s *Server) oauthFail(w http.ResponseWriter, status int, code, msg string) {
	fakeapi.WriteJSON(w, status, map[string]any{"code": code, "error": code, "message": msg, "request_id": s.requestID()})
}

// authorized checks the Bearer token and answers 401 when it is unknown,
// revoked or expired.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok := ""
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	}
	s.mu.Lock()
	exp, known := s.tokens[tok]
	expired := known && !s.opts.Clock().Before(exp)
	if expired {
		delete(s.tokens, tok)
	}
	reject := s.rejectTokens
	s.mu.Unlock()
	switch {
	case tok == "":
		fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]any{"message": "missing access token", "code": "UNAUTHORIZED"})
	case expired:
		fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]any{"message": "access token expired", "code": "TOKEN_EXPIRED"})
	case !known || reject:
		fakeapi.WriteJSON(w, http.StatusUnauthorized, map[string]any{"message": "invalid access token", "code": "UNAUTHORIZED"})
	default:
		return true
	}
	return false
}

// fail answers with Fynd's error shape.
func (s *Server) fail(w http.ResponseWriter, status int, code, msg string) {
	fakeapi.WriteJSON(w, status, map[string]any{
		"code": code, "message": msg, "info": "", "request_id": s.requestID(), "meta": map[string]any{},
	})
}

func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqSeq++
	return fmt.Sprintf("fake-%08d", s.reqSeq)
}

func codeFor(status int) string {
	return strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

// hexID makes n random bytes of hex. s.mu is held.
func (s *Server) hexID(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.Intn(256))
	}
	return hex.EncodeToString(b)
}

// objectID makes a 24-hex id, Mongo-style, like Fynd's. s.mu is held.
func (s *Server) objectID() string { return s.hexID(12) }

// publicBase is the URL clients reach the fake at, for links it hands out.
func (s *Server) publicBase(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return strings.TrimRight(s.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// A mux that mounted the fake under a prefix (http.StripPrefix) leaves
	// the original path in RequestURI; the difference is the prefix.
	prefix := ""
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		prefix = strings.TrimSuffix(u.Path, r.URL.Path)
	}
	return scheme + "://" + r.Host + prefix
}

// fillPath fills a path template's variables.
func fillPath(tmpl string, vars map[string]string) string {
	segs := splitPath(tmpl)
	for i, seg := range segs {
		if pre, name, suf, ok := segVar(seg); ok {
			segs[i] = pre + url.PathEscape(vars[name]) + suf
		}
	}
	return "/" + strings.Join(segs, "/")
}

// decodeBody reads a JSON object body, numbers kept as json.Number.
func decodeBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// text reads a string field; ok is false when it is there but not a string.
func text(m map[string]any, key string) (string, bool) {
	switch v := m[key].(type) {
	case nil:
		return "", true
	case string:
		return v, true
	}
	return "", false
}

// paging reads page_no and page_size; page_size is capped at 100.
func paging(q url.Values) (no, size int, problem string) {
	no, size = 1, 10
	if v := q.Get("page_no"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, "page_no must be a positive integer"
		}
		no = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 0, 0, "page_size must be a positive integer"
		}
		size = min(n, 100)
	}
	return no, size, ""
}

// numberPage slices total items into page no of size and describes it.
func numberPage(total, no, size int) (from, to int, page map[string]any) {
	from = min((no-1)*size, total)
	to = min(from+size, total)
	return from, to, map[string]any{
		"type": "number", "current": no, "size": size, "item_total": total,
		"has_next": to < total, "has_previous": no > 1,
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
