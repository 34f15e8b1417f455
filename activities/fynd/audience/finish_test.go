package audience

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/failure"
	"importer/internal/artifacts"
	"importer/internal/store"
)

// A sync's last step deletes only its own files, under its own prefix, and
// refuses a sync key that is not its workflow's: whatever the input names,
// another sync's files and rejects stay.
func TestFinishingASyncDeletesOnlyItsOwnFiles(t *testing.T) {
	ctx := context.Background()
	files, err := artifacts.NewLocal(t.TempDir(), "", []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "importer.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mine := AudienceSpec{SyncKey: "default-test-workflow-id-run1"}
	other := AudienceSpec{SyncKey: "someone-elses-sync-abcd1234"}
	own, foreign := artifactKey(mine, "members.csv"), artifactKey(other, "members.csv")
	for _, k := range []string{own, foreign} {
		if _, err := files.Put(ctx, k, strings.NewReader("user_id\nu1\n")); err != nil {
			t.Fatal(err)
		}
	}
	a := &Activities{Store: st, Artifacts: files}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.FinishAudience)

	_, err = env.ExecuteActivity(a.FinishAudience, FinishAudienceInput{Spec: other, Artifacts: []string{foreign}})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != failure.BadInput {
		t.Fatalf("another sync's key: %v; want it refused", err)
	}
	if _, err := env.ExecuteActivity(a.FinishAudience, FinishAudienceInput{Spec: mine, Artifacts: []string{own, foreign, "audiences/" + mine.SyncKey + "/../x"}}); err != nil {
		t.Fatal(err)
	}
	if rc, err := files.Open(ctx, own); err == nil {
		rc.Close()
		t.Error("the sync's own file is still there")
	}
	rc, err := files.Open(ctx, foreign)
	if err != nil {
		t.Fatalf("another sync's file was deleted: %v", err)
	}
	rc.Close()
}
