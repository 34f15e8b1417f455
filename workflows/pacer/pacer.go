package pacer

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

const (
	defaultPacerReservationsPerRun = 1000
	// pacerPausesKept bounds the pause log the pacer carries and shows.
	pacerPausesKept = 20
)

// Workflow keeps one vendor's request-rate limit for a whole deployment: every
// request to the vendor, from any import on any worker, first reserves a
// send time here (the reserve update), and reservations are spaced by the
// connection's interval. A 429 reported with the pause signal moves every
// later reservation past its Retry-After and bumps the epoch, so senders
// holding an older reservation see the pause before they send.
//
// The reserve handler answers at once: no update waits inside the workflow,
// so the server's limit on in-flight updates per workflow (10 by default)
// is never reached however many chunks queue up. Waiting happens in the
// activity, which sleeps until its reservation.
func Workflow(ctx workflow.Context, in Input) error {
	if in.ReservationsPerRun <= 0 {
		in.ReservationsPerRun = defaultPacerReservationsPerRun
	}
	st := in.State
	if st == nil {
		st = &Status{}
	}
	st.Runs++
	draining := false
	thisRun := 0
	logger := workflow.GetLogger(ctx)

	describe := func() {
		now := workflow.Now(ctx)
		d := fmt.Sprintf("**%s / %s**: one request every %s; %d reserved so far", in.Vendor, in.Group, st.Interval.Round(time.Millisecond), st.Reservations)
		if wait := st.NextSlot.Sub(now); wait > 0 {
			d += fmt.Sprintf("; next free slot in %s", wait.Round(time.Millisecond))
		}
		if st.PausedUntil.After(now) {
			d += fmt.Sprintf("; **paused** by a Retry-After until %s", st.PausedUntil.UTC().Format(time.TimeOnly))
		}
		workflow.SetCurrentDetails(ctx, d)
	}

	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (Status, error) {
		out := *st
		out.Pauses = append([]PauseRecord(nil), st.Pauses...)
		return out, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, ReserveUpdate,
		func(ctx workflow.Context, req Reserve) (Reservation, error) {
			now := workflow.Now(ctx)
			if req.Interval > 0 {
				st.Interval = req.Interval
			}
			slot := latest(now, st.NextSlot, st.PausedUntil)
			st.NextSlot = slot.Add(st.Interval)
			st.Reservations++
			thisRun++
			describe()
			return Reservation{At: slot, Epoch: st.Epoch}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req Reserve) error {
			if draining {
				// The caller asks again and reaches the next run.
				return temporal.NewApplicationError("the pacer is continuing as new; ask again", Draining)
			}
			if req.Interval < 0 {
				return temporal.NewNonRetryableApplicationError("negative interval", BadReserve, nil)
			}
			return nil
		}}); err != nil {
		return err
	}

	pauses := workflow.GetSignalChannel(ctx, PauseSignal)
	applyPauses := func() {
		var p Pause
		for pauses.ReceiveAsync(&p) {
			learned := workflow.Now(ctx)
			// From the later of the two clocks, so a worker clock that runs
			// behind the server's cannot shorten the vendor's wait.
			until := latest(learned, p.ReceivedAt).Add(p.RetryAfter)
			if until.After(st.PausedUntil) {
				st.PausedUntil = until
			}
			st.Epoch++
			st.Pauses = append(st.Pauses, PauseRecord{LearnedAt: learned, Until: until, RetryAfter: p.RetryAfter, Reason: p.Reason})
			if n := len(st.Pauses); n > pacerPausesKept {
				st.Pauses = append([]PauseRecord(nil), st.Pauses[n-pacerPausesKept:]...)
			}
			logger.Info("pacer: pausing for a Retry-After", "vendor", in.Vendor, "until", until, "retry_after", p.RetryAfter)
			p = Pause{}
		}
		describe()
	}

	describe()
	for {
		if err := workflow.Await(ctx, func() bool {
			return pauses.Len() > 0 || thisRun >= in.ReservationsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}); err != nil {
			return err // cancelled by a person; the next request starts a new pacer
		}
		applyPauses()
		if thisRun >= in.ReservationsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			draining = true
			// Reserve handlers finish within their workflow task, so this
			// returns at once; it is here so that none is ever cut off.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			applyPauses()
			next := in
			next.State = st
			return workflow.NewContinueAsNewError(ctx, WorkflowName, next)
		}
	}
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
