package notify

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// NotFromItsRun: a notification that no import or sync of this worker
// started about itself (a Notify workflow started by hand, or naming
// another run). Not retried, and nothing is posted.
const NotFromItsRun = "NotFromItsRun"

// Runs reads what Temporal recorded of workflow runs, so that a
// notification is delivered only for the run it reports on, and says what
// that run recorded rather than what its input claims. The worker
// implements it with its Temporal client (worker/workerrun).
type Runs interface {
	// Parent is the run that started the given workflow run as its child;
	// the zero Execution when none did.
	Parent(ctx context.Context, workflowID, runID string) (Execution, error)
	// Ended waits until the given run has closed and says how it ended.
	Ended(ctx context.Context, workflowID, runID string) (Ended, error)
}

// Execution names one workflow run.
type Execution struct {
	WorkflowID string
	RunID      string
}

// Ended is how a run ended, as Temporal recorded it.
type Ended struct {
	// Kind is KindImport or KindAudience; "" for a run of another type.
	Kind string
	// Status is Completed, Failed or Canceled; "" for a run that ended
	// otherwise (terminated, timed out).
	Status string
	// Error is a failed run's failure message; RejectsCommand lists its
	// rejects, from the failure's details or the result.
	Error          string
	RejectsCommand string
	// Counts are a completed run's, from its result; nil otherwise.
	Counts *Counts
}

// verify checks that n is delivered for the run that started the calling
// Notify workflow, that this run is an import or an audience sync that
// ended the way n says, and returns n with what the run recorded (its
// status, its failure's sentence, its rejects command and, when it
// completed, its counts) in place of what the input said.
func (a *Activities) verify(ctx context.Context, n Notification) (Notification, error) {
	refuse := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), NotFromItsRun, nil)
	}
	if a.Runs == nil {
		return n, refuse("this worker cannot check which run a notification reports on (no Temporal client)")
	}
	self := activity.GetInfo(ctx).WorkflowExecution
	parent, err := a.Runs.Parent(ctx, self.ID, self.RunID)
	if err != nil {
		return n, fmt.Errorf("look up the run that started notification %s: %w", self.ID, err)
	}
	if parent.WorkflowID == "" || parent.WorkflowID != n.WorkflowID || parent.RunID != n.RunID {
		return n, refuse("notification %s was not started by the run it reports on: a notification is sent only by the import or audience sync that ended", self.ID)
	}
	end, err := a.Runs.Ended(ctx, n.WorkflowID, n.RunID)
	if err != nil {
		return n, fmt.Errorf("read how %s ended: %w", n.WorkflowID, err)
	}
	if end.Kind != n.Kind || (end.Kind != KindImport && end.Kind != KindAudience) {
		return n, refuse("notification %s reports on %s, which is no import or audience sync", self.ID, n.WorkflowID)
	}
	if end.Status == "" || end.Status != n.Status {
		return n, refuse("notification %s says %s %s, which Temporal recorded otherwise", self.ID, n.WorkflowID, n.Status)
	}
	n.Error, n.RejectsCommand = end.Error, end.RejectsCommand
	if end.Counts != nil {
		n.Counts = *end.Counts
	}
	return n, nil
}
