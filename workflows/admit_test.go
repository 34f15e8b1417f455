package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"importer/activities/failure"
	"importer/activities/notify"
	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/internal/limits"
)

// refusedStart runs an import whose input must be refused before any step:
// it fails with BadInput saying says, and no activity ran.
func refusedStart(t *testing.T, in ImportInput, says string) {
	t.Helper()
	refusedStartAs(t, in, failure.BadInput, says)
}

// refusedStartAs is refusedStart with a failure of type kind.
func refusedStartAs(t *testing.T, in ImportInput, kind, says string) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(3, 10)
	f.register(env)
	execImport(env, in)
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != kind || !app.NonRetryable() {
		t.Fatalf("%v; want a %s failure", err, kind)
	}
	if !strings.Contains(app.Message(), says) {
		t.Fatalf("%q; want it to say %q", app.Message(), says)
	}
	if f.scans.Load()+f.plans.Load()+f.finals.Load() != 0 || len(f.sent) != 0 {
		t.Fatalf("a refused input ran steps: %d scans, %d plans, %d finals, %d chunks", f.scans.Load(), f.plans.Load(), f.finals.Load(), len(f.sent))
	}
}

// State is what continue-as-new carries; a start request that sends it (to
// name a file for the import to delete, or whose records it replaces) is
// refused, and so is state of another import in a continued run.
func TestAStartCannotSupplyTheStateOnlyContinueAsNewCarries(t *testing.T) {
	in := baseInput()
	in.State = &ImportState{ImportKey: "someone-elses-import-1234abcd", Staged: &source.Ref{URI: "/etc/important", Staged: true}}
	t.Run("raw start", func(t *testing.T) {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		f := newFakeActs(3, 10)
		f.register(env)
		env.ExecuteWorkflow(ImportWorkflowName, in) // a start, not a continuation
		var app *temporal.ApplicationError
		if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != failure.BadInput ||
			!strings.Contains(app.Message(), "only the import itself carries") {
			t.Fatalf("%v; want the state refused", err)
		}
		if f.finals.Load() != 0 || f.scans.Load() != 0 {
			t.Fatal("a start with state ran steps")
		}
	})
	t.Run("another import's state", func(t *testing.T) {
		refusedStart(t, in, "belongs to another import")
	})
}

func TestASourceOnlyTheImportFillsInIsRefused(t *testing.T) {
	for name, mutate := range map[string]func(*source.Ref){
		"staged":  func(r *source.Ref) { r.Staged = true },
		"header":  func(r *source.Ref) { r.Header = []string{"end_user"} },
		"version": func(r *source.Ref) { r.Version = source.Version{Size: 10} },
	} {
		t.Run(name, func(t *testing.T) {
			in := baseInput()
			mutate(&in.Source)
			refusedStart(t, in, "which only the import itself fills in")
		})
	}
	in := baseInput()
	in.Source.Format = "xml"
	refusedStart(t, in, "unknown source format")
	in = baseInput()
	in.Connection = "../../etc"
	refusedStart(t, in, "connection must be named")
}

// A URL that carries a credential would be kept in history in plain text:
// refused unless payloads are sealed, and never in the result.
func TestACredentialInTheSourceURLTravelsOnlySealed(t *testing.T) {
	for _, uri := range []string{
		"https://exports.example.com/users.csv?X-Amz-Signature=abc",
		"https://user:secret@exports.example.com/users.csv",
	} {
		in := baseInput()
		in.Source.URI = uri
		refusedStart(t, in, "turn payload encryption on (IMPORTER_CODEC_KEYS")
	}
	// An object-store URL takes no option but its region.
	in := baseInput()
	in.Source.URI = "s3://bucket/users.csv?endpoint=http://attacker.example&profile=prod"
	refusedStartAs(t, in, failure.SourceRefused, "sets endpoint, profile in its URL, which only the worker's configuration may set")
	// A region is no credential.
	in = baseInput()
	in.Source.URI = "s3://bucket/users.csv?region=eu-west-1"
	res := runToEnd(t, &testsuite.WorkflowTestSuite{}, newFakeActs(2, 10), in)
	if res.Source != "s3://bucket/users.csv" {
		t.Fatalf("result source %q, want it without its query", res.Source)
	}
	// Sealed, a presigned URL runs, and the result keeps it redacted.
	f := newFakeActs(2, 10)
	f.sealed = true
	in.Source.URI = "https://exports.example.com/users.csv?X-Amz-Signature=abc"
	res = runToEnd(t, &testsuite.WorkflowTestSuite{}, f, in)
	if res.Source != "https://exports.example.com/users.csv" || res.RowsRead != 20 {
		t.Fatalf("result %+v; want 20 rows and the source without its query", res)
	}
}

