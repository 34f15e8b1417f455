package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"importer/activities/fynd/audience"
	"importer/activities/notify"
	"importer/activities/source"
	"importer/internal/steps"
)

// NotifyWorkflowName is the registered name of the workflow that delivers
// one notification.
const NotifyWorkflowName = "Notify"

// NotifyDeadline bounds the delivery of one notification, retries included.
const NotifyDeadline = 24 * time.Hour

// Notify delivers one notification to its webhook: one activity, retried
// after the worker's backoff (notify.Backoff: 1s doubling to 5 minutes by
// default) or the receiver's Retry-After, for up to NotifyDeadline. It runs
// as an abandoned child of the import or sync that ended, which waits only
// for it to start: a webhook that stays down holds up nothing but this
// workflow, and a run's result never waits for, or fails with, its
// notification.
//
// It runs only as the child of the run it reports on: one started by hand,
// or naming another run, fails at once (and its delivery checks again with
// Temporal, and posts what the run recorded; see notify.Activities).
func Notify(ctx workflow.Context, n notify.Notification) error {
	if workflow.GetVersion(ctx, "notify-child-only", workflow.DefaultVersion, 1) == 1 {
		p := workflow.GetInfo(ctx).ParentWorkflowExecution
		if p == nil || p.ID != n.WorkflowID || p.RunID != n.RunID {
			return temporal.NewNonRetryableApplicationError(
				"a notification is sent only by the import or audience sync it reports on, as its child workflow", notify.NotFromItsRun, nil)
		}
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// One POST is bounded by the worker's HTTP timeout (30s).
		StartToCloseTimeout:    2 * notify.DefaultTimeout,
		ScheduleToCloseTimeout: NotifyDeadline,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    notify.DefaultFirstRetry,
			BackoffCoefficient: 2,
			MaximumInterval:    notify.DefaultMaxRetry,
		},
		Summary: fmt.Sprintf("POST the %s notification of %s to webhook %s", n.Event, n.WorkflowID, n.Webhook),
	})
	err := workflow.ExecuteActivity(ctx, notify.DeliverName, n).Get(ctx, nil)
	if err == nil {
		return nil
	}
	msg := "notification not delivered: " + steps.Message(steps.GaveUp(err, NotifyDeadline, ""))
	var app *temporal.ApplicationError
	if errors.As(steps.RootCause(err), &app) {
		msg = app.Message()
	}
	return temporal.NewNonRetryableApplicationError(msg, NotificationFailed, nil)
}

// NotificationFailed: a notification could not be delivered (an unknown
// webhook, a receiver that refused it or stayed down past NotifyDeadline).
// Only the Notify workflow fails with it; the run it was about does not.
const NotificationFailed = "NotificationFailed"

// runEnd is what a run's notification reads of the run after it ended:
// set by the run as soon as it has them.
type runEnd struct {
	st  *ImportState // an import's cursor and totals
	aud *audienceRun // an audience sync's progress
}

// notifyImport sends the notification an import's Spec asks for on the
// way it ended, and returns its result unchanged.
func notifyImport(ctx workflow.Context, in ImportInput, end *runEnd, res ImportResult, err error) (ImportResult, error) {
	if in.Notify == nil || isContinueAsNew(err) {
		return res, err
	}
	n := notify.Notification{Kind: notify.KindImport, Vendor: in.Vendor, Connection: in.Connection, Source: source.Redact(in.Source.URI)}
	if err == nil {
		n.Counts = notify.Counts{Rows: res.RowsRead, Accepted: res.Accepted, Rejected: res.Rejected, Unchanged: res.Unchanged,
			Inserted: res.Inserted, Updated: res.Updated, Duplicates: res.Duplicates}
		n.RejectsCommand, n.StartedAt = res.RejectsCommand, res.StartedAt
	} else if end.st != nil {
		t := end.st.Totals
		n.Counts = notify.Counts{Rows: t.Rows, Accepted: t.Accepted, Rejected: t.Rejected, Unchanged: t.Unchanged,
			Inserted: t.Inserted, Updated: t.Updated, Duplicates: end.st.Superseded}
		n.StartedAt = end.st.StartedAt
	}
	sendNotification(ctx, *in.Notify, n, err)
	return res, err
}

// notifyAudience is notifyImport for an audience sync.
func notifyAudience(ctx workflow.Context, in AudienceInput, end *runEnd, res AudienceResult, err error) (AudienceResult, error) {
	if in.Notify == nil {
		return res, err
	}
	n := notify.Notification{Kind: notify.KindAudience, Vendor: audience.AudienceVendor, Connection: in.Connection,
		Group: in.Group, Source: source.Redact(in.Source.URI)}
	if err == nil {
		n.Counts = notify.Counts{Rows: res.RowsRead, Accepted: res.Accepted, Rejected: res.Rejected, Members: res.Members}
		n.RejectsCommand, n.StartedAt = res.RejectsCommand, res.StartedAt
	} else if end.aud != nil {
		p := end.aud.prog
		n.Counts = notify.Counts{Rows: p.RowsRead, Rejected: p.Rejected, Members: p.Members}
		n.StartedAt = p.StartedAt
	}
	sendNotification(ctx, *in.Notify, n, err)
	return res, err
}

// sendNotification starts the Notify workflow for a run that ended with
// err, when spec asks for a notification on such an end. It waits only
// until the child has started (ParentClosePolicy ABANDON lets it outlive
// the run), on a context a cancellation does not reach, and never fails
// the run: a child that cannot start is logged.
func sendNotification(ctx workflow.Context, spec notify.Spec, n notify.Notification, err error) {
	info := workflow.GetInfo(ctx)
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		n.Status = notify.Completed
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		n.Status = notify.Canceled
	default:
		n.Status, n.Error = notify.Failed, err.Error()
		if errors.As(err, &app) {
			n.Error = app.Message()
			var d FailureDetails
			if app.HasDetails() && app.Details(&d) == nil {
				n.RejectsCommand = d.RejectsCommand
			}
		}
	}
	event, ok := spec.Event(n.Status, n.Counts.Rows, n.Counts.Rejected)
	if !ok {
		return
	}
	// Only runs started with a Spec get here, and none of those predate
	// notifications; the marker keeps it so should this step change.
	if workflow.GetVersion(ctx, "notify", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	n.Event, n.Webhook = event, spec.Webhook
	if event == notify.OnRejects {
		n.RejectsOver = spec.RejectsOver
	}
	n.WorkflowID, n.RunID = info.WorkflowExecution.ID, info.WorkflowExecution.RunID
	n.ID = "notify/" + n.WorkflowID + "/" + n.RunID
	n.FinishedAt = workflow.Now(ctx)

	cctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	cctx = workflow.WithChildOptions(cctx, workflow.ChildWorkflowOptions{
		WorkflowID:            n.ID,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         fmt.Sprintf("Notify webhook %s: %s %s (%s)", n.Webhook, n.Kind, n.WorkflowID, n.Event),
	})
	if err := workflow.ExecuteChildWorkflow(cctx, NotifyWorkflowName, n).GetChildWorkflowExecution().Get(cctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("could not start the notification", "webhook", n.Webhook, "event", event, "error", err)
	}
}

func isContinueAsNew(err error) bool {
	var can *workflow.ContinueAsNewError
	return errors.As(err, &can)
}
