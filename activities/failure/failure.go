// Package failure owns how an activity fails: the failure types (the Type
// of the ApplicationErrors the activities raise, which the workflows and the
// CLI tell apart), and Classify, which turns a vendor's or a source's error
// into the Temporal error that makes the right retry decision.
package failure

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/internal/store"
)

// Failure types: the Type of the ApplicationErrors the activities raise,
// which the workflows and the CLI tell apart. Each says what went wrong in
// a word; the error's message says it in a sentence.
const (
	// BadInput: the request cannot be carried out as asked (an unknown
	// vendor, a chunk too large for one job, a vendor that cannot do what
	// was asked). Not retried.
	BadInput = "BadInput"
	// BadConnection: the connection is unknown or one of its settings is
	// malformed; MissingCredentials: a credential it needs is not set.
	BadConnection      = "BadConnection"
	MissingCredentials = "MissingCredentials"
	// Config: the worker lacks something the step needs (a Temporal
	// client, an artifact store).
	Config = "Config"
	// MissingColumns: the source cannot fill the vendor's required fields.
	MissingColumns = "MissingColumns"
	// SourceChanged: the source's bytes are not those planned.
	SourceChanged = "SourceChanged"
	// SourceNotFound: there is no such source (no such file, HTTP 404 or
	// 410, no such object).
	SourceNotFound = "SourceNotFound"
	// SourceError: the source cannot be read otherwise, and retrying will
	// not help.
	SourceError = "SourceError"
	// SourceKilledWorker: attempts of a step went silent while they read
	// the source, steps.MaxLostReads times (a worker killed, out of memory,
	// or a reader that never returned): it is not read again.
	SourceKilledWorker = "SourceKilledWorker"
	// SourceRefused: the worker's source policy does not allow the source
	// (outside IMPORTER_SOURCE_ROOTS, a non-public address not in
	// IMPORTER_SOURCE_HOSTS, an object-store option only the worker may
	// set); nothing of it was read.
	SourceRefused = "SourceRefused"
	// AccountingError: the rows do not add up; a bug, never a vendor
	// problem, so it fails loudly rather than lose a row.
	AccountingError = "AccountingError"
	// StoreNotShared: the workers of the deployment do not share one store.
	StoreNotShared = "StoreNotShared"
	// BadArtifact: a file a step wrote for a later one is unreadable;
	// BadState: a record of an earlier step is corrupt.
	BadArtifact = "BadArtifact"
	BadState    = "BadState"
	// NotFound: the vendor has no such thing (a Fynd group by name).
	NotFound = "NotFound"
	// TooManyAttributeSets: an audience list's attributes need more bulk
	// jobs than the sync allows.
	TooManyAttributeSets = "TooManyAttributeSets"

	// The vendor's answers: refused credentials and refused requests are
	// final; throttling (after its Retry-After), outages and transient
	// errors are retried; a vendor job that failed is final.
	VendorAuth        = "VendorAuth"
	VendorRejected    = "VendorRejected"
	VendorThrottled   = "VendorThrottled"
	VendorUnavailable = "VendorUnavailable"
	VendorJobFailed   = "VendorJobFailed"
	Transient         = "Transient"
)

// KilledWorker is the failure of a step whose source has killed
// steps.MaxLostReads of its attempts while they read it.
func KilledWorker(source string, lost int) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"%s was not read: %d attempts went silent while reading it (a worker killed, out of memory, or a reader that never returned), so it is not read again; check the file, e.g. with starter import --dry-run on your machine",
		source, lost), SourceKilledWorker, nil)
}

// NotShared is the error of a deployment whose workers keep their records
// apart: what is missing, why, and the fix, in one sentence.
func NotShared(st *store.Store, what string) error {
	fix := "set " + store.EnvVar + " to the same PostgreSQL database on every worker"
	if st.Backend() == store.SQLite {
		fix = "this worker uses its own " + st.Describe() + "; " + fix
	}
	return temporal.NewNonRetryableApplicationError(what+": the workers do not share one store ("+fix+")", StoreNotShared, nil)
}

// Classify turns an error into the Temporal error that makes the right
// retry decision: vendor throttling and outages retry (after Retry-After when
// the vendor gave one), bad input and refused credentials fail at once.
func Classify(err error, hint string) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		// The SDK reads an error's retry decision only from an
		// *ApplicationError itself, not from one wrapped inside.
		return appErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	msg := err.Error()
	if ve, ok := vendorapi.As(err); ok {
		if ve.Auth() && hint != "" {
			msg += "; " + hint
		}
		switch {
		case !ve.Retryable() && ve.Auth():
			return temporal.NewNonRetryableApplicationError(msg, VendorAuth, nil)
		case !ve.Retryable():
			return temporal.NewNonRetryableApplicationError(msg, VendorRejected, nil)
		case ve.RetryAfter > 0:
			return temporal.NewApplicationErrorWithOptions(msg, VendorThrottled,
				temporal.ApplicationErrorOptions{NextRetryDelay: ve.RetryAfter})
		default:
			return temporal.NewApplicationError(msg, VendorUnavailable)
		}
	}
	switch {
	case errors.Is(err, source.ErrRefused):
		return temporal.NewNonRetryableApplicationError(msg, SourceRefused, nil)
	case errors.Is(err, source.ErrNotFound):
		return temporal.NewNonRetryableApplicationError(msg, SourceNotFound, nil)
	case errors.Is(err, source.ErrChanged):
		return temporal.NewNonRetryableApplicationError(msg, SourceChanged, nil)
	case errors.Is(err, source.ErrPermanent):
		return temporal.NewNonRetryableApplicationError(msg, SourceError, nil)
	}
	return temporal.NewApplicationError(msg, Transient)
}
