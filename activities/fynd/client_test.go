package fynd_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"importer/activities/fynd"
	fyndfake "importer/activities/fynd/fake"
	"importer/activities/vendorapi"
)

const (
	company = "559"
	app     = "64b000000000000000000001"
	cid     = "client-1"
	secret  = "client-secret-4242"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// files serves the CSV files the fake fetches.
type files struct {
	mu   sync.Mutex
	body map[string]string
	srv  *httptest.Server
}

func newFiles(t *testing.T) *files {
	f := &files{body: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		b, ok := f.body[r.URL.Path]
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

type env struct {
	fake   *fyndfake.Server
	srv    *httptest.Server
	client *fynd.Client
	files  *files
}

// setup starts a fake with o (credentials and ids filled in) and a client
// of cfg (base URL, credentials and ids filled in where empty).
func setup(t *testing.T, o fyndfake.Options, cfg fynd.Config) *env {
	t.Helper()
	o.ClientID, o.ClientSecret, o.CompanyID, o.ApplicationID = cid, secret, company, app
	fake := fyndfake.New(o)
	t.Cleanup(fake.Close)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL
	}
	if cfg.ClientID == "" {
		cfg.ClientID = cid
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = secret
	}
	cfg.CompanyID, cfg.ApplicationID = company, app
	c, err := fynd.New(cfg, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: fake, srv: srv, client: c, files: newFiles(t)}
}

var people = []fyndfake.User{
	{UserID: "64f000000000000000000001", Email: "ann@example.com", Phone: "9800000001", CountryCode: 91},
	{UserID: "64f000000000000000000002", Email: "bob@example.com"},
	{UserID: "64f000000000000000000003", Email: "cy@example.com", Phone: "+449800000003"},
}

func vendorErr(t *testing.T, err error) *vendorapi.Error {
	t.Helper()
	ve, ok := vendorapi.As(err)
	if !ok {
		t.Fatalf("want a *vendorapi.Error, got %v", err)
	}
	return ve
}

// until polls get until done says so; the deadline is a safety net.
func until[T any](t *testing.T, get func() (T, error), done func(T) bool) (T, []T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var seen []T
	for {
		v, err := get()
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, v)
		if done(v) {
			return v, seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after the deadline; last %+v", v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTokenFetchedOnceAndReused(t *testing.T) {
	e := setup(t, fyndfake.Options{}, fynd.Config{})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if g, err := e.client.FindGroup(ctx, "nobody"); err != nil || g != nil {
			t.Fatalf("find group: %v %v", g, err)
		}
	}
	if _, err := e.client.CreateDefinition(ctx, fynd.DefinitionInput{Name: "Tier", Slug: "tier", Description: "d", Type: "string"}); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.TokensIssued(); n != 1 {
		t.Fatalf("tokens issued %d, want 1", n)
	}
	if n := e.fake.Calls(fyndfake.RouteToken); n != 1 {
		t.Fatalf("token requests %d, want 1", n)
	}
}

func TestConcurrentCallersShareOneTokenFetch(t *testing.T) {
	e := setup(t, fyndfake.Options{}, fynd.Config{})
	// Slow answers make the callers overlap while the first token is on its
	// way; the count below holds however they interleave.
	e.fake.Faults().SetLatency(30 * time.Millisecond)
	burst := func() {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.client.FindGroup(context.Background(), "g"); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	burst()
	if n := e.fake.TokensIssued(); n != 1 {
		t.Fatalf("tokens issued to 16 concurrent callers: %d, want 1", n)
	}
	e.fake.RevokeTokens()
	burst()
	if n := e.fake.TokensIssued(); n != 2 {
		t.Fatalf("tokens issued after a revocation seen by 16 callers: %d, want 2", n)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	e := setup(t, fyndfake.Options{TokenTTL: time.Second, Clock: clk.Now}, fynd.Config{})
	fynd.SetClock(e.client, clk.Now)
	ctx := context.Background()
	if _, err := e.client.FindGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	// Past the token's life the client must not even try it: it refreshes
	// first, so the fake never answers 401.
	clk.Add(1200 * time.Millisecond)
	if _, err := e.client.FindGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.TokensIssued(); n != 2 {
		t.Fatalf("tokens issued %d, want 2", n)
	}
	if n := e.fake.Stats().ByStatus[http.StatusUnauthorized]; n != 0 {
		t.Fatalf("%d calls went out with an expired token", n)
	}
}

func TestRefreshMarginIsATenthOfTheLifeAtMostAMinute(t *testing.T) {
	for _, tc := range []struct {
		ttl, reuseAt, refreshAt time.Duration
	}{
		{100 * time.Second, 89 * time.Second, 91 * time.Second}, // a tenth: 10 s
		{2 * time.Hour, 2*time.Hour - 61*time.Second, 2*time.Hour - 59*time.Second},
	} {
		t.Run(tc.ttl.String(), func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
			e := setup(t, fyndfake.Options{TokenTTL: tc.ttl, Clock: clk.Now}, fynd.Config{})
			fynd.SetClock(e.client, clk.Now)
			ctx := context.Background()
			start := clk.Now()
			at := func(d time.Duration) {
				clk.Add(start.Add(d).Sub(clk.Now()))
				if _, err := e.client.FindGroup(ctx, "g"); err != nil {
					t.Fatal(err)
				}
			}
			at(0)
			at(tc.reuseAt)
			if n := e.fake.TokensIssued(); n != 1 {
				t.Fatalf("at +%s: %d tokens, want the first reused", tc.reuseAt, n)
			}
			at(tc.refreshAt)
			if n := e.fake.TokensIssued(); n != 2 {
				t.Fatalf("at +%s: %d tokens, want a new one", tc.refreshAt, n)
			}
			if n := e.fake.Stats().ByStatus[http.StatusUnauthorized]; n != 0 {
				t.Fatalf("%d answers were 401", n)
			}
		})
	}
}

func TestRevokedTokenIsRefreshedOnceAndTheCallRetried(t *testing.T) {
	e := setup(t, fyndfake.Options{Users: people}, fynd.Config{})
	ctx := context.Background()
	if _, err := e.client.FindGroup(ctx, "VIP"); err != nil {
		t.Fatal(err)
	}
	e.fake.RevokeTokens()
	g, err := e.client.CreateGroup(ctx, fynd.GroupInput{Name: "VIP", Description: "d", Category: "l1", FileURL: e.files.put("g.csv", "email\nann@example.com\n")})
	if err != nil {
		t.Fatalf("create after revocation: %v", err)
	}
	if g.ID == "" || e.fake.GroupsCreated() != 1 {
		t.Fatalf("group %+v, created %d", g, e.fake.GroupsCreated())
	}
	if n, calls := e.fake.TokensIssued(), e.fake.Calls("POST "+fyndfake.RouteGroups); n != 2 || calls != 2 {
		t.Fatalf("tokens %d, create requests %d; want 2 and 2", n, calls)
	}
}

func TestSecond401IsAnAuthError(t *testing.T) {
	e := setup(t, fyndfake.Options{}, fynd.Config{})
	ctx := context.Background()
	if _, err := e.client.FindGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	e.fake.SetRejectTokens(true)
	_, err := e.client.GetGroup(ctx, "64f000000000000000000009")
	ve := vendorErr(t, err)
	if ve.Status != http.StatusUnauthorized || !ve.Auth() || ve.Retryable() || ve.Message == "" {
		t.Fatalf("second 401: %v", err)
	}
	if n, calls := e.fake.TokensIssued(), e.fake.Calls("GET "+fyndfake.RouteGroup); n != 2 || calls != 2 {
		t.Fatalf("tokens %d, get requests %d; want one refresh and one retry", n, calls)
	}
}

func TestWrongSecretIsAnAuthErrorWithoutTheSecret(t *testing.T) {
	const wrong = "not-the-secret-77"
	for _, status := range []int{http.StatusUnauthorized, http.StatusBadRequest} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := setup(t, fyndfake.Options{BadCredentialsStatus: status}, fynd.Config{ClientSecret: wrong})
			_, err := e.client.FindGroup(context.Background(), "g")
			ve := vendorErr(t, err)
			if !ve.Auth() || ve.Retryable() || ve.Op != "get access token" {
				t.Fatalf("wrong secret: %v", err)
			}
			if status == http.StatusBadRequest && !strings.Contains(ve.Message, "HTTP 400") {
				t.Fatalf("the real status is lost: %v", err)
			}
			if strings.Contains(err.Error(), wrong) || e.fake.Calls(fyndfake.RouteGroups) != 0 {
				t.Fatalf("error %q, group calls %d", err, e.fake.Calls(fyndfake.RouteGroups))
			}
		})
	}
	// A server that echoes what it was sent must not get it into the error.
	basic := base64.StdEncoding.EncodeToString([]byte(cid + ":" + wrong))
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"message":"bad client %s (header %s)","code":"invalid_client"}`, wrong, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	c, err := fynd.New(fynd.Config{BaseURL: echo.URL, ClientID: cid, ClientSecret: wrong, CompanyID: company, ApplicationID: app}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetGroup(context.Background(), "x")
	if err == nil || strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), basic) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("echoed secret: %v", err)
	}
}

func TestDefinitionsFindCreateUpdate(t *testing.T) {
	e := setup(t, fyndfake.Options{}, fynd.Config{})
	fynd.SetPageSize(e.client, 2)
	ctx := context.Background()
	if d, err := e.client.FindDefinition(ctx, "tier"); err != nil || d != nil {
		t.Fatalf("find before create: %v %v", d, err)
	}
	if _, err := e.client.CreateDefinition(ctx, fynd.DefinitionInput{Name: "Tier", Slug: "tier", Description: "d"}); err == nil || !strings.Contains(err.Error(), "type") {
		t.Fatalf("create without type: %v", err)
	}
	if n := e.fake.Calls("POST " + fyndfake.RouteDefinitions); n != 0 {
		t.Fatalf("an invalid definition was sent (%d requests)", n)
	}
	// The slug filter matches more than the slug; the one asked for comes
	// last, on the third page.
	for _, slug := range []string{"tier_1", "tier_2", "tier_3", "tier_4", "tier"} {
		if _, err := e.client.CreateDefinition(ctx, fynd.DefinitionInput{Name: slug, Slug: slug, Description: "d", Type: "string"}); err != nil {
			t.Fatal(err)
		}
	}
	before := e.fake.Calls("GET " + fyndfake.RouteDefinitions)
	d, err := e.client.FindDefinition(ctx, "tier")
	if err != nil || d == nil || d.Slug != "tier" || d.ID == "" || d.CreatedAt.IsZero() {
		t.Fatalf("find: %+v %v", d, err)
	}
	if pages := e.fake.Calls("GET "+fyndfake.RouteDefinitions) - before; pages != 3 {
		t.Fatalf("found after %d pages, want 3", pages)
	}
	yes := true
	upd, err := e.client.UpdateDefinition(ctx, d.ID, fynd.DefinitionInput{Name: "Loyalty tier", CustomerEditable: &yes})
	if err != nil || upd.Name != "Loyalty tier" || !upd.CustomerEditable || upd.Slug != "tier" {
		t.Fatalf("update: %+v %v", upd, err)
	}
	if got, err := e.client.GetDefinition(ctx, d.ID); err != nil || got.Name != "Loyalty tier" {
		t.Fatalf("get: %+v %v", got, err)
	}
	_, err = e.client.CreateDefinition(ctx, fynd.DefinitionInput{Name: "again", Slug: "tier", Description: "d", Type: "string"})
	if ve := vendorErr(t, err); ve.Status != 400 || ve.Retryable() || ve.Auth() || !strings.Contains(ve.Message, "already exists") {
		t.Fatalf("duplicate slug: %v", err)
	}
	_, err = e.client.UpdateDefinition(ctx, "64f000000000000000000000", fynd.DefinitionInput{Name: "x"})
	if ve := vendorErr(t, err); ve.Status != 404 || ve.Retryable() {
		t.Fatalf("update unknown: %v", err)
	}
	defs := e.fake.Definitions()
	if len(defs) != 5 || defs[0].Slug != "tier" || defs[0].Name != "Loyalty tier" || !defs[0].CustomerEditable {
		t.Fatalf("stored: %+v", defs)
	}
}

func TestBulkUpdateAttributesRunsAJob(t *testing.T) {
	e := setup(t, fyndfake.Options{Users: people, JobStep: 5 * time.Millisecond}, fynd.Config{})
	ctx := context.Background()
	for _, slug := range []string{"tier", "score"} {
		if _, err := e.client.CreateDefinition(ctx, fynd.DefinitionInput{Name: slug, Slug: slug, Description: "d", Type: "string"}); err != nil {
			t.Fatal(err)
		}
	}
	file := e.files.put("a.csv", "email,user_id\nann@example.com,\n,64f000000000000000000002\nghost@example.com,\n")
	_, err := e.client.BulkUpdateAttributes(ctx, file, []fynd.KeyValue{{Key: "plan", Value: "x"}})
	if ve := vendorErr(t, err); ve.Status != 400 || ve.Retryable() || !strings.Contains(ve.Message, "not an attribute definition") {
		t.Fatalf("unknown key: %v", err)
	}
	job, err := e.client.BulkUpdateAttributes(ctx, file, []fynd.KeyValue{{Key: "tier", Value: "gold"}, {Key: "score", Value: 7}})
	if err != nil || job.JobID == "" || !job.Success || job.ProcessingType != "async" || job.StatusCode != 202 {
		t.Fatalf("submit: %+v %v", job, err)
	}
	st, seen := until(t, func() (fynd.JobStatus, error) { return e.client.BulkJobStatus(ctx, job.JobID) }, fynd.JobStatus.Terminal)
	if !st.Succeeded() || st.ID != job.JobID || st.Total != 3 || st.Processed != 2 || st.Failed != 1 {
		t.Fatalf("final: %+v", st)
	}
	if len(st.Errors) != 1 || st.Errors[0].Row != 3 || st.Errors[0].Identifier != "ghost@example.com" || st.Errors[0].Reason == "" {
		t.Fatalf("row errors: %+v", st.Errors)
	}
	for _, s := range seen[:len(seen)-1] {
		if s.Terminal() {
			t.Fatalf("a terminal status before the last: %+v", seen)
		}
	}
	for _, key := range []string{"ann@example.com", "bob@example.com"} {
		if a := e.fake.Attributes(key); a["tier"] != "gold" || fmt.Sprint(a["score"]) != "7" {
			t.Fatalf("attributes of %s: %v", key, a)
		}
	}

	e.fake.FailNextJob("attribute store is read-only")
	job, err = e.client.BulkUpdateAttributes(ctx, file, []fynd.KeyValue{{Key: "tier", Value: "silver"}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ = until(t, func() (fynd.JobStatus, error) { return e.client.BulkJobStatus(ctx, job.JobID) }, fynd.JobStatus.Terminal)
	if st.Succeeded() || !strings.Contains(st.Message, "read-only") {
		t.Fatalf("failed job: %+v", st)
	}
	if e.fake.Attributes("ann@example.com")["tier"] != "gold" || e.fake.JobsSubmitted() != 2 {
		t.Fatal("a failed job changed values")
	}
	if _, err := e.client.BulkUpdateAttributes(ctx, file, []fynd.KeyValue{{Key: "tier"}}); err == nil || !strings.Contains(err.Error(), "attributes[0]") {
		t.Fatalf("missing value: %v", err)
	}
}

func TestGroupCreateWalksToDone(t *testing.T) {
	e := setup(t, fyndfake.Options{Users: people, GroupStep: 5 * time.Millisecond}, fynd.Config{})
	ctx := context.Background()
	in := fynd.GroupInput{Name: "VIP", Description: "best", Category: "l1",
		FileURL: e.files.put("g.csv", "email,phone_number\nann@example.com,\n,+449800000003\nghost@example.com,\n")}
	if g, err := e.client.FindGroup(ctx, in.Name); err != nil || g != nil {
		t.Fatalf("lookup before create: %v %v", g, err)
	}
	g, err := e.client.CreateGroup(ctx, in)
	if err != nil || g.Status != "pending" || g.Processed() || g.Failed() || g.UID == 0 || !g.TotalUsers.Known {
		t.Fatalf("created: %+v %v", g, err)
	}
	done, seen := until(t, func() (fynd.Group, error) { return e.client.GetGroup(ctx, g.ID) },
		func(g fynd.Group) bool { return g.Processed() || g.Failed() })
	if !done.Processed() || done.Status != "completed" || done.Error.Count != 1 || done.Error.FileURL == "" {
		t.Fatalf("final: %+v (seen %d states)", done, len(seen))
	}
	errFile := get(t, done.Error.FileURL)
	if !strings.Contains(errFile, "3,user not found") || strings.Contains(errFile, "ghost") {
		t.Fatalf("error file:\n%s", errFile)
	}
	if m := e.fake.Members(g.ID); fmt.Sprint(m) != "[64f000000000000000000001 64f000000000000000000003]" {
		t.Fatalf("members: %v", m)
	}
	found, err := e.client.FindGroup(ctx, in.Name)
	if err != nil || found == nil || found.ID != g.ID || found.UID != g.UID {
		t.Fatalf("lookup after create: %+v %v", found, err)
	}
	_, err = e.client.CreateGroup(ctx, in)
	if ve := vendorErr(t, err); ve.Status != 400 || ve.Retryable() {
		t.Fatalf("second create: %v", err)
	}
	if e.fake.GroupsCreated() != 1 {
		t.Fatalf("groups created: %d", e.fake.GroupsCreated())
	}
	if _, err := e.client.CreateGroup(ctx, fynd.GroupInput{Name: "x", Description: "d", FileURL: in.FileURL}); err == nil || !strings.Contains(err.Error(), "category") {
		t.Fatalf("create without category: %v", err)
	}
}

func get(t *testing.T, u string) string {
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

func TestGroupFailureCarriesErrorCountAndFile(t *testing.T) {
	e := setup(t, fyndfake.Options{Users: people, GroupStep: 5 * time.Millisecond}, fynd.Config{})
	ctx := context.Background()
	for _, tc := range []struct{ name, file, want string }{
		{"unreachable", e.files.srv.URL + "/nothing-here.csv", "HTTP 404"},
		{"no identifier column", e.files.put("n.csv", "name\nAnn\n"), "no identifier column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := e.client.CreateGroup(ctx, fynd.GroupInput{Name: tc.name, Description: "d", Category: "l1", FileURL: tc.file})
			if err != nil {
				t.Fatal(err)
			}
			g, _ = until(t, func() (fynd.Group, error) { return e.client.GetGroup(ctx, g.ID) },
				func(g fynd.Group) bool { return g.Processed() || g.Failed() })
			if !g.Failed() || g.Processed() || g.Error.Count < 1 || g.Error.FileURL == "" {
				t.Fatalf("failed group: %+v", g)
			}
			if f := get(t, g.Error.FileURL); !strings.Contains(f, tc.want) {
				t.Fatalf("error file: %s", f)
			}
		})
	}
}

func TestPatchGroupGoesBackThroughPending(t *testing.T) {
	e := setup(t, fyndfake.Options{Users: people, ManualSteps: true}, fynd.Config{})
	ctx := context.Background()
	g, err := e.client.CreateGroup(ctx, fynd.GroupInput{Name: "G", Description: "d", Category: "l1", FileURL: e.files.put("g.csv", "email\nann@example.com\nbob@example.com\n")})
	if err != nil {
		t.Fatal(err)
	}
	step(t, e.fake, 2)
	p, err := e.client.PatchGroup(ctx, g.ID, fynd.GroupPatch{FileURL: e.files.put("p.csv", "user_id,action\n64f000000000000000000003,add\n64f000000000000000000002,remove\n")})
	if err != nil || p.Status != "pending" || p.Processed() {
		t.Fatalf("patched: %+v %v", p, err)
	}
	step(t, e.fake, 1)
	if g, err = e.client.GetGroup(ctx, g.ID); err != nil || g.Status != "in_progress" || g.Processed() || g.Failed() {
		t.Fatalf("in progress: %+v %v", g, err)
	}
	step(t, e.fake, 1)
	if g, err = e.client.GetGroup(ctx, g.ID); err != nil || !g.Processed() || g.Error.Count != 0 {
		t.Fatalf("done: %+v %v", g, err)
	}
	if m := e.fake.Members(g.ID); fmt.Sprint(m) != "[64f000000000000000000001 64f000000000000000000003]" {
		t.Fatalf("members: %v", m)
	}
	if p, err = e.client.PatchGroup(ctx, g.ID, fynd.GroupPatch{Description: "new words"}); err != nil || p.Description != "new words" || !p.Processed() {
		t.Fatalf("patch description: %+v %v", p, err)
	}
	if _, err := e.client.PatchGroup(ctx, g.ID, fynd.GroupPatch{}); err == nil {
		t.Fatal("an empty patch was accepted")
	}
}

func step(t *testing.T, f *fyndfake.Server, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := f.Step(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRefreshLeavesTotalUsersStaleUntilItCompletes(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	e := setup(t, fyndfake.Options{Users: people, ManualSteps: true, Clock: clk.Now}, fynd.Config{})
	ctx := context.Background()
	g, err := e.client.CreateGroup(ctx, fynd.GroupInput{Name: "G", Description: "d", Category: "l1", FileURL: e.files.put("g.csv", "email\nann@example.com\nbob@example.com\ncy@example.com\n")})
	if err != nil {
		t.Fatal(err)
	}
	step(t, e.fake, 2)
	g, err = e.client.GetGroup(ctx, g.ID)
	if err != nil || !g.Processed() || !g.TotalUsers.Known || g.TotalUsers.Count != 0 || g.TotalUsers.UpdatedAt.IsZero() {
		t.Fatalf("before refresh: %+v %v", g, err)
	}
	stale := g.TotalUsers
	clk.Add(time.Minute)
	r, err := e.client.RefreshGroup(ctx, g.ID)
	if err != nil || r.UID != g.UID || r.Message == "" {
		t.Fatalf("refresh: %+v %v", r, err)
	}
	if g, err = e.client.GetGroup(ctx, g.ID); err != nil || g.TotalUsers != stale {
		t.Fatalf("during refresh: %+v %v", g.TotalUsers, err)
	}
	step(t, e.fake, 1)
	g, err = e.client.GetGroup(ctx, g.ID)
	if err != nil || g.TotalUsers.Count != 3 || !g.TotalUsers.UpdatedAt.After(stale.UpdatedAt) {
		t.Fatalf("after refresh: %+v %v", g.TotalUsers, err)
	}
	_, err = e.client.RefreshGroup(ctx, "64f000000000000000000099")
	if ve := vendorErr(t, err); ve.Status != 404 || ve.Retryable() {
		t.Fatalf("refresh unknown: %v", err)
	}
}

func TestMembersPagedWithACursor(t *testing.T) {
	users := append([]fyndfake.User{}, people...)
	var csv strings.Builder
	csv.WriteString("user_id\n")
	for i := 1; i <= 20; i++ {
		id := fmt.Sprintf("64f1000000000000000000%02d", i)
		users = append(users, fyndfake.User{UserID: id, Email: fmt.Sprintf("u%d@example.com", i)})
		csv.WriteString(id + "\n")
	}
	for _, p := range people {
		csv.WriteString(p.UserID + "\n")
	}
	e := setup(t, fyndfake.Options{Users: users, ManualSteps: true}, fynd.Config{})
	ctx := context.Background()
	g, err := e.client.CreateGroup(ctx, fynd.GroupInput{Name: "G", Description: "d", Category: "l1", FileURL: e.files.put("g.csv", csv.String())})
	if err != nil {
		t.Fatal(err)
	}
	step(t, e.fake, 2)
	var all []fynd.Member
	cursor, pages := "", 0
	for {
		page, err := e.client.GroupUsers(ctx, g.ID, cursor, 5)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, page.Items...)
		if !page.HasNext {
			break
		}
		if page.NextCursor == "" || pages > 10 {
			t.Fatalf("page %d: %+v", pages, page)
		}
		cursor = page.NextCursor
	}
	if pages != 5 || len(all) != 23 {
		t.Fatalf("%d pages, %d members", pages, len(all))
	}
	var ids []string
	byID := map[string]fynd.Member{}
	for _, m := range all {
		ids = append(ids, m.UserID)
		byID[m.UserID] = m
	}
	if !sort.StringsAreSorted(ids) || fmt.Sprint(ids) != fmt.Sprint(e.fake.Members(g.ID)) {
		t.Fatalf("members %v", ids)
	}
	ann, cy := byID["64f000000000000000000001"], byID["64f000000000000000000003"]
	if fmt.Sprint(ann.Emails, ann.Phones) != "[ann@example.com] [+919800000001]" || fmt.Sprint(cy.Phones) != "[+449800000003]" {
		t.Fatalf("ann %+v, cy %+v", ann, cy)
	}
}

func TestPathOverridesAreHonoured(t *testing.T) {
	moved := map[string]string{
		"PATH_TOKEN":           "/auth/{company_id}/token",
		"PATH_DEFINITIONS":     "/v2/{company_id}/{application_id}/attrs",
		"PATH_DEFINITION":      "/v2/{company_id}/{application_id}/attrs/{id}",
		"PATH_BULK_ATTRIBUTES": "/v2/{company_id}/{application_id}/attrs-bulk",
		"PATH_BULK_JOB":        "/v2/{company_id}/{application_id}/jobs/{id}",
		"PATH_GROUPS":          "/v2/{company_id}/{application_id}/segments",
		"PATH_GROUP":           "/v2/{company_id}/{application_id}/segments/{id}",
		"PATH_GROUP_USERS":     "/v2/{company_id}/{application_id}/segments/{id}/people",
		"PATH_GROUP_REFRESH":   "/v2/{company_id}/{application_id}/segments/{id}/recount",
	}
	if got := fynd.PathSettings(); len(got) != len(moved) {
		t.Fatalf("path settings %v", got)
	}
	fp := fyndfake.Paths{
		Token: moved["PATH_TOKEN"], Definitions: moved["PATH_DEFINITIONS"], Definition: moved["PATH_DEFINITION"],
		BulkAttributes: moved["PATH_BULK_ATTRIBUTES"], BulkJob: moved["PATH_BULK_JOB"], Groups: moved["PATH_GROUPS"],
		Group: moved["PATH_GROUP"], GroupUsers: moved["PATH_GROUP_USERS"], GroupRefresh: moved["PATH_GROUP_REFRESH"],
	}
	paths := fynd.DefaultPaths().WithOverrides(func(s string) string { return moved[s] })
	e := setup(t, fyndfake.Options{Users: people, Paths: fp, ManualSteps: true}, fynd.Config{Paths: paths})
	ctx := context.Background()
	if _, err := e.client.CreateDefinition(ctx, fynd.DefinitionInput{Name: "t", Slug: "tier", Description: "d", Type: "string"}); err != nil {
		t.Fatal(err)
	}
	d, err := e.client.FindDefinition(ctx, "tier")
	if err != nil || d == nil {
		t.Fatalf("find definition: %v %v", d, err)
	}
	if _, err := e.client.UpdateDefinition(ctx, d.ID, fynd.DefinitionInput{Name: "Tier"}); err != nil {
		t.Fatal(err)
	}
	file := e.files.put("g.csv", "email\nann@example.com\n")
	job, err := e.client.BulkUpdateAttributes(ctx, file, []fynd.KeyValue{{Key: "tier", Value: "gold"}})
	if err != nil {
		t.Fatal(err)
	}
	step(t, e.fake, 2)
	if st, err := e.client.BulkJobStatus(ctx, job.JobID); err != nil || !st.Succeeded() {
		t.Fatalf("job: %+v %v", st, err)
	}
	g, err := e.client.CreateGroup(ctx, fynd.GroupInput{Name: "G", Description: "d", Category: "l1", FileURL: file})
	if err != nil {
		t.Fatal(err)
	}
	step(t, e.fake, 2)
	if _, err := e.client.FindGroup(ctx, "G"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.PatchGroup(ctx, g.ID, fynd.GroupPatch{Name: "G2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.RefreshGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	step(t, e.fake, 1)
	if page, err := e.client.GroupUsers(ctx, g.ID, "", 10); err != nil || len(page.Items) != 1 {
		t.Fatalf("members: %+v %v", page, err)
	}
	for _, r := range []string{fyndfake.RouteToken, fyndfake.RouteDefinitions, fyndfake.RouteDefinition, fyndfake.RouteBulkAttributes,
		fyndfake.RouteBulkJob, fyndfake.RouteGroups, fyndfake.RouteGroup, fyndfake.RouteGroupUsers, fyndfake.RouteGroupRefresh} {
		if e.fake.Calls(r) == 0 {
			t.Errorf("route %s was never called", r)
		}
	}
	// The default paths are not served here.
	c, err := fynd.New(fynd.Config{BaseURL: e.srv.URL, ClientID: cid, ClientSecret: secret, CompanyID: company, ApplicationID: app}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FindGroup(ctx, "G")
	if ve := vendorErr(t, err); ve.Status != 404 || ve.Op != "get access token" {
		t.Fatalf("default paths: %v", err)
	}
}

func TestRetryClassification(t *testing.T) {
	e := setup(t, fyndfake.Options{Users: people}, fynd.Config{})
	ctx := context.Background()
	e.fake.Faults().FailNext(1, http.StatusServiceUnavailable)
	_, err := e.client.FindGroup(ctx, "g")
	if ve := vendorErr(t, err); ve.Op != "get access token" || ve.Status != 503 || !ve.Retryable() || ve.Auth() {
		t.Fatalf("token endpoint down: %v", err)
	}
	if _, err := e.client.FindGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	e.fake.Faults().SetRetryAfter(3 * time.Second)
	e.fake.Faults().FailNext(1, http.StatusTooManyRequests)
	_, err = e.client.FindGroup(ctx, "g")
	if ve := vendorErr(t, err); ve.Status != 429 || !ve.Retryable() || ve.RetryAfter != 3*time.Second {
		t.Fatalf("429: %v", err)
	}
	for _, status := range []int{500, 502, 503} {
		e.fake.Faults().FailNext(1, status)
		_, err := e.client.GetGroup(ctx, "64f000000000000000000009")
		if ve := vendorErr(t, err); ve.Status != status || !ve.Retryable() {
			t.Fatalf("%d: %v", status, err)
		}
	}
	_, err = e.client.GetGroup(ctx, "64f000000000000000000009")
	if ve := vendorErr(t, err); ve.Status != 404 || ve.Retryable() || !strings.Contains(ve.Message, "NOT_FOUND") || !strings.Contains(ve.Message, "request_id fake-") {
		t.Fatalf("404: %v", err)
	}
	in := fynd.GroupInput{Name: "G", Description: "d", Category: "l1", FileURL: e.files.put("g.csv", "email\nann@example.com\n")}
	if _, err := e.client.CreateGroup(ctx, in); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.CreateGroup(ctx, in)
	if ve := vendorErr(t, err); ve.Status != 400 || ve.Retryable() || ve.Auth() {
		t.Fatalf("400: %v", err)
	}
	// No answer at all is retryable.
	e.srv.Close()
	_, err = e.client.GetGroup(ctx, "x")
	if ve := vendorErr(t, err); ve.Status != 0 || !ve.Retryable() {
		t.Fatalf("no answer: %v", err)
	}
}

func TestCancelledContextIsNotAVendorError(t *testing.T) {
	e := setup(t, fyndfake.Options{}, fynd.Config{})
	e.fake.Faults().SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := e.client.FindGroup(ctx, "g")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the context's error, got %v", err)
	}
	if _, isVendor := vendorapi.As(err); isVendor {
		t.Fatalf("a cancelled call came back as a vendor failure: %v", err)
	}
	e.fake.Faults().SetHang(false)
	if _, err := e.client.FindGroup(context.Background(), "g"); err != nil {
		t.Fatalf("after the cancelled token fetch: %v", err)
	}
}

// TestWaiterFetchesWhenTheFetchItSharedWasAbandoned: a caller that gives
// up on the token fetch it started must not fail the callers waiting on it.
func TestWaiterFetchesWhenTheFetchItSharedWasAbandoned(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	first := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			mu.Lock()
			requests++
			n := requests
			mu.Unlock()
			if n == 1 {
				close(first)
				// The server notices a client hanging up only once the
				// body has been read.
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done() // hangs until its caller gives up
				return
			}
			io.WriteString(w, `{"access_token":"t2","expires_in":600}`)
			return
		}
		io.WriteString(w, `{"_id":"g1","status":"pending"}`)
	}))
	defer srv.Close()
	c, err := fynd.New(fynd.Config{BaseURL: srv.URL, ClientID: cid, ClientSecret: secret, CompanyID: company, ApplicationID: app}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { _, err := c.GetGroup(ctxA, "g1"); errA <- err }()
	<-first
	errB := make(chan error, 1)
	go func() { _, err := c.GetGroup(context.Background(), "g1"); errB <- err }()
	// Give B time to join A's fetch; the outcome below holds either way.
	time.Sleep(50 * time.Millisecond)
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("A: %v", err)
	}
	select {
	case err := <-errB:
		if err != nil {
			t.Fatalf("B failed with A's cancellation: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B never finished")
	}
}

func TestNewRefusesABadConfig(t *testing.T) {
	good := fynd.Config{ClientID: cid, ClientSecret: secret, CompanyID: company, ApplicationID: app}
	if _, err := fynd.New(good, nil); err != nil {
		t.Fatalf("good config without a base URL: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*fynd.Config)
		want string
	}{
		{"client id", func(c *fynd.Config) { c.ClientID = "" }, "client id"},
		{"client secret", func(c *fynd.Config) { c.ClientSecret = " " }, "client secret"},
		{"company", func(c *fynd.Config) { c.CompanyID = "" }, "company id"},
		{"application", func(c *fynd.Config) { c.ApplicationID = "" }, "application id"},
		{"base URL", func(c *fynd.Config) { c.BaseURL = "api.fynd.com" }, "base URL"},
		{"group path without id", func(c *fynd.Config) { c.Paths.Group = "/groups" }, "PATH_GROUP"},
		{"groups path with id", func(c *fynd.Config) { c.Paths.Groups = "/groups/{id}" }, "PATH_GROUPS"},
		{"unknown placeholder", func(c *fynd.Config) { c.Paths.Token = "/t/{tenant}" }, "PATH_TOKEN"},
		{"relative path", func(c *fynd.Config) { c.Paths.BulkJob = "jobs/{id}" }, "PATH_BULK_JOB"},
	} {
		cfg := good
		tc.edit(&cfg)
		_, err := fynd.New(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the secret is in the error", tc.name)
		}
	}
}

func TestStatusPhase(t *testing.T) {
	for status, want := range map[string]fynd.Phase{
		"completed": fynd.Done, "Complete": fynd.Done, "PROCESSED": fynd.Done, "success": fynd.Done, "done": fynd.Done, "active": fynd.Done,
		"failed": fynd.Failed, "Failure": fynd.Failed, "error": fynd.Failed, "cancelled": fynd.Failed,
		"pending": fynd.Waiting, "queued": fynd.Waiting, "in_progress": fynd.Waiting, "In Progress": fynd.Waiting,
		"processing": fynd.Waiting, "running": fynd.Waiting, "": fynd.Waiting, "validating": fynd.Waiting,
	} {
		if got := fynd.StatusPhase(status); got != want {
			t.Errorf("%q: %s, want %s", status, got, want)
		}
	}
}

// TestLenientAnswers talks to a server that answers in every shape the
// reference leaves open: numbers as text, other field names, missing
// paging fields, unknown fields.
func TestLenientAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/service/panel/authentication/v1.0/company/559/oauth/token", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"tok-1","expires_in":"3600","scope":["x"]}`)
	})
	p := "/service/platform/user/v1.0/company/559/application/" + app
	mux.HandleFunc(p+"/user_group", func(w http.ResponseWriter, r *http.Request) {
		// No has_next: the item total says whether another page follows.
		switch r.URL.Query().Get("page_no") {
		case "1":
			io.WriteString(w, `{"items":[{"_id":"a","name":"VIP 2"},{"_id":"b","name":"vip"}],"page":{"item_total":3,"size":2}}`)
		case "2":
			io.WriteString(w, `{"items":[{"_id":"c","name":"VIP","uid":"17","status":"COMPLETED","extra":{"x":1},
				"total_users":{"total":"12","refreshed_at":"2026-01-02T03:04:05Z"},"error":{"count":"2","file_url":"http://e/f.csv"}}],
				"page":{"item_total":3,"size":2}}`)
		default:
			t.Errorf("page %s asked for", r.URL.Query().Get("page_no"))
		}
	})
	mux.HandleFunc(p+"/user_attribute/bulk/j1", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"_id":"j1","status":"In Progress","count":{"total":"10","success":4,"error":"1"},"links":{"error":"http://e/j.csv"},
			"errors":[{"line":7,"email":"x@example.com","message":"bad value"}]}`)
	})
	mux.HandleFunc(p+"/user_group/c/users", func(w http.ResponseWriter, r *http.Request) {
		// has_next without a cursor: the last user id continues the list.
		io.WriteString(w, `{"items":[{"user_id":"u1","emails":["a@example.com"],"phone_numbers":[{"phone":"98000","country_code":"91"}]}],
			"page":{"has_next":true}}`)
	})
	mux.HandleFunc(p+"/user_group/c/refresh", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := fynd.New(fynd.Config{BaseURL: srv.URL, ClientID: cid, ClientSecret: secret, CompanyID: company, ApplicationID: app}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fynd.SetPageSize(c, 2)
	ctx := context.Background()
	g, err := c.FindGroup(ctx, "VIP")
	if err != nil || g == nil {
		t.Fatalf("find: %v %v", g, err)
	}
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if g.ID != "c" || g.UID != 17 || !g.Processed() || g.TotalUsers != (fynd.TotalUsers{Count: 12, UpdatedAt: want, Known: true}) ||
		g.Error.Count != 2 || g.Error.FileURL != "http://e/f.csv" {
		t.Fatalf("group: %+v", g)
	}
	st, err := c.BulkJobStatus(ctx, "j1")
	if err != nil || st.Terminal() || st.ID != "j1" || st.Total != 10 || st.Processed != 4 || st.Failed != 1 || st.ErrorFileURL != "http://e/j.csv" {
		t.Fatalf("job: %+v %v", st, err)
	}
	if len(st.Errors) != 1 || st.Errors[0] != (fynd.RowError{Row: 7, Identifier: "x@example.com", Reason: "bad value"}) {
		t.Fatalf("job errors: %+v", st.Errors)
	}
	page, err := c.GroupUsers(ctx, "c", "", 0)
	if err != nil || !page.HasNext || page.NextCursor != "u1" || fmt.Sprint(page.Items) != "[{u1 [a@example.com] [+9198000]}]" {
		t.Fatalf("members: %+v %v", page, err)
	}
	if _, err := c.RefreshGroup(ctx, "c"); err != nil {
		t.Fatalf("bare 202: %v", err)
	}
	for _, tu := range []struct {
		in   string
		want fynd.TotalUsers
	}{
		{`{"_id":"x","total_users":5}`, fynd.TotalUsers{Count: 5, Known: true}},
		{`{"_id":"x","total_users":{"users":[1,2]}}`, fynd.TotalUsers{Count: 2, Known: true}},
		{`{"_id":"x","total_users":{"value":1,"updated_at":1767323045}}`, fynd.TotalUsers{Count: 1, Known: true, UpdatedAt: want}},
		{`{"_id":"x","total_users":{}}`, fynd.TotalUsers{}},
		{`{"_id":"x"}`, fynd.TotalUsers{}},
	} {
		one := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				io.WriteString(w, `{"access_token":"t","expires_in":60}`)
				return
			}
			io.WriteString(w, tu.in)
		}))
		c, _ := fynd.New(fynd.Config{BaseURL: one.URL, ClientID: cid, ClientSecret: secret, CompanyID: company, ApplicationID: app}, nil)
		g, err := c.GetGroup(ctx, "x")
		one.Close()
		if err != nil || g.TotalUsers != tu.want {
			t.Errorf("%s: %+v %v", tu.in, g.TotalUsers, err)
		}
	}
}

func TestFyndErrorBodyBecomesTheMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			io.WriteString(w, `{"access_token":"t","expires_in":60}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"code":"FDK_VALIDATION","message":"Invalid attribute value","info":"value jane@example.com is not a number",
			"request_id":"req-9","error":"Bad Request","meta":{"email":"jane@example.com"},"authenticated":true}`)
	}))
	defer srv.Close()
	c, err := fynd.New(fynd.Config{BaseURL: srv.URL, ClientID: cid, ClientSecret: secret, CompanyID: company, ApplicationID: app}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.BulkUpdateAttributes(context.Background(), "https://files.example/x.csv", []fynd.KeyValue{{Key: "age", Value: "x"}})
	ve := vendorErr(t, err)
	for _, want := range []string{"Invalid attribute value", "Bad Request", "FDK_VALIDATION", "req-9"} {
		if !strings.Contains(ve.Message, want) {
			t.Errorf("message %q lacks %q", ve.Message, want)
		}
	}
	if strings.Contains(err.Error(), "jane@") || strings.Contains(err.Error(), "files.example") || ve.Retryable() {
		t.Fatalf("error: %v", err)
	}
}

// The token call carries the client secret (HTTP Basic); a redirect from
// it is refused, so the secret never reaches the redirect's target, and the
// sync fails for good with a sentence that names the base URL.
func TestARedirectFromTheTokenEndpointIsRefused(t *testing.T) {
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer elsewhere.Close()
	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer moved.Close()
	c, err := fynd.New(fynd.Config{BaseURL: moved.URL, ClientID: cid, ClientSecret: secret, CompanyID: company, ApplicationID: app},
		&http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetGroup(context.Background(), "g")
	ve := vendorErr(t, err)
	if ve.Op != "get access token" || ve.Status != http.StatusTemporaryRedirect || ve.Retryable() || !strings.Contains(err.Error(), "check the base URL") {
		t.Fatalf("error %v: want a final error from the token call naming the base URL", err)
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect's target got %d requests", n)
	}
}
