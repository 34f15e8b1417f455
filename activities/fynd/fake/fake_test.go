package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	company = "559"
	app     = "64b000000000000000000001"
	cid     = "client-1"
	secret  = "s3cret-value"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// files serves CSV files for the fake to fetch.
type files struct {
	mu    sync.Mutex
	body  map[string]string
	fetch map[string]int
	srv   *httptest.Server
}

func newFiles(t *testing.T) *files {
	f := &files{body: map[string]string{}, fetch: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		b, ok := f.body[r.URL.Path]
		f.fetch[r.URL.Path]++
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, b)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *files) put(name, body string) string {
	f.mu.Lock()
	f.body["/"+name] = body
	f.mu.Unlock()
	return f.srv.URL + "/" + name
}

type harness struct {
	t     *testing.T
	fake  *Server
	srv   *httptest.Server
	files *files
	clk   *clock
	token string
}

func start(t *testing.T, o Options) *harness {
	t.Helper()
	clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	o.ClientID, o.ClientSecret, o.CompanyID, o.ApplicationID = cid, secret, company, app
	if o.Clock == nil {
		o.Clock = clk.Now
	}
	fake := New(o)
	t.Cleanup(fake.Close)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	h := &harness{t: t, fake: fake, srv: srv, files: newFiles(t), clk: clk}
	h.token = h.getToken(cid, secret, http.StatusOK)
	return h
}

// path fills a path template with the harness's company and application.
func path(tmpl, id string) string {
	return fillPath(tmpl, map[string]string{"company_id": company, "application_id": app, "id": id})
}

func (h *harness) getToken(id, sec string, want int) string {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path(TokenPath, ""), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, sec)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != want {
		h.t.Fatalf("token: %d %v, want %d", resp.StatusCode, out, want)
	}
	tok, _ := out["access_token"].(string)
	return tok
}

func (h *harness) call(method, p string, body any) (int, map[string]any) {
	h.t.Helper()
	return h.callWith(h.token, method, p, body)
}

func (h *harness) callWith(token, method, p string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, h.srv.URL+p, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (h *harness) must(want int, method, p string, body any) map[string]any {
	h.t.Helper()
	code, out := h.call(method, p, body)
	if code != want {
		h.t.Fatalf("%s %s: %d %v, want %d", method, p, code, out, want)
	}
	return out
}

func (h *harness) step(n int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		if err := h.fake.Step(); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) define(slug string) {
	h.t.Helper()
	h.must(http.StatusCreated, "POST", path(DefinitionsPath, ""), map[string]any{
		"name": slug, "slug": slug, "description": "d", "type": "string"})
}

func TestOAuthCredentialsExpiryAndRevocation(t *testing.T) {
	h := start(t, Options{TokenTTL: 10 * time.Minute})
	h.getToken(cid, "wrong", http.StatusUnauthorized)
	h.getToken("other", secret, http.StatusUnauthorized)

	// The grant must be client_credentials in a form body.
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path(TokenPath, ""), strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(cid, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("JSON token request: %d", resp.StatusCode)
	}
	if n := h.fake.TokensIssued(); n != 1 {
		t.Fatalf("tokens issued %d, want 1", n)
	}

	list := path(GroupsPath, "")
	h.must(http.StatusOK, "GET", list, nil)
	if code, out := h.callWith("", "GET", list, nil); code != 401 || out["message"] == "" || out["code"] == "" {
		t.Fatalf("no token: %d %v", code, out)
	}
	if code, _ := h.callWith("fp_made_up", "GET", list, nil); code != 401 {
		t.Fatalf("unknown token: %d", code)
	}
	h.clk.Add(10*time.Minute - time.Second)
	h.must(http.StatusOK, "GET", list, nil)
	h.clk.Add(time.Second)
	if code, out := h.call("GET", list, nil); code != 401 || out["code"] != "TOKEN_EXPIRED" {
		t.Fatalf("expired token: %d %v", code, out)
	}

	h.token = h.getToken(cid, secret, http.StatusOK)
	other := h.getToken(cid, secret, http.StatusOK)
	h.must(http.StatusOK, "GET", list, nil)
	h.fake.RevokeTokens()
	for _, tok := range []string{h.token, other} {
		if code, _ := h.callWith(tok, "GET", list, nil); code != 401 {
			t.Fatalf("revoked token: %d", code)
		}
	}
	if n := h.fake.TokensIssued(); n != 3 {
		t.Fatalf("tokens issued %d, want 3", n)
	}
	h.token = h.getToken(cid, secret, http.StatusOK)
	h.fake.SetRejectTokens(true)
	if code, _ := h.call("GET", list, nil); code != 401 {
		t.Fatalf("rejected token: %d", code)
	}
	h.fake.SetRejectTokens(false)
	h.must(http.StatusOK, "GET", list, nil)
	if c := h.fake.Calls(RouteGroups); c != 10 {
		t.Fatalf("calls to groups %d, want 10", c)
	}
}

func TestTokenAnswerShape(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want float64
	}{{time.Hour, 3600}, {1500 * time.Millisecond, 1}, {300 * time.Millisecond, 1}} {
		fake := New(Options{ClientID: cid, ClientSecret: secret, TokenTTL: tc.ttl})
		req := httptest.NewRequest(http.MethodPost, path(TokenPath, ""), strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(cid, secret)
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, req)
		fake.Close()
		var out map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		if rec.Code != 200 || out["expires_in"] != tc.want || out["access_token"] == "" || out["token_type"] != "Bearer" {
			t.Fatalf("ttl %s: %d %v", tc.ttl, rec.Code, out)
		}
	}
	fake := New(Options{ClientID: cid, ClientSecret: secret, BadCredentialsStatus: http.StatusBadRequest})
	defer fake.Close()
	req := httptest.NewRequest(http.MethodPost, path(TokenPath, ""), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cid, "nope")
	rec := httptest.NewRecorder()
	fake.ServeHTTP(rec, req)
	if rec.Code != 400 || strings.Contains(rec.Body.String(), "nope") {
		t.Fatalf("bad credentials with status 400: %d %s", rec.Code, rec.Body)
	}
}

