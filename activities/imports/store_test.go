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

func TestRejectsMissingFromTheStoreFailTheImportsLastStep(t *testing.T) {
	a, st := onOwnStore(t)
	ctx := context.Background()
	// This worker's store has one of the import's three rejects; the other
	// worker wrote two to its own.
	if err := st.PutRejects(ctx, "imp", rejects.PartName(0, 0), []rejects.Reject{{Line: 2, Vendor: "nebuly", Reason: "bad"}}); err != nil {
		t.Fatal(err)
	}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.FinalizeRejects)
	three, one := int64(3), int64(1)
	_, err := env.ExecuteActivity(a.FinalizeRejects, FinalizeInput{ImportKey: "imp", Expected: &three})
	wantNotShared(t, err, "the store holds 1 of the 3 rows this import rejected")
	v, err := env.ExecuteActivity(a.FinalizeRejects, FinalizeInput{ImportKey: "imp", Expected: &one})
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
	recs := []state.Record{{KeyHash: state.KeyHash("a"), ContentHash: 1, Key: "a", Kept: true}}
	if err := st.StageState(ctx, "k", "run", rejects.PartName(0, 0), recs); err != nil {
		t.Fatal(err)
	}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.PrepareState)
	two, one := int64(2), int64(1)
	in := StateInput{Vendor: "nebuly", Incremental: Incremental{StateKey: "k"}, RunKey: "run", Expected: &two}
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
