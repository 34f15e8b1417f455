// Package fynd is a client for the Fynd Platform "Audience" API of one
// company application: user attribute definitions, the bulk attribute
// update and its job, user groups built from a CSV file_url, their members
// and the refresh of their user counts. It authenticates with OAuth2 client
// credentials and keeps the access token fresh.
//
// Fynd publishes the operations but not every path, so every path is a
// template the worker may override (see Paths). Everything heavy at Fynd is
// asynchronous: the client submits and reports state; waiting is the
// caller's (a Temporal activity's) business.
//
// A Client is safe for concurrent use.
package fynd

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"importer/activities/vendorapi"
)

// DefaultBaseURL is Fynd's API host.
const DefaultBaseURL = "https://api.fynd.com"

// vendor names Fynd in errors.
const vendor = "fynd"

// platformPrefix scopes the user APIs to one application.
const platformPrefix = "/service/platform/user/v1.0/company/{company_id}/application/{application_id}"

// defaultTokenLife stands in for a token answer without expires_in: long
// enough not to fetch a token per call, short enough that a token the
// server expired sooner costs little (a 401 also refreshes it).
const defaultTokenLife = 5 * time.Minute

// defaultPageSize is the page size used when the client pages through a
// list by itself.
const defaultPageSize = 50

// maxPages stops a paging loop against a server whose has_next never ends.
const maxPages = 10000

// Config is what a client needs to reach one application.
type Config struct {
	// BaseURL is the API host; empty means DefaultBaseURL.
	BaseURL                  string
	ClientID, ClientSecret   string
	CompanyID, ApplicationID string
	// Paths are the endpoint templates; empty fields keep DefaultPaths.
	Paths Paths
}

// Paths are the endpoints' URL path templates, relative to the base URL
// (or absolute http(s) URLs, for a token server on another host).
// {company_id} and {application_id} are filled from the Config, {id} with
// the object a call is about; all are URL-escaped.
type Paths struct {
	Token          string // POST: client credentials grant
	Definitions    string // GET list (slug, page_no, page_size), POST create
	Definition     string // GET, PUT one definition: {id}
	BulkAttributes string // PATCH bulk attribute update → 202 and a job
	BulkJob        string // GET the job of a bulk update: {id}
	Groups         string // GET list (name, page_no, page_size), POST create
	Group          string // GET, PATCH one group: {id}
	GroupUsers     string // GET members (cursor paging): {id}
	GroupRefresh   string // POST refresh of total users → 202: {id}
}

// DefaultPaths returns the paths of the Audience API. BulkJob is not in
// Fynd's reference; it is our assumption.
func DefaultPaths() Paths {
	return Paths{
		Token:          "/service/panel/authentication/v1.0/company/{company_id}/oauth/token",
		Definitions:    platformPrefix + "/user_attribute/definition",
		Definition:     platformPrefix + "/user_attribute/definition/{id}",
		BulkAttributes: platformPrefix + "/user_attribute/bulk",
		BulkJob:        platformPrefix + "/user_attribute/bulk/{id}",
		Groups:         platformPrefix + "/user_group",
		Group:          platformPrefix + "/user_group/{id}",
		GroupUsers:     platformPrefix + "/user_group/{id}/users",
		GroupRefresh:   platformPrefix + "/user_group/{id}/refresh",
	}
}

// pathField ties a path to the connection setting that overrides it.
type pathField struct {
	setting string
	value   *string
	takesID bool
}

func (p *Paths) fields() []pathField {
	return []pathField{
		{"PATH_TOKEN", &p.Token, false},
		{"PATH_DEFINITIONS", &p.Definitions, false},
		{"PATH_DEFINITION", &p.Definition, true},
		{"PATH_BULK_ATTRIBUTES", &p.BulkAttributes, false},
		{"PATH_BULK_JOB", &p.BulkJob, true},
		{"PATH_GROUPS", &p.Groups, false},
		{"PATH_GROUP", &p.Group, true},
		{"PATH_GROUP_USERS", &p.GroupUsers, true},
		{"PATH_GROUP_REFRESH", &p.GroupRefresh, true},
	}
}

// PathSettings names the connection settings that override each path, in
// the order of the Paths fields (PATH_TOKEN, PATH_DEFINITIONS, ...). The
// worker reads them as IMPORTER_FYND_PATH_TOKEN and so on.
func PathSettings() []string {
	var p Paths
	fs := p.fields()
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.setting
	}
	return out
}