func TestOtherCompanyIsNotServed(t *testing.T) {
	h := start(t, Options{})
	p := fillPath(GroupsPath, map[string]string{"company_id": "1", "application_id": app})
	if code, _ := h.call("GET", p, nil); code != 404 {
		t.Fatalf("other company: %d", code)
	}
	if code, _ := h.call("DELETE", path(GroupsPath, ""), nil); code != 405 {
		t.Fatalf("DELETE on groups: %d", code)
	}
}

func TestDefinitions(t *testing.T) {
	h := start(t, Options{})
	defs := path(DefinitionsPath, "")
	if code, out := h.call("POST", defs, map[string]any{"name": "Tier", "slug": "tier", "type": "string"}); code != 400 || !strings.Contains(fmt.Sprint(out["message"]), "description") {
		t.Fatalf("create without description: %d %v", code, out)
	}
	for _, slug := range []string{"tier", "tier_old", "plan"} {
		h.define(slug)
	}
	if code, out := h.call("POST", defs, map[string]any{"name": "x", "slug": "tier", "description": "d", "type": "string"}); code != 400 || out["code"] != "DUPLICATE_SLUG" {
		t.Fatalf("duplicate slug: %d %v", code, out)
	}
	out := h.must(200, "GET", defs+"?slug=tier&page_size=1", nil)
	page := out["page"].(map[string]any)
	items := out["items"].([]any)
	if len(items) != 1 || page["item_total"] != 2.0 || page["has_next"] != true || page["type"] != "number" {
		t.Fatalf("page 1: %v", out)
	}
	first := items[0].(map[string]any)
	out = h.must(200, "GET", defs+"?slug=tier&page_size=1&page_no=2", nil)
	if p := out["page"].(map[string]any); p["has_next"] != false || p["has_previous"] != true || out["items"].([]any)[0].(map[string]any)["slug"] != "tier_old" {
		t.Fatalf("page 2: %v", out)
	}
	id := first["_id"].(string)
	upd := h.must(200, "PUT", path(DefinitionPath, id), map[string]any{"name": "Tier level", "customer_editable": true})
	if upd["name"] != "Tier level" || upd["customer_editable"] != true || upd["slug"] != "tier" {
		t.Fatalf("updated: %v", upd)
	}
	if got := h.must(200, "GET", path(DefinitionPath, id), nil); got["name"] != "Tier level" {
		t.Fatalf("get after update: %v", got)
	}
	if code, _ := h.call("PUT", path(DefinitionPath, "64f000000000000000000000"), map[string]any{"name": "x"}); code != 404 {
		t.Fatalf("update unknown: %d", code)
	}
	if d := h.fake.Definitions(); len(d) != 3 || d[0].Slug != "plan" || d[1].Name != "Tier level" {
		t.Fatalf("definitions: %+v", d)
	}
}

