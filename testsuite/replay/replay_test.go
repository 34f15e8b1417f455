// Package replay replays recorded workflow histories against the current
// workflow code, so that a change that would break running workflows fails
// CI instead of breaking them. It needs no Temporal server.
package replay

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"importer/activities/vendorapi"
	"importer/activities/vendors"
	"importer/workflows"
	"importer/workflows/gate"
	"importer/workflows/pacer"
)

// recordWith is how the histories are recorded again after a deliberate,
// versioned workflow change.
const recordWith = "go test ./testsuite/e2e -run TestRecordReplayHistories -update-replay"

func TestRecordedHistoriesOfEveryFlowReplayAgainstTheCurrentCode(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	replayed := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := workflowType(t, f, b)
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			workflows.Register(r, workflows.Settings{})
			hist, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{OriginalExecution: execution(t, f)}); err != nil {
				t.Fatalf("replaying %s (%s) against the current code: %v", f, name, err)
			}
		})
		replayed[name]++
	}
	// Every long-running flow must have a recorded history, or a change
	// that breaks its running workflows would pass unseen.
	for _, flow := range []string{workflows.ImportWorkflowName, gate.WorkflowName, pacer.WorkflowName, workflows.AudienceWorkflowName, workflows.NotifyWorkflowName} {
		if replayed[flow] == 0 {
			t.Errorf("no recorded history of %s in testsuite/histories; record them with: %s", flow, recordWith)
		}
	}
}

// workflowType reads the type of the workflow a history file records.
func workflowType(t *testing.T, path string, b []byte) string {
	t.Helper()
	var h struct {
		Events []struct {
			Attrs struct {
				Type struct {
					Name string `json:"name"`
				} `json:"workflowType"`
			} `json:"workflowExecutionStartedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &h); err != nil || len(h.Events) == 0 || h.Events[0].Attrs.Type.Name == "" {
		t.Fatalf("%s is not a recorded history (%v)", path, err)
	}
	return h.Events[0].Attrs.Type.Name
}

// execution reads the workflow ID and run ID a history was recorded under
// (the .id file beside it): code that names things after its workflow ID,
// such as the gate's grant signals, replays only under the same one.
func execution(t *testing.T, path string) workflow.Execution {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".id")
	if err != nil {
		t.Fatalf("%v; record the histories with: %s", err, recordWith)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 || lines[0] == "" {
		t.Fatalf("%s.id should hold the workflow ID and the run ID, a line each", strings.TrimSuffix(path, ".json"))
	}
	return workflow.Execution{ID: lines[0], RunID: lines[1]}
}

// A deploy that changes a vendor's traits must not break the imports that
// are running: every Import history recorded since imports record their
// decisions replays against code in which every vendor has the opposite
// traits (gated, jobs, single bypass, paced, and one row a job). A history
// from before, which read the traits live, fails so: the control that
// shows the flip reaches the workflow.
func TestImportsReplayAfterADeployFlipsEveryVendorsTraits(t *testing.T) {
	flipped := func(vendor string) (vendorapi.Traits, error) {
		tr, err := vendors.Traits(vendor)
		if err != nil {
			return tr, err
		}
		tr.Gated, tr.SingleBypass, tr.Jobs, tr.Paced, tr.MaxChunkRows = !tr.Gated, !tr.SingleBypass, !tr.Jobs, !tr.Paced, 1
		return tr, nil
	}
	replay := func(path string, logger log.Logger) error {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		hist, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := worker.NewWorkflowReplayer()
		workflows.RegisterWithTraits(r, workflows.Settings{}, flipped)
		return r.ReplayWorkflowHistoryWithOptions(logger, hist, worker.ReplayWorkflowHistoryOptions{OriginalExecution: execution(t, path)})
	}
	files, err := filepath.Glob(filepath.Join("..", "histories", "import-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, f := range files {
		if strings.Contains(filepath.Base(f), "-before-") || filepath.Base(f) == "import-nebuly.json" {
			continue // read the traits live
		}
		recorded++
		if err := replay(f, nil); err != nil {
			t.Errorf("%s does not replay after the deploy: %v", f, err)
		}
	}
	if recorded < 4 {
		t.Fatalf("%d Import histories that record their decisions; want the four flows' (%s)", recorded, recordWith)
	}
	// The replayer logs the failure it expects with a stack: not to the
	// test's output.
	quiet := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := replay(filepath.Join("..", "histories", "import-userpilot-before-admit-input.json"), quiet); err == nil {
		t.Fatal("a history that read the traits live replays with flipped traits: the flip does not reach the workflow")
	}
}
