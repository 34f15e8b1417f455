package workflows

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"importer/activities/failure"
	"importer/activities/imports"
	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/internal/limits"
)

// fakeActs stands in for the real activities: a source of n chunks of
// rowsPer rows, planned pageSize at a time, where chunk i rejects i%3 rows.
type fakeActs struct {
	chunks   int
	rowsPer  int
	delay    time.Duration
	failAt   int // chunk index that fails for good; -1 for none
	block    bool
	mu       sync.Mutex
	sent     map[int]int // chunk index → times sent
	inFlight atomic.Int32
	maxIn    atomic.Int32
	finals   atomic.Int32
	plans    atomic.Int32
	// The duplicate scan: how often it ran, the file it reports, the size it
	// saw (0: the planned size), and whether a chunk ran before it.
	scans      atomic.Int32
	dups       int // duplicates the scan finds (in the store)
	scanSize   int64
	chunkFirst atomic.Bool
	// Incremental state steps.
	prepares, deactivations, commits, discards atomic.Int32
	disappeared                                int
	// The store check: the reject count the workflow expected, and how
	// many rejects the store lacks (a deployment that does not share one).
	expected   atomic.Int64
	storeLacks int64
	// sealed registers the import as a worker that encrypts payloads;
	// caps, when set, are its operator's caps.
	sealed bool
	caps   limits.Limits
	// traits, when set, stands in for the vendor registry: what a deploy
	// that changed the vendor's traits would register.
	traits func(string) (vendorapi.Traits, error)
	// What planning and the chunks were asked (under mu).
	planIns  []imports.PlanInput
	chunkIns []imports.ChunkInput
}

func newFakeActs(chunks, rowsPer int) *fakeActs {
	return &fakeActs{chunks: chunks, rowsPer: rowsPer, failAt: -1, sent: map[int]int{}}
}

func (f *fakeActs) plan(_ context.Context, in imports.PlanInput) (source.Page, error) {
	f.plans.Add(1)
	f.mu.Lock()
	f.planIns = append(f.planIns, in)
	f.mu.Unlock()
	p := source.Page{Header: []string{"end_user", "active_from"}, DataStart: 20, Version: source.Version{Size: int64(20 + f.chunks*100)}}
	for i := in.NextIndex; i < f.chunks && len(p.Chunks) < in.MaxChunks; i++ {
		p.Chunks = append(p.Chunks, source.Chunk{Index: i, Offset: int64(20 + i*100), Length: 100, Rows: f.rowsPer, FirstLine: int64(2 + i*f.rowsPer)})
	}
	p.NextIndex = in.NextIndex + len(p.Chunks)
	p.Next = int64(20 + p.NextIndex*100)
	p.NextLine = int64(2 + p.NextIndex*f.rowsPer)
	p.Done = p.NextIndex >= f.chunks
	return p, nil
}

func (f *fakeActs) scan(_ context.Context, in imports.DuplicatesInput) (imports.Duplicates, error) {
	f.scans.Add(1)
	size := f.scanSize
	if size == 0 {
		size = int64(20 + f.chunks*100)
	}
	return imports.Duplicates{Rows: int64(f.chunks * f.rowsPer), Superseded: f.dups, Version: source.Version{Size: size}}, nil
}

func (f *fakeActs) prepareState(context.Context, imports.StateInput) (imports.StatePrepared, error) {
	f.prepares.Add(1)
	return imports.StatePrepared{Users: f.chunks * f.rowsPer, Disappeared: f.disappeared}, nil
}

func (f *fakeActs) deactivate(context.Context, imports.StateInput) (imports.Deactivated, error) {
	f.deactivations.Add(1)
	return imports.Deactivated{Deactivated: f.disappeared}, nil
}

func (f *fakeActs) commitState(context.Context, imports.StateInput) error {
	f.commits.Add(1)
	return nil
}

func (f *fakeActs) discardState(context.Context, imports.StateInput) error {
	f.discards.Add(1)
	return nil
}

