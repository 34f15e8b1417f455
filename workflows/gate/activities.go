package gate

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"importer/activities/failure"
)

// Activities are the gate's two activities, which the gate's workflow
// and Lock call; they need only the worker's Temporal client.
type Activities struct {
	Temporal client.Client
}

// Register registers the gate's activities under their names.
func (a *Activities) Register(w worker.ActivityRegistry) {
	w.RegisterActivityWithOptions(a.SignalGate, activity.RegisterOptions{Name: SignalActivity})
	w.RegisterActivityWithOptions(a.GateHolderAlive, activity.RegisterOptions{Name: HolderAliveActivity})
}

// SignalGate delivers a request to a gate, starting the gate if needed
// (SignalActivity).
func (a *Activities) SignalGate(ctx context.Context, in SignalInput) error {
	if a.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("the worker has no Temporal client for the vendor gate", failure.Config, nil)
	}
	_, err := a.Temporal.SignalWithStartWorkflow(ctx, in.GateID, in.Signal, in.Request, client.StartWorkflowOptions{
		ID:        in.GateID,
		TaskQueue: in.TaskQueue,
		// A gate that was terminated by hand can be started again.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, in.Workflow, in.Start)
	if err != nil {
		return fmt.Errorf("signal gate %s: %w", in.GateID, err)
	}
	return nil
}

// GateHolderAlive says whether a gate holder's run is still running
// (HolderAliveActivity). A run that completed, failed, timed out, was
// terminated, or continued as new can no longer release the gate, so the
// gate takes it back.
func (a *Activities) GateHolderAlive(ctx context.Context, h HolderRef) (bool, error) {
	if a.Temporal == nil {
		return false, temporal.NewNonRetryableApplicationError("the worker has no Temporal client for the vendor gate", failure.Config, nil)
	}
	desc, err := a.Temporal.DescribeWorkflowExecution(ctx, h.WorkflowID, h.RunID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe gate holder %s: %w", h.WorkflowID, err)
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}
