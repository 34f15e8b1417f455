package vendorapi

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDoSendsJSONAndReturnsTheAnswer(t *testing.T) {
	var gotBody, gotType, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotType, gotAuth = string(b), r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	status, body, err := Do(context.Background(), srv.Client(), Call{
		Vendor: "v", Op: "create", Method: http.MethodPost, URL: srv.URL,
		Header: http.Header{"Authorization": {"Bearer k"}}, JSON: []int{1, 2},
	})
	if err != nil || status != 201 || string(body) != `{"ok":true}` {
		t.Fatalf("status %d body %q err %v", status, body, err)
	}
	if gotBody != "[1,2]" || gotType != "application/json" || gotAuth != "Bearer k" {
		t.Fatalf("request body %q type %q auth %q", gotBody, gotType, gotAuth)
	}
}

func TestDoTurnsFailuresIntoTypedErrors(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		ctype      string
		body       string
		retryAfter string
		wantMsg    string
		retryable  bool
		wantAfter  time.Duration
	}{
		{"429 with Retry-After", 429, "application/json", `{"error":"Too many requests. Please try again later."}`, "7", "Too many requests", true, 7 * time.Second},
		{"422 with a nested message", 422, "application/json", `{"errors":[{"message":"email is invalid"}]}`, "", "email is invalid", false, 0},
		{"500 plain text", 500, "text/plain", "upstream exploded", "", "upstream exploded", true, 0},
		{"502 html page", 502, "text/html", "<html><body>Bad gateway</body></html>", "", "", true, 0},
		{"401 echoing the key", 401, "application/json", `{"message":"key secret-key-123 is not valid"}`, "", "key [redacted] is not valid", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			status, _, err := Do(context.Background(), srv.Client(), Call{Vendor: "v", Op: "op", Method: http.MethodGet, URL: srv.URL, Secrets: []string{"secret-key-123"}})
			ve, ok := As(err)
			if !ok || status != tc.status || ve.Status != tc.status {
				t.Fatalf("status %d, err %v", status, err)
			}
			if ve.Message != tc.wantMsg && !strings.Contains(ve.Message, tc.wantMsg) || (tc.wantMsg == "" && ve.Message != "") {
				t.Errorf("message %q, want %q", ve.Message, tc.wantMsg)
			}
			if ve.Retryable() != tc.retryable || ve.RetryAfter != tc.wantAfter {
				t.Errorf("retryable %v after %s; want %v after %s", ve.Retryable(), ve.RetryAfter, tc.retryable, tc.wantAfter)
			}
		})
	}
}

func TestDoNetworkErrorIsRetryableAndCancellationIsNot(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := srv.URL
	srv.Close()
	_, _, err := Do(context.Background(), nil, Call{Vendor: "v", Op: "op", Method: http.MethodGet, URL: url})
	if ve, ok := As(err); !ok || ve.Status != 0 || !ve.Retryable() {
		t.Fatalf("a refused connection should be a retryable vendor error, got %v", err)
	}

	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = Do(ctx, hang.Client(), Call{Vendor: "v", Op: "op", Method: http.MethodGet, URL: hang.URL})
	if _, isVendor := As(err); isVendor || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a cancelled call should return the context's error, got %v", err)
	}
}

func TestDoDoesNotQuoteValuesThatCannotBeEncoded(t *testing.T) {
	_, _, err := Do(context.Background(), nil, Call{Vendor: "v", Op: "op", Method: http.MethodPost, URL: "http://127.0.0.1:1", JSON: map[string]float64{"ltv": math.Inf(1)}})
	if err == nil || strings.Contains(err.Error(), "Inf") || !strings.Contains(err.Error(), "encode request") {
		t.Fatalf("got %v", err)
	}
}

func TestDoSkipHTMLKeepsProxyPagesFromTheMessageReader(t *testing.T) {
	cases := []struct {
		name, ctype, body string
		skip              bool
		want              string
	}{
		{"html page skipped", "text/html", "<html>Bad gateway</html>", true, ""},
		{"html page read when not asked to skip", "text/html", "<html>Bad gateway</html>", false, "read: <html>Bad gateway</html>"},
		{"JSON labelled html still read", "text/html; charset=utf-8", `{"msg":"quota"}`, true, `read: {"msg":"quota"}`},
		{"plain text read", "text/plain", "upstream reset", true, "read: upstream reset"},
	}
	// One server for every case: it answers with the type and body the
	// request's query names.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.URL.Query().Get("type"))
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, r.URL.Query().Get("body"))
	}))
	defer srv.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"type": {tc.ctype}, "body": {tc.body}}
			_, body, err := Do(context.Background(), srv.Client(), Call{Vendor: "v", Op: "op", Method: http.MethodGet, URL: srv.URL + "?" + q.Encode(),
				Message: func(b []byte) string { return "read: " + string(b) }, SkipHTML: tc.skip})
			ve, ok := As(err)
			if !ok {
				t.Fatalf("want a *Error, got %v", err)
			}
			if ve.Message != tc.want {
				t.Fatalf("message %q, want %q", ve.Message, tc.want)
			}
			if string(body) != tc.body {
				t.Fatalf("body %q: a failed answer's body must come back for the caller to read", body)
			}
		})
	}
}

func TestJoinDistinctDropsBlanksAndRepeats(t *testing.T) {
	got := JoinDistinct("; ", "Invalid body", " ", "", "users[3].email: invalid", "Invalid body", "users[3].email: invalid")
	if want := "Invalid body; users[3].email: invalid"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := JoinDistinct(": ", "", "  "); got != "" {
		t.Fatalf("blank parts only: got %q", got)
	}
}

// A vendor (or whoever sits between) that answers with a redirect gets
// nothing more: the credential headers never reach the redirect's target,
// whichever client the caller passed, and the error is final and says to
// check the base URL.
func TestDoRefusesARedirectSoCredentialsStayWithTheVendor(t *testing.T) {
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer elsewhere.Close()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/steal?token=abc", status)
		}))
		for name, hc := range map[string]*http.Client{"nil": nil, "plain": {}, "following": {CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}} {
			_, _, err := Do(context.Background(), hc, Call{
				Vendor: "bitlabs", Op: "import users", Method: http.MethodPost, URL: vendor.URL,
				Header: http.Header{"X-S2S-Token": {"s2s-secret"}, "Authorization": {"Bearer k"}}, JSON: []int{1},
			})
			ve, ok := As(err)
			if !ok || ve.Status != status || ve.Retryable() || ve.Auth() || ve.Message != RedirectRefused {
				t.Fatalf("%d, %s client: %v (%+v); want a final vendor error saying the redirect is refused", status, name, err, ve)
			}
			if msg := err.Error(); !strings.Contains(msg, "check the base URL") || strings.Contains(msg, "steal") || strings.Contains(msg, elsewhere.URL) {
				t.Fatalf("message %q: want the base URL named as the thing to check, and the redirect's target left out", msg)
			}
		}
		vendor.Close()
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect's target got %d requests", n)
	}
}
