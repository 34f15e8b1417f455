package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"importer/activities/vendors/gen"
	"importer/starter/cli"
)

// runCLI runs the starter's commands in-process, as a user would type them.
func (h *harness) runCLI(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	root := cli.NewRoot(&out, &errb)
	full := append([]string{"--address", h.srv.FrontendAddress(), "--namespace", h.srv.Namespace(), "--task-queue", h.queue}, args...)
	root.SetArgs(full)
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

func TestCLIImportWaitPrintsJSONSummary(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	o := gen.Options{Rows: 5000, InvalidEvery: 100, QuotedNewlineEvery: 7, CRLF: true}
	path, st := h.generate("people.csv", o)

	out, errOut, code := h.runCLI(context.Background(), "import", "--vendor", "nebuly", "--source", path, "--wait", "-o", "json", "--id", "cli-json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	for k, want := range map[string]float64{"rows_read": float64(st.Rows), "accepted": float64(st.Valid), "rejected": float64(st.Invalid)} {
		if sum[k] != want {
			t.Errorf("%s = %v, want %v", k, sum[k], want)
		}
	}
	if sum["workflow_id"] != "cli-json" || sum["vendor"] != "nebuly" || sum["rejects_command"] != "starter rejects cli-json" {
		t.Errorf("summary %v", sum)
	}
	if !strings.Contains(errOut, "Started import cli-json") || !strings.Contains(errOut, "/namespaces/") {
		t.Errorf("stderr does not show the workflow ID and UI link:\n%s", errOut)
	}

	out, _, code = h.runCLI(context.Background(), "status", "cli-json", "-o", "json")
	if code != 0 || !strings.Contains(out, `"status": "completed"`) {
		t.Fatalf("status: exit %d, %s", code, out)
	}
	out, _, code = h.runCLI(context.Background(), "status", "cli-json")
	if code != 0 || !strings.Contains(out, "rows read") {
		t.Fatalf("status table: exit %d, %s", code, out)
	}
}

func TestCLIFailedImportExitsNonZero(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns("wrong-key"), 0)
	path, _ := h.generate("people.csv", gen.Options{Rows: 20})
	out, errOut, code := h.runCLI(context.Background(), "import", "--vendor", "nebuly", "--source", path, "--wait", "--id", "cli-fail")
	if code == 0 {
		t.Fatalf("exit 0 for a failed import\n%s\n%s", out, errOut)
	}
	if !strings.Contains(errOut, "failed") || !strings.Contains(errOut, "IMPORTER_NEBULY_API_KEY") {
		t.Fatalf("the failure does not say why:\n%s", errOut)
	}
}

func TestCLICancel(t *testing.T) {
	h := newHarness(t)
	h.fake.SetLatency(200 * time.Millisecond)
	h.startWorker(h.conns(apiKey), 0)
	path, _ := h.generate("people.csv", gen.Options{Rows: 20000})
	_, errOut, code := h.runCLI(context.Background(), "import", "--vendor", "nebuly", "--source", path, "--id", "cli-cancel", "--concurrency", "1")
	if code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	out, errOut, code := h.runCLI(context.Background(), "cancel", "cli-cancel")
	if code != 0 || !strings.Contains(out, "Cancel requested") {
		t.Fatalf("cancel: exit %d %s %s", code, out, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := h.c.GetWorkflow(ctx, "cli-cancel", "").Get(ctx, nil)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "cancel") {
		t.Fatalf("want a canceled import, got %v", err)
	}
	_, errOut, code = h.runCLI(context.Background(), "status", "cli-cancel")
	if code == 0 || !strings.Contains(errOut, "canceled") {
		t.Fatalf("status of a canceled import: exit %d, %q", code, errOut)
	}
}

func TestCLIClearErrors(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	good, _ := h.generate("ok.csv", gen.Options{Rows: 3})
	noCols := filepath.Join(dir, "nocols.csv")
	if err := os.WriteFile(noCols, []byte("email,plan\na@x.io,Free\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown vendor", []string{"import", "--vendor", "acme", "--source", good}, `unknown vendor "acme": choose one of bitlabs, dynamic, nebuly, userpilot`},
		{"missing file", []string{"import", "--vendor", "nebuly", "--source", filepath.Join(dir, "nope.csv")}, "no such file"},
		{"unknown format", []string{"import", "--vendor", "nebuly", "--source", good, "--format", "xlsx"}, "--format"},
		{"missing columns", []string{"import", "--vendor", "nebuly", "--source", noCols}, "no column for the nebuly fields end_user, active_from"},
		{"unknown workflow", []string{"status", "no-such-import"}, `no import with workflow ID "no-such-import"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := h.runCLI(context.Background(), tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want it to contain %q", code, errOut, tc.want)
			}
		})
	}
	t.Run("unreachable temporal", func(t *testing.T) {
		var out, errb bytes.Buffer
		root := cli.NewRoot(&out, &errb)
		root.SetArgs([]string{"--address", "127.0.0.1:1", "import", "--vendor", "nebuly", "--source", good})
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), "cannot reach Temporal at 127.0.0.1:1") {
			t.Fatalf("got %v", err)
		}
	})
}
