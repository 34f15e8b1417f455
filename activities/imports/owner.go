package imports

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
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

// HeartbeatClient sends an activity's heartbeat to the server at once,
// past the SDK's throttling; the worker's client.Client does.
type HeartbeatClient interface {
	RecordActivityHeartbeat(ctx context.Context, taskToken []byte, details ...any) error
}

// leftReading records that the attempt has left its reading of the list
// (details carry a Reading with Inside cleared) and, with a.Heartbeats,
// tells the server at once. The SDK sends the heartbeat that set Inside at
// once but holds later ones for up to 80% of the heartbeat timeout; an
// attempt lost in that window for a cause other than the list (a worker
// killed while it waits for a paced vendor, a server restart) would
// otherwise count against the list, and two such losses would end an
// import whose list is fine. A failed send is let go: the SDK's own
// heartbeat follows.
func (a *Activities) leftReading(ctx context.Context, details any) {
	activity.RecordHeartbeat(ctx, details)
	if a.Heartbeats == nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = a.Heartbeats.RecordActivityHeartbeat(hctx, activity.GetInfo(ctx).TaskToken, details)
}
