package bitlabs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"importer/activities/bitlabs"
	bitlabsfake "importer/activities/bitlabs/fake"
	"importer/activities/vendorapi"
)

const token = "s2s-secret-token"

func setup(t *testing.T, o bitlabsfake.Options) (*bitlabsfake.Server, *bitlabs.Client) {
	t.Helper()
	if o.Token == "" {
		o.Token = token
	}
	fake := bitlabsfake.New(o)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, bitlabs.New(srv.URL, token, &http.Client{Timeout: 10 * time.Second})
}

func users(ids ...string) []bitlabs.User {
	out := make([]bitlabs.User, len(ids))
	for i, id := range ids {
		out[i] = bitlabs.User{UID: id, Country: "DE", Languages: []string{"de", "en"}, Birthdate: "1999-01-01", Gender: "FEMALE"}
	}
	return out
}

func TestImportStoresUsers(t *testing.T) {
	fake, c := setup(t, bitlabsfake.Options{})
	batch := users("a", "b", "c")
	batch[0].Zipcode = "10115"
	batch[0].Username = "Anna"
	batch[0].Questions = []bitlabs.Question{{ID: "q1", NetworkID: 42, DirectValues: []string{"x"}}}
	res, err := c.Import(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 3 || len(res.Failed) != 0 {
		t.Fatalf("result %+v, want 3 imported", res)
	}
	if fake.Count() != 3 {
		t.Fatalf("fake holds %d users, want 3", fake.Count())
	}
	u, ok := fake.User("a")
	if !ok || u.Zipcode != "10115" || u.Username != "Anna" || u.Country != "DE" || len(u.Questions) != 1 ||
		u.Questions[0].NetworkID == nil || *u.Questions[0].NetworkID != 42 {
		t.Fatalf("stored user a: %+v", u)
	}
	if fake.Bulks() != 1 {
		t.Fatalf("bulks %d, want 1", fake.Bulks())
	}

	// Re-import replaces.
	again := users("a")
	again[0].Gender = "MALE"
	if res, err := c.Import(context.Background(), again); err != nil || res.SuccessCount != 1 {
		t.Fatalf("re-import: %+v, %v", res, err)
	}
	if u, _ := fake.User("a"); u.Gender != "MALE" || fake.Count() != 3 || fake.Received("a") != 2 {
		t.Fatalf("re-import did not replace: %+v, count %d, received %d", u, fake.Count(), fake.Received("a"))
	}
}

func TestImportNothingSendsNothing(t *testing.T) {
	fake, c := setup(t, bitlabsfake.Options{})
	res, err := c.Import(context.Background(), nil)
	if err != nil || res.SuccessCount != 0 || len(res.Failed) != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	if fake.Stats().Requests != 0 {
		t.Fatalf("an empty import sent %d requests", fake.Stats().Requests)
	}
}

func TestPerUserErrorsBecomeFailures(t *testing.T) {
	fake, c := setup(t, bitlabsfake.Options{})
	batch := users("ok1", "bad-birth", "bad-lang", "bad-many", "ok2")
	batch[1].Birthdate = "2999-01-01"
	batch[2].Languages = []string{"xx"}
	batch[3].Gender = "male" // the client sends what it is given; FromFields would upper-case it
	batch[3].Zipcode = "1"
	batch[3].Questions = []bitlabs.Question{{ID: "q1", NetworkID: 1}} // no answer values
	res, err := c.Import(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != 2 || len(res.Failed) != 3 {
		t.Fatalf("result %+v, want 2 imported and 3 failed", res)
	}
	want := map[string][]string{
		"bad-birth": {"invalid_birthdate: birthdate is in the future"},
		"bad-lang":  {"unsupported_languages: the user has no supported language"},
		"bad-many":  {"invalid_gender: gender must be one of MALE, FEMALE, OTHER", "invalid_zipcode", "invalid_answer_format: question q1: no answer values given"},
	}
	for _, f := range res.Failed {
		parts, ok := want[f.UID]
		if !ok {
			t.Fatalf("unexpected failure %+v", f)
		}
		for _, p := range parts {
			if !strings.Contains(f.Reason, p) {
				t.Errorf("%s: reason %q lacks %q", f.UID, f.Reason, p)
			}
		}
		if f.UID != "bad-many" && strings.Contains(f.Reason, ";") {
			t.Errorf("%s: reason %q names more than the one failed check", f.UID, f.Reason)
		}
		delete(want, f.UID)
	}
	if len(want) != 0 {
		t.Fatalf("no failure for %v", want)
	}
	if _, ok := fake.User("bad-lang"); ok || fake.Count() != 2 {
		t.Fatalf("refused users were stored: count %d", fake.Count())
	}
}

// canned serves one fixed answer and records what it got.
func canned(t *testing.T, status int, header map[string]string, body string) (*bitlabs.Client, *string) {
	t.Helper()
	var got string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = r.Header.Get("X-S2S-Token") + " " + string(b)
		mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return bitlabs.New(srv.URL+"/", token, srv.Client()), &got
}

func TestFailureReasonsFromVendorShapes(t *testing.T) {
	c, _ := canned(t, 200, nil, `{"data":{"success_count":1,"errors":[
		{"uid":"b","invalid_birthdate":null,"invalid_gender":false,"invalid_zipcode":"","invalid_question":"q9 not found","unsupported_languages":true,
		 "invalid_answer_format":{"question":"q2","reason":"not a number"},"invalid_country":"XX"}]},"error":null,"status":"success","trace_id":"t1"}`)
	res, err := c.Import(context.Background(), users("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	want := "invalid_zipcode; invalid_question: q9 not found; unsupported_languages: the user has no supported language; invalid_answer_format: question q2: not a number; invalid_country: XX"
	if res.SuccessCount != 1 || len(res.Failed) != 1 || res.Failed[0].UID != "b" || res.Failed[0].Reason != want {
		t.Fatalf("result %+v\nwant reason %q", res, want)
	}
}

func TestAnswerThatDoesNotAddUpIsAnError(t *testing.T) {
	for name, body := range map[string]string{
		"unknown uid":   `{"data":{"success_count":1,"errors":[{"uid":"zz-other-user","invalid_gender":"x"}]},"trace_id":"tr-7"}`,
		"count too low": `{"data":{"success_count":0,"errors":[{"uid":"a","invalid_gender":"x"}]},"trace_id":"tr-7"}`,
		"count too big": `{"data":{"success_count":5,"errors":[]},"trace_id":"tr-7"}`,
		"no data":       `{"data":null,"error":null,"status":"success","trace_id":"tr-7"}`,
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := canned(t, 200, nil, body)
			_, err := c.Import(context.Background(), users("a", "b"))
			ve, ok := vendorapi.As(err)
			if !ok {
				t.Fatalf("error %v is not a *vendorapi.Error", err)
			}
			if ve.Status != 200 || ve.Retryable() || !strings.Contains(ve.Message, "(trace tr-7)") {
				t.Fatalf("error %+v: want status 200, not retryable, with the trace id", ve)
			}
			if strings.Contains(err.Error(), "zz-other-user") {
				t.Fatalf("error names a user we did not send: %v", err)
			}
		})
	}
}

func TestOverlappingBulkIsAConflict(t *testing.T) {
	for _, status := range []int{http.StatusConflict, http.StatusLocked} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			fake, c := setup(t, bitlabsfake.Options{BulkLatency: 400 * time.Millisecond, OverlapStatus: status})
			first := make(chan error, 1)
			go func() {
				_, err := c.Import(context.Background(), users("a", "b"))
				first <- err
			}()
			waitFor(t, func() bool { return fake.Bulks() == 1 })
			_, err := c.Import(context.Background(), users("c", "d"))
			ve, ok := vendorapi.As(err)
			if !ok {
				t.Fatalf("overlapping bulk: error %v, want *vendorapi.Error", err)
			}
			if ve.Status != status || !ve.Conflict || !ve.Retryable() || ve.Auth() {
				t.Fatalf("overlapping bulk: %+v, want a retryable conflict", ve)
			}
			if !strings.Contains(ve.Message, "bulk import already running (trace ") {
				t.Fatalf("message %q lacks the vendor's explanation and trace", ve.Message)
			}
			if err := <-first; err != nil {
				t.Fatalf("first bulk: %v", err)
			}
			if fake.Overlaps() != 1 {
				t.Fatalf("overlaps %d, want 1", fake.Overlaps())
			}
			if _, ok := fake.User("c"); ok {
				t.Fatal("the refused bulk was imported")
			}
			// Once the first bulk is done the retry goes through.
			if res, err := c.Import(context.Background(), users("c", "d")); err != nil || res.SuccessCount != 2 {
				t.Fatalf("retry after the bulk: %+v, %v", res, err)
			}
		})
	}
}

