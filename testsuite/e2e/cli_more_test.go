package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/starter/cli"
	"importer/workflows"
)

// listed is one row of `starter list -o json`.
type listed struct {
	WorkflowID string `json:"workflow_id"`
	Type       string `json:"type"`
	Vendor     string `json:"vendor"`
	Connection string `json:"connection"`
	Schedule   string `json:"schedule"`
	Status     string `json:"status"`
	Rows       *int64 `json:"rows"`
	Accepted   *int64 `json:"accepted"`
	Rejected   *int64 `json:"rejected"`
	RowsDone   *int64 `json:"rows_done"`
}

func (h *harness) list(args ...string) []listed {
	h.t.Helper()
	out, errOut, code := h.runCLI(context.Background(), append([]string{"list", "-o", "json"}, args...)...)
	if code != 0 {
		h.t.Fatalf("list %v: exit %d\n%s\n%s", args, code, out, errOut)
	}
	var rows []listed
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		h.t.Fatalf("list %v prints no JSON array: %v\n%s", args, err, out)
	}
	return rows
}

// listUntil lists until ok accepts the rows: visibility records are
// written a moment after the workflow changes. The deadline is only a
// safety net.
func (h *harness) listUntil(ok func([]listed) bool, args ...string) []listed {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rows := h.list(args...)
		if ok(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("list %v never showed what the test waits for; last:\n%+v", args, rows)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ids(rows []listed) string {
	var out []string
	for _, r := range rows {
		out = append(out, r.WorkflowID)
	}
	return strings.Join(out, " ")
}

func n64(p *int64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// waitProgress polls an import's progress query until it has done at
// least rows (a generous deadline is the safety net).
func (h *harness) waitProgress(id string, rows int64) {
	h.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for h.progress(id).RowsDone < rows {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s never did %d rows: %+v", id, rows, h.progress(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCLIListShowsImportsWithCountsAndFilters(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	ctx := context.Background()

	done, st := h.generate("people.csv", gen.Options{Rows: 500, InvalidEvery: 50})
	if out, errOut, code := h.runCLI(ctx, "import", "--vendor", "nebuly", "--source", done, "--wait", "--id", "list-done"); code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	// BitLabs has no credentials on this worker: the import fails.
	bl := filepath.Join(h.dir, "bitlabs.csv")
	if _, err := gen.VendorFile("bitlabs", bl, gen.Options{Rows: 20}); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := h.runCLI(ctx, "import", "--vendor", "bitlabs", "--source", bl, "--wait", "--id", "list-failed"); code != 1 || !strings.Contains(errOut, "IMPORTER_BITLABS_S2S_TOKEN") {
		t.Fatalf("bitlabs import without credentials: exit %d\n%s", code, errOut)
	}
	// A run a schedule started carries the schedule's search attribute.
	sched, err := h.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "list-scheduled", TaskQueue: h.queue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(workflows.SAVendor).ValueSet("nebuly"),
			temporal.NewSearchAttributeKeyKeyword(workflows.SAConnection).ValueSet("default"),
			temporal.NewSearchAttributeKeyKeyword(workflows.SASchedule).ValueSet("nightly"),
		),
	}, workflows.ImportWorkflowName, workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: done, Format: source.CSV}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.wait(sched, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	// A workflow of another type, with the importer's attributes, on a
	// queue no worker polls: list must leave it out.
	other, err := h.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "not-an-import", TaskQueue: h.queue + "-nobody",
		TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword(workflows.SAVendor).ValueSet("nebuly")),
	}, "SomethingElse")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.c.TerminateWorkflow(ctx, other.GetID(), "", "test over") }()

	rows := h.listUntil(func(rows []listed) bool {
		return ids(rows) == "list-scheduled list-failed list-done" && rows[0].Rows != nil && rows[1].Status == "failed" && rows[2].Rows != nil
	})
	byID := map[string]listed{}
	for _, r := range rows {
		byID[r.WorkflowID] = r
	}
	d := byID["list-done"]
	if d.Type != "import" || d.Vendor != "nebuly" || d.Connection != "default" || d.Status != "completed" || d.Schedule != "" ||
		n64(d.Rows) != fmt.Sprint(st.Rows) || n64(d.Accepted) != fmt.Sprint(st.Valid) || n64(d.Rejected) != fmt.Sprint(st.Invalid) {
		t.Errorf("completed import: %+v rows %s accepted %s rejected %s; want %d = %d + %d", d, n64(d.Rows), n64(d.Accepted), n64(d.Rejected), st.Rows, st.Valid, st.Invalid)
	}
	if f := byID["list-failed"]; f.Vendor != "bitlabs" || f.Status != "failed" || f.Rows != nil {
		t.Errorf("failed import: %+v", f)
	}
	if s := byID["list-scheduled"]; s.Schedule != "nightly" || s.Status != "completed" {
		t.Errorf("scheduled import: %+v", s)
	}

	out, _, code := h.runCLI(ctx, "list")
	if code != 0 || !strings.Contains(out, "WORKFLOW ID") {
		t.Fatalf("list table: exit %d\n%s", code, out)
	}
	t.Logf("starter list:\n%s", out)
	var doneLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "list-done ") {
			doneLine = l
		}
	}
	for _, want := range []string{" import ", " nebuly ", " default ", " completed ", " 500 ", " 490 ", " 10 "} {
		if !strings.Contains(doneLine, want) {
			t.Errorf("the table's line of list-done %q lacks %q", doneLine, want)
		}
	}

	filters := []struct {
		args []string
		want string
	}{
		{[]string{"--vendor", "nebuly"}, "list-scheduled list-done"},
		{[]string{"--vendor", "bitlabs"}, "list-failed"},
		{[]string{"--status", "failed"}, "list-failed"},
		{[]string{"--status", "completed", "--vendor", "nebuly"}, "list-scheduled list-done"},
		{[]string{"--schedule", "nightly"}, "list-scheduled"},
		{[]string{"--since", "1h"}, "list-scheduled list-failed list-done"},
		{[]string{"--limit", "1"}, "list-scheduled"},
		{[]string{"--vendor", "dynamic"}, ""},
	}
	for _, f := range filters {
		if got := ids(h.list(f.args...)); got != f.want {
			t.Errorf("list %v = %q, want %q", f.args, got, f.want)
		}
	}
	if _, errOut, code := h.runCLI(ctx, "list", "--status", "done"); code == 0 || !strings.Contains(errOut, `unknown --status "done"`) {
		t.Errorf("a bad --status: exit %d, %q", code, errOut)
	}

	// A running import shows the rows its progress query reports.
	h.fake.SetLatency(300 * time.Millisecond)
	big, _ := h.generate("big.csv", gen.Options{Rows: 20000})
	if _, errOut, code := h.runCLI(ctx, "import", "--vendor", "nebuly", "--source", big, "--id", "list-running",
		"--concurrency", "1", "--batch-size", "100", "--chunk-rows", "100"); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	h.waitProgress("list-running", 100)
	running := h.listUntil(func(rows []listed) bool {
		return len(rows) == 1 && rows[0].RowsDone != nil && *rows[0].RowsDone >= 100
	}, "--status", "running")
	if r := running[0]; r.WorkflowID != "list-running" || r.Vendor != "nebuly" || r.Type != "import" || r.Rows != nil {
		t.Errorf("running import: %+v", r)
	}
	out, _, _ = h.runCLI(ctx, "list", "--status", "running")
	t.Logf("starter list --status running:\n%s", out)
	if !strings.Contains(out, "list-running") || !strings.Contains(out, " so far") {
		t.Errorf("the table does not show the running import's rows so far:\n%s", out)
	}
	if _, errOut, code := h.runCLI(ctx, "cancel", "list-running"); code != 0 {
		t.Fatal(errOut)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_ = h.c.GetWorkflow(wctx, "list-running", "").Get(wctx, nil)
}

