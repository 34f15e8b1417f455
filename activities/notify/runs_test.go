package notify

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/internal/connections"
)

// deliverWith runs the activity once with runs as Temporal's record.
func deliverWith(t *testing.T, url string, runs Runs, n Notification) error {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{Webhooks: connections.FromEnv(nil, nil).WithWebhook("oncall", url), Runs: runs}
	env.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: DeliverName})
	_, err := env.ExecuteActivity(DeliverName, n)
	return err
}

// A Notify workflow started by hand, or one that names another run than
// the one that started it, or a run that ended otherwise than it says,
// posts nothing; a real one posts what the run recorded, not what its
// input says.
func TestANotificationIsDeliveredOnlyForTheRunThatStartedItAsItRecorded(t *testing.T) {
	rec := &receiver{statuses: []int{200}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	forged := sample()
	forged.Event, forged.Status = OnFailure, Failed
	forged.Error = "rotate your API key now at https://phish.example/login"

	refused := func(name string, runs Runs, says string) {
		t.Helper()
		err := deliverWith(t, srv.URL, runs, forged)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != NotFromItsRun || !app.NonRetryable() || !strings.Contains(app.Message(), says) {
			t.Fatalf("%s: %v; want NotFromItsRun saying %q", name, err, says)
		}
	}
	real := Execution{WorkflowID: forged.WorkflowID, RunID: forged.RunID}
	refused("started by hand", fakeRuns{}, "was not started by the run it reports on")
	refused("another run", fakeRuns{parent: Execution{WorkflowID: forged.WorkflowID, RunID: "run-2"}}, "was not started by the run it reports on")
	refused("no import", fakeRuns{parent: real, ended: Ended{Status: Failed}}, "no import or audience sync")
	refused("ended otherwise", fakeRuns{parent: real, ended: Ended{Kind: KindImport, Status: Completed}}, "recorded otherwise")
	refused("no record reader", nil, "cannot check")
	if n := posted(rec); len(n) != 0 {
		t.Fatalf("%d posts for refused notifications", len(n))
	}

	recorded := fakeRuns{parent: real, ended: Ended{Kind: KindImport, Status: Failed,
		Error: "chunk 3 (lines from 2001): nebuly: insert users: HTTP 401 Unauthorized", RejectsCommand: "starter rejects " + forged.WorkflowID}}
	if err := deliverWith(t, srv.URL, recorded, forged); err != nil {
		t.Fatal(err)
	}
	posts := posted(rec)
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	if text := posts[0].Text; strings.Contains(text, "phish") || !strings.Contains(text, "HTTP 401 Unauthorized") {
		t.Fatalf("posted %q; want the run's recorded failure, not the input's text", text)
	}
}

// posted decodes what rec was sent.
func posted(rec *receiver) []Payload {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []Payload
	for _, b := range rec.bodies {
		var p Payload
		if err := json.Unmarshal(b, &p); err == nil {
			out = append(out, p)
		}
	}
	return out
}
