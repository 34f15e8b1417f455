package imports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	bitlabsfake "importer/activities/bitlabs/fake"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/activities/vendorapi/fakeapi"
	"importer/internal/connections"
	"importer/internal/store"
)

// onVendor is a worker's activities on a store of their own, with the
// default connection of vendor pointed at h, served in-process.
func onVendor(t *testing.T, vendor string, h http.Handler, settings map[string]string) (*Activities, *store.Store) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a, st := onOwnStore(t)
	with := map[string]string{"BASE_URL": srv.URL}
	for k, v := range settings {
		with[k] = v
	}
	a.Connections = a.Connections.With(vendor, connections.Default, with)
	return a, st
}

// oneChunk writes list as a CSV file and plans it as one chunk, the input
// of the import of that chunk in batches of batch rows.
func oneChunk(t *testing.T, a *Activities, vendor, list string, batch int) ChunkInput {
	t.Helper()
	path := writeList(t, "users.csv", list)
	page, err := source.Plan(context.Background(), a.Opener, source.PlanRequest{URI: path, Format: source.CSV, ChunkRows: 100, MaxChunks: 1}, nil)
	if err != nil || len(page.Chunks) != 1 {
		t.Fatalf("plan: %+v %v", page, err)
	}
	return ChunkInput{ImportKey: testKey, Vendor: vendor, Connection: connections.Default, BatchSize: batch, Chunk: page.Chunks[0],
		Source: source.Ref{URI: path, Format: source.CSV, Header: page.Header, Version: page.Version}}
}

// partReject is a reject as the store holds it, with the part that wrote it.
type partReject struct {
	Part string
	store.Reject
}