func TestCLIRejectsPrintsFiltersAndSaves(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	ctx := context.Background()
	path, st := h.generate("people.csv", gen.Options{Rows: 1000, InvalidEvery: 20})
	out, errOut, code := h.runCLI(ctx, "import", "--vendor", "nebuly", "--source", path, "--wait", "-o", "json", "--id", "rj-done")
	if code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	var sum struct {
		RejectsCommand string `json:"rejects_command"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.RejectsCommand != "starter rejects rj-done" {
		t.Fatalf("summary %s: %v; want the command that lists the rejects", out, err)
	}
	want := h.readRejects("rj-done")
	if len(want) != st.Invalid {
		t.Fatalf("the store has %d rejects, want %d", len(want), st.Invalid)
	}
	var file []byte
	for _, r := range want {
		b, _ := json.Marshal(r)
		file = append(append(file, b...), '\n')
	}
	// Every rejects command reads the workers' store, as IMPORTER_STORE
	// would name it on any machine.
	rejectsOf := func(args ...string) (string, string, int) {
		return h.runCLI(ctx, append(append([]string{"rejects"}, args...), "--store", h.storeURL())...)
	}

	out, errOut, code = rejectsOf("rj-done")
	if code != 0 {
		t.Fatalf("rejects: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "LINE") {
		t.Fatalf("%d table lines for %d rejects:\n%s", len(lines), len(want), out)
	}
	for i, r := range want {
		l := lines[i+1]
		if !strings.HasPrefix(l, fmt.Sprintf("%d ", r.Line)) || !strings.Contains(l, r.Reason) || (r.UserID != "" && !strings.Contains(l, r.UserID)) {
			t.Errorf("table line %q does not show reject %+v", l, r)
		}
	}
	if !strings.Contains(errOut, fmt.Sprintf("%d rejects", len(want))) {
		t.Errorf("no count on stderr: %q", errOut)
	}

	notDate := 0
	for _, r := range want {
		if strings.Contains(r.Reason, "is not a date") {
			notDate++
		}
	}
	out, errOut, code = rejectsOf("rj-done", "--reason", "IS NOT A DATE")
	if got := len(strings.Split(strings.TrimSpace(out), "\n")) - 1; code != 0 || notDate == 0 || notDate == len(want) || got != notDate {
		t.Errorf("--reason: exit %d, %d rows, want %d of %d\n%s%s", code, got, notDate, len(want), out, errOut)
	}
	out, errOut, _ = rejectsOf("rj-done", "--limit", "5")
	if got := len(strings.Split(strings.TrimSpace(out), "\n")) - 1; got != 5 || !strings.Contains(errOut, "showing the first 5") {
		t.Errorf("--limit 5: %d rows, stderr %q", got, errOut)
	}
	out, _, code = rejectsOf("rj-done", "-o", "json")
	if code != 0 || out != string(file) {
		t.Errorf("-o json is not the stored rejects line for line:\n%s", out)
	}
	saved := filepath.Join(t.TempDir(), "saved.ndjson")
	out, _, code = rejectsOf("rj-done", "--save", saved)
	if got, err := os.ReadFile(saved); code != 0 || err != nil || !bytes.Equal(got, file) {
		t.Errorf("--save: exit %d, %v; the saved file differs from the stored rejects", code, err)
	}
	if !strings.Contains(out, fmt.Sprintf("Saved %d rejects", len(want))) {
		t.Errorf("--save says %q", out)
	}

	// A store that is not the workers' says so instead of "no rejects".
	_, errOut, code = h.runCLI(ctx, "rejects", "rj-done", "--store", "sqlite:"+filepath.Join(t.TempDir(), "other.db"))
	if code == 0 || !strings.Contains(errOut, "holds 0 of them") || !strings.Contains(errOut, "IMPORTER_STORE") {
		t.Errorf("the wrong store: exit %d, %q", code, errOut)
	}

	// A failed import names its rejects so far in its error.
	h.fake.SetLatency(200 * time.Millisecond)
	big, _ := h.generate("big.csv", gen.Options{Rows: 20000, InvalidEvery: 20})
	chunked := []string{"--vendor", "nebuly", "--source", big, "--concurrency", "1", "--batch-size", "100", "--chunk-rows", "100"}
	if _, errOut, code := h.runCLI(ctx, append([]string{"import", "--id", "rj-failed"}, chunked...)...); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	h.waitProgress("rj-failed", 100)
	// A running import's rejects so far are there already.
	if out, errOut, code := rejectsOf("rj-failed", "-o", "json"); code != 0 || !strings.Contains(out, `"vendor":"nebuly"`) {
		t.Errorf("rejects of a running import: exit %d, %q %q", code, out, errOut)
	}
	h.fake.Faults().FailNext(1_000_000, http.StatusBadRequest)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ferr := h.c.GetWorkflow(wctx, "rj-failed", "").Get(wctx, nil)
	h.fake.Faults().FailNext(0, 0)
	if ferr == nil || !strings.Contains(ferr.Error(), "rejects so far: starter rejects rj-failed") {
		t.Fatalf("the failed import's error does not say how to list its rejects: %v", ferr)
	}
	out, errOut, code = rejectsOf("rj-failed", "-o", "json")
	if code != 0 || strings.Count(out, "\n") < 5 || !strings.Contains(out, `"vendor":"nebuly"`) {
		t.Fatalf("rejects of a failed import: exit %d\n%s\n%s", code, out, errOut)
	}

	// A canceled import's rejects are in the store too.
	if _, errOut, code := h.runCLI(ctx, append([]string{"import", "--id", "rj-canceled"}, chunked...)...); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	h.waitProgress("rj-canceled", 100)
	if _, errOut, code := h.runCLI(ctx, "cancel", "rj-canceled"); code != 0 {
		t.Fatal(errOut)
	}
	if err := h.c.GetWorkflow(wctx, "rj-canceled", "").Get(wctx, nil); err == nil || !strings.Contains(strings.ToLower(err.Error()), "cancel") {
		t.Fatalf("want a canceled import, got %v", err)
	}
	out, errOut, code = h.runCLI(ctx, "rejects", "rj-canceled", "--data-dir", h.data, "--reason", "not a date")
	if code != 0 || !strings.Contains(out, "is not a date") {
		t.Errorf("rejects of a canceled import: exit %d\n%s\n%s", code, out, errOut)
	}
}

// runStarter runs the starter as typed, with no harness: no Temporal.
func runStarter(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	root := cli.NewRoot(&out, &errb)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee cli.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.Code
	case err != nil:
		errb.WriteString(err.Error())
		code = 1
	}
	return out.String(), errb.String(), code
}

type dryRunJSON struct {
	Rows        int64 `json:"rows"`
	WouldSend   int64 `json:"would_send"`
	WouldReject int64 `json:"would_reject"`
	Duplicates  int64 `json:"duplicates"`
	Other       int64 `json:"other_rejects"`
	Reasons     []struct {
		Reason string `json:"reason"`
		Rows   int64  `json:"rows"`
	} `json:"reasons"`
}

// The dry run needs neither Temporal (the address is unreachable) nor the
// vendor: a worker-style environment that points Nebuly at a fake sees no
// call.
func TestCLIDryRunNeedsNoTemporalAndCallsNoVendor(t *testing.T) {
	fake := nebulyfake.New(nebulyfake.Options{APIKey: apiKey})
	hs := httptest.NewServer(fake)
	defer hs.Close()
	t.Setenv("IMPORTER_NEBULY_BASE_URL", hs.URL)
	t.Setenv("IMPORTER_NEBULY_API_KEY", apiKey)

	dir := t.TempDir()
	path := filepath.Join(dir, "people.csv")
	st, err := gen.VendorFile("nebuly", path, gen.Options{Rows: 20000, InvalidEvery: 37, QuotedNewlineEvery: 11, CRLF: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	unreachable := []string{"--address", "127.0.0.1:1"}

	out, errOut, code := runStarter(ctx, append(unreachable, "import", "--vendor", "nebuly", "--source", path, "--dry-run", "-o", "json")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	var res dryRunJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	if res.Rows != int64(st.Rows) || res.WouldSend != int64(st.Valid) || res.WouldReject != int64(st.Invalid) || res.Duplicates != 0 {
		t.Fatalf("dry run %+v; want %d rows = %d + %d invalid", res, st.Rows, st.Valid, st.Invalid)
	}
	var grouped int64
	for _, r := range res.Reasons {
		grouped += r.Rows
	}
	if len(res.Reasons) == 0 || grouped+res.Other != res.WouldReject {
		t.Errorf("reasons %+v do not add up to %d rejects", res.Reasons, res.WouldReject)
	}

	out, _, code = runStarter(ctx, append(unreachable, "import", "--vendor", "nebuly", "--source", path, "--dry-run")...)
	t.Logf("starter import --dry-run:\n%s", out)
	if code != 0 || !strings.Contains(out, "would reject  "+cli.Num(int64(st.Invalid))) || !strings.Contains(out, `active_from: "31/12/2025" is not a date`) {
		t.Errorf("dry run table: exit %d\n%s", code, out)
	}

	// A URL is read over HTTP with Range requests, like a worker reads it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ranged := 0
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranged++
		}
		http.ServeContent(w, r, "people.csv", time.Unix(1_700_000_000, 0), bytes.NewReader(data))
	}))
	defer files.Close()
	out, errOut, code = runStarter(ctx, append(unreachable, "import", "--vendor", "nebuly", "--source", files.URL+"/people.csv", "--dry-run", "-o", "json")...)
	var viaURL dryRunJSON
	if code != 0 || json.Unmarshal([]byte(out), &viaURL) != nil || viaURL.WouldSend != res.WouldSend || viaURL.WouldReject != res.WouldReject || ranged == 0 {
		t.Errorf("dry run of a URL: exit %d, %+v, %d Range requests\n%s%s", code, viaURL, ranged, out, errOut)
	}

	for _, m := range []string{"POST", "PUT", "GET", "DELETE"} {
		if n := fake.Calls(m); n != 0 {
			t.Errorf("the dry run called the vendor: %d %s", n, m)
		}
	}
	if s := fake.Stats(); s.Requests != 0 {
		t.Errorf("the fake vendor saw %d requests", s.Requests)
	}
	// Without --dry-run the same command needs Temporal, and says so.
	if _, errOut, code := runStarter(ctx, append(unreachable, "import", "--vendor", "nebuly", "--source", path)...); code == 0 || !strings.Contains(errOut, "cannot reach Temporal") {
		t.Errorf("a real import with no Temporal: exit %d, %q", code, errOut)
	}
}

// The dry run and a real import of the same list, duplicates across chunks
// included, agree row for row.
func TestCLIDryRunAgreesWithTheImport(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	var b strings.Builder
	b.WriteString("end_user,active_from,active_to,tags.Plan\n")
	for i := 0; i < 3000; i++ {
		from := fmt.Sprintf("2025-%02d-%02d", i%12+1, i%28+1)
		if i%97 == 5 {
			from = "soon"
		}
		fmt.Fprintf(&b, "dr%05d@example.com,%s,,Pro\n", i, from)
	}
	b.WriteString("dr00001@example.com,2025-06-01,,Team\n")           // replaces line 3
	b.WriteString("dr00002@example.com,2025-06-01,2025-01-01,Team\n") // invalid, still replaces line 4
	b.WriteString("dr00005@example.com,2025-06-01,,Team\n")           // replaces an invalid row
	path := filepath.Join(h.dir, "dups.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wouldReject := filepath.Join(h.dir, "would-reject.ndjson")
	out, errOut, code := h.runCLI(ctx, "import", "--vendor", "nebuly", "--source", path, "--dry-run", "--rejects", wouldReject, "-o", "json")
	var dry dryRunJSON
	if code != 0 || json.Unmarshal([]byte(out), &dry) != nil {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	if dry.Rows != 3003 || dry.Duplicates != 3 {
		t.Fatalf("dry run %+v; want 3003 rows, 3 duplicates", dry)
	}
	out, errOut, code = h.runCLI(ctx, "import", "--vendor", "nebuly", "--source", path, "--chunk-rows", "500", "--batch-size", "100", "--wait", "-o", "json", "--id", "dr-real")
	var real struct {
		RowsRead int64 `json:"rows_read"`
		Accepted int64 `json:"accepted"`
		Rejected int64 `json:"rejected"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &real) != nil {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	if real.RowsRead != dry.Rows || real.Accepted != dry.WouldSend || real.Rejected != dry.WouldReject {
		t.Fatalf("import %+v, dry run %+v", real, dry)
	}
	key := func(rs []rejects.Reject) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%d %s %s", r.Line, r.UserID, r.Reason))
		}
		sort.Strings(out)
		return out
	}
	got, want := key(readRejectsFile(t, wouldReject)), key(h.readRejects("dr-real"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the dry run's rejects differ from the import's:\ndry run:\n%s\nimport:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