func (f *fakeActs) chunk(ctx context.Context, in imports.ChunkInput) (imports.ChunkResult, error) {
	if f.scans.Load() == 0 {
		f.chunkFirst.Store(true)
	}
	if in.DuplicatesStored != (f.dups > 0) || in.Duplicates != "" {
		return imports.ChunkResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("chunk told duplicates stored=%v file=%q", in.DuplicatesStored, in.Duplicates), "Test", nil)
	}
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.sent[in.Chunk.Index]++
	f.chunkIns = append(f.chunkIns, in)
	f.mu.Unlock()
	if f.block {
		for ctx.Err() == nil {
			activity.RecordHeartbeat(ctx)
			time.Sleep(5 * time.Millisecond)
		}
		return imports.ChunkResult{}, ctx.Err()
	}
	// A failing chunk fails at once, before the others (delayed) finish.
	if in.Chunk.Index == f.failAt {
		// As the real activity, the sentence names the chunk and its lines.
		return imports.ChunkResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("chunk %d, lines %d-%d: nebuly: insert users: HTTP 401 Unauthorized", in.Chunk.Index, in.Chunk.FirstLine, in.Chunk.FirstLine+int64(in.Chunk.Rows)-1), "VendorAuth", nil)
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	rej := int64(in.Chunk.Index % 3)
	rows := int64(in.Chunk.Rows)
	return imports.ChunkResult{Chunk: in.Chunk.Index, Counts: imports.Counts{Rows: rows, Accepted: rows - rej, Rejected: rej, Inserted: rows - rej}}, nil
}

func (f *fakeActs) finalize(_ context.Context, in imports.FinalizeInput) (imports.FinalizeResult, error) {
	f.finals.Add(1)
	if in.Expected == nil {
		return imports.FinalizeResult{Count: 1}, nil
	}
	f.expected.Store(*in.Expected)
	if f.storeLacks > 0 {
		return imports.FinalizeResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the store holds %d of the %d rows this import rejected: the workers do not share one store", *in.Expected-f.storeLacks, *in.Expected),
			failure.StoreNotShared, nil)
	}
	return imports.FinalizeResult{Count: int(*in.Expected)}, nil
}

func (f *fakeActs) register(env *testsuite.TestWorkflowEnvironment) {
	settings := testSettings
	settings.Sealed = f.sealed
	if f.caps != (limits.Limits{}) {
		settings.Limits = f.caps
	}
	env.RegisterWorkflowWithOptions((&flows{settings: settings, traits: f.traits}).Import, workflow.RegisterOptions{Name: ImportWorkflowName})
	env.RegisterActivityWithOptions(f.plan, activity.RegisterOptions{Name: imports.PlanChunksName})
	env.RegisterActivityWithOptions(f.chunk, activity.RegisterOptions{Name: imports.ImportChunkName})
	env.RegisterActivityWithOptions(f.finalize, activity.RegisterOptions{Name: imports.FinalizeRejectsName})
	env.RegisterActivityWithOptions(f.scan, activity.RegisterOptions{Name: imports.FindDuplicatesName})
	env.RegisterActivityWithOptions(f.prepareState, activity.RegisterOptions{Name: imports.PrepareStateName})
	env.RegisterActivityWithOptions(f.deactivate, activity.RegisterOptions{Name: imports.DeactivateMissingName})
	env.RegisterActivityWithOptions(f.commitState, activity.RegisterOptions{Name: imports.CommitStateName})
	env.RegisterActivityWithOptions(f.discardState, activity.RegisterOptions{Name: imports.DiscardStateName})
}

// testSettings are a worker's settings in these tests: the default caps,
// with polls as short as the tests' fakes answer.
var testSettings = Settings{Limits: limits.Limits{MinPoll: time.Millisecond}}

// execImport starts an import in env; one that carries state runs as the
// continuation of an earlier run, as continue-as-new makes it.
func execImport(env *testsuite.TestWorkflowEnvironment, in ImportInput) {
	if in.State != nil {
		env.SetContinuedExecutionRunID("the-previous-run")
	}
	env.ExecuteWorkflow(ImportWorkflowName, in)
}

func (f *fakeActs) expectedRejected() int64 {
	var r int64
	for i := 0; i < f.chunks; i++ {
		r += int64(i % 3)
	}
	return r
}

func baseInput() ImportInput {
	return ImportInput{
		Vendor:    "nebuly",
		Source:    source.Ref{URI: "/data/users.csv", Format: source.CSV},
		BatchSize: 10, ChunkRows: 10, Concurrency: 3, PlanPage: 4,
	}
}

