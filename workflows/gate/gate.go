package gate

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Gate is the gate workflow. It never ends by itself: it waits for
// requests, and continues as new to keep its history short.
func Workflow(ctx workflow.Context, in Input) error {
	if in.Lease <= 0 {
		in.Lease = DefaultLease
	}
	if in.GrantsPerRun <= 0 {
		in.GrantsPerRun = defaultGrantsPerRun
	}
	st := in.State
	if st == nil {
		st = &State{}
	}
	st.Runs++
	logger := workflow.GetLogger(ctx)
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (Status, error) {
		s := Status{Vendor: in.Vendor, Connection: in.Connection, Holder: st.Holder, Queue: st.Queue, Grants: st.Grants, TakenBack: st.Taken}
		if s.Queue == nil {
			s.Queue = []Request{}
		}
		if st.Holder != nil {
			s.HeldFor = workflow.Now(ctx).Sub(st.Holder.Since)
		}
		return s, nil
	}); err != nil {
		return err
	}
	acquire := workflow.GetSignalChannel(ctx, acquireSignal)
	release := workflow.GetSignalChannel(ctx, releaseSignal)
	leave := workflow.GetSignalChannel(ctx, leaveSignal)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Second},
	})

	onAcquire := func(req Request) {
		if st.Holder != nil && st.Holder.RequestID == req.RequestID {
			return // a repeated request (a retried activity) for a grant already made
		}
		for _, q := range st.Queue {
			if q.RequestID == req.RequestID {
				return
			}
		}
		st.Queue = append(st.Queue, req)
	}
	onRelease := func(id string) {
		if st.Holder != nil && st.Holder.RequestID == id {
			st.Holder = nil
		}
	}
	onLeave := func(id string) {
		onRelease(id)
		for i, q := range st.Queue {
			if q.RequestID == id {
				st.Queue = append(st.Queue[:i:i], st.Queue[i+1:]...)
				break
			}
		}
	}
	drain := func() {
		for {
			var req Request
			var sig requestSignal
			switch {
			case acquire.ReceiveAsync(&req):
				onAcquire(req)
			case release.ReceiveAsync(&sig):
				onRelease(sig.RequestID)
			case leave.ReceiveAsync(&sig):
				onLeave(sig.RequestID)
			default:
				return
			}
		}
	}
	describe := func() {
		var b strings.Builder
		fmt.Fprintf(&b, "**%s / %s**: ", in.Vendor, in.Connection)
		if st.Holder == nil {
			b.WriteString("free")
		} else {
			fmt.Fprintf(&b, "held by `%s` (%s) since %s", st.Holder.WorkflowID, st.Holder.Label, st.Holder.Since.UTC().Format(time.TimeOnly))
		}
		fmt.Fprintf(&b, "; %d waiting; %d grants so far", len(st.Queue), st.Grants)
		workflow.SetCurrentDetails(ctx, b.String())
	}

	grantsThisRun := 0
	for {
		if ctx.Err() != nil {
			// Cancelled by a person: waiters ask again and start a new gate.
			return ctx.Err()
		}
		drain()
		// Grant to the first waiter still running; a signal to a run that
		// has ended fails, and that waiter is dropped.
		for st.Holder == nil && len(st.Queue) > 0 {
			req := st.Queue[0]
			st.Queue = st.Queue[1:]
			now := workflow.Now(ctx)
			err := workflow.SignalExternalWorkflow(ctx, req.WorkflowID, req.RunID, grantPrefix+req.RequestID, requestSignal{RequestID: req.RequestID}).Get(ctx, nil)
			if err != nil {
				logger.Info("gate: dropping a waiter that is gone", "workflow_id", req.WorkflowID, "error", err)
				continue
			}
			st.Holder = &Holder{Request: req, Since: now, LeaseUntil: now.Add(in.Lease)}
			st.Grants++
			grantsThisRun++
			drain()
		}
		describe()
		if grantsThisRun >= in.GrantsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Holder and queue go to the next run. Releases address the
			// gate by ID, so they reach whichever run is current.
			drain()
			next := in
			next.State = st
			return workflow.NewContinueAsNewError(ctx, WorkflowName, next)
		}

		sel := workflow.NewSelector(ctx)
		sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
			var req Request
			c.Receive(ctx, &req)
			onAcquire(req)
		})
		sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
			var sig requestSignal
			c.Receive(ctx, &sig)
			onRelease(sig.RequestID)
		})
		sel.AddReceive(leave, func(c workflow.ReceiveChannel, _ bool) {
			var sig requestSignal
			c.Receive(ctx, &sig)
			onLeave(sig.RequestID)
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		var timerCancel workflow.CancelFunc
		if h := st.Holder; h != nil {
			tctx, cancel := workflow.WithCancel(ctx)
			timerCancel = cancel
			wait := h.LeaseUntil.Sub(workflow.Now(ctx))
			if wait < time.Millisecond {
				wait = time.Millisecond
			}
			sel.AddFuture(workflow.NewTimer(tctx, wait), func(f workflow.Future) {
				if f.Get(tctx, nil) != nil || st.Holder == nil || st.Holder.RequestID != h.RequestID {
					return
				}
				var alive bool
				if err := workflow.ExecuteActivity(actx, HolderAliveActivity, HolderRef{WorkflowID: h.WorkflowID, RunID: h.RunID}).Get(ctx, &alive); err != nil {
					alive = true // cannot tell: keep the lease and ask again later
				}
				if st.Holder == nil || st.Holder.RequestID != h.RequestID {
					return // released while we asked
				}
				if alive {
					st.Holder.LeaseUntil = workflow.Now(ctx).Add(in.Lease)
					return
				}
				logger.Warn("gate: taking back the lease of a holder that is no longer running", "workflow_id", h.WorkflowID, "held_since", h.Since)
				st.Holder = nil
				st.Taken++
			})
		}
		sel.Select(ctx)
		if timerCancel != nil {
			timerCancel()
		}
	}
}
