package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd/audience"
	"importer/activities/rejects"
	"importer/internal/steps"
	"importer/internal/store"
	"importer/workflows"
	"importer/workflows/gate"
)

// The expected outputs below are what the starter printed before its
// commands went through one printer: they pin the bytes of each kind of
// output, for people and for -o json.

var t0 = time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)

// printed runs do with Globals that print in the output format and
// returns what it wrote to stdout and stderr.
func printed(t *testing.T, output string, do func(g *Globals) error) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	g := &Globals{output: output, stdout: &out, stderr: &errb, uiURL: "http://ui.example:8233/", namespace: "imports"}
	if err := g.checkOutput(); err != nil {
		t.Fatal(err)
	}
	err = do(g)
	return out.String(), errb.String(), err
}

// expect checks one output format's stdout and stderr.
func expect(t *testing.T, output string, do func(g *Globals) error, stdout, stderr string) {
	t.Helper()
	out, errOut, err := printed(t, output, do)
	if err != nil {
		t.Fatalf("-o %s: %v", output, err)
	}
	if out != stdout {
		t.Errorf("-o %s: stdout\n%s\nwant\n%s", output, out, stdout)
	}
	if errOut != stderr {
		t.Errorf("-o %s: stderr\n%q\nwant\n%q", output, errOut, stderr)
	}
}

func TestSummaryPrintsTheSameValueAsTableOrJSON(t *testing.T) {
	res := workflows.ImportResult{
		WorkflowID: "imp-done", Vendor: "nebuly", Connection: "default", Source: "https://user:pw@example.com/users.csv?sig=secret#x",
		RowsRead: 1234567, Accepted: 1234000, Rejected: 567, Inserted: 1000000, Updated: 234000,
		RejectsCommand: "starter rejects imp-done", Chunks: 12, Runs: 2,
		StartedAt: t0, FinishedAt: t0.Add(83*time.Second + 456*time.Millisecond),
	}
	report := func(g *Globals) error { return reportRun(g, nil, res.WorkflowID, res, nil, importKind()) }
	expect(t, "table", report, `Import imp-done completed in 1m23.46s
  vendor        nebuly (connection default)
  source        https://example.com/users.csv
  rows read     1,234,567
  accepted      1,234,000 (inserted 1,000,000, updated 234,000)
  rejected      567
  rejects       starter rejects imp-done
  rate          14,793 rows/s
  UI            http://ui.example:8233/namespaces/imports/workflows/imp-done
`, "")
	expect(t, "json", report, `{
  "accepted": 1234000,
  "chunks": 12,
  "connection": "default",
  "deactivated": 0,
  "disappeared": 0,
  "finished_at": "2026-11-23T10:16:23.456Z",
  "inserted": 1000000,
  "rejected": 567,
  "rejects_command": "starter rejects imp-done",
  "rejects_file": "",
  "rows_per_sec": 14793.028661809816,
  "rows_read": 1234567,
  "runs": 2,
  "seconds": 83.456,
  "source": "https://example.com/users.csv",
  "started_at": "2026-11-23T10:15:00Z",
  "status": "completed",
  "unchanged": 0,
  "updated": 234000,
  "vendor": "nebuly",
  "workflow_id": "imp-done"
}
`, "")

	inc := res
	inc.WorkflowID, inc.Unchanged, inc.Disappeared, inc.Deactivated, inc.RejectsFile = "imp-inc", 42, 7, 3, "/data/rejects.ndjson"
	inc.RejectsCommand, inc.FinishedAt = "", inc.StartedAt
	expect(t, "table", func(g *Globals) error { return reportRun(g, nil, inc.WorkflowID, inc, nil, importKind()) }, `Import imp-inc completed in 0s
  vendor        nebuly (connection default)
  source        https://example.com/users.csv
  rows read     1,234,567
  accepted      1,234,000 (inserted 1,000,000, updated 234,000)
  rejected      567
  unchanged     42 (not sent: the last successful run delivered the same)
  disappeared   7 users of the last successful run are no longer in the list; 3 deactivated
  gone list     starter rejects imp-inc --disappeared
  rejects file  /data/rejects.ndjson
  UI            http://ui.example:8233/namespaces/imports/workflows/imp-inc
`, "")
}

