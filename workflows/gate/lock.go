package gate

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"importer/internal/metrics"
)

// NewLock is an import's handle on the gate of one vendor account; lease
// is how long a grant lasts before the gate checks the holder (0: the
// default).
func NewLock(vendor, connection string, lease time.Duration) *Lock {
	return &Lock{vendor: vendor, connection: connection, lease: lease}
}

// Lock is an import's handle on its vendor account's gate, for workflow
// code: Acquire waits for a grant, Release gives it back.
type Lock struct {
	vendor, connection string
	lease              time.Duration
	seq                int
	// grantedAt is when each held request was granted, for the hold time.
	grantedAt map[string]time.Time
}

// Acquire waits for the gate and returns the request ID to release. If ctx
// is cancelled while waiting, the request is withdrawn.
func (g *Lock) Acquire(ctx workflow.Context, label string) (string, error) {
	info := workflow.GetInfo(ctx)
	asked := workflow.Now(ctx)
	g.seq++
	id := fmt.Sprintf("%s/%s/%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, g.seq)
	gateID := ID(g.vendor, g.connection)
	grant := workflow.GetSignalChannel(ctx, grantPrefix+id)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Second},
		Summary:             "ask " + gateID + " for " + label,
	})
	err := workflow.ExecuteActivity(actx, SignalActivity, SignalInput{
		GateID:    gateID,
		TaskQueue: info.TaskQueueName,
		Workflow:  WorkflowName,
		Start:     Input{Vendor: g.vendor, Connection: g.connection, Lease: g.lease},
		Signal:    acquireSignal,
		Request: Request{RequestID: id, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
			Label: label, AskedAt: workflow.Now(ctx)},
	}).Get(actx, nil)
	if err != nil {
		if ctx.Err() != nil {
			g.withdraw(ctx, id)
			return "", ctx.Err()
		}
		return "", fmt.Errorf("ask for %s: %w", gateID, err)
	}
	granted := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(grant, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); granted = true })
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
	if !granted || ctx.Err() != nil {
		g.withdraw(ctx, id)
		return "", ctx.Err()
	}
	now := workflow.Now(ctx)
	metrics.GateWaited(workflow.GetMetricsHandler(ctx), g.vendor, g.connection, now.Sub(asked))
	if g.grantedAt == nil {
		g.grantedAt = map[string]time.Time{}
	}
	g.grantedAt[id] = now
	return id, nil
}

// Release gives the gate back. It runs even when ctx is cancelled.
func (g *Lock) Release(ctx workflow.Context, id string) {
	if at, ok := g.grantedAt[id]; ok {
		delete(g.grantedAt, id)
		metrics.GateHeld(workflow.GetMetricsHandler(ctx), g.vendor, g.connection, workflow.Now(ctx).Sub(at))
	}
	g.signal(ctx, releaseSignal, id)
}

func (g *Lock) withdraw(ctx workflow.Context, id string) {
	g.signal(ctx, leaveSignal, id)
}

func (g *Lock) signal(ctx workflow.Context, name, id string) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	// A gate that is gone (terminated by hand) has nothing to release; its
	// replacement starts empty.
	if err := workflow.SignalExternalWorkflow(dctx, ID(g.vendor, g.connection), "", name, requestSignal{RequestID: id}).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("gate signal not delivered", "signal", name, "error", err)
	}
}