var seeded = []User{
	{UserID: "64f000000000000000000001", Email: "Ann@Example.com", Phone: "+919800000001"},
	{UserID: "64f000000000000000000002", Email: "bob@example.com"},
	{UserID: "64f000000000000000000003", Phone: "+91 98000-00003", CountryCode: 91},
}

func TestBulkAttributeJobWalk(t *testing.T) {
	h := start(t, Options{Users: seeded, ManualSteps: true})
	h.define("tier")
	h.define("score")
	file := h.files.put("attrs.csv", "email,user_id,phone_number,ignored\n"+
		"ann@example.com,,,x\n"+ // e-mail, case-insensitively
		",64f000000000000000000002,,\n"+
		",,+919800000003,\n"+ // phone, spacing aside
		"nobody@example.com,,,\n"+
		",,,only junk\n")
	bulk := path(BulkAttributesPath, "")
	if code, out := h.call("PATCH", bulk, map[string]any{"file_url": file, "attributes": []any{map[string]any{"key": "nope", "value": "x"}}}); code != 400 || !strings.Contains(fmt.Sprint(out["message"]), "nope") {
		t.Fatalf("unknown key: %d %v", code, out)
	}
	out := h.must(202, "PATCH", bulk, map[string]any{"file_url": file, "attributes": []any{
		map[string]any{"key": "tier", "value": "gold"}, map[string]any{"key": "score", "value": 7}}})
	if out["success"] != true || out["processing_type"] != "async" || out["status_code"] != 202.0 || out["job_id"] == "" {
		t.Fatalf("accepted: %v", out)
	}
	jobPath := path(BulkJobPath, out["job_id"].(string))
	if j := h.must(200, "GET", jobPath, nil); j["status"] != JobQueued {
		t.Fatalf("new job: %v", j)
	}
	h.step(1)
	if j := h.must(200, "GET", jobPath, nil); j["status"] != JobProcessing || j["total"] != 5.0 || j["processed"] != 0.0 {
		t.Fatalf("processing job: %v", j)
	}
	if a := h.fake.Attributes("bob@example.com"); len(a) != 0 {
		t.Fatalf("values set before the job completed: %v", a)
	}
	h.step(1)
	j := h.must(200, "GET", jobPath, nil)
	if j["status"] != JobCompleted || j["total"] != 5.0 || j["processed"] != 3.0 || j["failed"] != 2.0 {
		t.Fatalf("completed job: %v", j)
	}
	errs := j["errors"].([]any)
	e0, e1 := errs[0].(map[string]any), errs[1].(map[string]any)
	if e0["row"] != 4.0 || e0["identifier"] != "nobody@example.com" || e0["error"] != "user not found" || e1["row"] != 5.0 || e1["error"] != "row has no identifier" {
		t.Fatalf("row errors: %v", errs)
	}
	for _, key := range []string{"64f000000000000000000001", "bob@example.com", "+919800000003"} {
		if a := h.fake.Attributes(key); a["tier"] != "gold" || a["score"] != json.Number("7") {
			t.Fatalf("attributes of %s: %v", key, a)
		}
	}
	if h.fake.UserCount() != 3 || h.fake.JobsSubmitted() != 1 {
		t.Fatalf("users %d jobs %d", h.fake.UserCount(), h.fake.JobsSubmitted())
	}
}

