package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	fyndfake "importer/activities/fynd/fake"
	"importer/activities/notify"
	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/internal/connections"
	"importer/worker/workerrun"
	"importer/workflows"
)

// hookToken is the secret part of the test webhook's URL, as in a Slack
// incoming webhook's; no payload or error may show it.
const hookToken = "T0HOOK/B0HOOK/hook-secret-token-0123456789"

// uiBase is the Temporal UI the notifying workers link to.
const uiBase = "http://ui.test:8233"

// hook is a webhook receiver: it answers each POST with what answer says
// for it (the n-th, from 0, and when it arrived) and records them all.
type hook struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	answer func(n int, at time.Time) int
	got    []delivery
}

type delivery struct {
	at      time.Time
	status  int
	key     string
	body    []byte
	payload notify.Payload
}

func newHook(t testing.TB, answer func(n int, at time.Time) int) *hook {
	h := &hook{t: t, answer: answer}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := delivery{at: time.Now(), key: r.Header.Get("Idempotency-Key"), body: body}
		if r.Method != http.MethodPost || r.URL.Path != "/services/"+hookToken || r.Header.Get("Content-Type") != "application/json" {
			d.status = http.StatusBadRequest
		} else if err := json.Unmarshal(body, &d.payload); err != nil {
			d.status = http.StatusBadRequest
		}
		h.mu.Lock()
		if d.status == 0 {
			d.status = h.answer(len(h.got), d.at)
		}
		h.got = append(h.got, d)
		h.mu.Unlock()
		w.WriteHeader(d.status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) url() string { return h.srv.URL + "/services/" + hookToken }

func (h *hook) all() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.got...)
}

// delivered returns the POSTs the receiver accepted (2xx).
func (h *hook) delivered() []delivery {
	var out []delivery
	for _, d := range h.all() {
		if d.status/100 == 2 {
			out = append(out, d)
		}
	}
	return out
}

// waitFor waits until ok holds for what the receiver got.
func (h *hook) waitFor(what string, timeout time.Duration, ok func([]delivery) bool) []delivery {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := h.all()
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the webhook did not get %s in %s; it got %d requests", what, timeout, len(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDelivered waits for the n-th accepted delivery and returns them.
func (h *hook) waitDelivered(n int, timeout time.Duration) []delivery {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("%d accepted notifications", n), timeout, func([]delivery) bool { return len(h.delivered()) >= n })
	return h.delivered()
}

// always answers every POST with status.
func always(status int) func(int, time.Time) int {
	return func(int, time.Time) int { return status }
}

