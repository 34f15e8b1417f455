package workflows

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"importer/activities/notify"
)

// notified stands in for the Notify workflow and records what each
// notification it was started with says.
type notified struct {
	mu   sync.Mutex
	sent []notify.Notification
	// hang makes the notification never end, as a webhook that stays down.
	hang bool
}

func (n *notified) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in notify.Notification) error {
		n.mu.Lock()
		n.sent = append(n.sent, in)
		n.mu.Unlock()
		if n.hang {
			return workflow.Await(ctx, func() bool { return false })
		}
		return nil
	}, workflow.RegisterOptions{Name: NotifyWorkflowName})
}

func (n *notified) all() []notify.Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]notify.Notification(nil), n.sent...)
}

func spec(on string) *notify.Spec {
	s, err := notify.ParseSpec("oncall", on)
	if err != nil {
		panic(err)
	}
	return s
}

func TestAFailedImportNotifiesOnceWithItsErrorAndRejects(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(10, 10)
	f.failAt, f.delay = 4, 20*time.Millisecond
	f.sealed = true // a presigned URL travels only sealed
	f.register(env)
	var got notified
	got.register(env)
	in := baseInput()
	in.Source.URI = "https://exports.example.com/users.csv?X-Amz-Signature=presigned-secret"
	in.Notify = spec("failure,rejects>1%")
	execImport(env, in)
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ImportFailed {
		t.Fatalf("the import's own failure must stand, got %v", err)
	}
	sent := got.all()
	if len(sent) != 1 {
		t.Fatalf("%d notifications, want 1", len(sent))
	}
	n := sent[0]
	if n.Event != notify.OnFailure || n.Status != notify.Failed || n.Webhook != "oncall" || n.Kind != notify.KindImport ||
		n.Vendor != "nebuly" || n.Connection != "default" || n.WorkflowID != "default-test-workflow-id" || n.RunID == "" ||
		n.ID != "notify/"+n.WorkflowID+"/"+n.RunID {
		t.Errorf("notification %+v", n)
	}
	if n.Error != app.Message() || n.RejectsCommand != "starter rejects default-test-workflow-id" || n.Counts.Rows == 0 {
		t.Errorf("error %q, rejects %q, counts %+v; want the failure's sentence %q, its rejects and the counts so far", n.Error, n.RejectsCommand, n.Counts, app.Message())
	}
	if n.Source != "https://exports.example.com/users.csv" || strings.Contains(n.Source, "secret") {
		t.Errorf("source %q: the URL's query must not reach the notification", n.Source)
	}
}

func TestACompletedImportOverTheThresholdNotifiesRejectsWithItsResultsCounts(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(11, 10) // chunk i rejects i%3 rows: 10 of 110, 9.1%
	f.register(env)
	var got notified
	got.register(env)
	in := baseInput()
	in.Notify = spec("completion,rejects>5%")
	execImport(env, in)
	var res ImportResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	sent := got.all()
	if len(sent) != 1 {
		t.Fatalf("%d notifications, want 1 (rejects, which says it completed)", len(sent))
	}
	n := sent[0]
	if n.Event != notify.OnRejects || n.Status != notify.Completed || n.RejectsOver == nil || *n.RejectsOver != 5 || n.Error != "" {
		t.Errorf("notification %+v", n)
	}
	if n.Counts.Rows != res.RowsRead || n.Counts.Accepted != res.Accepted || n.Counts.Rejected != res.Rejected || n.RejectsCommand != res.RejectsCommand ||
		!n.StartedAt.Equal(res.StartedAt) {
		t.Errorf("counts %+v, rejects %q; want the result's %+v", n.Counts, n.RejectsCommand, res)
	}
}

func TestAnImportNotifiesOnlyOnTheEndsItsSpecNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  *notify.Spec
		fail  bool
		event string
	}{
		{"no spec", nil, true, ""},
		{"failure only, completed", spec("failure"), false, ""},
		{"completion only, failed", spec("completion"), true, ""},
		{"threshold not reached", spec("rejects>50%"), false, ""},
		{"completion", spec("completion"), false, notify.OnCompletion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			f := newFakeActs(6, 10)
			if tc.fail {
				f.failAt = 2
			}
			f.register(env)
			var got notified
			got.register(env)
			in := baseInput()
			in.Notify = tc.spec
			execImport(env, in)
			if err := env.GetWorkflowError(); (err != nil) != tc.fail {
				t.Fatalf("workflow error %v", err)
			}
			sent := got.all()
			switch {
			case tc.event == "" && len(sent) != 0:
				t.Fatalf("notified %+v", sent)
			case tc.event != "" && (len(sent) != 1 || sent[0].Event != tc.event):
				t.Fatalf("notified %+v, want one %s", sent, tc.event)
			}
		})
	}
}

func TestACanceledImportNotifiesAsAFailure(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(10, 10)
	f.block = true
	f.register(env)
	var got notified
	got.register(env)
	in := baseInput()
	in.HeartbeatTimeout = time.Second
	in.Notify = spec("failure")
	env.RegisterDelayedCallback(env.CancelWorkflow, 50*time.Millisecond)
	execImport(env, in)
	var canceled *temporal.CanceledError
	if err := env.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Fatalf("want the import canceled, got %v", err)
	}
	sent := got.all()
	if len(sent) != 1 || sent[0].Event != notify.OnFailure || sent[0].Status != notify.Canceled {
		t.Fatalf("notified %+v, want one failure with status canceled", sent)
	}
}

func TestAContinuedImportNotifiesOnlyWhenItEnds(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(9, 10)
	f.register(env)
	var got notified
	got.register(env)
	in := baseInput()
	in.ChunksPerRun = 4
	in.Notify = spec("completion")
	execImport(env, in)
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next ImportInput
	if err := decodeInput(can, &next); err != nil {
		t.Fatal(err)
	}
	if len(got.all()) != 0 {
		t.Fatalf("a run that continued as new notified: %+v", got.all())
	}
	if next.Notify == nil || next.Notify.Webhook != "oncall" || !next.Notify.Completion {
		t.Fatalf("the next run lost the spec: %+v", next.Notify)
	}
}

func TestTheImportsResultDoesNotWaitForItsNotification(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f := newFakeActs(3, 10)
	f.register(env)
	got := notified{hang: true}
	got.register(env)
	in := baseInput()
	in.Notify = spec("completion")
	env.SetTestTimeout(30 * time.Second)
	execImport(env, in)
	var res ImportResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatalf("the import must complete while its notification hangs: %v", err)
	}
	if res.RowsRead != 30 || len(got.all()) != 1 {
		t.Fatalf("result %+v, %d notifications started", res, len(got.all()))
	}
}