func TestBulkAttributeJobAutoCreatesUsers(t *testing.T) {
	h := start(t, Options{AutoCreateUsers: true, ManualSteps: true})
	h.define("tier")
	file := h.files.put("a.csv", "email\nnew@example.com\n")
	out := h.must(202, "PATCH", path(BulkAttributesPath, ""), map[string]any{"file_url": file, "attributes": []any{map[string]any{"key": "tier", "value": "gold"}}})
	h.step(2)
	if j, _ := h.fake.Job(out["job_id"].(string)); j.Status != JobCompleted || j.Processed != 1 {
		t.Fatalf("job: %+v", j)
	}
	u, ok := h.fake.User("new@example.com")
	if !ok || len(u.UserID) != 24 || h.fake.Attributes(u.UserID)["tier"] != "gold" {
		t.Fatalf("created user %+v %v", u, ok)
	}
}

func TestBulkAttributeJobFailures(t *testing.T) {
	h := start(t, Options{Users: seeded, ManualSteps: true})
	h.define("tier")
	good := h.files.put("ok.csv", "email\nbob@example.com\n")
	for _, tc := range []struct {
		name, file, failNext, want string
	}{
		{"unreachable", h.files.srv.URL + "/missing.csv", "", "HTTP 404"},
		{"no identifier column", h.files.put("bad.csv", "name,plan\nBob,pro\n"), "", "no identifier column"},
		{"injected", good, "attribute store unavailable", "attribute store unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.failNext != "" {
				h.fake.FailNextJob(tc.failNext)
			}
			out := h.must(202, "PATCH", path(BulkAttributesPath, ""), map[string]any{"file_url": tc.file, "attributes": []any{map[string]any{"key": "tier", "value": "gold"}}})
			h.step(2)
			j := h.must(200, "GET", path(BulkJobPath, out["job_id"].(string)), nil)
			if j["status"] != JobFailed || !strings.Contains(fmt.Sprint(j["message"]), tc.want) {
				t.Fatalf("job: %v", j)
			}
			if a := h.fake.Attributes("bob@example.com"); len(a) != 0 {
				t.Fatalf("a failed job set values: %v", a)
			}
		})
	}
	if code, _ := h.call("GET", path(BulkJobPath, "64f000000000000000000099"), nil); code != 404 {
		t.Fatalf("unknown job: %d", code)
	}
}

func fetchText(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return string(b)
}

func TestGroupWalkWithUnknownUsers(t *testing.T) {
	h := start(t, Options{Users: seeded, ManualSteps: true})
	file := h.files.put("g.csv", "user_id,email\n64f000000000000000000001,\n,bob@example.com\n,ghost@example.com\n,\n")
	body := map[string]any{"name": "VIP", "description": "d", "category": "l1", "file_url": file}
	if code, out := h.call("POST", path(GroupsPath, ""), map[string]any{"name": "VIP", "description": "d", "file_url": file}); code != 400 || !strings.Contains(fmt.Sprint(out["message"]), "category") {
		t.Fatalf("create without category: %d %v", code, out)
	}
	g := h.must(201, "POST", path(GroupsPath, ""), body)
	id := g["_id"].(string)
	if g["status"] != GroupPending || g["uid"] == nil || g["total_users"].(map[string]any)["count"] != 0.0 {
		t.Fatalf("created: %v", g)
	}
	if code, out := h.call("POST", path(GroupsPath, ""), body); code != 400 || out["code"] != "DUPLICATE_NAME" {
		t.Fatalf("duplicate: %d %v", code, out)
	}
	h.step(1)
	if g := h.must(200, "GET", path(GroupPath, id), nil); g["status"] != GroupInProgress {
		t.Fatalf("after one step: %v", g)
	}
	h.step(1)
	g = h.must(200, "GET", path(GroupPath, id), nil)
	gerr, _ := g["error"].(map[string]any)
	if g["status"] != GroupCompleted || gerr["count"] != 2.0 {
		t.Fatalf("completed: %v", g)
	}
	errFile := fetchText(t, gerr["file_url"].(string))
	if errFile != "row,reason\n3,user not found\n4,row has no identifier\n" {
		t.Fatalf("error file:\n%s", errFile)
	}
	info, _ := h.fake.Group("VIP")
	if fmt.Sprint(info.Members) != "[64f000000000000000000001 64f000000000000000000002]" || info.TotalUsers != 0 {
		t.Fatalf("group: %+v", info)
	}
	if h.fake.GroupsCreated() != 1 {
		t.Fatalf("groups created %d", h.fake.GroupsCreated())
	}
	// The name filter is exact.
	h.must(201, "POST", path(GroupsPath, ""), map[string]any{"name": "VIP 2", "description": "d", "category": "l1", "file_url": file})
	list := h.must(200, "GET", path(GroupsPath, "")+"?name=VIP", nil)
	if items := list["items"].([]any); len(items) != 1 || items[0].(map[string]any)["_id"] != id {
		t.Fatalf("list by name: %v", list)
	}
	h.step(2)
}