// startNotifyingWorker starts a worker that knows the webhooks of conns,
// links to uiBase and retries deliveries every 100-200 ms.
func (h *harness) startNotifyingWorker(conns connections.Set) {
	h.t.Helper()
	w, err := workerrun.Start(h.c, workerrun.Options{
		TaskQueue: h.queue, Connections: conns, DataDir: h.data, StoreURL: h.records, Logger: h.log, Artifacts: h.store,
		Sources: testSources(h.t), Limits: testLimits,
		UI: uiBase, NotifyRetry: notify.Backoff{First: 100 * time.Millisecond, Max: 200 * time.Millisecond},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.Stop)
}

// notification returns the Notify workflow of a run that ended.
func (h *harness) notification(workflowID, runID string) client.WorkflowRun {
	return h.c.GetWorkflow(context.Background(), "notify/"+workflowID+"/"+runID, "")
}

// checkPayload asserts what every notification must hold: a text line, the
// run's IDs and link, and no secret and no user data.
func checkPayload(t *testing.T, h *harness, d delivery, workflowID, runID string) {
	t.Helper()
	p := d.payload
	if p.Text == "" || p.WorkflowID != workflowID || p.RunID != runID || p.ID != "notify/"+workflowID+"/"+runID || d.key != p.ID {
		t.Errorf("payload %+v with Idempotency-Key %q; want the text, the run %s/%s and its notification's ID", p, d.key, workflowID, runID)
	}
	wantLink := fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s", uiBase, h.srv.Namespace(), workflowID, runID)
	if p.UI != wantLink || !strings.HasSuffix(p.Text, " "+wantLink) {
		t.Errorf("link %q, text %q; want %s", p.UI, p.Text, wantLink)
	}
	var raw map[string]any
	if err := json.Unmarshal(d.body, &raw); err != nil || raw["text"] != p.Text {
		t.Errorf("the body has no top-level text field (Slack needs one): %s", d.body)
	}
	for _, secret := range []string{hookToken, "hook-secret-token", "sig=", "@example.com", apiKey} {
		if bytes.Contains(d.body, []byte(secret)) {
			t.Errorf("the payload holds %q: %s", secret, d.body)
		}
	}
}

func TestNotificationsOfCompletionRejectsAndFailureCarryTheRunsCounts(t *testing.T) {
	h := newHarness(t)
	rec := newHook(t, always(http.StatusOK))
	h.startNotifyingWorker(h.conns(apiKey).WithWebhook("oncall", rec.url()))

	t.Run("completion, through the CLI", func(t *testing.T) {
		path, st := h.generate("few-rejects.csv", gen.Options{Rows: 2000, InvalidEvery: 100})
		out, errOut, code := h.runCLI(context.Background(), "import", "--vendor", "nebuly", "--source", path, "--id", "notif-completion",
			"--notify", "oncall", "--notify-on", "completion,rejects>5%", "--wait", "-o", "json")
		if code != 0 {
			t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
		}
		var sum workflows.ImportResult
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			t.Fatalf("summary %q: %v", out, err)
		}
		d := rec.waitDelivered(1, time.Minute)[0]
		desc, err := h.c.DescribeWorkflowExecution(context.Background(), "notif-completion", "")
		if err != nil {
			t.Fatal(err)
		}
		runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		checkPayload(t, h, d, "notif-completion", runID)
		p := d.payload
		if p.Event != notify.OnCompletion || p.Status != notify.Completed || p.Kind != notify.KindImport || p.Vendor != "nebuly" ||
			p.Connection != "default" || p.Source != path || p.Error != "" {
			t.Errorf("payload %+v", p)
		}
		if p.Counts.Rows != int64(st.Rows) || p.Counts.Rows != sum.RowsRead || p.Counts.Accepted != sum.Accepted || p.Counts.Rejected != sum.Rejected ||
			p.Counts.Rejected != int64(st.Invalid) || p.RejectsCommand != sum.RejectsCommand || p.RejectsCommand != "starter rejects notif-completion" {
			t.Errorf("counts %+v, rejects %q; the import's summary: %+v", p.Counts, p.RejectsCommand, sum)
		}
		if p.RejectRatio != float64(st.Invalid)/float64(st.Rows) || p.RejectThreshold != nil {
			t.Errorf("reject ratio %v (threshold %v), want %v", p.RejectRatio, p.RejectThreshold, float64(st.Invalid)/float64(st.Rows))
		}
		want := fmt.Sprintf("Import notif-completion into nebuly completed: 1,980 accepted, 20 rejected (1%%) of 2,000 rows; rejects: starter rejects notif-completion. %s", p.UI)
		if p.Text != want {
			t.Errorf("text %q\n want %q", p.Text, want)
		}
	})

	t.Run("rejects over the threshold", func(t *testing.T) {
		path, st := h.generate("many-rejects.csv", gen.Options{Rows: 1000, InvalidEvery: 8})
		run := h.start("notif-rejects", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
			Notify: &notify.Spec{Webhook: "oncall", RejectsOver: ptr(5.0)}})
		res, err := h.wait(run, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		d := rec.waitDelivered(2, time.Minute)[1]
		checkPayload(t, h, d, "notif-rejects", run.GetRunID())
		p := d.payload
		if p.Event != notify.OnRejects || p.Status != notify.Completed || p.RejectThreshold == nil || *p.RejectThreshold != 0.05 {
			t.Errorf("payload %+v", p)
		}
		if p.Counts.Rows != res.RowsRead || p.Counts.Accepted != res.Accepted || p.Counts.Rejected != res.Rejected || p.Counts.Inserted != res.Inserted ||
			p.Counts.Rejected != int64(st.Invalid) {
			t.Errorf("counts %+v, result %+v", p.Counts, res)
		}
		if !strings.Contains(p.Text, "completed, but rejects 12.5% &gt; 5%: 875 accepted, 125 rejected (12.5%) of 1,000 rows") {
			t.Errorf("text %q", p.Text)
		}
	})

	t.Run("failure", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		defer gone.Close()
		run := h.start("notif-failure", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: gone.URL + "/users.csv", Format: source.CSV},
			Notify: &notify.Spec{Webhook: "oncall", Failure: true, Completion: true}})
		_, err := h.wait(run, time.Minute)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) {
			t.Fatalf("want the import to fail, got %v", err)
		}
		d := rec.waitDelivered(3, time.Minute)[2]
		checkPayload(t, h, d, "notif-failure", run.GetRunID())
		p := d.payload
		if p.Event != notify.OnFailure || p.Status != notify.Failed || p.Error != app.Message() || p.Source != gone.URL+"/users.csv" || p.Counts.Rows != 0 {
			t.Errorf("payload %+v; want the failure %q", p, app.Message())
		}
		if want := "Import notif-failure into nebuly failed: " + app.Message(); !strings.HasPrefix(html.UnescapeString(p.Text), want) {
			t.Errorf("text %q\n want %q...", p.Text, want)
		}
	})
	if n := len(rec.all()); n != 3 {
		t.Errorf("the webhook got %d requests for 3 notifications", n)
	}
}

