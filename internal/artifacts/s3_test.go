package artifacts

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

const (
	testAccessKey = "AKIDARTIFACTSTEST"
	testSecretKey = "artifacts-test-secret-key-do-not-leak"
)

// objectLog records which object paths reached the fake, to check where the
// store puts keys.
type objectLog struct {
	mu    sync.Mutex
	paths []string
}

func (o *objectLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.paths = append(o.paths, r.Method+" "+r.URL.Path)
		o.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (o *objectLog) saw(entry string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.paths {
		if p == entry {
			return true
		}
	}
	return false
}

// newFakeS3 serves an in-memory S3 with one bucket on a loopback port and
// points the SDK's standard credential chain at test credentials, away from
// any real AWS configuration on the machine.
func newFakeS3(t *testing.T, bucket string) (*httptest.Server, *objectLog) {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	log := &objectLog{}
	srv := httptest.NewServer(log.wrap(gofakes3.New(backend).Server()))
	t.Cleanup(srv.Close)

	none := filepath.Join(t.TempDir(), "absent")
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return srv, log
}

func newTestS3(t *testing.T, prefix string) (*S3, *objectLog) {
	t.Helper()
	srv, log := newFakeS3(t, "artifacts-bucket")
	s, err := NewS3(context.Background(), S3Config{
		Bucket:    "artifacts-bucket",
		Prefix:    prefix,
		Endpoint:  srv.URL,
		PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, log
}

// pipeReader hides any Seek method, like a CSV being generated on the fly.
type pipeReader struct{ r io.Reader }

func (p pipeReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func TestS3PutOpenReplaceDelete(t *testing.T) {
	ctx := context.Background()
	s, log := newTestS3(t, "/deploy-a/")
	key := "fynd/imp-1/members.csv"

	if _, err := s.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open before Put: err = %v, want ErrNotFound", err)
	}
	put(t, s, key, "email\na@example.com\n")
	if !log.saw("PUT /artifacts-bucket/deploy-a/fynd/imp-1/members.csv") {
		t.Fatalf("object not stored under the prefix; requests: %v", log.paths)
	}
	if got := readAll(t, s, key); got != "email\na@example.com\n" {
		t.Fatalf("content = %q", got)
	}

	// Replace with a body that cannot seek: it is spooled for its length.
	content := strings.Repeat("email\nb@example.com\n", 5000)
	n, err := s.Put(ctx, key, pipeReader{strings.NewReader(content)})
	if err != nil {
		t.Fatalf("Put of an unseekable body: %v", err)
	}
	if n != int64(len(content)) {
		t.Fatalf("size = %d, want %d", n, len(content))
	}
	if got := readAll(t, s, key); got != content {
		t.Fatalf("after replace, content has %d bytes, want %d", len(got), len(content))
	}

	// A seekable body already partly read uploads only what remains.
	partial := strings.NewReader("SKIPtail\n")
	if _, err := partial.Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Put(ctx, "partial.csv", partial); err != nil || n != 5 {
		t.Fatalf("Put of a partly read body = %d, %v", n, err)
	}
	if got := readAll(t, s, "partial.csv"); got != "tail\n" {
		t.Fatalf("partly read body stored as %q", got)
	}

	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete: %v, want nil for an absent artifact", err)
	}
	if _, err := s.URL(ctx, key, time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("URL of a deleted artifact: err = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"../x", "/abs", ".hidden"} {
		if _, err := s.Put(ctx, bad, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded", bad)
		}
	}
	if d := s.Describe(); d != "s3://artifacts-bucket/deploy-a" {
		t.Fatalf("Describe = %q", d)
	}
}

func TestS3PresignedURLFetchesWithPlainHTTP(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestS3(t, "")
	content := "email,action\na@example.com,add\n"
	put(t, s, "g/members.csv", content)

	u, err := s.URL(ctx, "g/members.csv", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || string(body) != content {
		t.Fatalf("GET presigned URL = %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("stored Content-Type = %q, want text/csv", ct)
	}

	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	if pu.Path != "/artifacts-bucket/g/members.csv" {
		t.Errorf("presigned path = %s, want path-style bucket/key", pu.Path)
	}
	if q.Get("X-Amz-Expires") != "900" || q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" || q.Get("X-Amz-Signature") == "" {
		t.Errorf("presigned query lacks a 15-minute SigV4 signature: %v", q)
	}
	if !strings.HasPrefix(q.Get("X-Amz-Credential"), testAccessKey+"/") || !strings.Contains(q.Get("X-Amz-Credential"), "/us-east-1/s3/") {
		t.Errorf("X-Amz-Credential = %q", q.Get("X-Amz-Credential"))
	}
	if strings.Contains(u, testSecretKey) {
		t.Fatal("presigned URL contains the secret access key")
	}

	if _, err := s.URL(ctx, "g/members.csv", 8*24*time.Hour); err == nil {
		t.Error("URL accepted a ttl beyond S3's seven days")
	}
	if _, err := s.URL(ctx, "g/members.csv", 0); err == nil {
		t.Error("URL accepted a zero ttl")
	}
}

func TestS3WrongBucketIsAnErrorNotAbsence(t *testing.T) {
	ctx := context.Background()
	srv, _ := newFakeS3(t, "real-bucket")
	s, err := NewS3(ctx, S3Config{Bucket: "no-such-bucket", Endpoint: srv.URL, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "a.csv", strings.NewReader("x")); err == nil {
		t.Fatal("Put into a missing bucket succeeded")
	}
	_, err = s.Open(ctx, "a.csv")
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Open from a missing bucket: err = %v, want a bucket error, not ErrNotFound", err)
	}
	if strings.Contains(err.Error(), testSecretKey) {
		t.Fatalf("error shows the secret key: %v", err)
	}
}

func TestS3SpoolCleansUp(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestS3(t, "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if _, err := s.Put(ctx, "x.csv", pipeReader{strings.NewReader("spooled\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "y.csv", pipeReader{&failingReader{}}); err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Fatalf("Put with a failing source: err = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(cancelled, "z.csv", pipeReader{strings.NewReader("x")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: err = %v", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("spool files left behind: %d", len(entries))
	}
	if _, err := s.Open(ctx, "y.csv"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed Put stored something: %v", err)
	}
}

func TestNewS3Validation(t *testing.T) {
	ctx := context.Background()
	newFakeS3(t, "b") // isolates the credential chain
	for name, cfg := range map[string]S3Config{
		"no bucket":      {Endpoint: "http://127.0.0.1:9"},
		"bad prefix":     {Bucket: "b", Prefix: "a/../b", Endpoint: "http://127.0.0.1:9"},
		"bad endpoint":   {Bucket: "b", Endpoint: "minio:9000"},
		"aws, no region": {Bucket: "b"},
	} {
		if _, err := NewS3(ctx, cfg); err == nil {
			t.Errorf("%s: NewS3 accepted %+v", name, cfg)
		}
	}
	if _, err := NewS3(ctx, S3Config{Bucket: "b", Region: "eu-west-1"}); err != nil {
		t.Errorf("AWS bucket with a region: %v", err)
	}
}
