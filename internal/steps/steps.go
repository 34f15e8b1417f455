// Package steps holds the Temporal plumbing every flow shares, once: on the
// workflow side, the options of a retried step and the sentence that says
// why a step gave up (its own error, or a deadline that ran out while it
// retried); on the activity side, the heartbeat that keeps a busy activity
// alive, polling with a growing interval, and a cancellable sleep. It owns
// no flow and names no vendor.
package steps

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Options describe a step that retries until a deadline.
type Options struct {
	// Summary is what the step does, as the Temporal UI shows it.
	Summary string
	// Attempt bounds one attempt (StartToClose); 0 means Deadline.
	Attempt time.Duration
	// Deadline bounds the step with every retry (ScheduleToClose); 0
	// means no bound but Attempt.
	Deadline time.Duration
	// Heartbeat is how soon a dead worker's attempt is given to another;
	// 0 for a step that does not heartbeat.
	Heartbeat time.Duration
	// WaitForCancellation makes a cancelled step's caller wait until the
	// activity has stopped (so what it wrote is complete).
	WaitForCancellation bool
}

// Retrying returns ctx with the activity options of a step: retried with
// an exponential backoff from 1s to 1 minute until its deadline.
func Retrying(ctx workflow.Context, o Options) workflow.Context {
	attempt := o.Attempt
	if attempt <= 0 || (o.Deadline > 0 && attempt > o.Deadline) {
		attempt = o.Deadline
	}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    attempt,
		ScheduleToCloseTimeout: o.Deadline,
		HeartbeatTimeout:       o.Heartbeat,
		WaitForCancellation:    o.WaitForCancellation,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
		Summary: o.Summary,
	})
}

// Failure types of a step that gave up for a reason of its own rather
// than its activity's: the activities' types (failure.SourceNotFound,
// failure.VendorAuth, ...) say the rest.
const (
	// DeadlineExceeded: the step kept failing with retryable errors until
	// its deadline ran out.
	DeadlineExceeded = "DeadlineExceeded"
	// TimedOut: an attempt of the step timed out (a worker that died or
	// hung) and was not tried again.
	TimedOut = "TimedOut"
)

// RootCause returns the innermost application error, whose message is the
// activity's own explanation, instead of Temporal's wrapping.
func RootCause(err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app
	}
	return err
}

