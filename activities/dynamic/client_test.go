package dynamic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"importer/activities/dynamic"
	dynamicfake "importer/activities/dynamic/fake"
	"importer/activities/vendorapi"
)

const (
	token = "dyn_secret_token_123"
	env   = dynamicfake.DefaultEnvironmentID
	idA   = "5b2a9f3e-8c1d-4e7a-9b6f-0d3c2e1a4f5b"
	idB   = "6c3b0a4f-9d2e-4f8b-8c7a-1e4d3f2b5a6c"
	idC   = "7d4c1b5a-0e3f-4a9c-9d8b-2f5e4a3c6b7d"
	idD   = "8e5d2c6b-1f4a-4b0d-8e9c-3a6f5b4d7c8e"
)

func setup(t *testing.T, o dynamicfake.Options) (*dynamicfake.Server, *dynamic.Client) {
	t.Helper()
	if o.Token == "" {
		o.Token = token
	}
	fake := dynamicfake.New(o)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, dynamic.New(srv.URL, token, env, &http.Client{Timeout: 30 * time.Second})
}

func user(t *testing.T, fields map[string]any) dynamic.User {
	t.Helper()
	u, err := dynamic.FromFields(fields)
	if err != nil {
		t.Fatalf("FromFields: %v", err)
	}
	return u
}

func vendorError(t *testing.T, err error, status int) *vendorapi.Error {
	t.Helper()
	ve, ok := vendorapi.As(err)
	if !ok {
		t.Fatalf("want a *vendorapi.Error with status %d, got %v", status, err)
	}
	if ve.Status != status || ve.Vendor != "dynamic" {
		t.Fatalf("status %d vendor %q, want %d: %v", ve.Status, ve.Vendor, status, err)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("error shows the token: %v", err)
	}
	return ve
}

func TestBulkUpsertCreatesThenUpdates(t *testing.T) {
	fake, c := setup(t, dynamicfake.Options{})
	users := []dynamic.User{
		user(t, map[string]any{"id": idA, "email": "ann@example.com", "firstName": "Ann", "policiesConsent": "false"}),
		user(t, map[string]any{"email": "Bob@Example.com", "metadata.plan": "pro"}),
		user(t, map[string]any{"id": idB, "country": "fr"}),
	}
	res, err := c.BulkUpsert(context.Background(), users)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 3 || res.Updated != 0 || len(res.Failed) != 0 {
		t.Fatalf("first send: %+v", res)
	}
	ann, _ := fake.User(idA)
	if ann.Fields["policiesConsent"] != false || ann.Fields["firstName"] != "Ann" {
		t.Fatalf("stored %v", ann.Fields)
	}
	if bob, ok := fake.UserByEmail("bob@example.com"); !ok || bob.Fields["metadata"].(map[string]any)["plan"] != "pro" {
		t.Fatalf("Bob stored as %+v", bob)
	}

	// A retry, or a re-run of the import: the same users update.
	users[0].FirstName = "Anne"
	res, err = c.BulkUpsert(context.Background(), users)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 0 || res.Updated != 3 || len(res.Failed) != 0 {
		t.Fatalf("second send: %+v", res)
	}
	if fake.Count() != 3 {
		t.Fatalf("%d users stored, want 3", fake.Count())
	}
	for _, u := range users {
		if n := fake.Writes(u.Key()); n != 2 {
			t.Errorf("user %s written %d times, want 2", u.Key(), n)
		}
	}
	if ann, _ := fake.User(idA); ann.Fields["firstName"] != "Anne" {
		t.Fatalf("update not applied: %v", ann.Fields)
	}
	if fake.EarlyRequests() != 0 || fake.Limited() != 0 {
		t.Fatal("rate limited under the limit")
	}
}

func TestEmptyBatchSendsNothing(t *testing.T) {
	fake, c := setup(t, dynamicfake.Options{})
	res, err := c.BulkUpsert(context.Background(), nil)
	if err != nil || !reflect.DeepEqual(res, dynamic.Result{}) || fake.Stats().Requests != 0 {
		t.Fatalf("res %+v err %v requests %d", res, err, fake.Stats().Requests)
	}
}