func TestAudienceSummaryPrintsTheSameValueAsTableOrJSON(t *testing.T) {
	res := workflows.AudienceResult{
		WorkflowID: "aud-done", Connection: "default", Group: "VIP customers", GroupID: "64f1", Source: "/data/vip.csv", Mode: "patched",
		Added: 1200, Removed: 3, RowsRead: 5000, Accepted: 4990, Rejected: 10, Members: 4990,
		Attributes:    []audience.AttributeDefinition{{Slug: "tier", ID: "a1", Action: "created"}, {Slug: "score", ID: "a2", Action: "unchanged"}},
		AttributeJobs: 3, TotalUsers: 4990, Verified: audience.Verification{Expected: 4990, Present: 4989, Missing: 1, Unexpected: 2},
		RejectsCommand: "starter rejects aud-done", StartedAt: t0, FinishedAt: t0.Add(time.Minute),
	}
	report := func(g *Globals) error { return reportRun(g, nil, res.WorkflowID, res, nil, audienceKind()) }
	expect(t, "table", report, `Audience sync aud-done completed in 1m0s
  group         VIP customers (id 64f1, patched: +1,200 -3)
  source        /data/vip.csv
  rows read     5,000
  accepted      4,990
  rejected      10
  attribute     tier (created)
  attribute     score (unchanged)
  jobs          3 bulk attribute jobs
  total users   4,990 (as Fynd counts them after the refresh)
  verified      4,989 of 4,990 members present, 1 missing, 2 not in the list
  rejects       starter rejects aud-done
  UI            http://ui.example:8233/namespaces/imports/workflows/aud-done
`, "")
	expect(t, "json", report, `{
  "result": {
    "workflow_id": "aud-done",
    "connection": "default",
    "group": "VIP customers",
    "group_id": "64f1",
    "source": "/data/vip.csv",
    "mode": "patched",
    "added": 1200,
    "removed": 3,
    "rows_read": 5000,
    "accepted": 4990,
    "rejected": 10,
    "members": 4990,
    "attributes": [
      {
        "slug": "tier",
        "id": "a1",
        "action": "created"
      },
      {
        "slug": "score",
        "id": "a2",
        "action": "unchanged"
      }
    ],
    "attribute_jobs": 3,
    "total_users": 4990,
    "verified": {
      "expected": 4990,
      "present": 4989,
      "missing": 1,
      "unexpected": 2
    },
    "rejects_command": "starter rejects aud-done",
    "started_at": "2026-11-23T10:15:00Z",
    "finished_at": "2026-11-23T10:16:00Z"
  },
  "status": "completed"
}
`, "")
}