// Message is err as a person reads it: the message of its innermost
// application error (the activity's own sentence), without the "(type: ...,
// retryable: ...)" that an ApplicationError's Error adds; or err's own text
// when it holds none.
func Message(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// GaveUp is the error a flow fails with when one of its steps failed for
// good, bounded by deadline: a non-retryable ApplicationError whose message
// is one sentence and whose Type says why, so a caller chooses what to say
// from the type and never parses the text.
//
//   - The activity failed for good: its own sentence and type (it names
//     what it did and on what), without Temporal's wrapping.
//   - Retrying ran out of the deadline (a schedule-to-close timeout, or
//     retries stopped because the next attempt would start past it):
//     DeadlineExceeded, saying so and naming the deadline, with the last
//     attempt's sentence rather than passing it off as the reason.
//   - An attempt timed out and was not retried: TimedOut.
//
// step names the step ("scanning x.csv for duplicate users") in the
// sentences that have no activity sentence to name it; an err that is
// none of the above comes back as "step: err".
func GaveUp(err error, deadline time.Duration, step string) error {
	if err == nil {
		return nil
	}
	var act *temporal.ActivityError
	var timeout *temporal.TimeoutError
	var last *temporal.ApplicationError
	hasLast := errors.As(err, &last)
	ranOut := "the deadline ran out while retrying"
	if deadline > 0 {
		ranOut = fmt.Sprintf("the %s deadline ran out while retrying", deadline)
	}
	switch {
	case errors.As(err, &act) && act.RetryState() == enumspb.RETRY_STATE_TIMEOUT,
		errors.As(err, &timeout) && timeout.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE:
		return gaveUp(step, "gave up: "+ranOut, last, DeadlineExceeded)
	case errors.As(err, &timeout):
		return gaveUp(step, "gave up: "+timeoutName(timeout.TimeoutType())+" timeout", last, TimedOut)
	case hasLast:
		return last
	case step == "":
		return err
	}
	return fmt.Errorf("%s: %w", step, err)
}

// gaveUp says why a step gave up, with the last attempt's sentence (which
// names the step) or else the step's name.
func gaveUp(step, why string, last *temporal.ApplicationError, kind string) error {
	msg := why
	switch {
	case last != nil:
		msg += "; the last error: " + last.Message()
	case step != "":
		msg = step + ": " + why
	}
	return temporal.NewNonRetryableApplicationError(msg, kind, nil)
}

// timeoutName is a timeout type as a person says it: "start-to-close".
func timeoutName(t enumspb.TimeoutType) string {
	switch t {
	case enumspb.TIMEOUT_TYPE_START_TO_CLOSE:
		return "start-to-close"
	case enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
		return "schedule-to-start"
	case enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE:
		return "schedule-to-close"
	case enumspb.TIMEOUT_TYPE_HEARTBEAT:
		return "heartbeat"
	}
	return t.String()
}

// Heartbeat records an activity's progress on a ticker, every third of its
// heartbeat timeout, so a dead worker is found quickly even while one slow
// call is in flight, and at once whenever the progress is Set.
type Heartbeat struct {
	progress chan any
	done     chan struct{}
	exited   chan struct{}
}

// StartHeartbeat starts recording details until Stop.
func StartHeartbeat(ctx context.Context, details any) *Heartbeat {
	every := 5 * time.Second
	if t := activity.GetInfo(ctx).HeartbeatTimeout; t > 0 {
		every = max(t/3, 200*time.Millisecond)
	}
	return startHeartbeat(every, details, func(d any) { activity.RecordHeartbeat(ctx, d) })
}

// startHeartbeat records details with record every so often, and at once
// when Set, until Stop.
func startHeartbeat(every time.Duration, details any, record func(any)) *Heartbeat {
	h := &Heartbeat{progress: make(chan any, 1), done: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(h.exited)
		cur := details
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-h.done:
				// A Set that came just before Stop is recorded, not lost
				// to the select's choice.
				select {
				case p := <-h.progress:
					record(p)
				default:
				}
				return
			case p := <-h.progress:
				cur = p
				record(cur)
			case <-tick.C:
				record(cur)
			}
		}
	}()
	return h
}

// Set records new details now, and from then on.
func (h *Heartbeat) Set(details any) { h.progress <- details }

// Stop returns once the last heartbeat is recorded, so none is sent for an
// activity that has already returned; the details of a Set before it are
// recorded.
func (h *Heartbeat) Stop() { close(h.done); <-h.exited }

// Poll is how often a wait asks: Every at first (default 1s), growing by
// half up to Max (default 30s).
type Poll struct {
	Every time.Duration `json:"every,omitempty"`
	Max   time.Duration `json:"max,omitempty"`
}

// PollUntil calls check until it says done, sleeping between calls as p
// says, and never longer than half the heartbeat timeout, since each check
// heartbeats. The overall deadline is the activity's schedule-to-close
// timeout.
func PollUntil(ctx context.Context, p Poll, check func(polls int) (done bool, err error)) error {
	every, most := p.Every, p.Max
	if every <= 0 {
		every = time.Second
	}
	if most <= 0 {
		most = 30 * time.Second
	}
	if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 && most > hb/2 {
		most = hb / 2
	}
	for polls := 1; ; polls++ {
		done, err := check(polls)
		if err != nil || done {
			return err
		}
		if err := SleepUntil(ctx, time.Now().Add(every)); err != nil {
			return err
		}
		every = min(every*3/2, most)
	}
}

// SleepUntil waits for t or for ctx to end.
func SleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