func TestVendorFailuresUnderEveryFailedShape(t *testing.T) {
	for _, shape := range []dynamicfake.FailedShape{dynamicfake.ShapeUser, dynamicfake.ShapeID, dynamicfake.ShapeIndex, dynamicfake.ShapeBare} {
		t.Run(string(shape), func(t *testing.T) {
			fake, c := setup(t, dynamicfake.Options{FailedShape: shape, Reject: func(u map[string]any) string {
				if u["team"] == "blocked" {
					// A vendor message that quotes the user.
					return "user " + u["email"].(string) + " (Zed Blocked) is on the deny list"
				}
				return ""
			}})
			// Another user already holds taken@example.com.
			if _, err := c.BulkUpsert(context.Background(), []dynamic.User{user(t, map[string]any{"id": idC, "email": "taken@example.com"})}); err != nil {
				t.Fatal(err)
			}
			users := []dynamic.User{
				user(t, map[string]any{"id": idA, "email": "ann@example.com"}),
				user(t, map[string]any{"id": idB, "email": "TAKEN@example.com"}),
				user(t, map[string]any{"email": "Zed@Example.com", "firstName": "Zed Blocked", "team": "blocked"}),
				// The client does not check chain names; Dynamic does.
				user(t, map[string]any{"id": idD, "wallets": `[{"publicWalletAddress":"0x1","chain":"DOGE"}]`}),
				user(t, map[string]any{"email": "ok@example.com"}),
			}
			want := []dynamic.Failure{
				{Key: idB, Reason: "email already in use by another user"},
				{Key: "zed@example.com", Reason: "user [redacted] ([redacted]) is on the deny list"},
				{Key: idD, Reason: "wallets.0.chain must be one of the supported chains"},
			}
			for run, wantCreated := range []int{2, 0} {
				res, err := c.BulkUpsert(context.Background(), users)
				if err != nil {
					t.Fatal(err)
				}
				if res.Created != wantCreated || res.Created+res.Updated != 2 || !reflect.DeepEqual(res.Failed, want) {
					t.Fatalf("run %d: %+v\nwant failed %+v", run+1, res, want)
				}
			}
			if fake.Count() != 3 || fake.Writes("ok@example.com") != 2 || fake.Writes(idB) != 0 {
				t.Fatalf("count %d", fake.Count())
			}
		})
	}
}

// answering serves a fixed 201 body and records the last request.
func answering(t *testing.T, body string) (*dynamic.Client, *http.Request, *[]byte) {
	t.Helper()
	var last http.Request
	var sent []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent, _ = io.ReadAll(r.Body)
		last = *r
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return dynamic.New(srv.URL+"/api/v0/", token, env, srv.Client()), &last, &sent
}

func TestRequestShape(t *testing.T) {
	c, req, sent := answering(t, `{"created":[{"id":"`+idA+`"}],"updated":[],"failed":[],"total":1}`)
	u := user(t, map[string]any{"id": idA, "emailNotification": "no", "metadata.seats": json.Number("3")})
	if _, err := c.BulkUpsert(context.Background(), []dynamic.User{u}); err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/api/v0/environments/"+env+"/users/bulk" || req.URL.RawQuery != "upsert=true" {
		t.Fatalf("%s %s", req.Method, req.URL)
	}
	if req.Header.Get("Authorization") != "Bearer "+token || req.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", req.Header)
	}
	if want := `[{"id":"` + idA + `","metadata":{"seats":3},"emailNotification":false}]`; string(*sent) != want {
		t.Fatalf("body %s\nwant %s", *sent, want)
	}
}