func TestSingleUserRequestsBypassTheBulkLock(t *testing.T) {
	// The bulk holds the account far longer than the singles need, so the
	// singles finishing first shows they did not wait for it.
	const hold = 3 * time.Second
	fake, c := setup(t, bitlabsfake.Options{BulkLatency: hold})
	first := make(chan error, 1)
	go func() {
		_, err := c.Import(context.Background(), users("a", "b"))
		first <- err
	}()
	waitFor(t, func() bool { return fake.Bulks() == 1 })
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Import(context.Background(), users(fmt.Sprintf("single-%d", i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("single-user import during a bulk: %v", err)
		}
	}
	if len(first) != 0 {
		t.Fatal("the bulk ended before the single-user imports: they waited for it")
	}
	if fake.Overlaps() != 0 {
		t.Fatalf("overlaps %d, want 0", fake.Overlaps())
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if fake.Count() != 7 {
		t.Fatalf("fake holds %d users, want 7", fake.Count())
	}
}

func TestWrongTokenIsAnAuthError(t *testing.T) {
	fake := bitlabsfake.New(bitlabsfake.Options{Token: "the-right-one"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c := bitlabs.New(srv.URL, token, srv.Client())
	_, err := c.Import(context.Background(), users("secret-user-id"))
	ve, ok := vendorapi.As(err)
	if !ok {
		t.Fatalf("error %v, want *vendorapi.Error", err)
	}
	if ve.Status != 401 || !ve.Auth() || ve.Retryable() || ve.Conflict {
		t.Fatalf("%+v: want a final auth error", ve)
	}
	for _, leak := range []string{token, "the-right-one", "secret-user-id"} {
		if strings.Contains(err.Error(), leak) {
			t.Fatalf("error %q leaks %q", err, leak)
		}
	}
	if !regexp.MustCompile(`^bitlabs: import users: HTTP 401 Unauthorized: invalid S2S token \(trace [0-9a-f]{32}\)$`).MatchString(err.Error()) {
		t.Fatalf("error %q", err)
	}
	if fake.Count() != 0 {
		t.Fatal("an unauthorised request stored users")
	}
}

func TestServerErrorIsRetryable(t *testing.T) {
	fake, c := setup(t, bitlabsfake.Options{})
	fake.Faults().FailNext(1, http.StatusServiceUnavailable)
	_, err := c.Import(context.Background(), users("a", "b"))
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != 503 || !ve.Retryable() || ve.Conflict || ve.Auth() {
		t.Fatalf("error %v, want a retryable 503", err)
	}
	if !strings.Contains(ve.Message, "injected fault (trace ") {
		t.Fatalf("message %q lacks the envelope's msg and trace", ve.Message)
	}
	if res, err := c.Import(context.Background(), users("a", "b")); err != nil || res.SuccessCount != 2 {
		t.Fatalf("retry: %+v, %v", res, err)
	}
}

func TestEnvelopeMessageTraceAndRetryAfter(t *testing.T) {
	c, sent := canned(t, 429, map[string]string{"Retry-After": "7"},
		`{"data":null,"error":{"details":{"http":"429","msg":"Too many   requests"}},"status":"error","trace_id":"abc123"}`)
	_, err := c.Import(context.Background(), users("a"))
	ve, ok := vendorapi.As(err)
	if !ok {
		t.Fatalf("error %v", err)
	}
	if ve.Message != "Too many requests (trace abc123)" || ve.RetryAfter != 7*time.Second || !ve.Retryable() {
		t.Fatalf("%+v", ve)
	}
	if !strings.HasPrefix(*sent, token+" ") || !strings.Contains(*sent, `"questions":[]`) || !strings.Contains(*sent, `"users":[{"uid":"a"`) {
		t.Fatalf("request %q: want the token header and questions sent as []", *sent)
	}
}

func TestNonEnvelopeErrorsFallBackToText(t *testing.T) {
	c, _ := canned(t, 502, map[string]string{"Content-Type": "text/plain"}, "  upstream\n  connect error  ")
	_, err := c.Import(context.Background(), users("a"))
	ve, ok := vendorapi.As(err)
	if !ok || ve.Message != "upstream connect error" || !ve.Retryable() {
		t.Fatalf("error %v", err)
	}
	c, _ = canned(t, 400, nil, `{"data":null,"error":{"details":{"http":400,"msg":""}},"trace_id":"x"}`)
	_, err = c.Import(context.Background(), users("a"))
	ve, ok = vendorapi.As(err)
	if !ok || ve.Status != 400 || ve.Retryable() || !strings.Contains(ve.Message, `"trace_id":"x"`) {
		t.Fatalf("error %v", err)
	}
	c, _ = canned(t, 500, map[string]string{"Content-Type": "text/html"}, "<html>oops</html>")
	_, err = c.Import(context.Background(), users("a"))
	if ve, ok = vendorapi.As(err); !ok || ve.Message != "" {
		t.Fatalf("error %v: html pages are not messages", err)
	}
}

func TestCancelledContextIsNotAVendorError(t *testing.T) {
	fake, c := setup(t, bitlabsfake.Options{BulkLatency: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitFor(t, func() bool { return fake.Bulks() == 1 })
		cancel()
	}()
	start := time.Now()
	_, err := c.Import(ctx, users("a", "b"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if _, ok := vendorapi.As(err); ok {
		t.Fatalf("a cancelled call is a *vendorapi.Error: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("the call did not stop when the context was cancelled")
	}
}

func TestTransportErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := bitlabs.New(url, token, nil).Import(context.Background(), users("a"))
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != 0 || ve.Err == nil || !ve.Retryable() {
		t.Fatalf("error %v, want a retryable transport error", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Error("condition not met in time")
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestEchoedTokenIsRedactedAndALongMessageKeepsItsTrace(t *testing.T) {
	c, _ := canned(t, 403, nil, `{"data":null,"error":{"details":{"http":403,"msg":"token `+token+` may not import"}},"trace_id":"tr-9"}`)
	_, err := c.Import(context.Background(), users("a"))
	ve, ok := vendorapi.As(err)
	if !ok || ve.Message != "token [redacted] may not import (trace tr-9)" || !ve.Auth() {
		t.Fatalf("error %v", err)
	}

	long := strings.Repeat("field is wrong ", 40)
	c, _ = canned(t, 400, nil, `{"data":null,"error":{"details":{"http":400,"msg":"`+long+`"}},"trace_id":"tr-10"}`)
	_, err = c.Import(context.Background(), users("a"))
	if ve, ok = vendorapi.As(err); !ok || !strings.HasSuffix(ve.Message, "… (trace tr-10)") || len(ve.Message) > vendorapi.MaxMessage+40 {
		t.Fatalf("error %v: a long message is trimmed and keeps the trace id", err)
	}
}

func TestAnEchoedTokenStaysOutOfTheError(t *testing.T) {
	const wrong = "wrong-s2s-token-9f8e7d"
	for name, body := range map[string]string{
		"text":     "unknown token " + wrong,
		"envelope": `{"error": {"details": {"msg": "token ` + wrong + ` is not valid"}}, "trace_id": "t-1"}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-S2S-Token") != wrong {
					t.Errorf("the token was not sent")
				}
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, body)
			}))
			defer srv.Close()
			_, err := bitlabs.New(srv.URL, wrong, nil).Import(context.Background(), users("u1", "u2"))
			ve, ok := vendorapi.As(err)
			if !ok || ve.Status != http.StatusUnauthorized {
				t.Fatalf("want a 401 vendor error, got %v", err)
			}
			if strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "[redacted]") {
				t.Fatalf("the error must show the vendor's message without the token: %v", err)
			}
		})
	}
}

// A base URL that redirects (a moved host, a proxy, someone in the middle)
// must not get the S2S token sent on: Go's client would keep the
// X-S2S-Token header on a redirect to another host. The import fails for
// good, naming the base URL.
func TestARedirectIsRefusedAndTheTokenNeverLeavesTheVendor(t *testing.T) {
	var tokens atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-S2S-Token") != "" {
			tokens.Add(1)
		}
	}))
	t.Cleanup(elsewhere.Close)
	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusPermanentRedirect)
	}))
	t.Cleanup(moved.Close)
	_, err := bitlabs.New(moved.URL, token, &http.Client{Timeout: 10 * time.Second}).Import(context.Background(), users("a", "b"))
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusPermanentRedirect || ve.Retryable() || !strings.Contains(err.Error(), "check the base URL") {
		t.Fatalf("error %v: want a final error that names the base URL", err)
	}
	if n := tokens.Load(); n != 0 {
		t.Fatalf("the S2S token went to the redirect's target %d times", n)
	}
}