func TestFailurePrintsALineOnStderrOrJSONOnStdoutAndExitsOne(t *testing.T) {
	importRun := func(g *Globals, id string, err error) error {
		return reportRun(g, nil, id, workflows.ImportResult{}, err, importKind())
	}
	audienceRun := func(g *Globals, id string, err error) error {
		return reportRun(g, nil, id, workflows.AudienceResult{}, err, audienceKind())
	}
	// As the client returns a run's failure: wrapped.
	wrapped := func(id string, err error) error {
		return fmt.Errorf("workflow execution error (type: Import, workflowID: %s, runID: r1): %w", id, err)
	}
	cases := []struct {
		kind       func(g *Globals, id string, err error) error
		id         string
		err        error
		line, json string
	}{
		{
			// The failure's own sentence, without "(type: ..., retryable: ...)".
			importRun, "imp-failed", temporal.NewApplicationError("nebuly refused the key: set IMPORTER_NEBULY_API_KEY", "BadCredentials"),
			"Import imp-failed failed: nebuly refused the key: set IMPORTER_NEBULY_API_KEY\n",
			`{
  "cause": "BadCredentials",
  "error": "nebuly refused the key: set IMPORTER_NEBULY_API_KEY",
  "status": "failed",
  "type": "BadCredentials",
  "workflow_id": "imp-failed"
}
`,
		},
		{
			// The rejects so far and the step's failure type come from the
			// failure's details, typed; the type chooses what to do.
			importRun, "imp-rejects", wrapped("imp-rejects", temporal.NewNonRetryableApplicationError(
				"gave up: the 3s deadline ran out while retrying; the last error: chunk 3, lines 2-11: nebuly: insert users: HTTP 503 Service Unavailable (2 rejects so far: starter rejects imp-rejects)",
				workflows.ImportFailed, nil, workflows.FailureDetails{Rejects: 2, RejectsCommand: "starter rejects imp-rejects", Cause: steps.DeadlineExceeded})),
			"Import imp-rejects failed: gave up: the 3s deadline ran out while retrying; the last error: chunk 3, lines 2-11: nebuly: insert users: HTTP 503 Service Unavailable " +
				"(2 rejects so far: starter rejects imp-rejects); start the import again once that is fixed, or allow it longer with --vendor-deadline\n",
			`{
  "cause": "DeadlineExceeded",
  "error": "gave up: the 3s deadline ran out while retrying; the last error: chunk 3, lines 2-11: nebuly: insert users: HTTP 503 Service Unavailable (2 rejects so far: starter rejects imp-rejects); start the import again once that is fixed, or allow it longer with --vendor-deadline",
  "rejects": 2,
  "rejects_command": "starter rejects imp-rejects",
  "status": "failed",
  "type": "ImportFailed",
  "workflow_id": "imp-rejects"
}
`,
		},
		{
			audienceRun, "aud-gone", wrapped("aud-gone", temporal.NewNonRetryableApplicationError("source https://example.com/vip.csv answered HTTP 404 Not Found",
				workflows.AudienceSyncFailed, nil, workflows.FailureDetails{Cause: failure.SourceNotFound})),
			"Audience sync aud-gone failed: source https://example.com/vip.csv answered HTTP 404 Not Found; fix the path or URL, or start the audience sync with a source every worker can read\n",
			`{
  "cause": "SourceNotFound",
  "error": "source https://example.com/vip.csv answered HTTP 404 Not Found; fix the path or URL, or start the audience sync with a source every worker can read",
  "status": "failed",
  "type": "AudienceSyncFailed",
  "workflow_id": "aud-gone"
}
`,
		},
		{
			audienceRun, "aud-canceled", temporal.NewCanceledError(),
			"Audience sync aud-canceled canceled: the audience sync was canceled\n",
			`{
  "error": "the audience sync was canceled",
  "status": "canceled",
  "workflow_id": "aud-canceled"
}
`,
		},
	}
	for _, tc := range cases {
		for output, want := range map[string][2]string{"table": {"", tc.line}, "json": {tc.json, ""}} {
			out, errOut, err := printed(t, output, func(g *Globals) error { return tc.kind(g, tc.id, tc.err) })
			var ee ExitError
			if !errors.As(err, &ee) || ee.Code != 1 {
				t.Errorf("%s -o %s: %v, want exit 1", tc.id, output, err)
			}
			if out != want[0] || errOut != want[1] {
				t.Errorf("%s -o %s: stdout %q stderr %q, want %q and %q", tc.id, output, out, errOut, want[0], want[1])
			}
		}
	}
}