func ptr[T any](v T) *T { return &v }

func TestNotificationToAWebhookThatRecoversIsDeliveredExactlyOnce(t *testing.T) {
	h := newHarness(t)
	var downUntil time.Time
	var once sync.Once
	rec := newHook(t, func(_ int, at time.Time) int {
		once.Do(func() { downUntil = at.Add(2 * time.Second) })
		if at.Before(downUntil) {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	h.startNotifyingWorker(h.conns(apiKey).WithWebhook("oncall", rec.url()))
	path, _ := h.generate("users.csv", gen.Options{Rows: 500, InvalidEvery: 50})
	run := h.start("notif-recovers", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
		Notify: &notify.Spec{Webhook: "oncall", Completion: true}})
	if _, err := h.wait(run, time.Minute); err != nil {
		t.Fatal(err)
	}
	rec.waitDelivered(1, time.Minute)
	// The delivery workflow ends with the delivery: nothing more is sent.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.notification(run.GetID(), run.GetRunID()).Get(ctx, nil); err != nil {
		t.Fatalf("the notification's workflow: %v", err)
	}
	time.Sleep(time.Second)
	got := rec.all()
	failed := 0
	for _, d := range got {
		if d.key != "notify/notif-recovers/"+run.GetRunID() {
			t.Errorf("an attempt with Idempotency-Key %q", d.key)
		}
		if d.status/100 != 2 {
			failed++
		}
	}
	for i := 1; i < len(got); i++ {
		t.Logf("attempt %d: %d after %s", i+1, got[i].status, got[i].at.Sub(got[i-1].at).Round(time.Millisecond))
	}
	if n := len(rec.delivered()); n != 1 || failed < 2 || got[len(got)-1].status != http.StatusOK {
		t.Fatalf("%d requests, %d answered 500, %d delivered; want several 500s, then exactly one delivery, then nothing", len(got), failed, n)
	}
	t.Logf("delivered after %d failed attempts over %s", failed, got[len(got)-1].at.Sub(got[0].at).Round(time.Millisecond))
}

func TestNotificationToAWebhookThatNeverRecoversNeitherFailsNorDelaysTheImport(t *testing.T) {
	h := newHarness(t)
	rec := newHook(t, always(http.StatusServiceUnavailable))
	h.startNotifyingWorker(h.conns(apiKey).WithWebhook("oncall", rec.url()))
	path, st := h.generate("users.csv", gen.Options{Rows: 500, InvalidEvery: 50})
	run := h.start("notif-down", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
		Notify: &notify.Spec{Webhook: "oncall", Completion: true}})
	// The result arrives although the notification never can be delivered
	// (it would retry for a day): the import does not wait for it.
	res, err := h.wait(run, time.Minute)
	if err != nil || res.RowsRead != int64(st.Rows) {
		t.Fatalf("the import: %+v, %v", res, err)
	}
	imp, err := h.c.DescribeWorkflowExecution(context.Background(), run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if s := imp.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("the import is %s, want completed", s)
	}
	// Deliveries keep failing after the import has closed.
	closed := imp.GetWorkflowExecutionInfo().GetCloseTime().AsTime()
	rec.waitFor("three failed attempts, one after the import closed", time.Minute, func(got []delivery) bool {
		return len(got) >= 3 && got[len(got)-1].at.After(closed)
	})
	note := h.notification(run.GetID(), run.GetRunID())
	t.Cleanup(func() { _ = h.c.TerminateWorkflow(context.Background(), note.GetID(), "", "test over") })
	desc, err := h.c.DescribeWorkflowExecution(context.Background(), note.GetID(), "")
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the notification's workflow is %s; it should still be retrying", s)
	}
	pending := desc.GetPendingActivities()
	if len(pending) != 1 || pending[0].GetAttempt() < 3 || !strings.Contains(pending[0].GetLastFailure().GetMessage(), `webhook "oncall" answered 503`) {
		t.Fatalf("pending delivery %v; want it retrying after 503s", pending)
	}
	if n := len(rec.delivered()); n != 0 {
		t.Fatalf("%d deliveries accepted by a webhook that answers 503", n)
	}
}