func TestGroupFailures(t *testing.T) {
	h := start(t, Options{Users: seeded, ManualSteps: true})
	for _, tc := range []struct {
		name, file, failNext, want string
		count                      float64
	}{
		{"unreachable", h.files.srv.URL + "/gone.csv", "", "HTTP 404", 1},
		{"no identifier", h.files.put("n.csv", "name\nA\nB\n"), "", "no identifier column", 1},
		{"injected", h.files.put("ok.csv", "email\nbob@example.com\nann@example.com\n"), "audience store down", "audience store down", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.failNext != "" {
				h.fake.FailNextGroup(tc.failNext)
			}
			g := h.must(201, "POST", path(GroupsPath, ""), map[string]any{"name": tc.name, "description": "d", "category": "l1", "file_url": tc.file})
			h.step(2)
			g = h.must(200, "GET", path(GroupPath, g["_id"].(string)), nil)
			gerr, _ := g["error"].(map[string]any)
			if g["status"] != GroupFailed || gerr["count"] != tc.count {
				t.Fatalf("failed group: %v", g)
			}
			if f := fetchText(t, gerr["file_url"].(string)); !strings.Contains(f, tc.want) {
				t.Fatalf("error file: %s", f)
			}
			if m := h.fake.Members(g["_id"].(string)); len(m) != 0 {
				t.Fatalf("members of a failed group: %v", m)
			}
		})
	}
}

func TestPatchAddsAndRemoves(t *testing.T) {
	h := start(t, Options{Users: seeded, ManualSteps: true})
	g := h.must(201, "POST", path(GroupsPath, ""), map[string]any{"name": "G", "description": "d", "category": "l1",
		"file_url": h.files.put("g.csv", "email\nann@example.com\nbob@example.com\n")})
	id := g["_id"].(string)
	h.step(2)
	patch := h.files.put("p.csv", "phone_number,email,action\n+919800000003,,add\n,bob@example.com,REMOVE\n,ann@example.com,keep\n")
	p := h.must(200, "PATCH", path(GroupPath, id), map[string]any{"file_url": patch, "description": "new"})
	if p["status"] != GroupPending || p["description"] != "new" {
		t.Fatalf("patched: %v", p)
	}
	h.step(1)
	if g := h.must(200, "GET", path(GroupPath, id), nil); g["status"] != GroupInProgress {
		t.Fatalf("after one step: %v", g)
	}
	h.step(1)
	g = h.must(200, "GET", path(GroupPath, id), nil)
	if g["status"] != GroupCompleted || g["error"].(map[string]any)["count"] != 1.0 {
		t.Fatalf("after patch: %v", g)
	}
	if m := h.fake.Members(id); fmt.Sprint(m) != "[64f000000000000000000001 64f000000000000000000003]" {
		t.Fatalf("members: %v", m)
	}
	// A file without an action column fails the group and changes nothing.
	h.must(200, "PATCH", path(GroupPath, id), map[string]any{"file_url": h.files.put("x.csv", "email\nbob@example.com\n")})
	h.step(2)
	g = h.must(200, "GET", path(GroupPath, id), nil)
	if g["status"] != GroupFailed || !strings.Contains(fetchText(t, g["error"].(map[string]any)["file_url"].(string)), "action column") {
		t.Fatalf("patch without action: %v", g)
	}
	if m := h.fake.Members(id); len(m) != 2 {
		t.Fatalf("members after a failed patch: %v", m)
	}
	if code, _ := h.call("PATCH", path(GroupPath, id), map[string]any{}); code != 400 {
		t.Fatalf("empty patch: %d", code)
	}
}

