// Package e2e runs whole imports on the embedded Temporal server against the
// fake vendors: the one test package that links the server.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/activities/vendors"
	"importer/activities/vendors/gen"
	"importer/internal/artifacts"
	"importer/internal/codec"
	"importer/internal/connections"
	"importer/internal/devserver"
	"importer/internal/limits"
	"importer/internal/store"
	"importer/internal/temporalclient"
	"importer/worker/workerrun"
	"importer/workflows"
)

const apiKey = "e2e-key"

// harness is one embedded Temporal server, one fake Nebuly and a client.
type harness struct {
	t    testing.TB
	srv  *devserver.Server
	c    client.Client
	fake *nebulyfake.Server
	url  string
	dir  string // the lists the tests import
	// data is the workers' data directory (their own files, which no
	// source may name).
	data  string
	log   zerolog.Logger
	queue string
	// store, when set, is the artifact store workers publish vendor files
	// in (Fynd); see withArtifacts.
	store artifacts.Store
	// records is the workers' store URL; "" is the SQLite file under dir.
	records string
	// s3PathStyle: workers address s3:// sources by path (see withS3Sources).
	s3PathStyle bool
	// staging is the workers' staging area; "" is <data dir>/staging.
	staging string
}

// withArtifacts gives the harness's workers a local artifact store served
// on a free loopback port, as `worker --dev` has.
func (h *harness) withArtifacts() {
	h.t.Helper()
	l, err := artifacts.NewLocal(filepath.Join(h.data, "artifacts"), "", []byte("e2e-artifact-signing-secret-0123456789"))
	if err != nil {
		h.t.Fatal(err)
	}
	srv, err := l.Listen("127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = srv.Close() })
	h.store = l
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessLogging(t, testLogger(t))
}

// newHarnessLogging is newHarness whose client (and so the SDK inside its
// workers), workers and server log to log.
func newHarnessLogging(t testing.TB, log zerolog.Logger) *harness {
	t.Helper()
	srv, err := devserver.Start(context.Background(), devserver.Options{DisableUI: true, Logger: log.Level(zerolog.ErrorLevel), SearchAttributes: workflows.SearchAttributes()})
	if err != nil {
		t.Fatalf("start embedded Temporal: %v", err)
	}
	t.Cleanup(srv.Stop)
	return harnessAround(t, srv, log)
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// harnessAround dials a server that is running and starts a fake Nebuly:
// what every harness has, whichever way its server was started.
func harnessAround(t testing.TB, srv *devserver.Server, log zerolog.Logger) *harness {
	t.Helper()
	c, err := temporalclient.Dial(context.Background(), temporalclient.Options{Address: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	fake := nebulyfake.New(nebulyfake.Options{APIKey: apiKey})
	hs := httptest.NewServer(fake)
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	return &harness{t: t, srv: srv, c: c, fake: fake, url: hs.URL, dir: dir, data: filepath.Join(dir, "worker-data"), log: log,
		queue: "e2e-" + strings.ReplaceAll(t.Name(), "/", "-")}
}

// testLimits are the tests' workers' caps: the defaults, with polls as
// short as the fake vendors answer.
var testLimits = limits.Limits{MinPoll: 5 * time.Millisecond}

// sealed says whether the tests' workers encrypt payloads: as a worker
// does, when IMPORTER_CODEC_KEYS is set.
func sealed(t testing.TB) bool {
	ring, err := codec.KeyringFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return ring != nil
}

// testSources is the tests' workers' source policy: lists anywhere under
// the temporary directory (each worker's own data directory excepted),
// and the fakes and file servers on loopback, as worker --dev allows.
func testSources(t testing.TB) *source.Policy {
	t.Helper()
	p, err := source.NewPolicy([]string{os.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.AllowLoopback = true
	return p
}

func (h *harness) conns(key string) connections.Set {
	return connections.FromEnv(nil, vendors.ImportNames()).With("nebuly", connections.Default, map[string]string{
		"BASE_URL": h.url, "API_KEY": key,
	})
}

func (h *harness) startWorker(conns connections.Set, stopTimeout time.Duration) *workerrun.Worker {
	h.t.Helper()
	return h.startWorkerIn(conns, stopTimeout, h.data)
}

// startWorkerIn starts a worker whose data directory is dataDir: workers
// with data directories of their own share nothing but the services the
// harness names (its store, its artifact store).
func (h *harness) startWorkerIn(conns connections.Set, stopTimeout time.Duration, dataDir string) *workerrun.Worker {
	h.t.Helper()
	w, err := workerrun.Start(h.c, workerrun.Options{
		TaskQueue: h.queue, Connections: conns, DataDir: dataDir, StoreURL: h.records, Logger: h.log, StopTimeout: stopTimeout, Artifacts: h.store,
		S3PathStyle: h.s3PathStyle, Staging: h.staging, Sources: testSources(h.t), Limits: testLimits, Sealed: sealed(h.t),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return w
}

func (h *harness) generate(name string, o gen.Options) (string, gen.Stats) {
	h.t.Helper()
	path := filepath.Join(h.dir, name)
	st, err := gen.VendorFile("nebuly", path, o)
	if err != nil {
		h.t.Fatal(err)
	}
	return path, st
}

func (h *harness) start(id string, in workflows.ImportInput) client.WorkflowRun {
	h.t.Helper()
	run, err := h.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: h.queue}, workflows.ImportWorkflowName, in)
	if err != nil {
		h.t.Fatal(err)
	}
	return run
}

func (h *harness) wait(run client.WorkflowRun, timeout time.Duration) (workflows.ImportResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var res workflows.ImportResult
	err := run.Get(ctx, &res)
	return res, err
}

// history returns every event of every run of a workflow, following
// continue-as-new from the first run.
func (h *harness) history(id, firstRun string) []*historypb.HistoryEvent {
	h.t.Helper()
	var all []*historypb.HistoryEvent
	runID := firstRun
	for runID != "" {
		it := h.c.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		next := ""
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				h.t.Fatal(err)
			}
			all = append(all, ev)
			if a := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				next = a.GetNewExecutionRunId()
			}
		}
		runID = next
	}
	return all
}

// checkStored asserts that the fake holds exactly the valid rows of a list.
func checkStored(t *testing.T, fake *nebulyfake.Server, o gen.Options, st gen.Stats) {
	t.Helper()
	if got := fake.Count(); got != st.Valid {
		t.Errorf("the fake holds %d users; the list has %d valid rows", got, st.Valid)
	}
	stored := map[string]bool{}
	for _, u := range fake.Users() {
		stored[u.EndUser] = true
	}
	for i := 0; i < st.Rows; i++ {
		if o.Invalid(i) {
			continue
		}
		if !stored[o.Email(i)] {
			t.Errorf("valid row %d (%s) is not stored", i, o.Email(i))
			return
		}
	}
}

// readRejectsFile reads a rejects file (NDJSON), as --save and a dry run's
// --rejects write it.
func readRejectsFile(t *testing.T, path string) []rejects.Reject {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rejects.Reject
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		var r rejects.Reject
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	return out
}

// storeURL is the store of the harness's workers: the embedded SQLite file
// under the harness's data directory, unless a test set another.
func (h *harness) storeURL() string {
	if h.records != "" {
		return h.records
	}
	return "sqlite:" + filepath.Join(h.data, store.DefaultFile)
}

// readRejects reads the rejects of a workflow from the workers' store, in
// source order, as `starter rejects` does.
func (h *harness) readRejects(workflowID string) []rejects.Reject {
	h.t.Helper()
	ctx := context.Background()
	desc, err := h.c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		h.t.Fatal(err)
	}
	first := desc.GetWorkflowExecutionInfo().GetFirstRunId()
	st, err := store.Open(ctx, store.Options{URL: h.storeURL()})
	if err != nil {
		h.t.Fatal(err)
	}
	defer st.Close()
	var out []rejects.Reject
	if err := st.Rejects(ctx, workflowID+"-"+first[:8], "", func(_ string, r store.Reject) error { out = append(out, rejects.Reject(r)); return nil }); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func TestImport100kRowsExactAccountingAndNoUserDataInHistory(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	o := gen.Options{Rows: 100_000, InvalidEvery: 97, QuotedNewlineEvery: 41}
	path, st := h.generate("users.csv", o)

	run := h.start("import-e2e-100k", workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
		// Small runs force continue-as-new during the import.
		ChunksPerRun: 8,
	})
	res, err := h.wait(run, 5*time.Minute)
	if err != nil {
		t.Fatalf("import failed: %v", err)
	}
	if res.RowsRead != int64(st.Rows) || res.Accepted != int64(st.Valid) || res.Rejected != int64(st.Invalid) {
		t.Fatalf("result %+v; want rows %d = accepted %d + rejected %d", res, st.Rows, st.Valid, st.Invalid)
	}
	if res.Runs < 2 {
		t.Errorf("the import ran in %d run(s); continue-as-new was expected", res.Runs)
	}
	checkStored(t, h.fake, o, st)

	rs := h.readRejects(res.WorkflowID)
	if len(rs) != st.Invalid {
		t.Fatalf("rejects file has %d rows, want %d", len(rs), st.Invalid)
	}
	for _, r := range rs {
		if r.Reason == "" || r.Vendor != "nebuly" || r.Line < 2 {
			t.Fatalf("reject without reason, vendor or line: %+v", r)
		}
	}

	events := h.history(run.GetID(), run.GetRunID())
	var buf bytes.Buffer
	for _, ev := range events {
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	if bytes.Contains(buf.Bytes(), []byte("@example.com")) {
		t.Fatal("workflow history contains user e-mails")
	}
	perK := float64(len(events)) / float64(st.Rows) * 1000
	t.Logf("%d rows, %d history events over %d runs (%.2f per 1,000 rows)", st.Rows, len(events), res.Runs, perK)
	if perK >= 10 {
		t.Errorf("%.1f history events per 1,000 rows; the budget is 10", perK)
	}
}

func TestWorkerStoppedMidImportResumesWithNothingLost(t *testing.T) {
	h := newHarness(t)
	h.fake.SetLatency(40 * time.Millisecond)
	o := gen.Options{Rows: 30_000, InvalidEvery: 101, QuotedNewlineEvery: 13}
	path, st := h.generate("users.csv", o)

	// A tiny stop timeout cuts running chunks off mid-batch, as a crash would.
	w1 := h.startWorker(h.conns(apiKey), time.Millisecond)
	run := h.start("import-e2e-restart", workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
		BatchSize: 250, ChunkRows: 1000, Concurrency: 4, HeartbeatTimeout: 2 * time.Second,
	})
	deadline := time.Now().Add(time.Minute)
	var before workflows.Progress
	for {
		before = h.progress(run.GetID())
		if before.RowsDone >= 5000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress before the restart: %+v", before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w1.Stop()
	// The progress query needs a worker, so the last answer before the stop
	// stands for where it stopped.
	if before.RowsDone >= int64(st.Rows) {
		t.Fatalf("the import finished before the worker stopped; the test proves nothing")
	}
	time.Sleep(500 * time.Millisecond)
	h.startWorker(h.conns(apiKey), 0)
	res, err := h.wait(run, 3*time.Minute)
	if err != nil {
		t.Fatalf("import failed after restart: %v", err)
	}
	if res.RowsRead != int64(st.Rows) || res.Accepted != int64(st.Valid) || res.Rejected != int64(st.Invalid) {
		t.Fatalf("after restart: %+v; want rows %d = %d + %d", res, st.Rows, st.Valid, st.Invalid)
	}
	checkStored(t, h.fake, o, st)
	if n := len(h.readRejects(res.WorkflowID)); n != st.Invalid {
		t.Fatalf("rejects file has %d rows, want %d", n, st.Invalid)
	}
	t.Logf("stopped at %d rows; finished with %d inserted + %d updated (resent after the stop)", before.RowsDone, res.Inserted, res.Updated)
}

func (h *harness) progress(id string) workflows.Progress {
	h.t.Helper()
	var p workflows.Progress
	v, err := h.c.QueryWorkflow(context.Background(), id, "", workflows.ProgressQuery)
	if err != nil {
		return p
	}
	_ = v.Get(&p)
	return p
}

func TestNDJSONAndMappingImport(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	o := gen.Options{Rows: 3000, InvalidEvery: 50}
	path, st := h.generate("users.ndjson", o)
	run := h.start("import-e2e-ndjson", workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.NDJSON},
	})
	res, err := h.wait(run, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != int64(st.Valid) || res.Rejected != int64(st.Invalid) {
		t.Fatalf("%+v, want %d accepted %d rejected", res, st.Valid, st.Invalid)
	}
	u, ok := h.fake.User(o.Email(0))
	if !ok || u.Tags["Plan"] != "Standard" || u.Tags["Seats"] != "0" || u.Tags["Note"] != "multi\nline" {
		t.Fatalf("nested tags were not mapped: %+v", u)
	}
}

func TestMissingCredentialsFailWithTheVariableToSet(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(""), 0)
	path, _ := h.generate("users.csv", gen.Options{Rows: 10})
	run := h.start("import-e2e-nokey", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV}})
	_, err := h.wait(run, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "IMPORTER_NEBULY_API_KEY") {
		t.Fatalf("want a failure naming IMPORTER_NEBULY_API_KEY, got %v", err)
	}
}

func TestWrongCredentialsFailFast(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns("wrong-key"), 0)
	path, _ := h.generate("users.csv", gen.Options{Rows: 10})
	run := h.start("import-e2e-badkey", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV}})
	_, err := h.wait(run, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("want a 401 failure, got %v", err)
	}
}