func TestImportDispatchesEveryChunkOnceAcrossPlanPages(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(11, 10)
	f.register(env)
	execImport(env, baseInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res ImportResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.RowsRead != 110 || res.Accepted+res.Rejected != res.RowsRead || res.Rejected != f.expectedRejected() {
		t.Fatalf("totals: %+v, want 110 rows, %d rejected", res, f.expectedRejected())
	}
	if res.Chunks != 11 || len(f.sent) != 11 {
		t.Fatalf("chunks done %d, distinct chunks sent %d; want 11", res.Chunks, len(f.sent))
	}
	for i, n := range f.sent {
		if n != 1 {
			t.Errorf("chunk %d sent %d times", i, n)
		}
	}
	if got := f.plans.Load(); got != 3 { // pages of 4: 4+4+3
		t.Errorf("planning calls = %d, want 3", got)
	}
	if res.RejectsCommand == "" || f.finals.Load() != 1 || f.expected.Load() != res.Rejected {
		t.Errorf("rejects not checked once against the store: command %q, calls %d, expected %d of %d", res.RejectsCommand, f.finals.Load(), f.expected.Load(), res.Rejected)
	}
}

func TestImportKeepsAtMostConcurrencyChunksInFlight(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(20, 5)
	f.delay = 20 * time.Millisecond
	f.register(env)
	in := baseInput()
	in.Concurrency = 3
	in.PlanPage = 50
	execImport(env, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if m := f.maxIn.Load(); m > 3 {
		t.Fatalf("%d chunks ran at once; the window is 3", m)
	}
	if m := f.maxIn.Load(); m < 2 {
		t.Fatalf("at most %d chunk ran at once; the window of 3 was not used", m)
	}
}

func TestImportContinuesAsNewCarryingCursorAndTotals(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	f := newFakeActs(9, 10)
	in := baseInput()
	in.ChunksPerRun = 4
	in.PlanPage = 3

	var total ImportResult
	runs := 0
	for {
		runs++
		if runs > 5 {
			t.Fatal("too many runs")
		}
		env := s.NewTestWorkflowEnvironment()
		f.register(env)
		execImport(env, in)
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			var next ImportInput
			if err := decodeInput(can, &next); err != nil {
				t.Fatal(err)
			}
			if next.State == nil || next.State.Totals.Rows == 0 {
				t.Fatalf("continue-as-new without state: %+v", next.State)
			}
			if !next.State.Totals.Balanced() {
				t.Fatalf("carried totals do not balance: %+v", next.State.Totals)
			}
			in = next
			continue
		}
		if err != nil {
			t.Fatalf("run %d failed: %v", runs, err)
		}
		if err := env.GetWorkflowResult(&total); err != nil {
			t.Fatal(err)
		}
		break
	}
	if runs != 3 {
		t.Errorf("runs = %d, want 3 (4 + 4 + 1 chunks)", runs)
	}
	if total.RowsRead != 90 || total.Rejected != f.expectedRejected() || total.Runs != 3 {
		t.Fatalf("final totals %+v", total)
	}
	for i := 0; i < 9; i++ {
		if f.sent[i] != 1 {
			t.Errorf("chunk %d sent %d times across runs", i, f.sent[i])
		}
	}
}

func TestImportFailsOnNonRetryableChunkErrorAndKeepsRejects(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(10, 10)
	f.failAt = 4
	// The chunks around the failing one are still running when it fails,
	// so the window cannot refill with later chunks first.
	f.delay = 20 * time.Millisecond
	f.register(env)
	execImport(env, baseInput())
	err := env.GetWorkflowError()
	if err == nil {
		t.Fatal("workflow succeeded; chunk 4 failed for good")
	}
	if f.finals.Load() != 1 {
		t.Errorf("rejects finalized %d times after failure, want 1", f.finals.Load())
	}
	// The failure is the chunk's own sentence, once, without Temporal's
	// wrapping; the rejects so far are named for people in the message and
	// for programs in the failure's details, with the chunk's failure type.
	var app *temporal.ApplicationError
	var d FailureDetails
	want := "chunk 4, lines 42-51: nebuly: insert users: HTTP 401 Unauthorized (1 rejects so far: starter rejects default-test-workflow-id)"
	if !errors.As(err, &app) || app.Type() != ImportFailed || app.Message() != want || app.Details(&d) != nil ||
		d != (FailureDetails{Rejects: 1, RejectsCommand: "starter rejects default-test-workflow-id", Cause: "VendorAuth"}) {
		t.Errorf("failure %v with details %+v; want ImportFailed saying %q, with the 1 reject so far, the command that lists it and the cause VendorAuth", err, d, want)
	}
	if len(f.sent) > 6 {
		t.Errorf("%d chunks were sent; after chunk 4 failed for good none after chunk 5 should start", len(f.sent))
	}
}

func TestAStoreThatLacksRejectsFailsTheImportWithTheFix(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(6, 10)
	f.storeLacks = 2
	f.register(env)
	execImport(env, baseInput())
	err := env.GetWorkflowError()
	if err == nil {
		t.Fatal("the import succeeded although the store lacks rejects its chunks counted")
	}
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != failure.StoreNotShared || !strings.Contains(err.Error(), "do not share one store") {
		t.Fatalf("error %v: want a %s failure that names the cause", err, failure.StoreNotShared)
	}
	// Chunks 0..5 reject index%3 rows each: 0+1+2+0+1+2.
	if f.expected.Load() != 6 {
		t.Fatalf("the workflow asked the store for %d rejects, want the 6 its chunks counted", f.expected.Load())
	}
}

func TestImportCancellationStopsChunksAndKeepsRejects(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(10, 10)
	f.block = true
	f.register(env)
	in := baseInput()
	in.HeartbeatTimeout = time.Second
	env.RegisterDelayedCallback(env.CancelWorkflow, 50*time.Millisecond)
	execImport(env, in)
	err := env.GetWorkflowError()
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("want a canceled error, got %v", err)
	}
	if f.finals.Load() != 1 {
		t.Errorf("rejects finalized %d times after cancel, want 1", f.finals.Load())
	}
	// The test environment reports a cancelled activity at once rather than
	// waiting for it; what must hold is that every running chunk was told
	// to stop (a chunk that was not would block forever).
	deadline := time.Now().Add(10 * time.Second)
	for f.inFlight.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.inFlight.Load(); n != 0 {
		t.Errorf("%d chunks were never cancelled", n)
	}
}

