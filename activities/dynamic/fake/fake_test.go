package fake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	token = "dyn-test-token"
	env   = DefaultEnvironmentID
	bulk  = "/environments/" + env + "/users/bulk"
	idA   = "11111111-1111-4111-8111-111111111111"
	idB   = "22222222-2222-4222-8222-222222222222"
	idC   = "33333333-3333-4333-8333-333333333333"
)

type reply struct {
	Status     int
	RetryAfter string
	Error      string           `json:"error"`
	Created    []map[string]any `json:"created"`
	Updated    []map[string]any `json:"updated"`
	Failed     []map[string]any `json:"failed"`
	Total      *int             `json:"total"`
}

type call struct {
	method, path, token, body, remote string
}

func do(t *testing.T, s *Server, c call) reply {
	t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	if c.path == "" {
		c.path = bulk + "?upsert=true"
	}
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.remote != "" {
		req.RemoteAddr = c.remote
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	r := reply{Status: rec.Code, RetryAfter: rec.Header().Get("Retry-After")}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	return r
}

func send(t *testing.T, s *Server, body string) reply {
	t.Helper()
	return do(t, s, call{token: token, body: body})
}

func wantStatus(t *testing.T, r reply, status int, msg string) {
	t.Helper()
	if r.Status != status || !strings.Contains(r.Error, msg) {
		t.Fatalf("got %d %q, want %d with %q", r.Status, r.Error, status, msg)
	}
}

func TestRoutesAuthAndBadBodies(t *testing.T) {
	s := New(Options{Token: token, MaxUsers: 2})
	ok := `[{"email":"a@example.com"}]`
	wantStatus(t, do(t, s, call{path: "/environments/" + env + "/users", token: token, body: ok}), 404, "Not Found")
	wantStatus(t, do(t, s, call{method: http.MethodGet, token: token}), 405, "Method Not Allowed")
	wantStatus(t, do(t, s, call{body: ok}), 401, "Unauthorized")
	wantStatus(t, do(t, s, call{token: "wrong", body: ok}), 401, "Unauthorized")
	other := "/environments/99999999-9999-4999-8999-999999999999/users/bulk"
	wantStatus(t, do(t, s, call{path: other, token: token, body: ok}), 404, "Environment not found")
	wantStatus(t, send(t, s, `[{"email":`), 400, "valid JSON")
	wantStatus(t, send(t, s, `{"users":[]}`), 400, "array")
	wantStatus(t, send(t, s, `[] []`), 400, "valid JSON")
	wantStatus(t, do(t, s, call{path: bulk + "?upsert=maybe", token: token, body: ok}), 400, "upsert")
	wantStatus(t, send(t, s, `[{"email":"a@example.com"},{"email":"b@example.com"},{"email":"c@example.com"}]`), 413, "at most 2")
	if s.Count() != 0 {
		t.Fatalf("refused requests stored %d users", s.Count())
	}
	r := send(t, s, `[]`)
	if r.Status != 201 || r.Total == nil || *r.Total != 0 || r.Created == nil || r.Failed == nil {
		t.Fatalf("empty array: %+v", r)
	}
}

func TestUpsertCreatesUpdatesAndRefuses(t *testing.T) {
	s := New(Options{Token: token, Seed: 7})
	r := send(t, s, `[{"id":"`+idA+`","email":"Ann@Example.com","firstName":"Ann","country":"FI"},{"email":"bob@example.com","firstName":"Bob"}]`)
	if r.Status != 201 || len(r.Created) != 2 || len(r.Updated) != 0 || len(r.Failed) != 0 || *r.Total != 2 {
		t.Fatalf("first send: %+v", r)
	}
	if r.Created[0]["id"] != idA || r.Created[0]["projectEnvironmentId"] != env {
		t.Fatalf("created entry %v", r.Created[0])
	}
	bobID, _ := r.Created[1]["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(bobID) {
		t.Fatalf("generated id %q is not a v4 UUID", bobID)
	}

	// The same users again, matched by id and by e-mail in another case.
	r = send(t, s, `[{"id":"`+idA+`","firstName":"Anne","country":null},{"email":"BOB@example.com","lastName":"Builder"}]`)
	if len(r.Created) != 0 || len(r.Updated) != 2 || len(r.Failed) != 0 {
		t.Fatalf("second send: %+v", r)
	}
	ann, ok := s.UserByEmail("ann@example.com")
	if !ok || ann.ID != idA || ann.Fields["firstName"] != "Anne" || ann.Email != "Ann@Example.com" {
		t.Fatalf("Ann after update: %+v", ann)
	}
	if _, has := ann.Fields["country"]; has {
		t.Fatal("a null did not clear the field")
	}
	bob, _ := s.User(bobID)
	if bob.Fields["firstName"] != "Bob" || bob.Fields["lastName"] != "Builder" {
		t.Fatalf("Bob after update: %+v (fields not given must stay)", bob.Fields)
	}
	if s.Count() != 2 || s.Writes(idA) != 2 || s.Writes("bob@EXAMPLE.com") != 2 || s.Writes(idB) != 0 {
		t.Fatalf("count %d writes %d/%d", s.Count(), s.Writes(idA), s.Writes(bobID))
	}

	// Without upsert, an existing user fails.
	r = do(t, s, call{path: bulk, token: token, body: `[{"id":"` + idA + `","firstName":"X"},{"id":"` + idB + `","email":"cy@example.com"}]`})
	if len(r.Created) != 1 || len(r.Failed) != 1 || r.Failed[0]["error"] != "user already exists" {
		t.Fatalf("without upsert: %+v", r)
	}
	if u, _ := s.User(idA); u.Fields["firstName"] != "Anne" || s.Writes(idA) != 2 {
		t.Fatal("a refused user was changed")
	}

	// An e-mail held by another user id fails, in any case; so does moving
	// a user onto another's e-mail.
	r = send(t, s, `[{"id":"`+idC+`","email":"ANN@example.com"},{"id":"`+idB+`","email":"bob@example.com"},{"email":"cy@example.com","alias":"c"}]`)
	if len(r.Failed) != 2 || len(r.Updated) != 1 {
		t.Fatalf("e-mail clash: %+v", r)
	}
	for _, f := range r.Failed {
		if f["error"] != "email already in use by another user" {
			t.Fatalf("failed entry %v", f)
		}
	}
	if _, ok := s.User(idC); ok || s.Count() != 3 {
		t.Fatal("a user with a taken e-mail was stored")
	}

	// Changing a user's e-mail frees the old one.
	send(t, s, `[{"id":"`+idB+`","email":"cyrus@example.com"}]`)
	if _, ok := s.UserByEmail("cy@example.com"); ok {
		t.Fatal("the old e-mail still finds the user")
	}
	if u, ok := s.UserByEmail("cyrus@example.com"); !ok || u.ID != idB {
		t.Fatal("the new e-mail does not find the user")
	}

	users := s.Users()
	if len(users) != 3 || users[0].ID > users[1].ID || users[1].ID > users[2].ID {
		t.Fatalf("Users not sorted: %+v", users)
	}
	users[0].Fields["firstName"] = "changed through a copy"
	if u, _ := s.User(users[0].ID); u.Fields["firstName"] == "changed through a copy" {
		t.Fatal("Users shares the stored map")
	}
	if len(s.Requests()) != 5 {
		t.Fatalf("Requests %d, want 5", len(s.Requests()))
	}
	s.Reset()
	if s.Count() != 0 || s.Writes(idA) != 0 || len(s.Requests()) != 0 {
		t.Fatal("Reset kept state")
	}
}

func TestValidation(t *testing.T) {
	long := strings.Repeat("x", 256)
	cases := []struct {
		user   string
		reason string // "" = valid
	}{
		{`{"email":"a@example.com"}`, ""},
		{`{"id":"` + idA + `"}`, ""},
		{`{"firstName":"` + strings.Repeat("x", 255) + `","email":"a@example.com"}`, ""},
		{`{"country":"de","username":"jane_doe-9","mfaBackupCodeAcknowledgement":"pending","policiesConsent":false,"emailVerifiedAt":"2023-11-07T05:31:56Z","metadata":{"plan":"pro","seats":3}}`, ""},
		{`{"country":null,"username":null,"mfaBackupCodeAcknowledgement":null,"alias":"x"}`, ""},
		{`{"wallets":[{"publicWalletAddress":"0xabc","chain":"ETH","walletProvider":"browserExtension","additionalWalletAddresses":[{"address":"bc1q","type":"ordinals","publicKey":"02ab"}]}]}`, ""},
		{`{"oauthAccounts":[{"provider":"google","accountId":"g-1","emails":["a@example.com"],"photos":[],"profile":{"locale":"en"}}]}`, ""},
		{`{}`, "at least one field"},
		{`{"country":null}`, "at least one field"},
		{`{"email":null}`, "email must be a string"},
		{`{"nickname":"x"}`, "property nickname should not exist"},
		{`{"id":"` + idA[:35] + `"}`, "id must be exactly 36"},
		{`{"firstName":"` + long + `"}`, "firstName must be shorter than or equal to 255"},
		{`{"lastName":"` + strings.Repeat("😀", 128) + `"}`, "lastName must be shorter than or equal to 255"},
		{`{"firstName":12}`, "firstName must be a string"},
		{`{"alias":null}`, "alias must be a string"},
		{`{"country":"UK"}`, "country must be a valid ISO 3166-1 alpha-2"},
		{`{"country":"XK"}`, "country must be a valid ISO 3166-1 alpha-2"},
		{`{"country":"USA"}`, "country must be a valid ISO 3166-1 alpha-2"},
		{`{"username":"jane doe"}`, "username must contain only"},
		{`{"username":"jané"}`, "username must contain only"},
		{`{"mfaBackupCodeAcknowledgement":"done"}`, "mfaBackupCodeAcknowledgement must be one of"},
		{`{"email":"jane"}`, "email must be an email"},
		{`{"email":"jane@localhost"}`, "email must be an email"},
		{`{"email":"Jane <jane@example.com>"}`, "email must be an email"},
		{`{"policiesConsent":"true"}`, "policiesConsent must be a boolean"},
		{`{"emailVerifiedAt":"2023-11-07"}`, "emailVerifiedAt must be a valid ISO 8601"},
		{`{"metadata":"plan=pro"}`, "metadata must be an object"},
		{`{"wallets":{"chain":"ETH"}}`, "wallets must be an array"},
		{`{"wallets":[{"publicWalletAddress":"0xabc"}]}`, "wallets.0.chain should not be empty"},
		{`{"wallets":[{"publicWalletAddress":"0xabc","chain":"DOGE"}]}`, "wallets.0.chain must be one of"},
		{`{"wallets":[{"publicWalletAddress":"0xabc","chain":"ETH","walletProvider":"paper"}]}`, "walletProvider must be one of"},
		{`{"wallets":[{"publicWalletAddress":"0xabc","chain":"ETH","address":"0xabc"}]}`, "wallets.0.property address should not exist"},
		{`{"wallets":[{"publicWalletAddress":"0xabc","chain":"ETH","additionalWalletAddresses":[{"address":"x","type":"taproot"}]}]}`, "additionalWalletAddresses.0.type must be one of"},
		{`{"oauthAccounts":[{"provider":"myspace","accountId":"1"}]}`, "provider must be one of"},
		{`{"oauthAccounts":[{"provider":"google"}]}`, "oauthAccounts.0.accountId should not be empty"},
		{`{"oauthAccounts":[{"provider":"google","accountId":1}]}`, "oauthAccounts.0.accountId must be a string"},
		{`{"oauthAccounts":[{"provider":"google","accountId":"1","emails":[1]}]}`, "emails must contain only strings"},
		{`"jane@example.com"`, "user must be an object"},
	}
	for _, tc := range cases {
		s := New(Options{Token: token})
		r := send(t, s, "["+tc.user+"]")
		if r.Status != 201 || *r.Total != 1 {
			t.Fatalf("%s: answer %+v", tc.user, r)
		}
		if tc.reason == "" {
			if len(r.Created) != 1 || s.Count() != 1 {
				t.Errorf("%s: refused: %v", tc.user, r.Failed)
			}
			continue
		}
		if len(r.Failed) != 1 || s.Count() != 0 {
			t.Errorf("%s: accepted, want %q", tc.user, tc.reason)
			continue
		}
		got, _ := r.Failed[0]["error"].(string)
		if !strings.Contains(got, tc.reason) {
			t.Errorf("%s: reason %q, want %q", tc.user, got, tc.reason)
		}
		for _, value := range []string{"jane", "0xabc", "plan=pro", "myspace", "taproot"} {
			if strings.Contains(got, value) {
				t.Errorf("%s: reason %q quotes a value", tc.user, got)
			}
		}
	}
}

func TestRejectHookFailsChosenUsers(t *testing.T) {
	s := New(Options{Token: token, Reject: func(u map[string]any) string {
		u["email"] = "changed@example.com" // a copy: must not reach the store
		if u["team"] == "blocked" {
			return "user is blocked by an access list"
		}
		return ""
	}})
	r := send(t, s, `[{"email":"a@example.com","team":"blocked"},{"email":"b@example.com","team":"ok"}]`)
	if len(r.Failed) != 1 || r.Failed[0]["error"] != "user is blocked by an access list" || len(r.Created) != 1 {
		t.Fatalf("answer %+v", r)
	}
	if _, ok := s.UserByEmail("b@example.com"); !ok {
		t.Fatal("the hook's change to its copy reached the store")
	}
}

func TestFailedShapes(t *testing.T) {
	body := `[{"id":"` + idA + `","email":"a@example.com"},{"id":"` + idB + `","country":"ZZ"},{"email":"not-an-email"}]`
	want := map[FailedShape][]string{
		ShapeUser:  {`{"error":"country must be a valid ISO 3166-1 alpha-2 country code","user":{"country":"ZZ","id":"` + idB + `"}}`, `{"error":"email must be an email","user":{"email":"not-an-email"}}`},
		ShapeID:    {`{"id":"` + idB + `","message":"country must be a valid ISO 3166-1 alpha-2 country code"}`, `{"message":"email must be an email"}`},
		ShapeIndex: {`{"errors":["country must be a valid ISO 3166-1 alpha-2 country code"],"index":1}`, `{"errors":["email must be an email"],"index":2}`},
		ShapeBare:  {`{"error":"country must be a valid ISO 3166-1 alpha-2 country code"}`, `{"error":"email must be an email"}`},
	}
	for shape, entries := range want {
		s := New(Options{Token: token, FailedShape: shape})
		r := send(t, s, body)
		if len(r.Created) != 1 || len(r.Failed) != 2 || *r.Total != 3 {
			t.Fatalf("%s: %+v", shape, r)
		}
		for i, e := range r.Failed {
			got, _ := json.Marshal(e)
			if string(got) != entries[i] {
				t.Errorf("%s entry %d: %s, want %s", shape, i, got, entries[i])
			}
		}
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestRateLimitIsASlidingWindowPerIP(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	t0 := c.t
	s := New(Options{Token: token, Requests: 2, Window: 10 * time.Second, Clock: c.now})
	ok := `[{"email":"a@example.com"}]`
	at := func(d time.Duration, remote string) reply {
		c.t = t0.Add(d)
		return do(t, s, call{token: token, body: ok, remote: remote})
	}
	if at(0, "10.0.0.1:1000").Status != 201 || at(500*time.Millisecond, "10.0.0.1:1001").Status != 201 {
		t.Fatal("requests within the limit refused")
	}
	r := at(3200*time.Millisecond, "10.0.0.1:1002")
	// The first slot frees at +10s: 6.8s away, rounded up.
	if r.Status != 429 || r.RetryAfter != "7" || r.Error != "Too many requests. Please try again later." {
		t.Fatalf("over the limit: %+v", r)
	}
	if at(3300*time.Millisecond, "10.0.0.2:1000").Status != 201 {
		t.Fatal("another IP was refused")
	}
	// A client that comes back before the 7s are up (at +10.1s < +10.2s)
	// is early, though by then a slot is free again.
	if r := at(10100*time.Millisecond, "10.0.0.1:1003"); r.Status != 201 {
		t.Fatalf("after the first slot freed: %+v", r)
	}
	if s.EarlyRequests() != 1 {
		t.Fatalf("early %d, want 1", s.EarlyRequests())
	}
	// Window now holds +0.5s and +10.1s for 10.0.0.1: full until +10.5s.
	if r := at(10499*time.Millisecond, "10.0.0.1:1004"); r.Status != 429 || r.RetryAfter != "1" {
		t.Fatalf("just before the boundary: %+v", r)
	}
	// At exactly +10.5s the slot frees: admitted, though early for the 1s
	// Retry-After it was given.
	if r := at(10500*time.Millisecond, "10.0.0.1:1005"); r.Status != 201 {
		t.Fatalf("at the boundary: %+v", r)
	}
	if s.EarlyRequests() != 2 || s.Limited() != 2 || s.Stats().ByStatus[429] != 2 {
		t.Fatalf("early %d limited %d stats %+v", s.EarlyRequests(), s.Limited(), s.Stats())
	}
	if got := len(s.Requests()); got != 5 {
		t.Fatalf("Requests %d, want the 5 admitted", got)
	}
	if n, d := s.Window().Limit(); n != 2 || d != 10*time.Second {
		t.Fatalf("Window().Limit() = %d, %s", n, d)
	}
}

func TestDefaultLimitAndNoLimit(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s := New(Options{Token: token, Clock: c.now})
	if n, d := s.Window().Limit(); n != 150 || d != time.Minute {
		t.Fatalf("default limit %d/%s, want 150/1m", n, d)
	}
	for i := 0; i < 150; i++ {
		if r := send(t, s, `[]`); r.Status != 201 {
			t.Fatalf("request %d refused", i+1)
		}
	}
	if r := send(t, s, `[]`); r.Status != 429 || r.RetryAfter != "60" {
		t.Fatalf("151st request: %+v", r)
	}
	off := New(Options{Token: token, Requests: -1, Clock: c.now})
	for i := 0; i < 300; i++ {
		if r := send(t, off, `[]`); r.Status != 201 {
			t.Fatalf("unlimited fake refused request %d", i+1)
		}
	}
}

func TestInjected429OpensARetryAfterWindow(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s := New(Options{Token: token, Clock: c.now})
	s.Faults().FailNext(1, http.StatusTooManyRequests)
	s.Faults().SetRetryAfter(3 * time.Second)
	r := send(t, s, `[{"email":"a@example.com"}]`)
	if r.Status != 429 || r.RetryAfter != "3" || r.Error != "Too many requests. Please try again later." {
		t.Fatalf("injected 429: %+v", r)
	}
	c.t = c.t.Add(2 * time.Second)
	if r := send(t, s, `[{"email":"a@example.com"}]`); r.Status != 201 {
		t.Fatalf("after the fault: %+v", r)
	}
	c.t = c.t.Add(time.Second)
	send(t, s, `[{"email":"a@example.com"}]`)
	if s.EarlyRequests() != 1 || s.Limited() != 1 || s.Count() != 1 || s.Writes("a@example.com") != 2 {
		t.Fatalf("early %d limited %d count %d writes %d", s.EarlyRequests(), s.Limited(), s.Count(), s.Writes("a@example.com"))
	}
	if len(s.Requests()) != 2 {
		t.Fatalf("an injected 429 counted as an admitted request: %d", len(s.Requests()))
	}
}
