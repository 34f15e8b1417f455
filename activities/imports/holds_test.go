package imports

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/failure"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/source"
	"importer/activities/vendors"
	"importer/internal/connections"
)

// A 429's Retry-After holds the chunk's next attempt even when it runs on
// another worker that never saw the 429 and got no heartbeat from the
// attempt that did (the old attempt lost, a worker killed, a server
// restarted): the hold is in the store both workers share.
func TestARetryAfterHoldsTheNextAttemptOnAnotherWorker(t *testing.T) {
	const retryAfter = 2 * time.Second
	fake := nebulyfake.New(nebulyfake.Options{APIKey: "k"})
	fake.Faults().SetRetryAfter(retryAfter)
	fake.Faults().FailNext(1, http.StatusTooManyRequests)
	var mu sync.Mutex
	var sent []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			mu.Lock()
			sent = append(sent, time.Now())
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	list := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(list, []byte("end_user,active_from\nann@example.com,2026-01-02\nbob@example.com,2026-01-02\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conns := connections.FromEnv(nil, vendors.ImportNames()).With("nebuly", connections.Default, map[string]string{"BASE_URL": srv.URL, "API_KEY": "k"})
	first, st := onOwnStore(t)
	first.Connections = conns
	second := New(conns, st) // another worker on the same store
	page, err := source.Plan(context.Background(), first.Opener, source.PlanRequest{URI: list, Format: source.CSV, ChunkRows: 10, MaxChunks: 1}, nil)
	if err != nil || len(page.Chunks) != 1 {
		t.Fatalf("plan: %+v %v", page, err)
	}
	in := ChunkInput{ImportKey: testKey, Vendor: "nebuly", Connection: connections.Default, BatchSize: 10, Chunk: page.Chunks[0],
		Source: source.Ref{URI: list, Format: source.CSV, Header: page.Header, Version: page.Version}}

	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(first.ImportChunk)
	_, err = env.ExecuteActivity(first.ImportChunk, in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != failure.VendorThrottled {
		t.Fatalf("the first attempt: %v; want it throttled", err)
	}
	env = ts.NewTestActivityEnvironment()
	env.RegisterActivity(second.ImportChunk)
	if _, err := env.ExecuteActivity(second.ImportChunk, in); err != nil {
		t.Fatalf("the next attempt: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 || fake.Count() != 2 {
		t.Fatalf("%d sends, %d users at the vendor; want the 429 and one send of both users", len(sent), fake.Count())
	}
	if gap := sent[1].Sub(sent[0]); gap < retryAfter-50*time.Millisecond {
		t.Fatalf("the next attempt sent %s after the 429, inside its Retry-After of %s", gap, retryAfter)
	}
}