func TestLenientFailedEntries(t *testing.T) {
	users := func(t *testing.T) []dynamic.User {
		return []dynamic.User{
			user(t, map[string]any{"id": idA}),
			user(t, map[string]any{"id": idB, "firstName": "Secretname"}),
			user(t, map[string]any{"email": "cy@example.com"}),
			user(t, map[string]any{"email": "dee@example.com"}),
		}
	}
	cases := []struct {
		name   string
		failed string
		want   []dynamic.Failure
	}{
		{"position, reason and an error list",
			`[{"position":1,"reason":"bad Secretname","errors":[{"message":"first"},"second"]},"plain text problem"]`,
			[]dynamic.Failure{{Key: idB, Reason: "bad [redacted]; first; second"}, {Key: "cy@example.com", Reason: "plain text problem"}}},
		{"user e-mail in another case, and a string index",
			`[{"user":{"email":"CY@EXAMPLE.COM"},"message":"m"},{"index":"1","error":{"message":"nested"}}]`,
			[]dynamic.Failure{{Key: idB, Reason: "nested"}, {Key: "cy@example.com", Reason: "m"}}},
		{"indexes out of order",
			`[{"index":2,"error":"for cy"},{"position":1,"error":"for B"}]`,
			[]dynamic.Failure{{Key: idB, Reason: "for B"}, {Key: "cy@example.com", Reason: "for cy"}}},
		{"ids and e-mails out of order",
			`[{"email":"cy@example.com","error":"for cy"},{"user":{"id":"` + idB + `"},"message":"for B"}]`,
			[]dynamic.Failure{{Key: idB, Reason: "for B"}, {Key: "cy@example.com", Reason: "for cy"}}},
		{"an id goes before an index",
			`[{"id":"` + idB + `","index":2,"message":"for B"},{"email":"cy@example.com","message":"for cy"}]`,
			[]dynamic.Failure{{Key: idB, Reason: "for B"}, {Key: "cy@example.com", Reason: "for cy"}}},
		{"an id that names no one, and no reason",
			`[{"id":"` + idD + `"},{"email":"cy@example.com","error":"` + token + ` refused"}]`,
			[]dynamic.Failure{{Key: idB, Reason: "Dynamic listed the user as failed without a reason"}, {Key: "cy@example.com", Reason: "[redacted] refused"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := answering(t, `{"created":[{"id":"`+idA+`","email":"x@example.com"}],"updated":[{"id":"u-1","email":"DEE@example.com"}],"failed":`+tc.failed+`,"total":4}`)
			res, err := c.BulkUpsert(context.Background(), users(t))
			if err != nil {
				t.Fatal(err)
			}
			if res.Created != 1 || res.Updated != 1 || !reflect.DeepEqual(res.Failed, tc.want) {
				t.Fatalf("got %+v\nwant failed %+v", res, tc.want)
			}
		})
	}
}

func TestSharedEmailFailureGoesToTheUserNotCreated(t *testing.T) {
	// Two rows with different ids and one e-mail: Dynamic creates the first
	// and refuses the second, naming it by the e-mail the two share.
	c, _, _ := answering(t, `{"created":[{"id":"`+idA+`","email":"dup@example.com"}],"updated":[],"failed":[{"email":"DUP@example.com","error":"email already in use"}],"total":2}`)
	res, err := c.BulkUpsert(context.Background(), []dynamic.User{
		user(t, map[string]any{"id": idA, "email": "dup@example.com"}),
		user(t, map[string]any{"id": idB, "email": "dup@example.com"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []dynamic.Failure{{Key: idB, Reason: "email already in use"}}
	if res.Created != 1 || !reflect.DeepEqual(res.Failed, want) {
		t.Fatalf("got %+v, want failed %+v", res, want)
	}
}

func TestAnswerThatDoesNotAddUpIsAnError(t *testing.T) {
	two := func(t *testing.T) []dynamic.User {
		return []dynamic.User{user(t, map[string]any{"id": idA}), user(t, map[string]any{"email": "b@example.com"})}
	}
	cases := []struct{ name, body, want string }{
		{"a user missing", `{"created":[{"id":"` + idA + `"}],"updated":[],"failed":[],"total":2}`, "lists 1 created, 0 updated and 0 failed users (total 2), but 2 were sent"},
		{"total disagrees", `{"created":[{"id":"` + idA + `"}],"updated":[],"failed":[{"error":"x"}],"total":3}`, "(total 3), but 2 were sent"},
		{"total not a number", `{"created":[{"id":"` + idA + `"}],"updated":[],"failed":[{"error":"x"}],"total":"two"}`, "total is not a whole number"},
		{"not a result", `[]`, "answer is not a bulk result"},
		{"not JSON", `Created`, "answer is not a bulk result"},
		{"a failure with no owner", `{"created":[{"name":"?"}],"updated":[],"failed":[{"error":"x"}]}`, "1 failed entries that name no user sent, and 2 users it lists nowhere"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := answering(t, tc.body)
			_, err := c.BulkUpsert(context.Background(), two(t))
			ve := vendorError(t, err, http.StatusCreated)
			if ve.Retryable() || !strings.Contains(ve.Message, tc.want) {
				t.Fatalf("retryable %v message %q, want %q", ve.Retryable(), ve.Message, tc.want)
			}
		})
	}
}

func TestRateLimitCarriesRetryAfter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	fake, c := setup(t, dynamicfake.Options{Requests: 1, Window: time.Minute, Clock: func() time.Time { return now }})
	batch := []dynamic.User{user(t, map[string]any{"email": "a@example.com"})}
	if _, err := c.BulkUpsert(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	now = now.Add(15 * time.Second)
	_, err := c.BulkUpsert(context.Background(), batch)
	ve := vendorError(t, err, http.StatusTooManyRequests)
	if !ve.Retryable() || ve.RetryAfter != 45*time.Second || !strings.Contains(ve.Message, "Too many requests") {
		t.Fatalf("retryable %v after %s message %q", ve.Retryable(), ve.RetryAfter, ve.Message)
	}
	now = now.Add(45 * time.Second)
	fake.Faults().FailNext(1, http.StatusTooManyRequests)
	fake.Faults().SetRetryAfter(5 * time.Second)
	_, err = c.BulkUpsert(context.Background(), batch)
	if ve := vendorError(t, err, http.StatusTooManyRequests); ve.RetryAfter != 5*time.Second {
		t.Fatalf("injected 429: retry after %s", ve.RetryAfter)
	}
	now = now.Add(5 * time.Second)
	if _, err := c.BulkUpsert(context.Background(), batch); err != nil {
		t.Fatalf("after waiting as told: %v", err)
	}
	if fake.EarlyRequests() != 0 || fake.Writes("a@example.com") != 2 {
		t.Fatalf("early %d writes %d", fake.EarlyRequests(), fake.Writes("a@example.com"))
	}
}

func TestWrongTokenIsAnAuthError(t *testing.T) {
	_, c := setup(t, dynamicfake.Options{Token: "another-token"})
	_, err := c.BulkUpsert(context.Background(), []dynamic.User{user(t, map[string]any{"email": "a@example.com"})})
	ve := vendorError(t, err, http.StatusUnauthorized)
	if !ve.Auth() || ve.Retryable() {
		t.Fatalf("auth %v retryable %v", ve.Auth(), ve.Retryable())
	}
}

func TestUnknownEnvironmentIsFinal(t *testing.T) {
	fake := dynamicfake.New(dynamicfake.Options{Token: token})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := dynamic.New(srv.URL, token, idD, srv.Client())
	_, err := c.BulkUpsert(context.Background(), []dynamic.User{user(t, map[string]any{"email": "a@example.com"})})
	if ve := vendorError(t, err, http.StatusNotFound); ve.Retryable() || !strings.Contains(ve.Message, "Environment not found") {
		t.Fatalf("%v", err)
	}
}

func TestMalformedEnvironmentIDIsRefusedBeforeSending(t *testing.T) {
	fake := dynamicfake.New(dynamicfake.Options{Token: token})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := dynamic.New(srv.URL, token, "my-env", srv.Client())
	_, err := c.BulkUpsert(context.Background(), []dynamic.User{user(t, map[string]any{"email": "a@example.com"})})
	ve := vendorError(t, err, http.StatusBadRequest)
	if ve.Retryable() || !strings.Contains(ve.Message, "exactly 36") || fake.Stats().Requests != 0 {
		t.Fatalf("%v (requests %d)", err, fake.Stats().Requests)
	}
}

func TestBadRequestIsFinalAndKeepsUserDataOut(t *testing.T) {
	fake, c := setup(t, dynamicfake.Options{})
	batch := []dynamic.User{user(t, map[string]any{"email": "private.person@example.com", "firstName": "Privatus"})}
	fake.Faults().FailNext(1, http.StatusBadRequest)
	_, err := c.BulkUpsert(context.Background(), batch)
	if ve := vendorError(t, err, http.StatusBadRequest); ve.Retryable() {
		t.Fatal("a 400 is retryable")
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `{"error":"Privatus <PRIVATE.PERSON@EXAMPLE.COM> is invalid","code":"bad_user"}`)
	}))
	defer srv.Close()
	_, err = dynamic.New(srv.URL, token, env, srv.Client()).BulkUpsert(context.Background(), batch)
	ve := vendorError(t, err, http.StatusUnprocessableEntity)
	if ve.Retryable() || strings.Contains(strings.ToLower(err.Error()), "private") || !strings.Contains(ve.Message, "[redacted] <[redacted]> is invalid") {
		t.Fatalf("%v", err)
	}
}

func TestServerErrorIsRetryable(t *testing.T) {
	fake, c := setup(t, dynamicfake.Options{})
	batch := []dynamic.User{user(t, map[string]any{"email": "a@example.com"})}
	fake.Faults().FailNext(1, http.StatusServiceUnavailable)
	_, err := c.BulkUpsert(context.Background(), batch)
	if ve := vendorError(t, err, http.StatusServiceUnavailable); !ve.Retryable() {
		t.Fatal("a 503 is not retryable")
	}
	if res, err := c.BulkUpsert(context.Background(), batch); err != nil || res.Created != 1 {
		t.Fatalf("the retry: %+v %v", res, err)
	}
}

func TestTooLargeAdvisesTheBatchSize(t *testing.T) {
	fake, c := setup(t, dynamicfake.Options{MaxUsers: 2})
	batch := []dynamic.User{
		user(t, map[string]any{"email": "a@example.com"}),
		user(t, map[string]any{"email": "b@example.com"}),
		user(t, map[string]any{"email": "c@example.com"}),
	}
	_, err := c.BulkUpsert(context.Background(), batch)
	ve := vendorError(t, err, http.StatusRequestEntityTooLarge)
	if ve.Retryable() || !strings.Contains(ve.Message, "lower --batch-size") || !strings.Contains(ve.Message, "3 users") {
		t.Fatalf("%v", err)
	}
	if fake.Count() != 0 {
		t.Fatal("users stored from a refused request")
	}
}

func TestHangingServerTimesOut(t *testing.T) {
	fake := dynamicfake.New(dynamicfake.Options{Token: token})
	fake.Faults().SetHang(true)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := dynamic.New(srv.URL, token, env, &http.Client{Timeout: 200 * time.Millisecond})
	_, err := c.BulkUpsert(context.Background(), []dynamic.User{user(t, map[string]any{"email": "a@example.com"})})
	ve := vendorError(t, err, 0)
	if !ve.Retryable() || ve.Err == nil {
		t.Fatalf("%v", err)
	}
}

func TestCancelledContextIsNotAVendorError(t *testing.T) {
	_, c := setup(t, dynamicfake.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.BulkUpsert(ctx, []dynamic.User{user(t, map[string]any{"email": "a@example.com"})})
	if _, isVendor := vendorapi.As(err); isVendor || !errors.Is(err, context.Canceled) {
		t.Fatalf("%v", err)
	}
}
