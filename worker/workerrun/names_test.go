package workerrun

import (
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"importer/activities/fynd/audience"
	"importer/activities/imports"
	"importer/activities/notify"
	"importer/workflows"
	"importer/workflows/gate"
)

// registered records what a worker registers, by name.
type registered struct {
	workflows, activities map[string]string // name → the Go function registered
}

func fnName(fn any) string {
	return strings.TrimSuffix(runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name(), "-fm")
}

func (r *registered) RegisterWorkflow(w any) { r.workflows[fnName(w)] = fnName(w) }
func (r *registered) RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions) {
	r.workflows[o.Name] = fnName(w)
}
func (r *registered) RegisterDynamicWorkflow(any, workflow.DynamicRegisterOptions) {}
func (r *registered) RegisterActivity(a any)                                       { r.activities[fnName(a)] = fnName(a) }
func (r *registered) RegisterActivityWithOptions(a any, o activity.RegisterOptions) {
	r.activities[o.Name] = fnName(a)
}
func (r *registered) RegisterDynamicActivity(any, activity.DynamicRegisterOptions) {}

// The names a worker registers are what running workflows, and the
// histories of finished ones, call: a name that changes fails every import
// in flight at the deploy. This list is frozen: a rename must keep the old
// name registered (or change behind GetVersion with a replay test), and
// only then join this list. Each name also still names the function it
// always did, so that two constants cannot swap their targets unnoticed.
func TestRegisteredNamesStayWhatRunningWorkflowsCall(t *testing.T) {
	r := &registered{workflows: map[string]string{}, activities: map[string]string{}}
	workflows.Register(r, workflows.Settings{})
	(&imports.Activities{}).Register(r)
	(&gate.Activities{}).Register(r)
	(&audience.Activities{}).Register(r)
	(&notify.Activities{}).Register(r)

	wantWorkflows := map[string]string{
		"Import":         "workflows.(*flows).Import",
		"VendorGate":     "gate.Workflow",
		"VendorPacer":    "pacer.Workflow",
		"AudienceSync":   "workflows.(*flows).AudienceSync",
		"AudienceLookup": "workflows.AudienceLookup",
		"Notify":         "workflows.Notify",
	}
	wantActivities := map[string]string{
		"FindDuplicates":      "imports.(*Activities).FindDuplicates",
		"StageSource":         "imports.(*Activities).StageSource",
		"DropStaged":          "imports.(*Activities).DropStaged",
		"PlanChunks":          "imports.(*Activities).PlanChunks",
		"ImportChunk":         "imports.(*Activities).ImportChunk",
		"SubmitJob":           "imports.(*Activities).SubmitJob",
		"WaitJob":             "imports.(*Activities).WaitJob",
		"FinalizeRejects":     "imports.(*Activities).FinalizeRejects",
		"PrepareState":        "imports.(*Activities).PrepareState",
		"DeactivateMissing":   "imports.(*Activities).DeactivateMissing",
		"CommitState":         "imports.(*Activities).CommitState",
		"DiscardState":        "imports.(*Activities).DiscardState",
		"SignalGate":          "gate.(*Activities).SignalGate",
		"GateHolderAlive":     "gate.(*Activities).GateHolderAlive",
		"PrepareAudience":     "audience.(*Activities).PrepareAudience",
		"EnsureAttributes":    "audience.(*Activities).EnsureAttributes",
		"StartAttributeJob":   "audience.(*Activities).StartAttributeJob",
		"WaitAttributeJob":    "audience.(*Activities).WaitAttributeJob",
		"SyncGroup":           "audience.(*Activities).SyncGroup",
		"WaitGroup":           "audience.(*Activities).WaitGroup",
		"RefreshGroup":        "audience.(*Activities).RefreshGroup",
		"WaitRefresh":         "audience.(*Activities).WaitRefresh",
		"VerifyGroup":         "audience.(*Activities).VerifyGroup",
		"FinishAudience":      "audience.(*Activities).FinishAudience",
		"LookupGroups":        "audience.(*Activities).LookupGroups",
		"DeliverNotification": "notify.(*Activities).Deliver",
	}
	check := func(kind string, got, want map[string]string) {
		t.Helper()
		for name, fn := range want {
			g, ok := got[name]
			if !ok {
				t.Errorf("no %s is registered as %q any more: running workflows call it", kind, name)
				continue
			}
			if short := g[strings.LastIndex(g, "/")+1:]; short != fn {
				t.Errorf("%s %q runs %s; it always ran %s", kind, name, short, fn)
			}
		}
		var extra []string
		for name := range got {
			if _, ok := want[name]; !ok {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		if len(extra) > 0 {
			t.Errorf("new %s names %v: add them to this test's frozen list", kind, extra)
		}
	}
	check("workflow", r.workflows, wantWorkflows)
	check("activity", r.activities, wantActivities)
}
