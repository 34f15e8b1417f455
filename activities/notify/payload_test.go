package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sample() Notification {
	return Notification{
		ID: "notify/import-nebuly-users-20260101-030000/run-1", Webhook: "oncall", Kind: KindImport, Event: OnCompletion, Status: Completed,
		WorkflowID: "import-nebuly-users-20260101-030000", RunID: "run-1",
		Vendor: "nebuly", Connection: "default", Source: "https://exports.example.com/users.csv?X-Amz-Signature=secret-signature",
		Counts:         Counts{Rows: 10_000, Accepted: 9_950, Rejected: 50, Inserted: 9_000, Updated: 950},
		RejectsCommand: "starter rejects import-nebuly-users-20260101-030000",
		StartedAt:      time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC), FinishedAt: time.Date(2026, 1, 1, 3, 4, 0, 0, time.UTC),
	}
}

func TestTextSaysWhatHappenedInOneLine(t *testing.T) {
	completed := sample()
	completed.Event, completed.Status = OnCompletion, Completed

	over := sample()
	over.Event, over.Status, over.RejectsOver = OnRejects, Completed, pct(5)
	over.Counts = Counts{Rows: 1_000, Accepted: 880, Rejected: 120}

	incremental := sample()
	incremental.Event, incremental.Status, incremental.Connection, incremental.RejectsCommand = OnCompletion, Completed, "eu", ""
	incremental.Counts = Counts{Rows: 13_000, Accepted: 10_000, Unchanged: 3_000}

	failed := sample()
	failed.Event, failed.Status = OnFailure, Failed
	failed.Error = "chunk 3 (lines from 2001): nebuly: insert users: HTTP 401 Unauthorized (3 rejects so far: starter rejects import-nebuly-users-20260101-030000)"

	canceled := sample()
	canceled.Event, canceled.Status = OnFailure, Canceled
	canceled.Counts = Counts{Rows: 1_200, Accepted: 1_200}

	sync := Notification{Kind: KindAudience, Event: OnCompletion, Status: Completed, WorkflowID: "audience-default-vip",
		Vendor: "fynd", Connection: "default", Group: "VIP customers", Counts: Counts{Rows: 100, Accepted: 95, Rejected: 5, Members: 95}}

	const link = "http://127.0.0.1:8233/namespaces/default/workflows/import-nebuly-users-20260101-030000/run-1"
	for _, tc := range []struct {
		name string
		n    Notification
		link string
		want string
	}{
		{"completed", completed, link, "Import import-nebuly-users-20260101-030000 into nebuly completed: 9,950 accepted, 50 rejected (0.5%) of 10,000 rows; " +
			"rejects: starter rejects import-nebuly-users-20260101-030000. " + link},
		{"over the threshold", over, "", "Import import-nebuly-users-20260101-030000 into nebuly completed, but rejects 12% > 5%: 880 accepted, 120 rejected (12%) of 1,000 rows; " +
			"rejects: starter rejects import-nebuly-users-20260101-030000."},
		{"incremental, named connection", incremental, "", "Import import-nebuly-users-20260101-030000 into nebuly (connection eu) completed: 10,000 accepted, 0 rejected (0%), 3,000 unchanged of 13,000 rows."},
		{"failed", failed, "", "Import import-nebuly-users-20260101-030000 into nebuly failed: chunk 3 (lines from 2001): nebuly: insert users: HTTP 401 Unauthorized " +
			"(3 rejects so far: starter rejects import-nebuly-users-20260101-030000)."},
		{"canceled", canceled, "", "Import import-nebuly-users-20260101-030000 into nebuly was canceled after 1,200 rows."},
		{"audience sync", sync, "", `Audience sync audience-default-vip of Fynd group "VIP customers" completed: 95 accepted, 5 rejected (5%) of 100 rows.`},
	} {
		if got := Text(tc.n, tc.link); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestPayloadIsSlackTextPlusStructuredFieldsWithoutSecrets(t *testing.T) {
	n := sample()
	n.Event, n.Status, n.RejectsOver = OnRejects, Completed, pct(0.25)
	p := BuildPayload(n, "imports", "http://ui.example:8080/")
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": n.ID, "event": "rejects", "status": "completed", "kind": "import", "workflow_id": n.WorkflowID, "run_id": "run-1",
		"namespace": "imports", "vendor": "nebuly", "connection": "default", "source": "https://exports.example.com/users.csv",
		"reject_ratio": 0.005, "reject_threshold": 0.0025, "rejects_command": n.RejectsCommand,
		"ui_url":     "http://ui.example:8080/namespaces/imports/workflows/import-nebuly-users-20260101-030000/run-1",
		"started_at": "2026-01-01T03:00:00Z", "finished_at": "2026-01-01T03:04:00Z",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// Slack reads &, < and > as markup: the text escapes them.
	if text, _ := got["text"].(string); !strings.HasPrefix(text, "Import import-nebuly-users-20260101-030000 into nebuly completed, but rejects 0.5% &gt; 0.25%") ||
		!strings.HasSuffix(text, p.UI) {
		t.Errorf("text = %q", text)
	}
	counts, _ := got["counts"].(map[string]any)
	if counts["rows"] != 10_000.0 || counts["accepted"] != 9_950.0 || counts["rejected"] != 50.0 || counts["inserted"] != 9_000.0 {
		t.Errorf("counts = %v", counts)
	}
	if _, ok := got["error"]; ok {
		t.Error("a completed run's payload has an error field")
	}
	if strings.Contains(string(b), "secret-signature") || strings.Contains(string(b), "X-Amz") {
		t.Errorf("the payload holds the source's query: %s", b)
	}
}

func TestLinkIsLeftOutWhenTheUIIsUnknown(t *testing.T) {
	if l := Link("", "default", "w", "r"); l != "" {
		t.Errorf("Link without a UI = %q", l)
	}
	p := BuildPayload(sample(), "default", "")
	if p.UI != "" || strings.Contains(p.Text, "http") {
		t.Errorf("payload without a UI links: %+v", p)
	}
	if l := Link("https://cloud.temporal.io", "ns.acct", "gate/bitlabs/default", "r-1"); l != "https://cloud.temporal.io/namespaces/ns.acct/workflows/gate%2Fbitlabs%2Fdefault/r-1" {
		t.Errorf("Link = %q", l)
	}
}

func TestTheTextEscapesWhatSlackReadsAsMarkup(t *testing.T) {
	n := sample()
	n.Event, n.Status, n.Error = OnFailure, Failed, "mapping: column <email> & <id> missing"
	p := BuildPayload(n, "default", "")
	want := "Import import-nebuly-users-20260101-030000 into nebuly failed: mapping: column &lt;email&gt; &amp; &lt;id&gt; missing."
	if p.Text != want || p.Error != n.Error {
		t.Fatalf("text %q, error %q\nwant text %q and the error as it is", p.Text, p.Error, want)
	}
}
