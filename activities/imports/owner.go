package imports

import (
	"context"

	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/source"
	"importer/internal/steps"
)

// ownKey refuses a records key that is not the calling workflow's own
// (steps.CallerOwns): whatever its input says, no activity writes,
// replaces or deletes another import's records or files.
func ownKey(ctx context.Context, key string) error {
	if steps.CallerOwns(ctx, key) {
		return nil
	}
	return temporal.NewNonRetryableApplicationError("the activity was handed the records key of another workflow", failure.BadInput, nil)
}

// staged lets reads under ctx open src when it is the import's own staged
// copy (source.WithStaged): src comes from the import's carried state,
// which no caller can set.
func staged(ctx context.Context, src source.Ref) context.Context {
	return source.WithStaged(ctx, src)
}

// startReading guards an attempt's reading of its source against a list
// that kills the worker reading it (steps.Reading): it resumes the last
// attempt's Reading from r, gives up on a source that has killed
// steps.MaxLostReads attempts, and marks this attempt inside, with beat,
// which must be the attempt's first heartbeat (the SDK sends that one at
// once). The caller clears r.Inside, and heartbeats, once it has read.
func startReading(r *steps.Reading, src source.Ref, beat func()) error {
	*r = r.Resume()
	if r.GiveUp() {
		return failure.KilledWorker(source.Redact(src.URI), r.Lost)
	}
	r.Inside = true
	beat()
	return nil
}
