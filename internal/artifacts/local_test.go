package artifacts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves; the handler reads it from the
// server's goroutines.
type fakeClock struct{ unix atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.unix.Store(t.Unix())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(c.unix.Load(), 0) }
func (c *fakeClock) advance(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newTestLocal(t *testing.T) (*Local, *fakeClock) {
	t.Helper()
	l, err := NewLocal(t.TempDir(), "", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	l.now = clock.now
	return l, clock
}

// serve starts the store's server on a free loopback port.
func serve(t *testing.T, l *Local) *Server {
	t.Helper()
	srv, err := l.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return srv
}

func put(t *testing.T, s Store, key, content string) {
	t.Helper()
	n, err := s.Put(context.Background(), key, strings.NewReader(content))
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	if n != int64(len(content)) {
		t.Fatalf("Put(%s) size = %d, want %d", key, n, len(content))
	}
}

func readAll(t *testing.T, s Store, key string) string {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(b)
}

func TestLocalPutOpenReplaceDelete(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	key := "fynd/imp-1/members.csv"

	if _, err := l.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open before Put: err = %v, want ErrNotFound", err)
	}
	put(t, l, key, "email\na@example.com\n")
	if got := readAll(t, l, key); got != "email\na@example.com\n" {
		t.Fatalf("content = %q", got)
	}
	// An activity that runs twice writes the key again.
	put(t, l, key, "email\nb@example.com\n")
	if got := readAll(t, l, key); got != "email\nb@example.com\n" {
		t.Fatalf("after replace, content = %q", got)
	}

	st, err := os.Stat(filepath.Join(l.Dir(), "fynd", "imp-1", "members.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("artifact file mode = %04o, want 0600", perm)
	}
	// The store's own directory came from t.TempDir; the ones below it the
	// store made.
	for _, d := range []string{filepath.Join(l.Dir(), "fynd"), filepath.Join(l.Dir(), "fynd", "imp-1")} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("directory %s mode = %04o, want no group/other access", d, perm)
		}
	}

	if err := l.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := l.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Delete: err = %v, want ErrNotFound", err)
	}
	if err := l.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete: %v, want nil for an absent artifact", err)
	}
	// A key naming a directory, or a path through a file, is absent.
	put(t, l, "dir/file.csv", "x")
	if _, err := l.Open(ctx, "dir"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(directory) err = %v, want ErrNotFound", err)
	}
	if _, err := l.Open(ctx, "dir/file.csv/deeper"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(through a file) err = %v, want ErrNotFound", err)
	}
	if err := l.Delete(ctx, "dir"); err != nil {
		t.Errorf("Delete(directory) = %v", err)
	}
	if got := readAll(t, l, "dir/file.csv"); got != "x" {
		t.Errorf("Delete(directory) touched its contents: %q", got)
	}
}

// failingReader yields some data and then fails, like a source that breaks
// mid-stream.
type failingReader struct{ sent bool }

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.sent {
		f.sent = true
		return copy(p, "half a fi"), nil
	}
	return 0, errors.New("source broke")
}

func TestLocalFailedPutKeepsOldFileAndLeavesNoTemp(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	key := "g/list.csv"
	put(t, l, key, "old complete file\n")

	if _, err := l.Put(ctx, key, &failingReader{}); err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Fatalf("Put with a failing reader: err = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Put(cancelled, key, strings.NewReader("new")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: err = %v", err)
	}
	if got := readAll(t, l, key); got != "old complete file\n" {
		t.Fatalf("a failed Put changed the artifact: %q", got)
	}
	entries, err := os.ReadDir(filepath.Join(l.Dir(), "g"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "list.csv" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only list.csv", names)
	}
}

func TestLocalRefusesUnsafeKeys(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	// A file beside the store that a traversal would reach.
	outside := filepath.Join(filepath.Dir(l.Dir()), "outside.txt")
	if err := os.WriteFile(outside, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"../outside.txt", "a/../../outside.txt", "/etc/passwd", ".put-x", ""} {
		if _, err := l.Put(ctx, key, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if _, err := l.Open(ctx, key); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) err = %v, want a key error", key, err)
		}
		if _, err := l.URL(ctx, key, time.Minute); err == nil {
			t.Errorf("URL(%q) succeeded", key)
		}
		if err := l.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded", key)
		}
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "private" {
		t.Fatalf("file outside the store changed: %q %v", b, err)
	}
}