// What a caller asks of the worker is held within the operator's caps: the
// chunks in flight, the rows per chunk and per request, the descriptors per
// planning call.
func TestSizesACallerSetsAreHeldWithinTheOperatorsCaps(t *testing.T) {
	f := newFakeActs(40, 10)
	f.delay = 10 * time.Millisecond
	in := baseInput()
	in.Concurrency, in.PlanPage, in.BatchSize, in.ChunkRows = 10_000, 1_000_000, 1_000_000, 1_000_000_000
	in.HeartbeatTimeout = time.Nanosecond
	in.JobPoll = time.Nanosecond
	res := runToEnd(t, &testsuite.WorkflowTestSuite{}, f, in)
	if res.RowsRead != 400 {
		t.Fatalf("read %d rows, want 400", res.RowsRead)
	}
	l := testSettings.Limits.WithDefaults()
	if m := f.maxIn.Load(); m > int32(l.MaxConcurrency) || m < 2 {
		t.Errorf("%d chunks in flight; want at most the cap of %d (and more than one)", m, l.MaxConcurrency)
	}
	for _, p := range f.planIns {
		if p.ChunkRows != l.MaxChunkRows || p.MaxChunks != l.MaxPlanPage {
			t.Fatalf("planning asked for chunks of %d rows, %d a page; want the caps %d and %d", p.ChunkRows, p.MaxChunks, l.MaxChunkRows, l.MaxPlanPage)
		}
	}
	for _, c := range f.chunkIns {
		if c.BatchSize != l.MaxBatchSize {
			t.Fatalf("a chunk sends batches of %d; want the cap %d", c.BatchSize, l.MaxBatchSize)
		}
	}
	// A lower cap set by the operator holds too.
	g := newFakeActs(30, 10)
	g.delay = 10 * time.Millisecond
	g.caps = limits.Limits{MaxConcurrency: 2, MinPoll: time.Millisecond}
	runToEnd(t, &testsuite.WorkflowTestSuite{}, g, in)
	if m := g.maxIn.Load(); m != 2 {
		t.Errorf("%d chunks in flight under a cap of 2", m)
	}
}

// A Notify workflow started by hand (not as the child of the run it names)
// fails at once, before any delivery is attempted.
func TestANotifyStartedByHandFailsWithoutDelivering(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyWorkflowName})
	delivered := 0
	env.RegisterActivityWithOptions(func(context.Context, notify.Notification) error { delivered++; return nil },
		activity.RegisterOptions{Name: notify.DeliverName})
	env.ExecuteWorkflow(NotifyWorkflowName, notify.Notification{ID: "notify/x/y", Webhook: "oncall", Kind: notify.KindImport,
		WorkflowID: "x", RunID: "y", Status: notify.Failed, Event: notify.OnFailure, Error: "rotate your key at https://phish.example"})
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != notify.NotFromItsRun {
		t.Fatalf("%v; want NotFromItsRun", err)
	}
	if delivered != 0 {
		t.Fatal("a hand-started notification was delivered")
	}
}

// A deploy that flips a vendor's traits while an import runs changes new
// imports only: the running one continues, run after run, on the traits
// and defaults its first run recorded, and completes exactly.
func TestAnImportKeepsTheTraitsItStartedWithAcrossADeploy(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	f := newFakeActs(9, 10)
	in := baseInput()
	in.ChunksPerRun = 3
	runs, gated := 0, 0
	for {
		runs++
		if runs > 2 {
			// Every run after the first is on a worker whose code now says
			// the vendor is gated, runs jobs and allows 5 rows a chunk.
			f.traits = func(string) (vendorapi.Traits, error) {
				gated++
				return vendorapi.Traits{Gated: true, Jobs: true, MaxChunkRows: 5}, nil
			}
		}
		env := s.NewTestWorkflowEnvironment()
		f.register(env)
		execImport(env, in)
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			if err := decodeInput(can, &in); err != nil {
				t.Fatal(err)
			}
			if in.State.Decided == nil || in.State.Decided.Traits.Gated {
				t.Fatalf("run %d carries decisions %+v; want the first run's", runs, in.State.Decided)
			}
			continue
		}
		if err != nil {
			t.Fatalf("run %d: %v", runs, err)
		}
		var res ImportResult
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		if res.RowsRead != 90 || res.Chunks != 9 || len(f.sent) != 9 {
			t.Fatalf("%+v, %d chunks sent; want 90 rows in 9 chunks of 10, each sent once", res, len(f.sent))
		}
		break
	}
	if runs != 3 || gated != 0 {
		t.Fatalf("%d runs, the changed traits read %d times; want 3 runs that never read them", runs, gated)
	}
	for _, p := range f.planIns {
		if p.ChunkRows != 10 {
			t.Fatalf("planning asked for chunks of %d rows: the changed MaxChunkRows was followed", p.ChunkRows)
		}
	}
}
