package codec_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"importer/internal/codec"
)

const uiOrigin = "http://127.0.0.1:8233"

var httpClient = &http.Client{Timeout: 30 * time.Second}

func startHandler(t *testing.T, ring *codec.Keyring, o codec.HandlerOptions) string {
	t.Helper()
	srv := httptest.NewServer(codec.Handler(ring, o))
	t.Cleanup(srv.Close)
	return srv.URL
}

// post sends payloads the way the Temporal UI does: protobuf JSON, the
// namespace header, and a query string the UI appends.
func post(t *testing.T, url string, payloads []*commonpb.Payload, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+"?preserveStorageRefs=true", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func parsePayloads(t *testing.T, b []byte) []*commonpb.Payload {
	t.Helper()
	var out commonpb.Payloads
	if err := protojson.Unmarshal(b, &out); err != nil {
		t.Fatalf("response is not payloads JSON: %v: %s", err, b)
	}
	return out.Payloads
}

func TestHandlerEncodeDecodeOverHTTP(t *testing.T) {
	ring := mustRing(t, "k1:"+codec.NewKey(), "")
	url := startHandler(t, ring, codec.HandlerOptions{})
	plain := samplePayloads(t)[:5] // the large one is exercised below

	resp, body := post(t, url+"/encode", plain, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/encode: %d %s", resp.StatusCode, body)
	}
	if bytes.Contains(body, []byte(secret)) {
		t.Fatal("/encode answered plaintext")
	}
	encoded := parsePayloads(t, body)
	// What the endpoint sealed, the worker's codec opens.
	local, err := codec.New(ring).Decode(encoded)
	if err != nil {
		t.Fatal(err)
	}
	for i := range plain {
		if !proto.Equal(local[i], plain[i]) {
			t.Errorf("/encode payload %d does not open locally", i)
		}
	}

	// What the worker sealed, /decode opens, under a namespace prefix too.
	sealed, err := codec.New(ring).Encode(samplePayloads(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/decode", "/default/decode"} {
		resp, body = post(t, url+path, sealed, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		decoded := parsePayloads(t, body)
		want := samplePayloads(t)
		if len(decoded) != len(want) {
			t.Fatalf("%s: %d payloads back, want %d", path, len(decoded), len(want))
		}
		for i := range want {
			if !proto.Equal(decoded[i], want[i]) {
				t.Errorf("%s payload %d differs", path, i)
			}
		}
	}

	// A payload the ring cannot open is a 400 naming the key, not the data.
	foreign, _ := codec.New(mustRing(t, "k9:"+codec.NewKey(), "")).Encode(plain[:1])
	resp, body = post(t, url+"/decode", foreign, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `key "k9" is not in the keyring`) {
		t.Errorf("foreign payload: %d %s", resp.StatusCode, body)
	}
}

func preflight(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, url+"/decode", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestHandlerCORS(t *testing.T) {
	ring := mustRing(t, "k1:"+codec.NewKey(), "")
	url := startHandler(t, ring, codec.HandlerOptions{
		AllowedOrigins: []string{uiOrigin + "/", "https://Temporal.Example.com"},
		Tokens:         []string{"tok"},
	})

	for _, origin := range []string{uiOrigin, "https://temporal.example.com"} {
		resp := preflight(t, url, origin)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("preflight from %s: %d (preflights carry no token and must still pass)", origin, resp.StatusCode)
		}
		h := resp.Header
		if h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("preflight from %s: allow-origin %q, credentials %q", origin,
				h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"))
		}
		allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
		for _, want := range []string{"authorization", "content-type", "x-namespace"} {
			if !strings.Contains(allowed, want) {
				t.Errorf("allow-headers %q lacks %s", allowed, want)
			}
		}
		if !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("allow-methods %q", h.Get("Access-Control-Allow-Methods"))
		}
	}

	resp := preflight(t, url, "https://evil.example")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from a refused origin: %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}

	sealed, _ := codec.New(ring).Encode(samplePayloads(t)[:1])
	// Even with a valid token a page from elsewhere is refused.
	resp, body := post(t, url+"/decode", sealed, map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer tok"})
	if resp.StatusCode != http.StatusForbidden || bytes.Contains(body, []byte(secret)) {
		t.Errorf("POST from a refused origin: %d %s", resp.StatusCode, body)
	}
	// The UI's own request gets the answer and the header to read it.
	resp, body = post(t, url+"/decode", sealed, map[string]string{"Origin": uiOrigin, "Authorization": "Bearer tok"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
		t.Errorf("POST from the UI: %d, allow-origin %q: %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), body)
	}
	// The UI can read a 401 too, to tell the user why.
	resp, _ = post(t, url+"/decode", sealed, map[string]string{"Origin": uiOrigin})
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
		t.Errorf("401 from the UI: %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestHandlerTokens(t *testing.T) {
	ring := mustRing(t, "k1:"+codec.NewKey(), "")
	url := startHandler(t, ring, codec.HandlerOptions{Tokens: []string{" first ", "", "second"}})
	sealed, _ := codec.New(ring).Encode(samplePayloads(t)[:1])

	for name, auth := range map[string]string{
		"none":          "",
		"wrong":         "Bearer third",
		"empty bearer":  "Bearer ",
		"prefix":        "Bearer firs",
		"other scheme":  "Basic Zmlyc3Q6",
		"token no type": "first",
	} {
		hdr := map[string]string{}
		if auth != "" {
			hdr["Authorization"] = auth
		}
		resp, body := post(t, url+"/decode", sealed, hdr)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, resp.StatusCode)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate", name)
		}
		if bytes.Contains(body, []byte(secret)) {
			t.Errorf("%s: answered plaintext", name)
		}
	}
	for _, auth := range []string{"Bearer first", "bearer second"} {
		resp, body := post(t, url+"/decode", sealed, map[string]string{"Authorization": auth})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%q: %d %s", auth, resp.StatusCode, body)
		}
	}
}

func TestServeRefusesNonLoopbackWithoutTokens(t *testing.T) {
	ring := mustRing(t, "k1:"+codec.NewKey(), "")
	open := codec.Handler(ring, codec.HandlerOptions{})
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.10:0"} {
		s, err := codec.Serve(addr, open)
		if err == nil {
			s.Close()
			t.Errorf("%s: served without tokens", addr)
			continue
		}
		if !strings.Contains(err.Error(), "without tokens") || !strings.Contains(err.Error(), codec.EnvTokens) {
			t.Errorf("%s: unclear error %q", addr, err)
		}
	}
	// A handler Serve cannot vouch for is treated as tokenless.
	if s, err := codec.Serve(":0", http.NotFoundHandler()); err == nil {
		s.Close()
		t.Error("served a foreign handler on every interface")
	}
}

func TestServeOnLoopback(t *testing.T) {
	ring := mustRing(t, "k1:"+codec.NewKey(), "")
	s, err := codec.Serve("127.0.0.1:0", codec.Handler(ring, codec.HandlerOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Errorf("URL %q", s.URL())
	}
	sealed, _ := codec.New(ring).Encode(samplePayloads(t)[:1])
	resp, body := post(t, s.URL()+"/decode", sealed, nil)
	if resp.StatusCode != http.StatusOK || !proto.Equal(parsePayloads(t, body)[0], samplePayloads(t)[0]) {
		t.Errorf("decode via Serve: %d %s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if _, err := httpClient.Post(s.URL()+"/decode", "application/json", strings.NewReader("{}")); err == nil {
		t.Error("still serving after shutdown")
	}
}