func get(t *testing.T, u string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestLocalURLServesTheFileWithRange(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	srv := serve(t, l)
	content := "email,action\na@example.com,add\nb@example.com,add\n"
	put(t, l, "fynd/g1/members.csv", content)

	u, err := l.URL(ctx, "fynd/g1/members.csv", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, srv.URL()+"/artifacts/fynd/g1/members.csv?") {
		t.Fatalf("URL %s is not under the server's address %s", u, srv.URL())
	}
	status, h, body := get(t, u, nil)
	if status != http.StatusOK || body != content {
		t.Fatalf("GET = %d %q", status, body)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type = %q, want text/csv", ct)
	}
	if h.Get("Accept-Ranges") != "bytes" {
		t.Errorf("Accept-Ranges = %q", h.Get("Accept-Ranges"))
	}

	status, h, body = get(t, u, http.Header{"Range": {"bytes=13-31"}})
	if status != http.StatusPartialContent || body != content[13:32] {
		t.Fatalf("ranged GET = %d %q, want 206 %q", status, body, content[13:32])
	}
	if cr := h.Get("Content-Range"); cr != fmt.Sprintf("bytes 13-31/%d", len(content)) {
		t.Errorf("Content-Range = %q", cr)
	}

	resp, err := http.Head(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(content)) {
		t.Fatalf("HEAD = %d, length %d", resp.StatusCode, resp.ContentLength)
	}

	resp, err = http.Post(u, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST = %d, want 405", resp.StatusCode)
	}
}

func TestLocalURLRefusals(t *testing.T) {
	ctx := context.Background()
	l, clock := newTestLocal(t)
	serve(t, l)
	put(t, l, "a/members.csv", "secret users\n")
	put(t, l, "a/other.csv", "other users\n")

	good, err := l.URL(ctx, "a/members.csv", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	with := func(mut func(p string, q url.Values) (string, url.Values)) string {
		c := *pu
		p, q := mut(c.Path, c.Query())
		c.Path, c.RawQuery = p, q.Encode()
		return c.String()
	}
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == '0' {
			b[0] = '1'
		} else {
			b[0] = '0'
		}
		return string(b)
	}
	cases := map[string]string{
		"tampered signature": with(func(p string, q url.Values) (string, url.Values) {
			q.Set("sig", flip(q.Get("sig")))
			return p, q
		}),
		"signature of another key": with(func(p string, q url.Values) (string, url.Values) {
			return strings.Replace(p, "members.csv", "other.csv", 1), q
		}),
		"extended expiry": with(func(p string, q url.Values) (string, url.Values) {
			q.Set("expires", fmt.Sprint(clock.now().Add(24*time.Hour).Unix()))
			return p, q
		}),
		"no signature": with(func(p string, q url.Values) (string, url.Values) {
			q.Del("sig")
			return p, q
		}),
		"no expiry": with(func(p string, q url.Values) (string, url.Values) {
			q.Del("expires")
			return p, q
		}),
		"signature not hex": with(func(p string, q url.Values) (string, url.Values) {
			q.Set("sig", "zz"+q.Get("sig")[2:])
			return p, q
		}),
	}
	for name, u := range cases {
		if status, _, body := get(t, u, nil); status != http.StatusForbidden || strings.Contains(body, "users") {
			t.Errorf("%s: GET = %d %q, want 403 without content", name, status, body)
		}
	}

	// Still valid just before expiry, refused from the expiry second on.
	clock.advance(10*time.Minute - time.Second)
	if status, _, _ := get(t, good, nil); status != http.StatusOK {
		t.Fatalf("GET one second before expiry = %d, want 200", status)
	}
	clock.advance(time.Second)
	if status, _, body := get(t, good, nil); status != http.StatusForbidden || strings.Contains(body, "users") {
		t.Fatalf("expired GET = %d %q, want 403", status, body)
	}
}

func TestLocalHandlerMissingFileAndTraversal(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLocal(t)
	srv := serve(t, l)
	put(t, l, "gone.csv", "x")
	u, err := l.URL(ctx, "gone.csv", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "gone.csv"); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := get(t, u, nil); status != http.StatusNotFound {
		t.Fatalf("signed GET of a deleted artifact = %d, want 404", status)
	}
	if _, err := l.URL(ctx, "gone.csv", time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("URL of a missing artifact: err = %v, want ErrNotFound", err)
	}

	// A secret one directory above the store. The raw request line is
	// written by hand so that no client cleans the path first.
	outside := filepath.Join(filepath.Dir(l.Dir()), "outside.csv")
	if err := os.WriteFile(outside, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL(), "http://")
	for _, path := range []string{
		"/artifacts/../outside.csv",
		"/artifacts/%2e%2e/outside.csv",
		"/artifacts/a/..%2f..%2foutside.csv",
		"/outside.csv",
		"/artifacts/",
	} {
		status, body := rawGet(t, host, path)
		if status != http.StatusNotFound || strings.Contains(body, "private") {
			t.Errorf("GET %s = %d %q, want 404", path, status, body)
		}
	}
}

// rawGet sends a request line exactly as given.
func rawGet(t *testing.T, host, path string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestLocalURLSurvivesRestartWithSameSecret(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "artifacts.key")
	keys, err := LoadOrCreateKeys(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	first, err := NewLocalWith(dir, "", LocalOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, first)
	put(t, first, "m.csv", "rows\n")
	u, err := first.URL(ctx, "m.csv", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	// The restarted worker reads the same secret and serves on its own
	// port; the URL's path and query still verify there.
	again, err := LoadOrCreateKeys(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	second, err := NewLocalWith(dir, "", LocalOptions{Keys: again})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := serve(t, second)
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, body := get(t, srv2.URL()+pu.RequestURI(), nil); status != http.StatusOK || body != "rows\n" {
		t.Fatalf("URL after restart: %d %q", status, body)
	}

	// A worker with a different secret refuses it.
	other, err := NewLocal(dir, "", []byte("another-secret-of-32-bytes-------"))
	if err != nil {
		t.Fatal(err)
	}
	srv3 := serve(t, other)
	if status, _, _ := get(t, srv3.URL()+pu.RequestURI(), nil); status != http.StatusForbidden {
		t.Fatalf("URL under another secret: %d, want 403", status)
	}
}

func TestLocalConfiguredPublicURLAndDescribe(t *testing.T) {
	l, err := NewLocal(t.TempDir(), "https://files.example.com/", testSecret)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, l) // must not replace the configured public URL
	put(t, l, "x.csv", "1\n")
	u, err := l.URL(context.Background(), "x.csv", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "https://files.example.com/artifacts/x.csv?expires=") || !strings.Contains(u, "&sig=") {
		t.Fatalf("URL = %s", u)
	}
	d := l.Describe()
	if !strings.Contains(d, l.Dir()) || !strings.Contains(d, "https://files.example.com") {
		t.Fatalf("Describe = %q", d)
	}
	if strings.Contains(d, string(testSecret)) || strings.Contains(d, fmt.Sprintf("%x", testSecret)) {
		t.Fatalf("Describe shows the secret: %q", d)
	}
	if srv.URL() == "https://files.example.com" {
		t.Fatal("server URL should be its own address")
	}

	for _, bad := range []string{"ftp://x", "files.example.com", "http://", "http://h/?a=b"} {
		if _, err := NewLocal(t.TempDir(), bad, testSecret); err == nil {
			t.Errorf("NewLocal accepted public URL %q", bad)
		}
	}
	if _, err := NewLocal(t.TempDir(), "", []byte("short")); err == nil {
		t.Error("NewLocal accepted a 5-byte secret")
	}
	if _, err := l.URL(context.Background(), "x.csv", 0); err == nil {
		t.Error("URL accepted a zero ttl")
	}
}

func TestLocalDirectoryCreatedPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "artifacts")
	if _, err := NewLocal(dir, "", testSecret); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.IsDir() || st.Mode().Perm()&0o077 != 0 {
		t.Fatalf("store directory mode = %v", st.Mode())
	}
}

// mint builds a URL the way a holder of secret could, with any expiry and
// kid ("" leaves the kid out, as URLs minted before kids did).
func mint(l *Local, secret []byte, key string, expires int64, kid string) string {
	exp := fmt.Sprint(expires)
	q := url.Values{"expires": {exp}, "sig": {fmt.Sprintf("%x", sign(secret, key, exp))}}
	if kid != "" {
		q.Set("kid", kid)
	}
	return l.base() + urlPrefix + key + "?" + q.Encode()
}

// newKeyedLocal is a store over dir with keys and a longest URL lifetime,
// on clock.
func newKeyedLocal(t *testing.T, dir string, clock *fakeClock, ttl time.Duration, keys ...[]byte) *Local {
	t.Helper()
	l, err := NewLocalWith(dir, "", LocalOptions{Keys: keys, MaxURLTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	l.now = clock.now
	serve(t, l)
	return l
}

// Someone holding the key can sign any expiry; the server still refuses a
// URL that would outlive the store's longest URL lifetime, and the store's
// own URLs never ask for more.
func TestLocalServerRefusesAURLThatOutlivesTheTTL(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	l := newKeyedLocal(t, t.TempDir(), clock, time.Hour, testSecret)
	put(t, l, "a/members.csv", "secret users\n")
	now, kid := clock.now(), KeyID(testSecret)

	for name, c := range map[string]struct {
		expires time.Time
		status  int
	}{
		"ten years ahead":                 {now.AddDate(10, 0, 0), http.StatusForbidden},
		"a day ahead":                     {now.Add(24 * time.Hour), http.StatusForbidden},
		"past the TTL and the skew":       {now.Add(time.Hour + ClockSkew + time.Second), http.StatusForbidden},
		"within the TTL and a clock skew": {now.Add(time.Hour + ClockSkew), http.StatusOK},
		"within the TTL":                  {now.Add(time.Hour), http.StatusOK},
	} {
		u := mint(l, testSecret, "a/members.csv", c.expires.Unix(), kid)
		if status, _, body := get(t, u, nil); status != c.status || (status != http.StatusOK && strings.Contains(body, "users")) {
			t.Errorf("%s: GET = %d %q, want %d", name, status, body, c.status)
		}
	}

	// Asking for more than the store allows yields a URL the server serves,
	// which runs out at the store's limit.
	u, err := l.URL(ctx, "a/members.csv", 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := get(t, u, nil); status != http.StatusOK {
		t.Fatalf("a URL asked for a week: GET = %d, want 200", status)
	}
	clock.advance(time.Hour)
	if status, _, _ := get(t, u, nil); status != http.StatusForbidden {
		t.Fatalf("a URL asked for a week, an hour later: GET = %d, want 403 (cut to the hour the store allows)", status)
	}
}

// A new key put first signs new URLs while the old key, second, still
// verifies the URLs it signed; once the old key is removed they are
// refused. A kid that names no key of the store is refused.
func TestLocalKeyRotationKeepsOldURLsUntilTheKeyIsRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	oldKey := []byte("the-old-key-of-at-least-32-bytes")
	newKey := []byte("the-new-key-of-at-least-32-bytes")

	before := newKeyedLocal(t, dir, clock, time.Hour, oldKey)
	put(t, before, "m.csv", "rows\n")
	oldURL, err := before.URL(ctx, "m.csv", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	po, err := url.Parse(oldURL)
	if err != nil {
		t.Fatal(err)
	}
	if po.Query().Get("kid") != KeyID(oldKey) {
		t.Fatalf("URL %s does not name its key %s", oldURL, KeyID(oldKey))
	}

	rotating := newKeyedLocal(t, dir, clock, time.Hour, newKey, oldKey)
	if status, _, body := get(t, rotating.base()+po.RequestURI(), nil); status != http.StatusOK || body != "rows\n" {
		t.Fatalf("a URL signed with the old key, second now: GET = %d %q, want 200", status, body)
	}
	newURL, err := rotating.URL(ctx, "m.csv", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pn, err := url.Parse(newURL)
	if err != nil {
		t.Fatal(err)
	}
	if pn.Query().Get("kid") != KeyID(newKey) {
		t.Fatalf("new URL %s is not signed with the first key", newURL)
	}

	rotated := newKeyedLocal(t, dir, clock, time.Hour, newKey)
	if status, _, body := get(t, rotated.base()+po.RequestURI(), nil); status != http.StatusForbidden || body == "rows\n" {
		t.Fatalf("a URL signed with a removed key: GET = %d %q, want 403", status, body)
	}
	if status, _, _ := get(t, rotated.base()+pn.RequestURI(), nil); status != http.StatusOK {
		t.Fatalf("a URL signed with the new key: GET = %d, want 200", status)
	}

	// A kid no key has, even on a signature the first key makes, and two
	// kids at once.
	exp := clock.now().Add(time.Minute).Unix()
	for name, u := range map[string]string{
		"unknown kid": mint(rotated, newKey, "m.csv", exp, "00112233445566ff"),
		"empty kid":   mint(rotated, newKey, "m.csv", exp, "") + "&kid=",
		"two kids":    mint(rotated, newKey, "m.csv", exp, KeyID(newKey)) + "&kid=" + KeyID(newKey),
	} {
		if status, _, _ := get(t, u, nil); status != http.StatusForbidden {
			t.Errorf("%s: GET = %d, want 403", name, status)
		}
	}
}

// URLs minted before they named their key carry no kid: they are served
// only when the first key verifies them and they expire within the TTL.
func TestLocalURLWithoutKidVerifiesOnlyWithTheFirstKeyWithinTheTTL(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	first := []byte("the-first-key-of-at-least-32-byt")
	second := []byte("the-second-key-of-at-least-32-by")
	l := newKeyedLocal(t, t.TempDir(), clock, time.Hour, first, second)
	put(t, l, "m.csv", "rows\n")
	now := clock.now()
	for name, c := range map[string]struct {
		secret  []byte
		expires time.Time
		status  int
	}{
		"first key, within the TTL":  {first, now.Add(30 * time.Minute), http.StatusOK},
		"first key, beyond the TTL":  {first, now.Add(48 * time.Hour), http.StatusForbidden},
		"second key, within the TTL": {second, now.Add(30 * time.Minute), http.StatusForbidden},
	} {
		if status, _, _ := get(t, mint(l, c.secret, "m.csv", c.expires.Unix(), ""), nil); status != c.status {
			t.Errorf("%s: GET = %d, want %d", name, status, c.status)
		}
	}
}