func TestPatchWhileProcessingStaysPending(t *testing.T) {
	h := start(t, Options{Users: seeded, ManualSteps: true})
	g := h.must(201, "POST", path(GroupsPath, ""), map[string]any{"name": "G", "description": "d", "category": "l1",
		"file_url": h.files.put("g.csv", "email\nann@example.com\n")})
	id := g["_id"].(string)
	h.must(200, "PATCH", path(GroupPath, id), map[string]any{"file_url": h.files.put("p.csv", "email,action\nbob@example.com,add\n")})
	h.step(2) // the create ends; the patch still waits
	if g := h.must(200, "GET", path(GroupPath, id), nil); g["status"] != GroupPending {
		t.Fatalf("between operations: %v", g)
	}
	h.step(2)
	if g := h.must(200, "GET", path(GroupPath, id), nil); g["status"] != GroupCompleted || len(h.fake.Members(id)) != 2 {
		t.Fatalf("after both: %v %v", g, h.fake.Members(id))
	}
}

func TestRefreshLeavesTotalUsersStale(t *testing.T) {
	h := start(t, Options{Users: seeded, ManualSteps: true})
	g := h.must(201, "POST", path(GroupsPath, ""), map[string]any{"name": "G", "description": "d", "category": "l1",
		"file_url": h.files.put("g.csv", "email\nann@example.com\nbob@example.com\n")})
	id := g["_id"].(string)
	created := g["total_users"].(map[string]any)["updated_at"]
	h.step(2)
	if tu := h.must(200, "GET", path(GroupPath, id), nil)["total_users"].(map[string]any); tu["count"] != 0.0 {
		t.Fatalf("total users before any refresh: %v", tu)
	}
	h.clk.Add(time.Minute)
	r := h.must(202, "POST", path(GroupRefreshPath, id), nil)
	if r["uid"] != g["uid"] || r["message"] == "" {
		t.Fatalf("refresh: %v", r)
	}
	if tu := h.must(200, "GET", path(GroupPath, id), nil)["total_users"].(map[string]any); tu["count"] != 0.0 || tu["updated_at"] != created {
		t.Fatalf("total users during refresh: %v", tu)
	}
	h.step(1)
	tu := h.must(200, "GET", path(GroupPath, id), nil)["total_users"].(map[string]any)
	if tu["count"] != 2.0 || tu["updated_at"] == created {
		t.Fatalf("total users after refresh: %v", tu)
	}
	if code, _ := h.call("POST", path(GroupRefreshPath, "64f000000000000000000099"), nil); code != 404 {
		t.Fatalf("refresh unknown: %d", code)
	}
}

