package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Activity names of the vendor gate. The gate itself is a workflow; these
// are the two things it and its users need from outside workflow code.
const (
	SignalGateName      = "SignalGate"
	GateHolderAliveName = "GateHolderAlive"
)

// SignalGateInput asks for a signal to a gate workflow, starting the gate
// if it is not running (SignalWithStart), so the first import to need a
// vendor account brings its gate up.
type SignalGateInput struct {
	GateID      string `json:"gate_id"`
	TaskQueue   string `json:"task_queue"`
	Workflow    string `json:"workflow"` // the gate's registered name
	WorkflowArg any    `json:"workflow_arg"`
	Signal      string `json:"signal"`
	SignalArg   any    `json:"signal_arg"`
}

// SignalGate delivers a signal to a gate, starting it if needed. Workflow
// code cannot SignalWithStart by itself, so this is an activity.
func (a *Activities) SignalGate(ctx context.Context, in SignalGateInput) error {
	if a.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("the worker has no Temporal client for the vendor gate", "Config", nil)
	}
	_, err := a.Temporal.SignalWithStartWorkflow(ctx, in.GateID, in.Signal, in.SignalArg, client.StartWorkflowOptions{
		ID:        in.GateID,
		TaskQueue: in.TaskQueue,
		// A gate that was terminated by hand can be started again.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, in.Workflow, in.WorkflowArg)
	if err != nil {
		return fmt.Errorf("signal gate %s: %w", in.GateID, err)
	}
	return nil
}

// HolderRef names one run of a workflow that holds or waits for a gate.
type HolderRef struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// GateHolderAlive says whether a gate holder's run is still running. A run
// that completed, failed, timed out, was terminated, or continued as new can
// no longer release the gate, so the gate takes it back.
func (a *Activities) GateHolderAlive(ctx context.Context, h HolderRef) (bool, error) {
	if a.Temporal == nil {
		return false, temporal.NewNonRetryableApplicationError("the worker has no Temporal client for the vendor gate", "Config", nil)
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
