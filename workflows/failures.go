package workflows

import (
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
}

// failed is the failure a run ends with when one of its steps failed for
// good: the step's sentence, with the rejects so far for people, and the
// same as FailureDetails for programs.
func failed(err error, kind string, rejects int, workflowID string) error {
	d := FailureDetails{Rejects: rejects, RejectsCommand: rejectsCommand(workflowID, rejects)}
	msg := err.Error()
	if rejects > 0 {
		msg = fmt.Sprintf("%s (%d rejects so far: %s)", msg, rejects, d.RejectsCommand)
	}
	return temporal.NewNonRetryableApplicationError(msg, kind, nil, d)
}