func TestImportRejectsUnknownVendor(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(1, 1)
	f.register(env)
	in := baseInput()
	in.Vendor = "nosuch"
	execImport(env, in)
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "unknown vendor") {
		t.Fatalf("want unknown vendor error, got %v", err)
	}
}

func TestProgressQueryReportsCountsWithoutUserData(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(6, 10)
	f.register(env)
	// What the query may answer: counts, the phase, times and the failure's
	// sentence; never a row's content, a user key or a source's bytes. A
	// new text field must be looked at before it joins the answer.
	allowed := map[string]bool{}
	for _, f := range reflect.VisibleFields(reflect.TypeOf(Progress{})) {
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if k := f.Type.Kind(); k == reflect.String && name != "phase" && name != "error" || k == reflect.Slice || k == reflect.Map || k == reflect.Interface {
			t.Errorf("Progress.%s (%s) could carry user data into a query's answer", f.Name, f.Type)
			continue
		}
		allowed[name] = true
	}
	answer := func() (Progress, map[string]any) {
		v, err := env.QueryWorkflow(ProgressQuery)
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		var p Progress
		var raw map[string]any
		if err := v.Get(&p); err != nil {
			t.Fatal(err)
		}
		if err := v.Get(&raw); err != nil {
			t.Fatal(err)
		}
		for k := range raw {
			if !allowed[k] {
				t.Errorf("the progress query answered a field %q beyond the counts", k)
			}
		}
		return p, raw
	}
	// Asked when the third of six chunks has been answered.
	var mid Progress
	var asked bool
	var chunksDone int
	env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
		if info.ActivityType.Name != imports.ImportChunkName || err != nil {
			return
		}
		if chunksDone++; chunksDone == 3 {
			mid, _ = answer()
			asked = true
		}
	})
	execImport(env, baseInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	// Asked while chunks ran, the query counts what is done so far.
	if !asked || mid.Phase != "importing" || mid.InFlight == 0 || mid.RowsDone >= 60 || mid.StartedAt.IsZero() || mid.Fraction() >= 1 {
		t.Fatalf("progress in the middle of the import: %+v (asked: %v); want the importing phase, chunks in flight, fewer than 60 rows done", mid, asked)
	}
	end, raw := answer()
	if end.Phase != "done" || end.RowsDone != 60 || !end.PlanningDone || end.RowsPlanned != 60 || end.Fraction() != 1 || end.InFlight != 0 {
		t.Fatalf("final progress %+v", end)
	}
	if end.Accepted+end.Rejected != end.RowsDone || end.ChunksDone != 6 || end.ChunksPlan != 6 {
		t.Fatalf("final progress %+v (%v): accepted and rejected must add up to the rows done, over the 6 chunks", end, raw)
	}
}