// syncWriter is a log sink that tests read while workers write to it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestNotificationToAWebhookTheWorkerDoesNotKnowFailsOnlyTheNotification(t *testing.T) {
	logs := &syncWriter{}
	h := newHarnessLogging(t, zerolog.New(zerolog.MultiLevelWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.WarnLevel))
	rec := newHook(t, always(http.StatusOK))
	h.startNotifyingWorker(h.conns(apiKey).WithWebhook("oncall", rec.url()))
	path, _ := h.generate("users.csv", gen.Options{Rows: 100})
	run := h.start("notif-unknown", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
		Notify: &notify.Spec{Webhook: "pager", Completion: true}})
	if _, err := h.wait(run, time.Minute); err != nil {
		t.Fatalf("an unknown webhook must not fail the import: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := h.notification(run.GetID(), run.GetRunID()).Get(ctx, nil)
	want := `the worker has no webhook named "pager" (it knows oncall): set IMPORTER_WEBHOOK_PAGER_URL in its environment or webhooks.pager.url in its config file`
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Message() != want || app.Type() != workflows.NotificationFailed {
		t.Fatalf("the notification's workflow ended with %v\n want %q", err, want)
	}
	logged := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var entry struct {
			Level string `json:"level"`
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Level == "error" && strings.HasPrefix(entry.Error, want) {
			logged = true
		}
	}
	if !logged {
		t.Errorf("the worker log has no error %q:\n%s", want, logs.String())
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("the known webhook got %d requests", n)
	}
}

func TestNotificationOfAnAudienceSync(t *testing.T) {
	l := audienceList{n: 100, dups: 2}
	a := newAud(t, fyndfake.Options{Users: seed(l, nil)})
	rec := newHook(t, always(http.StatusOK))
	a.startNotifyingWorker(a.fyndConns().WithWebhook("default", rec.url()))
	path := filepath.Join(a.dir, "customers.csv")
	l.write(t, path)
	run, err := a.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: "notif-audience", TaskQueue: a.queue}, workflows.AudienceWorkflowName,
		workflows.AudienceInput{Group: "VIP customers", Source: source.Ref{URI: path, Format: source.CSV}, Mapping: audienceMapping(),
			Poll: 20 * time.Millisecond, MaxPoll: 200 * time.Millisecond, Notify: &notify.Spec{Webhook: "default", Completion: true, Failure: true}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := waitAudience(t, run, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	d := rec.waitDelivered(1, time.Minute)[0]
	checkPayload(t, a.harness, d, "notif-audience", run.GetRunID())
	p := d.payload
	if p.Kind != notify.KindAudience || p.Event != notify.OnCompletion || p.Vendor != "fynd" || p.Group != "VIP customers" ||
		p.Counts.Rows != res.RowsRead || p.Counts.Accepted != res.Accepted || p.Counts.Rejected != res.Rejected || p.Counts.Members != res.Members ||
		p.RejectsCommand != res.RejectsCommand || res.Rejected == 0 {
		t.Errorf("payload %+v\nresult %+v", p, res)
	}
	if want := `Audience sync notif-audience of Fynd group "VIP customers" completed: `; !strings.HasPrefix(p.Text, want) {
		t.Errorf("text %q", p.Text)
	}
	if bytes.Contains(d.body, []byte("shop.example")) {
		t.Errorf("the payload holds a customer's e-mail: %s", d.body)
	}
}

func TestNotifyFlagsPassThroughScheduleCreateAndBadOnesAreRefused(t *testing.T) {
	h := newHarness(t)
	path, _ := h.generate("users.csv", gen.Options{Rows: 10})
	out, errOut, code := h.runCLI(context.Background(), "schedule", "create", "notif-nightly", "--vendor", "nebuly", "--source", path,
		"--interval", "24h", "--paused", "--notify", "oncall", "--notify-on", "failure,rejects>2.5%")
	if code != 0 {
		t.Fatalf("schedule create: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Cleanup(func() {
		_ = h.c.ScheduleClient().GetHandle(context.Background(), "notif-nightly").Delete(context.Background())
	})
	d, err := h.c.ScheduleClient().GetHandle(context.Background(), "notif-nightly").Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok || len(a.Args) != 1 {
		t.Fatalf("action %+v", d.Schedule.Action)
	}
	p, ok := a.Args[0].(*commonpb.Payload)
	if !ok {
		t.Fatalf("argument %T", a.Args[0])
	}
	var in workflows.ImportInput
	if err := converter.GetDefaultDataConverter().FromPayload(p, &in); err != nil {
		t.Fatal(err)
	}
	if in.Notify == nil || in.Notify.Webhook != "oncall" || !in.Notify.Failure || in.Notify.Completion || in.Notify.RejectsOver == nil || *in.Notify.RejectsOver != 2.5 {
		t.Fatalf("the scheduled import's notify spec: %+v", in.Notify)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"schedule", "create", "notif-bad", "--vendor", "nebuly", "--source", path, "--interval", "1h", "--notify", "oncall", "--notify-on", "failures"},
			`unknown --notify-on item "failures": use failure, completion or rejects>N% (for example rejects>5%)`},
		{[]string{"import", "--vendor", "nebuly", "--source", path, "--notify-on", "completion"}, "--notify-on needs --notify NAME"},
		{[]string{"audience", "sync", "--group", "g", "--source", path, "--notify", "ops", "--notify-on", "rejects>lots"}, "write the reject threshold as rejects>N%"},
		{[]string{"import", "--vendor", "nebuly", "--source", path, "--notify", "https://hooks.slack.com/services/" + hookToken}, "--notify takes a webhook's name, not its URL"},
	} {
		out, errOut, code := h.runCLI(context.Background(), tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want an error with %q", tc.args, code, errOut+out, tc.want)
		}
		if strings.Contains(errOut+out, hookToken) {
			t.Errorf("%v: the error shows the URL: %s", tc.args, errOut)
		}
	}
}
