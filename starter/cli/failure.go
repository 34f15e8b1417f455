package cli

import (
	"errors"
	"strings"

	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/internal/steps"
	"importer/workflows"
)

// runFailure is how a run ended when it did not complete, as the starter
// reports it: one sentence for people, and the typed fields -o json adds
// for programs.
type runFailure struct {
	// state is how it ended: failed, canceled, terminated, timed out.
	state string
	// message says what happened and, where the failure's type says more
	// than its sentence, what to do.
	message string
	// kind is the failure's type (ImportFailed, StoreNotShared, ...); cause
	// the type of the step that failed (SourceNotFound, VendorAuth,
	// DeadlineExceeded, ...), or kind when the failure names none. Both
	// are empty for a failure that is no ApplicationError.
	kind, cause string
	details     workflows.FailureDetails
}

// explainFailure turns the error a run's Get returned into what the
// starter prints about it. The sentence is the workflow's own (for a step
// that failed, the step's sentence: see steps.GaveUp), never Temporal's
// wrapping of it ("workflow execution error (type: ...)", "(type: ...,
// retryable: ...)"); what to do is added from the failure's type, read
// from its typed details, not from its text. what names the run in
// lower case: "import", "audience sync".
func explainFailure(what string, err error) runFailure {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch e := e.(type) {
		case *temporal.CanceledError:
			return runFailure{state: "canceled", message: "the " + what + " was canceled"}
		case *temporal.TerminatedError:
			return runFailure{state: "terminated", message: "the " + what + " was terminated before it finished"}
		case *temporal.TimeoutError:
			return runFailure{state: "timed out", message: "the " + what + " ran past its workflow timeout"}
		case *temporal.ActivityError:
			// A workflow that failed with its activity's failure as it
			// was: that activity's sentence, or its timeout's.
			var app *temporal.ApplicationError
			if errors.As(steps.GaveUp(e, 0, ""), &app) {
				return explainFailure(what, app)
			}
		case *temporal.ApplicationError:
			f := runFailure{state: "failed", message: e.Message(), kind: e.Type(), cause: e.Type()}
			if f.message == "" {
				f.message = e.Error()
			}
			var d workflows.FailureDetails
			if e.HasDetails() && e.Details(&d) == nil {
				f.details = d
				if d.Cause != "" {
					f.cause = d.Cause
				}
			}
			if a := advice(what, f.cause); a != "" {
				f.message += "; " + a
			}
			return f
		}
	}
	return runFailure{state: "failed", message: err.Error()}
}

// advice is what to do about a failure of type cause, for the failures
// whose sentence does not say it already (a refused credential names the
// setting to check; a store that is not shared, the variable to set).
func advice(what, cause string) string {
	switch cause {
	case failure.SourceNotFound:
		return "fix the path or URL, or start the " + what + " with a source every worker can read"
	case failure.SourceChanged:
		return "start the " + what + " again once the source has stopped changing"
	case steps.DeadlineExceeded:
		flag := "--vendor-deadline"
		if what == "audience sync" {
			flag = "--deadline"
		}
		return "start the " + what + " again once that is fixed, or allow it longer with " + flag
	}
	return ""
}

// reportFailure says how a run ended badly and why, as JSON on stdout or
// a line on stderr, and makes the command exit 1. what names the run as a
// line starts: "Import", "Audience sync".
func reportFailure(g *Globals, what, id string, err error) error {
	f := explainFailure(strings.ToLower(what), err)
	p := g.printer()
	p.note("%s %s %s: %s\n", what, id, f.state, f.message)
	out := map[string]any{"workflow_id": id, "status": f.state, "error": f.message}
	if f.kind != "" {
		out["type"], out["cause"] = f.kind, f.cause
	}
	// What a program needs to follow up comes typed, in the failure's
	// details, not out of the message.
	if f.details.RejectsCommand != "" {
		out["rejects"], out["rejects_command"] = f.details.Rejects, f.details.RejectsCommand
	}
	// The exit code says the run failed even if this cannot be written.
	_ = p.print(out, nil)
	return ExitError{Code: 1}
}
