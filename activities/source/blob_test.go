package source

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// s3Server is an in-process S3-compatible server, reached as AWS's default
// chain would reach one: credentials and AWS_ENDPOINT_URL_S3 from the
// environment, path-style addressing. It counts the object bytes it sends.
type s3Server struct {
	backend *s3mem.Backend
	sent    atomic.Int64
}

func newS3Server(t *testing.T) *s3Server {
	t.Helper()
	s := &s3Server{backend: s3mem.New()}
	if err := s.backend.CreateBucket("exports"); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(s.backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w, n: &s.sent}
		fake.ServeHTTP(cw, r)
	}))
	t.Cleanup(srv.Close)
	none := filepath.Join(t.TempDir(), "absent")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "test-access", "AWS_SECRET_ACCESS_KEY": "test-secret-key", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": none,
		"AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_S3": srv.URL,
	} {
		t.Setenv(k, v)
	}
	return s
}

func (s *s3Server) put(t *testing.T, key, content string) {
	t.Helper()
	if _, err := s.backend.PutObject("exports", key, map[string]string{}, bytes.NewReader([]byte(content)), int64(len(content)), nil); err != nil {
		t.Fatal(err)
	}
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

// An s3:// object is planned and read chunk by chunk with range reads, each
// record once; an object replaced under the import fails the chunk with
// ErrChanged; a missing object or bucket is a final error that says so.
func TestS3ObjectsArePlannedAndReadWithRangeReads(t *testing.T) {
	s := newS3Server(t)
	content, want := genCSV(rand.New(rand.NewSource(5)), 800)
	s.put(t, "nightly/users.csv", content)
	o := &Opener{S3PathStyle: true}
	uri := "s3://exports/nightly/users.csv"

	first, chunks := planAll(t, o, uri, CSV, 97, 3)
	if len(chunks) < 5 {
		t.Fatalf("%d chunks; want several, so that reads are ranges", len(chunks))
	}
	s.sent.Store(0)
	recs := readAll(t, o, uri, CSV, first, chunks)
	if len(recs) != len(want) {
		t.Fatalf("%d records from S3, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if r.Err != nil || r.Fields["id"] != want[i][0] || r.Fields["note"] != want[i][2] {
			t.Fatalf("record %d: %+v, want %v", i, r, want[i])
		}
	}
	// The chunks read their own ranges: together about the object once.
	if got := s.sent.Load(); got > int64(len(content))*11/10 {
		t.Errorf("reading the chunks fetched %d bytes of a %d-byte object; each chunk must read its own range", got, len(content))
	}
	v, err := o.Stat(context.Background(), uri)
	if err != nil || v.Size != int64(len(content)) || v.ETag == "" || v != first.Version {
		t.Fatalf("stat %+v (%v); want the planned version %+v with its ETag", v, err, first.Version)
	}

	// Replaced by an object of the same size: only its ETag tells.
	s.put(t, "nightly/users.csv", strings.Replace(content, "a", "b", 1))
	err = ReadChunk(context.Background(), o, uri, CSV, first.Header, first.Version, chunks[1], func(Record) error { return nil })
	if !errors.Is(err, ErrChanged) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("a replaced object: %v; want ErrChanged", err)
	}

	for _, c := range []struct{ uri, want string }{
		{"s3://exports/nightly/missing.csv", "no such object"},
		{"s3://exports", "names no bucket or no object"},
	} {
		_, err := Plan(context.Background(), o, PlanRequest{URI: c.uri, Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil)
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want a final error saying %q", c.uri, err, c.want)
		}
	}
}
