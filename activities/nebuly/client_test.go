package nebuly_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"importer/activities/nebuly"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/vendorapi"
)

const key = "test-key"

func setup(t *testing.T, o nebulyfake.Options) (*nebulyfake.Server, *nebuly.Client) {
	t.Helper()
	if o.APIKey == "" {
		o.APIKey = key
	}
	fake := nebulyfake.New(o)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, nebuly.New(srv.URL, key, &http.Client{Timeout: 5 * time.Second})
}

func users(ids ...string) []nebuly.User {
	out := make([]nebuly.User, len(ids))
	for i, id := range ids {
		out[i] = nebuly.User{EndUser: id, Tags: map[string]string{"Plan": "Free"}, ActiveFrom: "2026-01-01"}
	}
	return out
}

func TestInsertThenUpdateExistingUsers(t *testing.T) {
	for _, policy := range []nebulyfake.DuplicatePolicy{nebulyfake.Skip, nebulyfake.Conflict, nebulyfake.Upsert} {
		t.Run(string(policy), func(t *testing.T) {
			fake, c := setup(t, nebulyfake.Options{DuplicatePolicy: policy})
			ctx := context.Background()
			out, err := c.Upsert(ctx, users("a@x.io", "b@x.io"))
			if err != nil {
				t.Fatal(err)
			}
			if out.Inserted != 2 || out.Updated != 0 || len(out.Failed) != 0 {
				t.Fatalf("first upsert: %+v", out)
			}
			again := users("a@x.io", "b@x.io", "c@x.io")
			again[0].Tags = map[string]string{"Plan": "Pro"}
			again[0].ActiveTo = "2026-12-31"
			out, err = c.Upsert(ctx, again)
			if err != nil {
				t.Fatal(err)
			}
			if out.Inserted+out.Updated != 3 || len(out.Failed) != 0 {
				t.Fatalf("second upsert: %+v", out)
			}
			if policy != nebulyfake.Upsert && (out.Inserted != 1 || out.Updated != 2) {
				t.Fatalf("second upsert: %+v, want 1 inserted 2 updated", out)
			}
			u, _ := fake.User("a@x.io")
			if u.Tags["Plan"] != "Pro" || u.ActiveTo != "2026-12-31" {
				t.Fatalf("existing user was not replaced: %+v", u)
			}
			if fake.Count() != 3 {
				t.Fatalf("fake holds %d users, want 3", fake.Count())
			}
		})
	}
}

