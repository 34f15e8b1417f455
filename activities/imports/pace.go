package imports

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/vendorapi"
	"importer/internal/metrics"
	"importer/internal/steps"
	"importer/workflows/pacer"
)

// pace waits until this request may be sent: it reserves a slot, sleeps
// until it, and checks that no Retry-After pause began in the meantime (a
// 429 seen by any worker); if one did and still runs, it waits the pause out
// and reserves again.
func (a *Activities) pace(ctx context.Context, vendorName string, p vendorapi.Pacing, label string) error {
	if a.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("the worker has no Temporal client for the "+vendorName+" pacer", failure.Config, nil)
	}
	id := pacer.ID(vendorName, p.Group)
	start := time.Now()
	for {
		r, err := a.reserve(ctx, id, vendorName, p, label)
		if err != nil {
			return err
		}
		if err := steps.SleepUntil(ctx, r.At); err != nil {
			return err
		}
		st, err := a.pacerState(ctx, id)
		if err != nil {
			return err
		}
		if st.Epoch == r.Epoch || !time.Now().Before(st.PausedUntil) {
			metrics.Paced(metrics.Activity(ctx), vendorName, time.Since(start))
			return nil
		}
		if err := steps.SleepUntil(ctx, st.PausedUntil); err != nil {
			return err
		}
	}
}

// reserve asks the pacer (starting it if it is not running) for a send time.
// One worker asks one reservation at a time: each is answered in a few
// milliseconds, and the server refuses more than ten updates in flight to
// one workflow, which the chunks of a few imports would reach together.
func (a *Activities) reserve(ctx context.Context, id, vendorName string, p vendorapi.Pacing, label string) (pacer.Reservation, error) {
	a.reserveMu.Lock()
	defer a.reserveMu.Unlock()
	for attempt := 0; ; attempt++ {
		// An operation is good for one call, so each attempt makes its own.
		op := a.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID:                       id,
			TaskQueue:                activity.GetInfo(ctx).TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			// A pacer that was terminated by hand can be started again.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:         fmt.Sprintf("Keeps the %s request rate for rate group %s", vendorName, p.Group),
		}, pacer.WorkflowName, pacer.Input{Vendor: vendorName, Group: p.Group})
		h, err := a.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateName:   pacer.ReserveUpdate,
				Args:         []any{pacer.Reserve{Interval: p.Interval, Label: label}},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		var r pacer.Reservation
		if err == nil {
			err = h.Get(ctx, &r)
		}
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			return pacer.Reservation{}, ctx.Err()
		}
		if !pacerBusy(err) || attempt >= 50 {
			return pacer.Reservation{}, fmt.Errorf("reserve a %s send slot at %s: %w", vendorName, id, err)
		}
		// The pacer is between runs, or many senders asked at once: ask
		// again shortly, at a jittered moment so they do not collide again.
		if err := steps.SleepUntil(ctx, time.Now().Add(time.Duration(20+rand.IntN(80))*time.Millisecond)); err != nil {
			return pacer.Reservation{}, err
		}
	}
}

// pacerBusy says whether a failed reservation is worth asking again for at
// once: the pacer was continuing as new, or too many updates were in
// flight at the same moment.
func pacerBusy(err error) bool {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == pacer.Draining {
		return true
	}
	var exhausted *serviceerror.ResourceExhausted
	if errors.As(err, &exhausted) {
		return true
	}
	var aborted *serviceerror.Aborted
	return errors.As(err, &aborted)
}

func (a *Activities) pacerState(ctx context.Context, id string) (pacer.Status, error) {
	v, err := a.Temporal.QueryWorkflow(ctx, id, "", pacer.StateQuery)
	if err != nil {
		return pacer.Status{}, fmt.Errorf("read pacer %s: %w", id, err)
	}
	var st pacer.Status
	if err := v.Get(&st); err != nil {
		return pacer.Status{}, fmt.Errorf("read pacer %s: %w", id, err)
	}
	return st, nil
}

// reportThrottle tells the pacer of a 429, so that no worker sends to the
// vendor before its Retry-After has passed. A vendor that sends no
// Retry-After gets a one-second pause, the least any vendor asks for.
func (a *Activities) reportThrottle(ctx context.Context, vendorName string, p vendorapi.Pacing, err error, at time.Time) {
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusTooManyRequests || a.Temporal == nil {
		return
	}
	ra := ve.RetryAfter
	if ra <= 0 {
		ra = time.Second
	}
	// A cancelled activity still reports: the pause protects everyone else.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	serr := a.Temporal.SignalWorkflow(sctx, pacer.ID(vendorName, p.Group), "", pacer.PauseSignal,
		pacer.Pause{RetryAfter: ra, ReceivedAt: at, Reason: fmt.Sprintf("HTTP 429 from %s", vendorName)})
	if serr != nil {
		activity.GetLogger(ctx).Warn("could not tell the pacer of a 429; the retry still waits for Retry-After", "error", serr)
	}
}
