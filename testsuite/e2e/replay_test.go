package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	bitlabsfake "importer/activities/bitlabs/fake"
	dynamicfake "importer/activities/dynamic/fake"
	fyndfake "importer/activities/fynd/fake"
	"importer/activities/imports"
	"importer/activities/notify"
	"importer/activities/source"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/activities/vendors/gen"
	"importer/workflows"
	"importer/workflows/gate"
	"importer/workflows/pacer"
)

var updateReplay = flag.Bool("update-replay", false, "record the replay histories into testsuite/histories")

// TestRecordReplayHistories records the histories testsuite/replay replays:
// one of each flow as the code runs it today (an incremental Import with
// its version markers, a gated job import and its Gate, a paced import
// and its Pacer, an AudienceSync). Run it with -update-replay after a
// deliberate, versioned workflow change; files of older code stay, so
// their imports keep replaying.
func TestRecordReplayHistories(t *testing.T) {
	if !*updateReplay {
		t.Skip("records testsuite/histories only with -update-replay")
	}
	t.Run("import-incremental", func(t *testing.T) {
		h := newHarness(t)
		h.startWorker(h.conns(apiKey), 0)
		path, _ := h.generate("members.csv", gen.Options{Rows: 1200, InvalidEvery: 40})
		in := workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
			BatchSize: 200, ChunkRows: 400, Concurrency: 2, PlanPage: 2,
			Incremental: &imports.Incremental{StateKey: "members", Missing: imports.MissingDeactivate}}
		if _, err := h.wait(h.start("replay-inc-1", in), time.Minute); err != nil {
			t.Fatal(err)
		}
		// The next list lacks 100 users, changes none and repeats one.
		shorter, _ := h.generate("members.csv", gen.Options{Rows: 1100, InvalidEvery: 40})
		appendLine(t, shorter, gen.Options{}.Email(3)+",2025-04-04,,Free,US,repeated\n")
		in.Source.URI = shorter
		run := h.start("replay-inc-2", in)
		res, err := h.wait(run, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if res.Deactivated == 0 || res.Deactivated != res.Disappeared || res.Duplicates != 1 {
			t.Fatalf("%+v; want the users that left deactivated and 1 duplicate", res)
		}
		h.record("import-nebuly-incremental.json", run.GetID(), run.GetRunID())
	})
	t.Run("gated-jobs", func(t *testing.T) {
		g := newGated(t, bitlabsfake.Options{}, userpilotfake.Options{RowsPerMinute: 1_200_000})
		g.startWorker(g.gatedConns(), 0)
		path, _ := g.list("userpilot", "up.csv", gen.Options{Rows: 900, InvalidEvery: 50})
		run := g.start("replay-userpilot", workflows.ImportInput{Vendor: "userpilot", Source: source.Ref{URI: path, Format: source.CSV},
			BatchSize: 300, ChunkRows: 300, Concurrency: 2, JobPoll: 20 * time.Millisecond, JobMaxPoll: 100 * time.Millisecond})
		if _, err := g.wait(run, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		g.record("import-userpilot.json", run.GetID(), run.GetRunID())
		g.recordRunning("gate-userpilot.json", gate.ID("userpilot", ""))
	})
	t.Run("paced", func(t *testing.T) {
		d := newDyn(t, dynamicfake.Options{})
		d.startWorker(d.dynConns(6000), 0)
		path, _ := d.list("dyn.csv", gen.Options{Rows: 600, InvalidEvery: 30})
		run := d.importList("replay-dynamic", path, 100)
		if _, err := d.wait(run, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		d.record("import-dynamic.json", run.GetID(), run.GetRunID())
		d.recordRunning("pacer-dynamic.json", pacer.ID("dynamic", "shared"))
	})
	t.Run("notify", func(t *testing.T) {
		h := newHarness(t)
		rec := newHook(t, always(http.StatusOK))
		h.startNotifyingWorker(h.conns(apiKey).WithWebhook("oncall", rec.url()))
		path, _ := h.generate("notified.csv", gen.Options{Rows: 600, InvalidEvery: 20})
		over := 1.0 // 5% are rejected: the rejects notification
		run := h.start("replay-notify", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
			BatchSize: 100, ChunkRows: 200, Concurrency: 2,
			Notify: &notify.Spec{Webhook: "oncall", Completion: true, RejectsOver: &over}})
		if _, err := h.wait(run, time.Minute); err != nil {
			t.Fatal(err)
		}
		rec.waitDelivered(1, time.Minute)
		n := h.notification(run.GetID(), run.GetRunID())
		if err := n.Get(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		h.record("import-nebuly-notify.json", run.GetID(), run.GetRunID())
		h.record("notify.json", n.GetID(), n.GetRunID())
	})
	t.Run("audience", func(t *testing.T) {
		l := audienceList{n: 300, dups: 5}
		a := newAud(t, fyndfake.Options{Users: seed(l, nil)})
		a.startWorker(a.fyndConns(), 0)
		path := filepath.Join(a.dir, "customers.csv")
		l.write(t, path)
		run := a.sync("replay-audience", "Replay customers", path, 0)
		if _, err := waitAudience(t, run, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		a.record("audience-fynd.json", run.GetID(), run.GetRunID())
	})
}

// record writes the history of one run to testsuite/histories, after
// checking that it holds no user data.
func (h *harness) record(name, id, runID string) {
	h.t.Helper()
	hist := &historypb.History{Events: h.runHistory(id, runID)}
	b, err := protojson.MarshalOptions{Indent: " "}.Marshal(hist)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, userData := range []string{"@example.com", "@shop.example"} {
		if bytes.Contains(b, []byte(userData)) {
			h.t.Fatalf("the history of %s holds user data (%s)", id, userData)
		}
	}
	out := filepath.Join("..", "histories", name)
	if err := os.WriteFile(out, b, 0o644); err != nil {
		h.t.Fatal(err)
	}
	// Replay needs the workflow ID: a history does not hold it, and code
	// that names things after it (the gate's grant signals) must see the
	// same one.
	if err := os.WriteFile(strings.TrimSuffix(out, ".json")+".id", []byte(id+"\n"+runID+"\n"), 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("wrote %s (%d events)", out, len(hist.Events))
}

// recordRunning records the current run of a workflow that runs on (a
// gate, a pacer): its history so far.
func (h *harness) recordRunning(name, id string) {
	h.t.Helper()
	desc, err := h.c.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		h.t.Fatal(err)
	}
	h.record(name, id, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
}

// runHistory is the events of one run, without following continue-as-new.
func (h *harness) runHistory(id, runID string) []*historypb.HistoryEvent {
	h.t.Helper()
	var all []*historypb.HistoryEvent
	it := h.c.GetWorkflowHistory(context.Background(), id, runID, false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			h.t.Fatal(err)
		}
		all = append(all, ev)
	}
	if len(all) == 0 {
		h.t.Fatalf("no history for %s", id)
	}
	return all
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprint(f, line); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