func decodeInput(can *workflow.ContinueAsNewError, out *ImportInput) error {
	return converter.GetDefaultDataConverter().FromPayloads(can.Input, out)
}

func TestDuplicateScanRunsOnceBeforeAnyChunkAcrossContinueAsNew(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	f := newFakeActs(12, 10)
	f.dups = 2
	in := baseInput()
	in.ChunksPerRun = 4
	res := runToEnd(t, &ts, f, in)
	if n := f.scans.Load(); n != 1 {
		t.Fatalf("the scan ran %d times over %d runs; want once", n, res.Runs)
	}
	if f.chunkFirst.Load() {
		t.Fatal("a chunk ran before the duplicate scan: the last row could lose")
	}
	if res.Duplicates != 2 || res.Runs < 2 {
		t.Fatalf("result %+v: want the scan's 2 duplicates carried to the end, over several runs", res)
	}
}

func TestASourceThatChangesBetweenScanAndPlanningFails(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	f := newFakeActs(3, 10)
	f.scanSize = 99
	f.register(env)
	execImport(env, baseInput())
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "changed between the duplicate scan and planning") {
		t.Fatalf("want a changed-source failure, got %v", err)
	}
	if len(f.sent) != 0 {
		t.Fatalf("%d chunks were sent from a source that changed", len(f.sent))
	}
}

func TestIncrementalStateIsCommittedOnlyAfterSuccess(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	f := newFakeActs(5, 10)
	f.disappeared = 3
	in := baseInput()
	in.Incremental = &imports.Incremental{StateKey: "nightly", Missing: imports.MissingDeactivate}
	res := runToEnd(t, &ts, f, in)
	if f.prepares.Load() != 1 || f.commits.Load() != 1 || f.deactivations.Load() != 1 || f.discards.Load() != 0 {
		t.Fatalf("prepare %d, deactivate %d, commit %d, discard %d; want 1, 1, 1, 0",
			f.prepares.Load(), f.deactivations.Load(), f.commits.Load(), f.discards.Load())
	}
	if res.Disappeared != 3 || res.Deactivated != 3 {
		t.Fatalf("result %+v", res)
	}

	env := ts.NewTestWorkflowEnvironment()
	g := newFakeActs(5, 10)
	g.failAt = 2
	g.register(env)
	execImport(env, in)
	if env.GetWorkflowError() == nil {
		t.Fatal("the import should have failed")
	}
	if g.commits.Load() != 0 || g.discards.Load() != 1 {
		t.Fatalf("after a failure: commit %d, discard %d; want 0 and 1 (the next run must resend)", g.commits.Load(), g.discards.Load())
	}
}

// runToEnd runs an import in the test environment, following
// continue-as-new from run to run, and returns the final result.
func runToEnd(t *testing.T, s *testsuite.WorkflowTestSuite, f *fakeActs, in ImportInput) ImportResult {
	t.Helper()
	for runs := 1; runs <= 20; runs++ {
		env := s.NewTestWorkflowEnvironment()
		f.register(env)
		execImport(env, in)
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			var next ImportInput
			if err := decodeInput(can, &next); err != nil {
				t.Fatal(err)
			}
			in = next
			continue
		}
		if err != nil {
			t.Fatalf("run %d failed: %v", runs, err)
		}
		var res ImportResult
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Fatal("the import did not end within 20 runs")
	return ImportResult{}
}
