package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// Failure types the import and audience-sync workflows end with, besides
// the activities' own (failure.BadInput, failure.StoreNotShared, ...)
// that they pass on.
const (
	// ImportFailed: a step of the import failed for good; the message is
	// that step's own sentence, with the rejects so far.
	ImportFailed = "ImportFailed"
	// RejectsUncounted: the import ran, but its rejects could not be
	// counted at the end.
	RejectsUncounted = "RejectsUncounted"
	// AudienceSyncFailed: a step of an audience sync failed for good.
	AudienceSyncFailed = "AudienceSyncFailed"
	// GroupBusy: a Fynd group kept processing other changes past the
	// sync's patience.
	GroupBusy = "GroupBusy"
)

// FailureDetails are the details of an ImportFailed or AudienceSyncFailed
// failure: what a person needs to follow up, typed, so no caller parses
// the message.
type FailureDetails struct {
	// Rejects is how many rejected rows the store held when the run failed.
	Rejects int `json:"rejects,omitempty"`
	// RejectsCommand lists them; empty without rejects.
	RejectsCommand string `json:"rejects_command,omitempty"`
	// Cause is the failure type of the step that failed, which says what
	// to do about it: an activity's (failure.SourceNotFound,
	// failure.SourceChanged, failure.VendorAuth, ...), or
	// steps.DeadlineExceeded when a step kept failing until its deadline.
	// Empty for runs that failed before it existed, and for a failure
	// that is no ApplicationError.
	Cause string `json:"cause,omitempty"`
}

// failed is the failure a run ends with when one of its steps failed for
// good: the step's sentence (see steps.GaveUp), with the rejects so far for
// people, and the same, with the step's failure type, as FailureDetails for
// programs.
func failed(err error, kind string, rejects int, workflowID string) error {
	d := FailureDetails{Rejects: rejects, RejectsCommand: rejectsCommand(workflowID, rejects)}
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		d.Cause = app.Type()
	}
	msg := sentence(err)
	if rejects > 0 {
		msg = fmt.Sprintf("%s (%d rejects so far: %s)", msg, rejects, d.RejectsCommand)
	}
	return temporal.NewNonRetryableApplicationError(msg, kind, nil, d)
}

// sentence is a step's failure as people read it: an ApplicationError's
// own message, without the "(type: ..., retryable: ...)" its Error adds;
// any other error's text, which says what the workflow was doing.
func sentence(err error) string {
	if app, ok := err.(*temporal.ApplicationError); ok {
		return app.Message()
	}
	return err.Error()
}