func TestListPrintsRowsAsATableOrAJSONArray(t *testing.T) {
	closed, closed2 := t0.Add(83*time.Second), t0.Add(-time.Hour+2500*time.Millisecond)
	rows := []listRow{
		{WorkflowID: "imp-done", RunID: "run-imp-done", Type: "import", Vendor: "nebuly", Connection: "default", Status: "completed",
			StartedAt: t0, ClosedAt: &closed, Seconds: 83, Rows: ptr(1234567), Accepted: ptr(1234000), Rejected: ptr(567)},
		{WorkflowID: "imp-failed", RunID: "run-imp-failed", Type: "import", Vendor: "bitlabs", Connection: "default", Schedule: "nightly",
			Status: "failed", StartedAt: t0.Add(-time.Hour), ClosedAt: &closed2, Seconds: 2.5},
		{WorkflowID: "aud-run", RunID: "run-aud-run", Type: "audience", Status: "running", StartedAt: t0.Add(-time.Hour), Seconds: 7200, RowsDone: ptr(5000)},
	}
	list := func(rows []listRow) func(g *Globals) error {
		return func(g *Globals) error { return g.printer().list(rows, listTable(rows)) }
	}
	// STARTED is in local time: 19 characters in any zone.
	expect(t, "table", list(rows), fmt.Sprintf(`WORKFLOW ID  TYPE      VENDOR   CONNECTION  STATUS     STARTED              DURATION  ROWS          ACCEPTED   REJECTED  
imp-done     import    nebuly   default     completed  %s  1m23s     1,234,567     1,234,000  567       
imp-failed   import    bitlabs  default     failed     %s  3s        -             -          -         
aud-run      audience  -        -           running    %s  2h0m0s    5,000 so far  -          -         
`, timeText(t0), timeText(t0.Add(-time.Hour)), timeText(t0.Add(-time.Hour))), "")
	expect(t, "json", list(rows[:2]), `[
  {
    "workflow_id": "imp-done",
    "run_id": "run-imp-done",
    "type": "import",
    "vendor": "nebuly",
    "connection": "default",
    "status": "completed",
    "started_at": "2026-11-23T10:15:00Z",
    "closed_at": "2026-11-23T10:16:23Z",
    "seconds": 83,
    "rows": 1234567,
    "accepted": 1234000,
    "rejected": 567
  },
  {
    "workflow_id": "imp-failed",
    "run_id": "run-imp-failed",
    "type": "import",
    "vendor": "bitlabs",
    "connection": "default",
    "schedule": "nightly",
    "status": "failed",
    "started_at": "2026-11-23T09:15:00Z",
    "closed_at": "2026-11-23T09:15:02.5Z",
    "seconds": 2.5
  }
]
`, "")
	expect(t, "table", list([]listRow{}), "No imports or audience syncs match.\n", "")
	expect(t, "json", list([]listRow{}), "[]\n", "")
}

func ptr(n int64) *int64 { return &n }

func TestRejectsStreamAsAlignedRowsOrNDJSON(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "importer.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs := []rejects.Reject{
		{Line: 2, UserID: "a@x.io", Vendor: "nebuly", Reason: `active_from: "31/12/2025" is not a date`},
		{Line: 5, Vendor: "nebuly", Reason: "end_user is empty"},
		{Line: 17, UserID: "b<&>@x.io", Vendor: "nebuly", Reason: "duplicate user id (line 30 replaces it)"},
		{Line: 123456, UserID: "c@x.io", Vendor: "nebuly", Reason: "tags.Plan: too long"},
	}
	if err := st.PutRejects(ctx, "rj-done-abcdefgh", "c00000000-b00000", rejects.Stored(rs)); err != nil {
		t.Fatal(err)
	}
	run := runRecords{id: "rj-done", key: "rj-done-abcdefgh", rejected: 4}
	show := func(f rejectsFlags) func(g *Globals) error {
		return func(g *Globals) error { return showRejects(ctx, g, st, run, f) }
	}
	from := ", from " + st.Describe() + "\n"
	expect(t, "table", show(rejectsFlags{}), `LINE    USER ID    REASON                                   
2       a@x.io     active_from: "31/12/2025" is not a date  
5       -          end_user is empty                        
17      b<&>@x.io  duplicate user id (line 30 replaces it)  
123456  c@x.io     tags.Plan: too long                      
`, "4 rejects"+from)
	expect(t, "json", show(rejectsFlags{}), `{"line":2,"user_id":"a@x.io","vendor":"nebuly","reason":"active_from: \"31/12/2025\" is not a date"}
{"line":5,"vendor":"nebuly","reason":"end_user is empty"}
{"line":17,"user_id":"b\u003c\u0026\u003e@x.io","vendor":"nebuly","reason":"duplicate user id (line 30 replaces it)"}
{"line":123456,"user_id":"c@x.io","vendor":"nebuly","reason":"tags.Plan: too long"}
`, "")
	expect(t, "table", show(rejectsFlags{limit: 2, reason: "E"}), `LINE  USER ID  REASON                                   
2     a@x.io   active_from: "31/12/2025" is not a date  
5     -        end_user is empty                        
`, `3 of 4 rejects match "E"; showing the first 2 (--limit 0 shows all)`+from)
	expect(t, "table", show(rejectsFlags{reason: "nothing matches"}), "LINE  USER ID  REASON  \n", `0 of 4 rejects match "nothing matches"`+from)

	none := runRecords{id: "rj-none", key: "rj-none-00000000", rejected: 0}
	showNone := func(g *Globals) error { return showRejects(ctx, g, st, none, rejectsFlags{}) }
	expect(t, "table", showNone, "rj-none has no rejected rows.\n", "")
	expect(t, "json", showNone, "", "")
}