// WithOverrides returns p with every path whose setting get returns
// non-empty replaced by that value. A connection's Get fits get.
func (p Paths) WithOverrides(get func(setting string) string) Paths {
	for _, f := range p.fields() {
		if v := strings.TrimSpace(get(f.setting)); v != "" {
			*f.value = v
		}
	}
	return p
}

// Client calls the Audience API of one application.
type Client struct {
	base     string
	paths    Paths // {company_id} and {application_id} filled in
	basic    string
	secret   string
	hc       *http.Client
	now      func() time.Time
	pageSize int

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	flight    *tokenFlight
}

// tokenFlight is one token request that concurrent callers share.
type tokenFlight struct {
	done  chan struct{}
	token string
	err   error
}

// New makes a client. It refuses a config that lacks a credential or an
// id, or whose paths do not fit, naming what is wrong. hc may be nil for
// http.DefaultClient; give it a timeout, since a vendor that never answers
// would hold an activity forever.
func New(cfg Config, hc *http.Client) (*Client, error) {
	for _, f := range []struct{ name, v string }{
		{"client id", cfg.ClientID}, {"client secret", cfg.ClientSecret},
		{"company id", cfg.CompanyID}, {"application id", cfg.ApplicationID},
	} {
		if strings.TrimSpace(f.v) == "" {
			return nil, fmt.Errorf("fynd: config has no %s", f.name)
		}
	}
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if !absoluteURL(base) {
		return nil, errors.New("fynd: base URL must be an absolute http(s) URL")
	}
	paths := cfg.Paths
	defaults := DefaultPaths()
	dfs := defaults.fields()
	for i, f := range paths.fields() {
		if strings.TrimSpace(*f.value) == "" {
			*f.value = *dfs[i].value
		}
		p := strings.NewReplacer(
			"{company_id}", url.PathEscape(cfg.CompanyID),
			"{application_id}", url.PathEscape(cfg.ApplicationID),
		).Replace(strings.TrimSpace(*f.value))
		if err := checkPath(p, f.takesID); err != nil {
			return nil, fmt.Errorf("fynd: path %s: %w", f.setting, err)
		}
		*f.value = p
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{
		base: base, paths: paths, hc: hc, now: time.Now, pageSize: defaultPageSize,
		secret: cfg.ClientSecret,
		basic:  "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.ClientID+":"+cfg.ClientSecret)),
	}, nil
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// checkPath accepts a path (or absolute URL) that holds {id} exactly when
// the endpoint is about one object, and no other placeholder.
func checkPath(p string, takesID bool) error {
	if !strings.HasPrefix(p, "/") && !absoluteURL(p) {
		return errors.New("must start with / or be an absolute http(s) URL")
	}
	n := strings.Count(p, "{id}")
	switch {
	case takesID && n != 1:
		return errors.New("must contain {id} once")
	case !takesID && n != 0:
		return errors.New("must not contain {id}")
	}
	if rest := strings.ReplaceAll(p, "{id}", ""); strings.ContainsAny(rest, "{}") {
		return errors.New("has an unknown placeholder (only {company_id}, {application_id} and {id} are filled in)")
	}
	return nil
}

// endpoint builds the URL of a path template for object id, with query q.
func (c *Client) endpoint(tmpl, id string, q url.Values) string {
	p := strings.ReplaceAll(tmpl, "{id}", url.PathEscape(id))
	if !absoluteURL(p) {
		p = c.base + p
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p
}

// accessToken returns a token that is not stale and is not about to
// expire, fetching one when needed. stale is a token the API has just
// refused: it is not handed out again. Concurrent callers share one fetch.
func (c *Client) accessToken(ctx context.Context, stale string) (string, error) {
	for {
		c.mu.Lock()
		if c.token != "" && c.token != stale && c.now().Before(c.refreshAt) {
			tok := c.token
			c.mu.Unlock()
			return tok, nil
		}
		f := c.flight
		if f == nil {
			f = &tokenFlight{done: make(chan struct{})}
			c.flight = f
			if stale != "" && c.token == stale {
				c.token = ""
			}
			c.mu.Unlock()
			started := c.now()
			tok, life, err := c.fetchToken(ctx)
			c.mu.Lock()
			if err == nil {
				c.token = tok
				c.refreshAt = started.Add(life - refreshMargin(life))
			}
			f.token, f.err = tok, err
			c.flight = nil
			close(f.done)
			c.mu.Unlock()
			return tok, err
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", fmt.Errorf("fynd: get access token: %w", ctx.Err())
		}
		if f.err == nil {
			return f.token, nil
		}
		// The caller that fetched gave up; this one has not, so it tries.
		if (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) && ctx.Err() == nil {
			continue
		}
		return "", f.err
	}
}

// refreshMargin is how long before expiry a token is replaced: a tenth of
// its life, at most a minute, so that a call never leaves with a token
// that expires on the way.
func refreshMargin(life time.Duration) time.Duration {
	return min(time.Minute, life/10)
}

// fetchToken runs the client credentials grant and returns the token and
// its lifetime.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	const op = "get access token"
	status, data, err := vendorapi.Do(ctx, c.hc, vendorapi.Call{
		Vendor: vendor, Op: op, Method: http.MethodPost, URL: c.endpoint(c.paths.Token, "", nil),
		Header:      http.Header{"Authorization": {c.basic}},
		Body:        []byte("grant_type=client_credentials"),
		ContentType: "application/x-www-form-urlencoded",
		Message:     errorMessage, SkipHTML: true, Secrets: c.secrets(),
	})
	if err != nil {
		if ve, ok := vendorapi.As(err); ok && ve.Status == http.StatusBadRequest {
			// OAuth servers refuse a client's credentials with 400 as often
			// as with 401 (invalid_client, unauthorized_client). Either way
			// retrying cannot help and the operator must fix the
			// credentials, so it is reported as the auth failure it is.
			msg := "credentials refused (HTTP 400 from the token endpoint)"
			if ve.Message != "" {
				msg += ": " + ve.Message
			}
			ve.Message, ve.Status = vendorapi.Trim(msg), http.StatusUnauthorized
		}
		return "", 0, err
	}
	m, err := decodeObject(data)
	if err != nil {
		return "", 0, badAnswer(op, status, "token answer is not a JSON object")
	}
	tok := str(m["access_token"])
	if tok == "" {
		return "", 0, badAnswer(op, status, "token answer has no access_token")
	}
	life := defaultTokenLife
	if secs, ok := number(m["expires_in"]); ok && secs > 0 {
		life = time.Duration(secs * float64(time.Second))
	}
	return tok, life, nil
}

// secrets are the texts scrubbed from anything the vendor sends back.
func (c *Client) secrets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []string{c.secret, strings.TrimPrefix(c.basic, "Basic ")}
	if c.token != "" {
		out = append(out, c.token)
	}
	return out
}

// call sends one API request with a bearer token and returns the status
// and body of a 2xx answer. A 401 may mean the token was revoked or
// expired early: the client gets a new token and tries once more; a second
// 401 is returned as the auth error it is.
func (c *Client) call(ctx context.Context, op, method, u string, body any) (int, []byte, error) {
	tok, err := c.accessToken(ctx, "")
	if err != nil {
		return 0, nil, err
	}
	status, data, err := c.send(ctx, op, method, u, body, tok)
	if ve, ok := vendorapi.As(err); ok && ve.Status == http.StatusUnauthorized {
		if tok, err = c.accessToken(ctx, tok); err != nil {
			return 0, nil, err
		}
		status, data, err = c.send(ctx, op, method, u, body, tok)
	}
	return status, data, err
}

func (c *Client) send(ctx context.Context, op, method, u string, body any, tok string) (int, []byte, error) {
	return vendorapi.Do(ctx, c.hc, vendorapi.Call{
		Vendor: vendor, Op: op, Method: method, URL: u,
		Header: http.Header{"Authorization": {"Bearer " + tok}},
		JSON:   body, Message: errorMessage, SkipHTML: true,
		Secrets: append(c.secrets(), tok),
	})
}

// errorMessage reads Fynd's error body {code, message, info, request_id,
// error, meta}: the message (and error, when it says more), the code and
// the request id support asks for. info and meta are left out: they can
// carry the offending values, which may be user data.
func errorMessage(body []byte) string {
	m, err := decodeObject(body)
	if err != nil {
		return vendorapi.DefaultMessage(body)
	}
	var parts []string
	for _, k := range []string{"message", "error", "error_description", "detail"} {
		if s := vendorapi.TextOf(m[k]); s != "" && !containsFold(parts, s) {
			parts = append(parts, s)
		}
	}
	msg := strings.Join(parts, "; ")
	if code := str(m["code"]); code != "" && !strings.Contains(msg, code) {
		msg = strings.TrimSpace(msg + " [code " + code + "]")
	}
	if rid := str(m["request_id"]); rid != "" {
		msg = strings.TrimSpace(msg + " (request_id " + rid + ")")
	}
	return msg
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