func TestValidationRejectsNameTheUserAndKeepTheRest(t *testing.T) {
	fake, c := setup(t, nebulyfake.Options{})
	batch := users("a@x.io", "b@x.io", "c@x.io")
	batch[1].ActiveFrom = "yesterday" // FromFields would refuse it; the vendor must too
	out, err := c.Upsert(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if out.Inserted != 2 || len(out.Failed) != 1 || out.Failed[0].EndUser != "b@x.io" {
		t.Fatalf("%+v", out)
	}
	if !strings.Contains(out.Failed[0].Reason, "active_from") {
		t.Errorf("reason %q does not name the field", out.Failed[0].Reason)
	}
	if fake.Count() != 2 {
		t.Fatalf("fake holds %d", fake.Count())
	}
}

func TestValidationErrorKeepsUserDataOutOfTheMessage(t *testing.T) {
	_, c := setup(t, nebulyfake.Options{})
	batch := users("secret@x.io")
	batch[0].ActiveFrom = "secret-date"
	_, err := c.Insert(context.Background(), batch)
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusUnprocessableEntity {
		t.Fatalf("want a 422, got %v", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error echoes user data: %v", err)
	}
	if !strings.Contains(err.Error(), "users[0].active_from") || ve.Retryable() {
		t.Fatalf("error %v should name the field and not be retryable", err)
	}
}

func TestTooLargeBatchIsSplit(t *testing.T) {
	fake, c := setup(t, nebulyfake.Options{MaxUsers: 3})
	var ids []string
	for i := 0; i < 10; i++ {
		ids = append(ids, string(rune('a'+i))+"@x.io")
	}
	out, err := c.Upsert(context.Background(), users(ids...))
	if err != nil {
		t.Fatal(err)
	}
	if out.Inserted != 10 || fake.Count() != 10 {
		t.Fatalf("%+v, fake holds %d", out, fake.Count())
	}
	if fake.Stats().ByStatus[http.StatusRequestEntityTooLarge] == 0 {
		t.Fatal("the fake never refused a batch; the test proves nothing")
	}
}

func TestRateLimitGivesRetryAfter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	_, c := setup(t, nebulyfake.Options{Rate: 1, Burst: 1, Clock: clock})
	ctx := context.Background()
	if _, err := c.Upsert(ctx, users("a@x.io")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Upsert(ctx, users("b@x.io"))
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusTooManyRequests {
		t.Fatalf("want 429, got %v", err)
	}
	if !ve.Retryable() || ve.RetryAfter != time.Second {
		t.Fatalf("429 should be retryable after 1s: %+v", ve)
	}
	now = now.Add(time.Second)
	if _, err := c.Upsert(ctx, users("b@x.io")); err != nil {
		t.Fatalf("after waiting Retry-After: %v", err)
	}
}

func TestServerErrorIsRetryableThenSucceeds(t *testing.T) {
	fake, c := setup(t, nebulyfake.Options{})
	fake.Faults().FailNext(1, http.StatusBadGateway)
	_, err := c.Upsert(context.Background(), users("a@x.io"))
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusBadGateway || !ve.Retryable() {
		t.Fatalf("want a retryable 502, got %v", err)
	}
	out, err := c.Upsert(context.Background(), users("a@x.io"))
	if err != nil || out.Inserted != 1 {
		t.Fatalf("retry: %+v %v", out, err)
	}
}

func TestRetryAfterLostAnswerConverges(t *testing.T) {
	// The first POST stores the users but its answer is lost; sending the
	// batch again must count them as updated, not fail or duplicate them.
	fake, c := setup(t, nebulyfake.Options{})
	fake.Put(nebulyfake.User{EndUser: "a@x.io", Tags: map[string]string{}, ActiveFrom: "2025-01-01"})
	out, err := c.Upsert(context.Background(), users("a@x.io", "b@x.io"))
	if err != nil {
		t.Fatal(err)
	}
	if out.Inserted != 1 || out.Updated != 1 || fake.Count() != 2 {
		t.Fatalf("%+v, fake holds %d", out, fake.Count())
	}
}

func TestWrongKeyFailsFastWithoutLeakingIt(t *testing.T) {
	fake := nebulyfake.New(nebulyfake.Options{APIKey: "right"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := nebuly.New(srv.URL, "wrong-key-123", nil)
	_, err := c.Upsert(context.Background(), users("a@x.io"))
	ve, ok := vendorapi.As(err)
	if !ok || !ve.Auth() || ve.Retryable() {
		t.Fatalf("want a final auth error, got %v", err)
	}
	if strings.Contains(err.Error(), "wrong-key-123") {
		t.Fatalf("error leaks the key: %v", err)
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	fake := nebulyfake.New(nebulyfake.Options{APIKey: key})
	fake.Faults().SetHang(true)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := nebuly.New(srv.URL, key, &http.Client{Timeout: 100 * time.Millisecond})
	_, err := c.Upsert(context.Background(), users("a@x.io"))
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != 0 || !ve.Retryable() {
		t.Fatalf("want a retryable transport error, got %v", err)
	}
	fake.Faults().SetHang(false)
}

func TestCancelledContextIsNotAVendorError(t *testing.T) {
	_, c := setup(t, nebulyfake.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Upsert(ctx, users("a@x.io"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if _, ok := vendorapi.As(err); ok {
		t.Fatal("a cancelled call must not look like a vendor failure to retry")
	}
}

func TestListAndDelete(t *testing.T) {
	fake, c := setup(t, nebulyfake.Options{})
	ctx := context.Background()
	if _, err := c.Upsert(ctx, users("a@x.io", "b@x.io")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, []string{"a@x.io"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].EndUser != "b@x.io" || fake.Count() != 1 {
		t.Fatalf("list after delete: %+v", got)
	}
}

func TestFailedAnswerMessages(t *testing.T) {
	sixDetails := `{"detail":[` + strings.Repeat(`{"loc":["body","users",0,"active_from"],"msg":"invalid date","input":"secret-input"},`, 5) +
		`{"loc":["body","users",1,"tags"],"msg":"not a dict","input":"secret-input"}]}`
	cases := []struct {
		name, ctype, body string
		status            int
		want              string
	}{
		{"proxy html page", "text/html", "<html><body>502 Bad Gateway</body></html>", 502, ""},
		{"plain text", "text/plain", "  upstream\n reset ", 503, "upstream reset"},
		{"detail string echoing the key", "application/json", `{"detail":"key ` + key + ` is not valid"}`, 401, "key [redacted] is not valid"},
		{"message field", "application/json", `{"message":"quota exceeded"}`, 429, "quota exceeded"},
		{"error field", "application/json", `{"error":"maintenance"}`, 503, "maintenance"},
		{"validation details", "application/json", sixDetails, 422,
			"users[0].active_from: invalid date; users[0].active_from: invalid date; users[0].active_from: invalid date; " +
				"users[0].active_from: invalid date; users[0].active_from: invalid date; and 1 more"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := canned(t, tc.status, tc.ctype, tc.body, nil).Insert(context.Background(), users("a@x.io", "b@x.io"))
			ve, ok := vendorapi.As(err)
			if !ok || ve.Status != tc.status {
				t.Fatalf("want a *vendorapi.Error with status %d, got %v", tc.status, err)
			}
			if ve.Message != tc.want {
				t.Fatalf("message %q, want %q", ve.Message, tc.want)
			}
			if strings.Contains(err.Error(), "secret-input") || strings.Contains(err.Error(), key) {
				t.Fatalf("error echoes the request or the key: %v", err)
			}
		})
	}
}

func TestAnEchoedKeyStaysOutOfTheError(t *testing.T) {
	const wrong = "sk-wrong-key-0a1b2c3d"
	for name, body := range map[string]string{
		"text":   "invalid API key: Bearer " + wrong,
		"detail": `{"detail": "the key ` + wrong + ` is not valid"}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.Header.Get("Authorization"), wrong) {
					t.Errorf("the key was not sent: %q", r.Header.Get("Authorization"))
				}
				if strings.HasPrefix(body, "{") {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(body))
			}))
			defer srv.Close()
			_, err := nebuly.New(srv.URL, wrong, nil).Upsert(context.Background(), users("a@example.com"))
			ve, ok := vendorapi.As(err)
			if !ok || ve.Status != http.StatusUnauthorized || !ve.Auth() {
				t.Fatalf("want a 401 vendor error, got %v", err)
			}
			if strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "[redacted]") {
				t.Fatalf("the error must show the vendor's message without the key: %v", err)
			}
		})
	}
}

func TestRefusalsNamedByPositionAreFailuresNotErrors(t *testing.T) {
	// One answer names both users of the first POST; the client must file
	// them as failures and send nothing more for them.
	var posts atomic.Int64
	c := canned(t, http.StatusUnprocessableEntity, "application/json",
		`{"detail":[{"loc":["body","users",0,"active_to"],"msg":"before active_from"},{"loc":["body","users",1],"msg":"missing end_user"}]}`, &posts)
	out, err := c.Upsert(context.Background(), users("a@x.io", "b@x.io"))
	if err != nil {
		t.Fatal(err)
	}
	want := []nebuly.Failure{
		{EndUser: "a@x.io", Reason: "Nebuly refused the user: active_to: before active_from"},
		{EndUser: "b@x.io", Reason: "Nebuly refused the user: missing end_user"},
	}
	if out.Inserted != 0 || out.Updated != 0 || len(out.Failed) != 2 || out.Failed[0] != want[0] || out.Failed[1] != want[1] || posts.Load() != 1 {
		t.Fatalf("outcome %+v after %d requests, want %+v after 1", out, posts.Load(), want)
	}
}

// canned makes a client of a server that gives every request the same
// answer, and counts the requests in hits if it is not nil.
func canned(t *testing.T, status int, ctype, body string, hits *atomic.Int64) *nebuly.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return nebuly.New(srv.URL, key, srv.Client())
}

func TestKnownUsersCostOneRowSendEach(t *testing.T) {
	for _, policy := range []nebulyfake.DuplicatePolicy{nebulyfake.Skip, nebulyfake.Conflict} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			fake, c := setup(t, nebulyfake.Options{DuplicatePolicy: policy})
			var changed, fresh []string
			for i := range 40 {
				changed = append(changed, fmt.Sprintf("old%d@example.com", i))
			}
			for i := range 25 {
				fresh = append(fresh, fmt.Sprintf("new%d@example.com", i))
			}
			batch := users(append(append([]string{}, changed...), fresh...)...)
			known := map[string]bool{}
			for _, id := range changed {
				known[id] = true
			}
			// One of the known users was deleted at the vendor since: its
			// PUT finds nothing and it is POSTed, not lost.
			fake.Reset()
			fake.Put(fakeUsers(changed[1:])...)

			out, err := c.UpsertKnown(context.Background(), batch, known)
			if err != nil {
				t.Fatal(err)
			}
			if out.Inserted != 26 || out.Updated != 39 || len(out.Failed) != 0 || fake.Count() != 65 {
				t.Fatalf("outcome %+v, fake holds %d; want 26 inserted, 39 updated, all 65 stored", out, fake.Count())
			}
			if sent := fake.Rows(http.MethodPost) + fake.Rows(http.MethodPut); sent != 66 {
				t.Fatalf("%d row-sends (POST %d, PUT %d); want 65 plus the one user the vendor lost", sent, fake.Rows(http.MethodPost), fake.Rows(http.MethodPut))
			}

			// Without knowing, every existing user costs a POST and a PUT
			// (or, where POST refuses existing users, a PUT and a POST).
			fake.Reset()
			fake.Put(fakeUsers(changed)...)
			if _, err := c.Upsert(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			sent := fake.Rows(http.MethodPost) + fake.Rows(http.MethodPut)
			t.Logf("40 changed and 25 new users: %d row-sends with the state, %d without", 66-1, sent)
			if sent <= 65 {
				t.Fatalf("Upsert without state sent %d rows; the test cannot tell the two apart", sent)
			}
		})
	}
}

// fakeUsers are users the fake has already.
func fakeUsers(ids []string) []nebulyfake.User {
	out := make([]nebulyfake.User, len(ids))
	for i, id := range ids {
		out[i] = nebulyfake.User{EndUser: id, Tags: map[string]string{"Plan": "Free"}, ActiveFrom: "2025-01-01"}
	}
	return out
}
