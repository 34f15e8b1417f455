package gate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// gateEnv runs the gate workflow alone: requests arrive as signals, grants
// are recorded where the gate signals the waiting imports.
type gateEnv struct {
	env    *testsuite.TestWorkflowEnvironment
	mu     sync.Mutex
	grants []string
	dead   map[string]bool // workflow IDs that are no longer running
	gone   map[string]bool // workflow IDs whose grant signal fails
}

func newGateEnv(t *testing.T) *gateEnv {
	var s testsuite.WorkflowTestSuite
	g := &gateEnv{env: s.NewTestWorkflowEnvironment(), dead: map[string]bool{}, gone: map[string]bool{}}
	g.env.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	g.env.RegisterActivityWithOptions(func(_ context.Context, h HolderRef) (bool, error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		return !g.dead[h.WorkflowID], nil
	}, activity.RegisterOptions{Name: HolderAliveActivity})
	g.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, _, signal string, _ interface{}) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.gone[workflowID] {
				return errors.New("workflow execution already completed")
			}
			if strings.HasPrefix(signal, grantPrefix) {
				g.grants = append(g.grants, workflowID)
			}
			return nil
		})
	return g
}

func (g *gateEnv) at(d time.Duration, f func()) { g.env.RegisterDelayedCallback(f, d) }

func (g *gateEnv) acquire(id string) {
	g.env.SignalWorkflow(acquireSignal, Request{RequestID: "req-" + id, WorkflowID: id, RunID: "run-" + id})
}

func (g *gateEnv) release(id string) {
	g.env.SignalWorkflow(releaseSignal, requestSignal{RequestID: "req-" + id})
}

func (g *gateEnv) status() Status {
	v, err := g.env.QueryWorkflow(StateQuery)
	if err != nil {
		panic(err)
	}
	var s Status
	if err := v.Get(&s); err != nil {
		panic(err)
	}
	return s
}

func (g *gateEnv) granted() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.grants...)
}

func TestGateGrantsOneAtATimeInOrder(t *testing.T) {
	g := newGateEnv(t)
	var mid Status
	g.at(time.Second, func() { g.acquire("a"); g.acquire("b"); g.acquire("c") })
	g.at(2*time.Second, func() { mid = g.status(); g.release("a") })
	g.at(3*time.Second, func() { g.release("b") })
	g.at(4*time.Second, func() { g.release("c") })
	g.at(5*time.Second, func() { g.env.CancelWorkflow() })
	g.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "bitlabs", Connection: "default"})
	if got := strings.Join(g.granted(), ","); got != "a,b,c" {
		t.Fatalf("grants %s, want a,b,c", got)
	}
	if mid.Holder == nil || mid.Holder.WorkflowID != "a" || len(mid.Queue) != 2 || mid.Queue[0].WorkflowID != "b" {
		t.Fatalf("state while a holds: %+v", mid)
	}
}

func TestGateTakesBackTheLeaseOfADeadHolder(t *testing.T) {
	g := newGateEnv(t)
	var after Status
	g.at(time.Second, func() { g.acquire("a"); g.acquire("b") })
	// a is terminated while holding: it never releases.
	g.at(2*time.Second, func() { g.mu.Lock(); g.dead["a"] = true; g.mu.Unlock() })
	g.at(40*time.Second, func() { after = g.status() })
	g.at(41*time.Second, func() { g.env.CancelWorkflow() })
	g.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "bitlabs", Connection: "default", Lease: 10 * time.Second})
	if got := strings.Join(g.granted(), ","); got != "a,b" {
		t.Fatalf("grants %s, want a then b after a's lease", got)
	}
	if after.Holder == nil || after.Holder.WorkflowID != "b" || after.TakenBack != 1 {
		t.Fatalf("after the lease: %+v", after)
	}
}

func TestGateKeepsALiveHolder(t *testing.T) {
	g := newGateEnv(t)
	var after Status
	g.at(time.Second, func() { g.acquire("a"); g.acquire("b") })
	g.at(45*time.Second, func() { after = g.status() })
	g.at(46*time.Second, func() { g.env.CancelWorkflow() })
	g.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "bitlabs", Connection: "default", Lease: 10 * time.Second})
	if after.Holder == nil || after.Holder.WorkflowID != "a" || after.TakenBack != 0 || len(after.Queue) != 1 {
		t.Fatalf("a live holder lost the gate: %+v", after)
	}
}

func TestGateSkipsWaitersThatLeftOrEnded(t *testing.T) {
	g := newGateEnv(t)
	g.at(time.Second, func() { g.acquire("a"); g.acquire("b"); g.acquire("c"); g.acquire("d") })
	g.at(2*time.Second, func() {
		g.env.SignalWorkflow(leaveSignal, requestSignal{RequestID: "req-b"}) // cancelled while waiting
		g.mu.Lock()
		g.gone["c"] = true // ended without leaving
		g.mu.Unlock()
		g.release("a")
	})
	g.at(3*time.Second, func() { g.env.CancelWorkflow() })
	g.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "bitlabs", Connection: "default"})
	if got := strings.Join(g.granted(), ","); got != "a,d" {
		t.Fatalf("grants %s, want a,d", got)
	}
}

func TestGateContinuesAsNewWithHolderAndQueue(t *testing.T) {
	g := newGateEnv(t)
	g.at(time.Second, func() { g.acquire("a"); g.acquire("b"); g.acquire("c") })
	g.at(2*time.Second, func() { g.release("a") })
	g.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "bitlabs", Connection: "default", GrantsPerRun: 2})
	var can *workflow.ContinueAsNewError
	if err := g.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new after 2 grants, got %v", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	st := next.State
	if st == nil || st.Holder == nil || st.Holder.WorkflowID != "b" || len(st.Queue) != 1 || st.Queue[0].WorkflowID != "c" || st.Grants != 2 {
		t.Fatalf("carried state %+v", st)
	}
}
