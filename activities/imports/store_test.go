package imports

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/failure"
	"importer/activities/rejects"
	"importer/activities/state"
	"importer/activities/vendors"
	"importer/internal/connections"
	"importer/internal/store"
)

// onOwnStore is a worker's activities on a SQLite store of their own, as
// on a host whose worker was not given IMPORTER_STORE.
func onOwnStore(t *testing.T) (*Activities, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "importer.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(connections.FromEnv(nil, vendors.ImportNames()), st), st
}

func wantNotShared(t *testing.T, err error, what string) {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != failure.StoreNotShared || app.NonRetryable() == false ||
		!strings.Contains(app.Message(), what) || !strings.Contains(app.Message(), store.EnvVar) {
		t.Fatalf("got %v; want a non-retryable %s failure saying %q and naming %s", err, failure.StoreNotShared, what, store.EnvVar)
	}
}

// testKey is the records key of the test environment's workflow, as an
// import derives its own: its workflow ID and its first run's ID.
const testKey = "default-test-workflow-id-run1"

func TestRejectsMissingFromTheStoreFailTheImportsLastStep(t *testing.T) {
	a, st := onOwnStore(t)
	ctx := context.Background()
	// This worker's store has one of the import's three rejects; the other
	// worker wrote two to its own.
	if err := st.PutRejects(ctx, testKey, rejects.PartName(0, 0), []store.Reject{{Line: 2, Vendor: "nebuly", Reason: "bad"}}); err != nil {
		t.Fatal(err)
	}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.FinalizeRejects)
	three, one := int64(3), int64(1)
	_, err := env.ExecuteActivity(a.FinalizeRejects, FinalizeInput{ImportKey: testKey, Expected: &three})
	wantNotShared(t, err, "the store holds 1 of the 3 rows this import rejected")
	v, err := env.ExecuteActivity(a.FinalizeRejects, FinalizeInput{ImportKey: testKey, Expected: &one})
	if err != nil {
		t.Fatalf("a store that holds every reject: %v", err)
	}
	var res FinalizeResult
	if err := v.Get(&res); err != nil || res.Count != 1 {
		t.Fatalf("counted %+v, %v", res, err)
	}
}

func TestStateRecordsMissingFromTheStoreStopTheCommit(t *testing.T) {
	a, st := onOwnStore(t)
	ctx := context.Background()
	recs := []store.StateRecord{{KeyHash: state.KeyHash("a"), ContentHash: 1, Key: "a", Kept: true}}
	if err := st.StageState(ctx, "k", testKey, rejects.PartName(0, 0), recs); err != nil {
		t.Fatal(err)
	}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.PrepareState)
	two, one := int64(2), int64(1)
	in := StateInput{Vendor: "nebuly", Incremental: Incremental{StateKey: "k"}, RunKey: testKey, Expected: &two}
	_, err := env.ExecuteActivity(a.PrepareState, in)
	wantNotShared(t, err, "the store holds 1 of the 2 incremental-state records")
	if n, _ := st.StateUsers(ctx, "k"); n != 0 {
		t.Fatalf("a refused preparation left %d users in the state", n)
	}
	in.Expected = &one
	v, err := env.ExecuteActivity(a.PrepareState, in)
	if err != nil {
		t.Fatal(err)
	}
	var p StatePrepared
	if err := v.Get(&p); err != nil || p.Users != 1 {
		t.Fatalf("prepared %+v, %v", p, err)
	}
}

// An activity handed the records key of another workflow refuses it before
// it reads or writes a record: whatever its input says, an import cannot
// replace, count or commit another import's records.
func TestActivitiesRefuseTheRecordsKeyOfAnotherWorkflow(t *testing.T) {
	a, st := onOwnStore(t)
	ctx := context.Background()
	if err := st.PutRejects(ctx, "victim-import-abcd1234", rejects.PartName(0, 0), []store.Reject{{Line: 2, Vendor: "nebuly", Reason: "bad"}}); err != nil {
		t.Fatal(err)
	}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	for _, fn := range []any{a.FinalizeRejects, a.PrepareState, a.CommitState, a.DiscardState, a.DropStaged, a.StageSource, a.FindDuplicates, a.ImportChunk} {
		env.RegisterActivity(fn)
	}
	other := "victim-import-abcd1234"
	for name, call := range map[string]func() error{
		"FinalizeRejects": func() error {
			_, err := env.ExecuteActivity(a.FinalizeRejects, FinalizeInput{ImportKey: other})
			return err
		},
		"CommitState": func() error {
			_, err := env.ExecuteActivity(a.CommitState, StateInput{Vendor: "nebuly", Incremental: Incremental{StateKey: "k"}, RunKey: other})
			return err
		},
		"DiscardState": func() error {
			_, err := env.ExecuteActivity(a.DiscardState, StateInput{Vendor: "nebuly", Incremental: Incremental{StateKey: "k"}, RunKey: other})
			return err
		},
		"DropStaged": func() error {
			_, err := env.ExecuteActivity(a.DropStaged, DropStagedInput{ImportKey: other, Format: "csv"})
			return err
		},
		"FindDuplicates": func() error {
			_, err := env.ExecuteActivity(a.FindDuplicates, DuplicatesInput{ImportKey: other, Vendor: "nebuly"})
			return err
		},
		"ImportChunk": func() error {
			_, err := env.ExecuteActivity(a.ImportChunk, ChunkInput{ImportKey: other, Vendor: "nebuly"})
			return err
		},
	} {
		err := call()
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != failure.BadInput || !strings.Contains(app.Message(), "records key of another workflow") {
			t.Errorf("%s with another workflow's key: %v; want it refused", name, err)
		}
	}
	if n, err := st.CountRejects(ctx, other); err != nil || n != 1 {
		t.Fatalf("the other import's rejects: %d, %v", n, err)
	}
}
