package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"importer/activities/imports"
	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/workflows"
)

// scheduledRuns returns the results of a schedule's completed runs that
// started after since, oldest first.
func (h *harness) scheduledRuns(id string, since time.Time) []workflows.ImportResult {
	h.t.Helper()
	d, err := h.c.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []workflows.ImportResult
	for _, a := range d.Info.RecentActions {
		if a.StartWorkflowResult == nil || a.ActualTime.Before(since) {
			continue
		}
		run := h.c.GetWorkflow(context.Background(), a.StartWorkflowResult.WorkflowID, a.StartWorkflowResult.FirstExecutionRunID)
		desc, err := h.c.DescribeWorkflowExecution(context.Background(), a.StartWorkflowResult.WorkflowID, a.StartWorkflowResult.FirstExecutionRunID)
		if err != nil || desc.GetWorkflowExecutionInfo().GetCloseTime() == nil {
			continue // still running (or continued as new)
		}
		var res workflows.ImportResult
		if err := run.Get(context.Background(), &res); err != nil {
			continue // a failed run: the next one retries it in full
		}
		out = append(out, res)
	}
	return out
}

func (h *harness) waitScheduled(id string, since time.Time, n int) []workflows.ImportResult {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		runs := h.scheduledRuns(id, since)
		if len(runs) >= n {
			return runs
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("schedule %s completed %d runs since %s, want %d", id, len(runs), since.Format(time.TimeOnly), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestScheduledIncrementalImportSendsOnlyWhatChanged(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	o := gen.Options{Rows: 2000, InvalidEvery: 100}
	path, st := h.generate("crm.csv", o)

	out, errOut, code := h.runCLI(context.Background(), "schedule", "create", "crm-nightly", "--vendor", "nebuly", "--source", path,
		"--interval", "2s", "--incremental", "--note", "e2e")
	if code != 0 {
		t.Fatalf("schedule create: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Cleanup(func() {
		_ = h.c.ScheduleClient().GetHandle(context.Background(), "crm-nightly").Delete(context.Background())
	})

	// The first run sends every valid row.
	first := h.waitScheduled("crm-nightly", time.Time{}, 1)[0]
	if first.Accepted != int64(st.Valid) || first.Unchanged != 0 || first.Rejected != int64(st.Invalid) {
		t.Fatalf("first run %+v; want %d accepted", first, st.Valid)
	}
	posts, puts := h.fake.Calls("POST"), h.fake.Calls("PUT")

	// A run of the unchanged list sends nothing.
	since := time.Now()
	second := h.waitScheduled("crm-nightly", since, 1)[0]
	if second.Accepted != 0 || second.Unchanged != int64(st.Valid) || second.Rejected != int64(st.Invalid) || second.RowsRead != int64(st.Rows) {
		t.Fatalf("run of an unchanged list %+v; want all %d valid rows unchanged", second, st.Valid)
	}
	if h.fake.Calls("POST") != posts || h.fake.Calls("PUT") != puts {
		t.Fatalf("an unchanged run called Nebuly (POST %d→%d, PUT %d→%d)", posts, h.fake.Calls("POST"), puts, h.fake.Calls("PUT"))
	}

	// Change three rows: the next run sends exactly those three.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, i := range []int{5, 777, 1500} {
		old := o.Email(i) + ","
		line := text[strings.Index(text, old):]
		line = line[:strings.Index(line, "\n")]
		text = strings.Replace(text, line, strings.Replace(line, "row "+fmt.Sprint(i), "changed", 1), 1)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	since = time.Now()
	third := h.waitScheduled("crm-nightly", since, 1)[0]
	if third.Accepted != 3 || third.Unchanged != int64(st.Valid-3) {
		t.Fatalf("run after changing three rows %+v; want exactly 3 sent", third)
	}
	for _, i := range []int{5, 777, 1500} {
		if u, _ := h.fake.User(o.Email(i)); u.Tags["Note"] != "changed" {
			t.Fatalf("row %d was not updated: %+v", i, u)
		}
	}

	out, _, code = h.runCLI(context.Background(), "schedule", "describe", "crm-nightly")
	if code != 0 || !strings.Contains(out, "every 2s") || !strings.Contains(out, "e2e") {
		t.Fatalf("describe: exit %d\n%s", code, out)
	}
	if _, _, code = h.runCLI(context.Background(), "schedule", "pause", "crm-nightly"); code != 0 {
		t.Fatal("pause failed")
	}
	out, _, _ = h.runCLI(context.Background(), "schedule", "describe", "crm-nightly")
	if !strings.Contains(out, "paused") {
		t.Fatalf("describe after pause: %s", out)
	}
	// The list comes from visibility, which catches up a moment later.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, _ = h.runCLI(context.Background(), "schedule", "list", "-o", "json")
		if strings.Contains(out, `"paused": true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list after pause: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestIncrementalImportReportsAndDeactivatesUsersThatLeft(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	o := gen.Options{Rows: 300}
	path, _ := h.generate("members.csv", o)
	in := workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
		Incremental: &imports.Incremental{StateKey: "members", Missing: imports.MissingDeactivate}}
	if _, err := h.wait(h.start("inc-1", in), time.Minute); err != nil {
		t.Fatal(err)
	}
	// The next list lacks the last 10 users.
	shorter, _ := h.generate("members.csv", gen.Options{Rows: 290})
	in.Source.URI = shorter
	res, err := h.wait(h.start("inc-2", in), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Disappeared != 10 || res.Deactivated != 10 || res.Unchanged != 290 || res.Accepted != 0 {
		t.Fatalf("%+v; want 10 gone and deactivated, 290 unchanged", res)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	for i := 290; i < 300; i++ {
		if u, _ := h.fake.User(o.Email(i)); u.ActiveTo != today {
			t.Fatalf("user %d that left has active_to %q, want %s", i, u.ActiveTo, today)
		}
	}
	gone, errOut, code := h.runCLI(context.Background(), "rejects", res.WorkflowID, "--disappeared", "--store", h.storeURL())
	if code != 0 || strings.Count(gone, "\n") != 10 || !strings.Contains(gone, o.Email(295)) {
		t.Fatalf("disappeared list %q: exit %d, %s", gone, code, errOut)
	}
	if u, _ := h.fake.User(o.Email(3)); u.ActiveTo == today {
		t.Fatal("a user still in the list was deactivated")
	}
}

func TestAFailedIncrementalRunIsRetriedInFullNextTime(t *testing.T) {
	h := newHarness(t)
	h.fake.SetLatency(30 * time.Millisecond)
	h.startWorker(h.conns(apiKey), 0)
	o := gen.Options{Rows: 3000}
	path, st := h.generate("list.csv", o)
	in := workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV}, BatchSize: 100, ChunkRows: 100,
		Concurrency: 2, Incremental: &imports.Incremental{StateKey: "retry"}}
	run := h.start("inc-fail", in)
	// Once some users are in, the vendor starts refusing everything: the
	// run fails part way, with part of its records written.
	deadline := time.Now().Add(time.Minute)
	for h.fake.Count() < 300 {
		if time.Now().After(deadline) {
			t.Fatal("nothing was delivered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.fake.Faults().SetShare(1, 400)
	if _, err := h.wait(run, time.Minute); err == nil {
		t.Fatal("the run should have failed")
	}
	delivered := h.fake.Count()
	h.fake.Faults().SetShare(0, 0)
	res, err := h.wait(h.start("inc-after", in), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != int64(st.Valid) || res.Unchanged != 0 {
		t.Fatalf("after a run that failed having delivered %d users: %+v; want every row sent again", delivered, res)
	}
}