func TestStreamedTableAlignsEachBlockOfRowsOnItsOwn(t *testing.T) {
	var out bytes.Buffer
	s := printer{stdout: &out}.streamTable("N")
	for i := 1; i <= streamBlock; i++ {
		if err := s.row(nil, fmt.Sprint(i%10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.row(nil, "a wide cell"); err != nil {
		t.Fatal(err)
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) != streamBlock+3 || lines[0] != "N  " || lines[1] != "1  " || lines[streamBlock+1] != "a wide cell  " {
		t.Errorf("a block is not aligned on its own: %q ... %q", lines[:2], lines[streamBlock:])
	}
}

func TestScheduleDescribePrintsTheSameValueAsTableOrJSON(t *testing.T) {
	d := &client.ScheduleDescription{
		Schedule: client.Schedule{
			Action: &client.ScheduleWorkflowAction{Workflow: workflows.ImportWorkflowName, TaskQueue: "importer"},
			Spec: &client.ScheduleSpec{CronExpressions: []string{"0 3 * * *"}, Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour, Offset: time.Minute}},
				TimeZoneName: "Europe/Rome", Jitter: time.Minute},
			Policy: &client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE},
			State:  &client.ScheduleState{Note: "CRM migration", Paused: true},
		},
		Info: client.ScheduleInfo{NumActions: 12, NumActionsSkippedOverlap: 2,
			RunningWorkflows: []client.ScheduleWorkflowExecution{{WorkflowID: "import-nebuly-nightly-1", FirstExecutionRunID: "f"}},
			RecentActions: []client.ScheduleActionResult{
				{ScheduleTime: t0, ActualTime: t0.Add(time.Second), StartWorkflowResult: &client.ScheduleWorkflowExecution{WorkflowID: "import-nebuly-nightly-0"}},
				{ScheduleTime: t0, ActualTime: t0.Add(2 * time.Second)},
			},
			NextActionTimes: []time.Time{t0.Add(24 * time.Hour), t0.Add(48 * time.Hour)},
		},
	}
	describe := func(g *Globals) error { return g.printer().print(scheduleView("nightly", d)) }
	expect(t, "table", describe, fmt.Sprintf(`Schedule nightly
  spec      cron 0 3 * * *, every 1h0m0s offset 1m0s (Europe/Rome), jitter 1m0s
  state     paused
  note      CRM migration
  overlap   bufferone
  action    Import, task queue importer
  runs      12 started, 2 skipped because one was still running
  running   import-nebuly-nightly-1
  recent    %s  import-nebuly-nightly-0
  next      %s
  next      %s
`, timeText(t0.Add(time.Second)), timeText(t0.Add(24*time.Hour)), timeText(t0.Add(48*time.Hour))), "")
	expect(t, "json", describe, `{
  "next_runs": [
    "2026-11-24T10:15:00Z",
    "2026-11-25T10:15:00Z"
  ],
  "note": "CRM migration",
  "overlap": "bufferone",
  "paused": true,
  "recent_runs": [
    {
      "ScheduleTime": "2026-11-23T10:15:00Z",
      "ActualTime": "2026-11-23T10:15:01Z",
      "StartWorkflowResult": {
        "WorkflowID": "import-nebuly-nightly-0",
        "FirstExecutionRunID": ""
      }
    },
    {
      "ScheduleTime": "2026-11-23T10:15:00Z",
      "ActualTime": "2026-11-23T10:15:02Z",
      "StartWorkflowResult": null
    }
  ],
  "running": [
    {
      "WorkflowID": "import-nebuly-nightly-1",
      "FirstExecutionRunID": "f"
    }
  ],
  "runs_total": 12,
  "schedule_id": "nightly",
  "skipped": 2,
  "spec": "cron 0 3 * * *, every 1h0m0s offset 1m0s (Europe/Rome), jitter 1m0s"
}
`, "")
}

