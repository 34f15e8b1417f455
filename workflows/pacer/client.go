package pacer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/internal/metrics"
	"importer/internal/steps"
)

// Client is an activity's side of the pacer: it reserves send times and
// reports a vendor's 429s. One Client serves a whole worker, which asks for
// one reservation at a time.
type Client struct {
	// Temporal is the worker's client: reservations are updates (with
	// start) to the pacer's workflow, pauses are signals.
	Temporal client.Client

	mu sync.Mutex
}

// Pace waits until a request to vendorName may be sent under the limit of
// one request per interval that rate group group shares: it reserves a
// slot, sleeps until it, and checks that no Retry-After pause began in the
// meantime (a 429 seen by any worker); if one did and still runs, it waits
// the pause out and reserves again. label names the request in the
// pacer's state.
func (c *Client) Pace(ctx context.Context, vendorName, group string, interval time.Duration, label string) error {
	if c == nil || c.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("the worker has no Temporal client for the "+vendorName+" pacer", failure.Config, nil)
	}
	id := ID(vendorName, group)
	start := time.Now()
	for {
		r, err := c.reserve(ctx, id, vendorName, group, Reserve{Interval: interval, Label: label})
		if err != nil {
			return err
		}
		if err := steps.SleepUntil(ctx, r.At); err != nil {
			return err
		}
		st, err := c.state(ctx, id)
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
func (c *Client) reserve(ctx context.Context, id, vendorName, group string, ask Reserve) (Reservation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		// An operation is good for one call, so each attempt makes its own.
		op := c.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID:                       id,
			TaskQueue:                activity.GetInfo(ctx).TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			// A pacer that was terminated by hand can be started again.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:         fmt.Sprintf("Keeps the %s request rate for rate group %s", vendorName, group),
		}, WorkflowName, Input{Vendor: vendorName, Group: group})
		h, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateName:   ReserveUpdate,
				Args:         []any{ask},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		var r Reservation
		if err == nil {
			err = h.Get(ctx, &r)
		}
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			return Reservation{}, ctx.Err()
		}
		if !pacerBusy(err) || attempt >= 50 {
			return Reservation{}, fmt.Errorf("reserve a %s send slot at %s: %w", vendorName, id, err)
		}
		// The pacer is between runs, or many senders asked at once: ask
		// again shortly, at a jittered moment so they do not collide again.
		if err := steps.SleepUntil(ctx, time.Now().Add(time.Duration(20+rand.IntN(80))*time.Millisecond)); err != nil {
			return Reservation{}, err
		}
	}
}

// pacerBusy says whether a failed reservation is worth asking again for at
// once: the pacer was continuing as new, or too many updates were in
// flight at the same moment.
func pacerBusy(err error) bool {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == Draining {
		return true
	}
	var exhausted *serviceerror.ResourceExhausted
	if errors.As(err, &exhausted) {
		return true
	}
	var aborted *serviceerror.Aborted
	return errors.As(err, &aborted)
}

// state reads a pacer's state.
func (c *Client) state(ctx context.Context, id string) (Status, error) {
	v, err := c.Temporal.QueryWorkflow(ctx, id, "", StateQuery)
	if err != nil {
		return Status{}, fmt.Errorf("read pacer %s: %w", id, err)
	}
	var st Status
	if err := v.Get(&st); err != nil {
		return Status{}, fmt.Errorf("read pacer %s: %w", id, err)
	}
	return st, nil
}

// Pause tells the pacer of vendorName's rate group group of a 429
// received at at, so that no worker sends to the vendor before its
// Retry-After has passed. A vendor that sends no Retry-After (retryAfter
// 0) gets a one-second pause, the least any vendor asks for. A pacer that
// cannot be told is logged: the retry itself still waits for Retry-After.
func (c *Client) Pause(ctx context.Context, vendorName, group string, retryAfter time.Duration, at time.Time) {
	if c == nil || c.Temporal == nil {
		return
	}
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	// A cancelled activity still reports: the pause protects everyone else.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	serr := c.Temporal.SignalWorkflow(sctx, ID(vendorName, group), "", PauseSignal,
		Pause{RetryAfter: retryAfter, ReceivedAt: at, Reason: fmt.Sprintf("HTTP 429 from %s", vendorName)})
	if serr != nil {
		activity.GetLogger(ctx).Warn("could not tell the pacer of a 429; the retry still waits for Retry-After", "error", serr)
	}
}
