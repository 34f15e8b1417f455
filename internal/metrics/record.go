package metrics

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// Activity is the metrics handler of an activity's context, or one that
// records nothing outside an activity (a dry run, a test calling an
// activity's method).
func Activity(ctx context.Context) client.MetricsHandler {
	if activity.IsActivity(ctx) {
		return activity.GetMetricsHandler(ctx)
	}
	return client.MetricsNopHandler
}

// Rows counts what a completed activity attempt did with its rows. Call it
// once the attempt's result is final, so that a retried attempt does not
// count the rows of the one before.
func Rows(h client.MetricsHandler, vendor, connection string, accepted, rejected, unchanged int64) {
	h = h.WithTags(map[string]string{LabelVendor: vendor, LabelConnection: connection})
	for _, o := range []struct {
		outcome string
		n       int64
	}{{OutcomeAccepted, accepted}, {OutcomeRejected, rejected}, {OutcomeUnchanged, unchanged}} {
		if o.n > 0 {
			h.WithTags(map[string]string{LabelOutcome: o.outcome}).Counter(RowsTotal).Inc(o.n)
		}
	}
}

// GateWaited records how long a chunk waited for its gate; h is the
// workflow's handler (workflow.GetMetricsHandler).
func GateWaited(h client.MetricsHandler, vendor, connection string, d time.Duration) {
	h.WithTags(map[string]string{LabelVendor: vendor, LabelConnection: connection}).Timer(GateWait).Record(d)
}

// GateHeld records how long a chunk held its gate.
func GateHeld(h client.MetricsHandler, vendor, connection string, d time.Duration) {
	h.WithTags(map[string]string{LabelVendor: vendor, LabelConnection: connection}).Timer(GateHold).Record(d)
}

// Paced records how long a request waited for its turn at the pacer.
func Paced(h client.MetricsHandler, vendor string, d time.Duration) {
	h.WithTags(map[string]string{LabelVendor: vendor}).Timer(PacerDelay).Record(d)
}

// ChunkDone records how long a chunk took, from its start to its result.
func ChunkDone(h client.MetricsHandler, vendor string, d time.Duration) {
	h.WithTags(map[string]string{LabelVendor: vendor}).Timer(ChunkDuration).Record(d)
}

// ImportEnded counts an import or audience sync that ended with result
// (ResultCompleted, ResultFailed, ResultCanceled); h is the workflow's
// handler, which carries the workflow type.
func ImportEnded(h client.MetricsHandler, vendor, result string) {
	h.WithTags(map[string]string{LabelVendor: vendor, LabelResult: result}).Counter(ImportsTotal).Inc(1)
}