func TestGateStatusPrintsTheSameValueAsTableOrJSON(t *testing.T) {
	held := gate.Status{Vendor: "bitlabs", Connection: "default",
		Holder:  &gate.Holder{Request: gate.Request{RequestID: "r1", WorkflowID: "imp-a", RunID: "x", Label: "chunk 3", AskedAt: t0}, Since: t0},
		HeldFor: 1234567 * time.Microsecond,
		Queue: []gate.Request{
			{RequestID: "r2", WorkflowID: "imp-b", Label: "chunk 1", AskedAt: t0.Add(time.Second)},
			{RequestID: "r3", WorkflowID: "imp-c", Label: "chunk 9", AskedAt: t0.Add(2 * time.Second)},
		},
		Grants: 17, TakenBack: 1}
	link := "http://ui.example:8233/namespaces/imports/workflows/gate%2Fbitlabs%2Fdefault"
	asked := func(d time.Duration) string { return t0.Add(d).Local().Format(time.TimeOnly) }
	expect(t, "table", func(g *Globals) error { return g.printer().print(gateView("gate/bitlabs/default", held, link)) }, fmt.Sprintf(`Gate gate/bitlabs/default
  holder   imp-a, chunk 3, for 1.235s
  waiting  2
    1. imp-b, chunk 1, asked %s
    2. imp-c, chunk 9, asked %s
  grants   17 (leases taken back from dead holders: 1)
  UI       http://ui.example:8233/namespaces/imports/workflows/gate%%2Fbitlabs%%2Fdefault
`, asked(time.Second), asked(2*time.Second)), "")

	free := gate.Status{Vendor: "userpilot", Connection: "eu", Queue: []gate.Request{}, Grants: 3}
	show := func(g *Globals) error {
		return g.printer().print(gateView("gate/userpilot/eu", free, "http://ui.example:8233/namespaces/imports/workflows/gate%2Fuserpilot%2Feu"))
	}
	expect(t, "table", show, `Gate gate/userpilot/eu
  holder   none (free)
  waiting  0
  grants   3 (leases taken back from dead holders: 0)
  UI       http://ui.example:8233/namespaces/imports/workflows/gate%2Fuserpilot%2Feu
`, "")
	expect(t, "json", show, `{
  "gate": "gate/userpilot/eu",
  "running": true,
  "state": {
    "vendor": "userpilot",
    "connection": "eu",
    "queue": [],
    "grants": 3,
    "taken_back": 0
  }
}
`, "")
}

func TestMessagesForPeopleAreLeftOutOfJSON(t *testing.T) {
	say := func(g *Globals) error {
		p := g.printer()
		p.note("a note\n")
		p.say("a message\n")
		return p.print(map[string]string{"workflow_id": "w"}, nil)
	}
	expect(t, "table", say, "a message\n", "a note\n")
	expect(t, "json", say, "{\n  \"workflow_id\": \"w\"\n}\n", "")

	g := &Globals{output: "yaml"}
	if err := g.checkOutput(); err == nil || err.Error() != `unknown --output "yaml": use table or json` {
		t.Errorf("-o yaml: %v", err)
	}
}
