package workerrun

import (
	"context"
	"errors"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"importer/activities/notify"
	"importer/workflows"
)

// temporalRuns reads, with the worker's Temporal client, what a run that a
// notification reports on recorded: who started the Notify workflow, and
// how the import or audience sync ended (notify.Runs).
type temporalRuns struct{ c client.Client }

func (r temporalRuns) Parent(ctx context.Context, workflowID, runID string) (notify.Execution, error) {
	d, err := r.c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return notify.Execution{}, err
	}
	p := d.GetWorkflowExecutionInfo().GetParentExecution()
	return notify.Execution{WorkflowID: p.GetWorkflowId(), RunID: p.GetRunId()}, nil
}

func (r temporalRuns) Ended(ctx context.Context, workflowID, runID string) (notify.Ended, error) {
	d, err := r.c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return notify.Ended{}, err
	}
	var end notify.Ended
	run := r.c.GetWorkflow(ctx, workflowID, runID)
	// The run that started the notification is its last: it does not
	// continue as new after.
	once := client.WorkflowRunGetOptions{DisableFollowingRuns: true}
	switch d.GetWorkflowExecutionInfo().GetType().GetName() {
	case workflows.ImportWorkflowName:
		end.Kind = notify.KindImport
		var res workflows.ImportResult
		if err = run.GetWithOptions(ctx, &res, once); err == nil {
			end.Counts = &notify.Counts{Rows: res.RowsRead, Accepted: res.Accepted, Rejected: res.Rejected, Unchanged: res.Unchanged,
				Inserted: res.Inserted, Updated: res.Updated, Duplicates: res.Duplicates}
			end.RejectsCommand = res.RejectsCommand
		}
	case workflows.AudienceWorkflowName:
		end.Kind = notify.KindAudience
		var res workflows.AudienceResult
		if err = run.GetWithOptions(ctx, &res, once); err == nil {
			end.Counts = &notify.Counts{Rows: res.RowsRead, Accepted: res.Accepted, Rejected: res.Rejected, Members: res.Members}
			end.RejectsCommand = res.RejectsCommand
		}
	default:
		return end, nil
	}
	var app *temporal.ApplicationError
	var canceled *temporal.CanceledError
	var exec *temporal.WorkflowExecutionError
	switch {
	case err == nil:
		end.Status = notify.Completed
	case errors.As(err, &canceled):
		end.Status = notify.Canceled
	case errors.As(err, &app):
		end.Status, end.Error = notify.Failed, app.Message()
		var details workflows.FailureDetails
		if app.HasDetails() && app.Details(&details) == nil {
			end.RejectsCommand = details.RejectsCommand
		}
	case errors.As(err, &exec):
		// Terminated or timed out: no notification says so.
	default:
		return notify.Ended{}, err // not read: try again
	}
	return end, nil
}