func TestMembersCursorPaging(t *testing.T) {
	var users []User
	var csv strings.Builder
	csv.WriteString("user_id\n")
	for i := 23; i >= 1; i-- { // file order is not member order
		id := fmt.Sprintf("64f1000000000000000000%02d", i)
		users = append(users, User{UserID: id, Email: fmt.Sprintf("u%d@example.com", i)})
		csv.WriteString(id + "\n")
	}
	h := start(t, Options{Users: users, ManualSteps: true})
	g := h.must(201, "POST", path(GroupsPath, ""), map[string]any{"name": "G", "description": "d", "category": "l1",
		"file_url": h.files.put("g.csv", csv.String())})
	id := g["_id"].(string)
	h.step(2)
	var got []string
	cursor, pages := "", 0
	for {
		q := url.Values{"page_size": {"5"}, "direction": {"next"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		out := h.must(200, "GET", path(GroupUsersPath, id)+"?"+q.Encode(), nil)
		pages++
		page := out["page"].(map[string]any)
		for _, it := range out["items"].([]any) {
			m := it.(map[string]any)
			got = append(got, m["user_id"].(string))
			if e := m["emails"].([]any); len(e) != 1 || e[0].(map[string]any)["email"] == "" {
				t.Fatalf("member: %v", m)
			}
		}
		if page["type"] != "cursor" || page["current"] != float64(pages) {
			t.Fatalf("page: %v", page)
		}
		if page["has_next"] != true {
			if page["next_cursor"] != nil {
				t.Fatalf("last page has a next cursor: %v", page)
			}
			break
		}
		cursor = page["next_cursor"].(string)
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 5 || len(got) != 23 || !sort.StringsAreSorted(got) || fmt.Sprint(got) != fmt.Sprint(h.fake.Members(id)) {
		t.Fatalf("%d pages, members %v", pages, got)
	}
	// Going back from the third page's start gives the second page.
	out := h.must(200, "GET", path(GroupUsersPath, id)+"?page_size=5&direction=prev&cursor="+got[10], nil)
	items := out["items"].([]any)
	if len(items) != 5 || items[0].(map[string]any)["user_id"] != got[5] || out["page"].(map[string]any)["has_prev"] != true {
		t.Fatalf("previous page: %v", out)
	}
}

func TestPathsMoveAndErrorFilesFollowAPrefix(t *testing.T) {
	moved := Paths{
		Token:  "/oauth/{company_id}/token",
		Groups: "/v9/{company_id}/{application_id}/groups", Group: "/v9/{company_id}/{application_id}/groups/{id}",
		ErrorFile: "/files/{id}.csv",
	}
	fake := New(Options{ClientID: cid, ClientSecret: secret, Users: seeded, Paths: moved, ManualSteps: true})
	t.Cleanup(fake.Close)
	mux := http.NewServeMux()
	mux.Handle("/fynd/", http.StripPrefix("/fynd", fake))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h := &harness{t: t, fake: fake, srv: srv, files: newFiles(t)}
	base := srv.URL + "/fynd"
	// The default token path is not served any more.
	if code, _ := h.call("POST", "/fynd"+path(TokenPath, ""), nil); code != 404 {
		t.Fatalf("default token path: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPost, base+path(moved.Token, ""), strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cid, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	h.token, _ = tok["access_token"].(string)
	g := h.must(201, "POST", "/fynd"+path(moved.Groups, ""), map[string]any{"name": "G", "description": "d", "category": "l1",
		"file_url": h.files.put("g.csv", "email\nghost@example.com\n")})
	if code, _ := h.call("GET", "/fynd"+path(GroupsPath, ""), nil); code != 404 {
		t.Fatalf("default groups path: %d", code)
	}
	h.step(2)
	g = h.must(200, "GET", "/fynd"+path(moved.Group, g["_id"].(string)), nil)
	u := g["error"].(map[string]any)["file_url"].(string)
	if !strings.HasPrefix(u, base+"/files/") || !strings.HasSuffix(u, ".csv") {
		t.Fatalf("error file URL %s", u)
	}
	if f := fetchText(t, u); !strings.Contains(f, "user not found") {
		t.Fatalf("error file: %s", f)
	}
	// Paths left out keep their defaults.
	h.must(200, "GET", "/fynd"+path(DefinitionsPath, ""), nil)
}

func TestCloseStopsBackgroundWork(t *testing.T) {
	h := start(t, Options{Users: seeded, ManualSteps: true})
	h.must(201, "POST", path(GroupsPath, ""), map[string]any{"name": "G", "description": "d", "category": "l1",
		"file_url": h.files.put("g.csv", "email\nann@example.com\n")})
	done := make(chan struct{})
	go func() { h.fake.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop a group waiting for its next step")
	}
	if code, _ := h.call("POST", path(GroupsPath, ""), map[string]any{"name": "H", "description": "d", "category": "l1", "file_url": "http://127.0.0.1:1/x.csv"}); code != 503 {
		t.Fatalf("create after Close: %d", code)
	}
	if err := h.fake.Step(); err == nil {
		t.Fatal("Step after Close succeeded")
	}
}

func TestTimersDriveStatesWithoutManualSteps(t *testing.T) {
	h := start(t, Options{Users: seeded, GroupStep: 5 * time.Millisecond, RefreshDelay: 5 * time.Millisecond})
	g := h.must(201, "POST", path(GroupsPath, ""), map[string]any{"name": "G", "description": "d", "category": "l1",
		"file_url": h.files.put("g.csv", "email\nann@example.com\n")})
	id := g["_id"].(string)
	deadline := time.Now().Add(10 * time.Second) // a safety net, not a claim about speed
	for h.must(200, "GET", path(GroupPath, id), nil)["status"] != GroupCompleted {
		if time.Now().After(deadline) {
			t.Fatal("group never completed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.must(202, "POST", path(GroupRefreshPath, id), nil)
	for h.must(200, "GET", path(GroupPath, id), nil)["total_users"].(map[string]any)["count"] != 1.0 {
		if time.Now().After(deadline) {
			t.Fatal("refresh never completed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