func storedRejects(t *testing.T, st *store.Store) []partReject {
	t.Helper()
	var out []partReject
	err := st.Rejects(context.Background(), testKey, "", func(part string, r store.Reject) error {
		out = append(out, partReject{part, r})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantRejects(t *testing.T, got, want []partReject) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejects in the store:\n got %+v\nwant %+v", got, want)
	}
}

func importChunk(t *testing.T, env *testsuite.TestActivityEnvironment, a *Activities, in ChunkInput) (ChunkResult, error) {
	t.Helper()
	env.RegisterActivity(a.ImportChunk)
	v, err := env.ExecuteActivity(a.ImportChunk, in)
	if err != nil {
		return ChunkResult{}, err
	}
	var res ChunkResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

// refusing stands in front of a Nebuly fake and answers a request that
// carries one of the users named as Nebuly's typed backend answers a field
// it will not take: a 422 whose FastAPI details name the user by its
// position in the request. The fake's own rules are the client's, so
// without this no row the client lets through is ever refused.
func refusing(fake http.Handler, reasons map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req struct {
			Users []struct {
				EndUser string `json:"end_user"`
			} `json:"users"`
		}
		_ = json.Unmarshal(body, &req)
		var details []map[string]any
		for i, u := range req.Users {
			if msg, ok := reasons[u.EndUser]; ok {
				details = append(details, map[string]any{"loc": []any{"body", "users", i, "tags"}, "msg": msg, "type": "value_error"})
			}
		}
		if len(details) > 0 {
			fakeapi.WriteJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": details})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		fake.ServeHTTP(w, r)
	})
}

// Every row of a chunk is counted once, in exactly one of accepted
// (inserted or updated) and rejected, and every reject is in the store
// under its batch with its own line and reason: rows the vendor's rules
// refuse, a row a later row of the same user replaces (in the chunk, or
// by the duplicate scan across the list), and a user the vendor refused
// with a 422.
func TestChunkCountsEveryRowOnceAndStoresEachRejectWithItsLineAndReason(t *testing.T) {
	fake := nebulyfake.New(nebulyfake.Options{APIKey: "k"})
	fake.Put(nebulyfake.User{EndUser: "cat@example.com", ActiveFrom: "2025-01-01", Tags: map[string]string{"Plan": "Free"}})
	const refusal = "Plan Gold is not a plan of this project"
	a, st := onVendor(t, "nebuly", refusing(fake, map[string]string{"dan@example.com": refusal}), map[string]string{"API_KEY": "k"})
	in := oneChunk(t, a, "nebuly", "end_user,active_from,tags.Plan\n"+
		"ann@example.com,2026-01-02,Free\n"+ // line 2: replaced by line 6
		"bob@example.com,31/12/2025,Free\n"+ // line 3: not a date
		"cat@example.com,2026-01-02,Pro\n"+ // line 4: Nebuly has cat: updated
		"dan@example.com,2026-01-02,Gold\n"+ // line 5: refused by Nebuly (422)
		"ann@example.com,2026-02-03,Pro\n"+ // line 6: inserted
		",2026-01-02,Free\n"+ // line 7: no end_user
		"fay@example.com,2026-01-02,Free\n"+ // line 8: the scan found fay again at line 40
		"gus@example.com,2026-01-02,Free\n", // line 9: inserted
		3)
	if err := st.PutDuplicates(context.Background(), testKey, []store.Superseded{{Line: 8, By: 40}}); err != nil {
		t.Fatal(err)
	}
	in.DuplicatesStored = true

	var ts testsuite.WorkflowTestSuite
	res, err := importChunk(t, ts.NewTestActivityEnvironment(), a, in)
	if err != nil {
		t.Fatalf("ImportChunk: %v", err)
	}
	want := Counts{Rows: 8, Accepted: 3, Inserted: 2, Updated: 1, Rejected: 5}
	if res.Chunk != 0 || res.Counts != want {
		t.Fatalf("chunk %d counted %+v; want %+v", res.Chunk, res.Counts, want)
	}
	wantRejects(t, storedRejects(t, st), []partReject{
		{rejects.PartName(0, 0), store.Reject{Line: 2, UserID: "ann@example.com", Vendor: "nebuly", Reason: "duplicate user id: line 6 has the same id and replaces this row"}},
		{rejects.PartName(0, 0), store.Reject{Line: 3, UserID: "bob@example.com", Vendor: "nebuly", Reason: `active_from: "31/12/2025" is not a date (want YYYY-MM-DD)`}},
		{rejects.PartName(0, 1), store.Reject{Line: 5, UserID: "dan@example.com", Vendor: "nebuly", Reason: "Nebuly refused the user: tags: " + refusal}},
		{rejects.PartName(0, 1), store.Reject{Line: 7, UserID: "", Vendor: "nebuly", Reason: "end_user is empty"}},
		{rejects.PartName(0, 2), store.Reject{Line: 8, UserID: "fay@example.com", Vendor: "nebuly", Reason: "duplicate user id: line 40 has the same id and replaces this row"}},
	})
	var users []string
	for _, u := range fake.Users() {
		users = append(users, u.EndUser+" "+u.ActiveFrom+" "+u.Tags["Plan"])
	}
	wantUsers := []string{"ann@example.com 2026-02-03 Pro", "cat@example.com 2026-01-02 Pro", "gus@example.com 2026-01-02 Free"}
	if !reflect.DeepEqual(users, wantUsers) {
		t.Errorf("Nebuly holds %q; want %q", users, wantUsers)
	}
}

// BitLabs answers a batch with 200 and lists the users it did not take,
// with the checks they failed; those rows are rejects with BitLabs' reason,
// counted beside the rows the importer's own rules refused.
func TestUsersBitLabsRefusesInASuccessfulAnswerAreRejects(t *testing.T) {
	fake := bitlabsfake.New(bitlabsfake.Options{Token: "t"})
	a, st := onVendor(t, "bitlabs", fake, map[string]string{"S2S_TOKEN": "t"})
	in := oneChunk(t, a, "bitlabs", "uid,country,languages,birthdate,gender,zipcode\n"+
		"u1,DE,de,1990-01-02,MALE,10115\n"+ // line 2
		"u2,DE,xx,1990-01-02,FEMALE,\n"+ // line 3: BitLabs supports no language xx
		"u3,FR,fr,1985-05-06,OTHER,1\n"+ // line 4: BitLabs cannot validate the zipcode
		"u4,DE,de,1990-01-02,ALIEN,\n"+ // line 5: not a gender BitLabs takes
		"u5,ES,es,2000-12-31,FEMALE,28001\n", // line 6
		2)

	var ts testsuite.WorkflowTestSuite
	res, err := importChunk(t, ts.NewTestActivityEnvironment(), a, in)
	if err != nil {
		t.Fatalf("ImportChunk: %v", err)
	}
	want := Counts{Rows: 5, Accepted: 2, Inserted: 2, Rejected: 3}
	if res.Counts != want {
		t.Fatalf("counted %+v; want %+v", res.Counts, want)
	}
	wantRejects(t, storedRejects(t, st), []partReject{
		{rejects.PartName(0, 0), store.Reject{Line: 3, UserID: "u2", Vendor: "bitlabs", Reason: "unsupported_languages: the user has no supported language"}},
		{rejects.PartName(0, 1), store.Reject{Line: 4, UserID: "u3", Vendor: "bitlabs", Reason: "invalid_zipcode: zipcode cannot be validated"}},
		{rejects.PartName(0, 1), store.Reject{Line: 5, UserID: "u4", Vendor: "bitlabs", Reason: `gender "ALIEN" is not MALE, FEMALE or OTHER`}},
	})
	if fake.Count() != 2 || fake.Received("u2") != 1 || fake.Received("u3") != 1 || fake.Received("u4") != 0 {
		t.Errorf("BitLabs holds %d users and received u2 %d, u3 %d, u4 %d times; want 2, 1, 1, 0",
			fake.Count(), fake.Received("u2"), fake.Received("u3"), fake.Received("u4"))
	}
}

// An attempt that fails after some batches leaves them in its heartbeat;
// the retry resumes at the first unfinished batch, sends no user of the
// finished ones again, and its counts are the whole chunk's, each row once.
func TestRetriedChunkResumesAfterTheBatchesItsLastAttemptFinished(t *testing.T) {
	fake := nebulyfake.New(nebulyfake.Options{APIKey: "k"})
	var mu sync.Mutex
	sends := 0
	a, st := onVendor(t, "nebuly", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sends++
		if sends == 2 {
			// The second batch's request finds Nebuly unavailable.
			fake.Faults().FailNext(1, http.StatusServiceUnavailable)
		}
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}), map[string]string{"API_KEY": "k"})
	in := oneChunk(t, a, "nebuly", "end_user,active_from\n"+
		"a@example.com,2026-01-02\n"+
		"b@example.com,yesterday\n"+ // line 3: not a date
		"c@example.com,2026-01-02\n"+
		"d@example.com,2026-01-02\n"+
		"e@example.com,2026-01-02\n"+
		"f@example.com,2026-01-02\n"+
		"g@example.com,2026-01-02\n",
		3)

	var ts testsuite.WorkflowTestSuite
	first := ts.NewTestActivityEnvironment()
	var last chunkProgress
	beats := 0
	first.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p chunkProgress
		if err := details.Get(&p); err != nil {
			t.Errorf("heartbeat details: %v", err)
			return
		}
		mu.Lock()
		last, beats = p, beats+1
		mu.Unlock()
	})
	_, err := importChunk(t, first, a, in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.NonRetryable() {
		t.Fatalf("the first attempt: %v; want a retryable failure", err)
	}
	mu.Lock()
	details := last
	mu.Unlock()
	if details.BatchesDone != 1 || details.Counts != (Counts{Rows: 3, Accepted: 2, Inserted: 2, Rejected: 1}) {
		t.Fatalf("the first attempt's last heartbeat (of %d): %+v; want batch 1 done with its counts", beats, details)
	}

	retry := ts.NewTestActivityEnvironment()
	retry.SetHeartbeatDetails(details)
	res, err := importChunk(t, retry, a, in)
	if err != nil {
		t.Fatalf("the retry: %v", err)
	}
	want := Counts{Rows: 7, Accepted: 6, Inserted: 6, Rejected: 1}
	if res.Counts != want {
		t.Fatalf("the retry counted %+v; want %+v", res.Counts, want)
	}
	// a and c went in the first attempt, d to g in the retry: each once.
	if n := fake.Rows(http.MethodPost) + fake.Rows(http.MethodPut); n != 6 || fake.Count() != 6 {
		t.Fatalf("Nebuly was sent %d users and holds %d; want each of the 6 sent once", n, fake.Count())
	}
	wantRejects(t, storedRejects(t, st), []partReject{
		{rejects.PartName(0, 0), store.Reject{Line: 3, UserID: "b@example.com", Vendor: "nebuly", Reason: `active_from: "yesterday" is not a date (want YYYY-MM-DD)`}},
	})
}
