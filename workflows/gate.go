package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"importer/activities"
)

// The vendor gate serialises bulk work at one vendor account across every
// import and every worker: BitLabs runs one bulk import at a time per
// account, Userpilot one bulk job. It is a singleton workflow per account
// (ID gate/<vendor>/<connection>), started by the first import that needs
// it (SignalWithStart), granting the account to one holder at a time in
// the order asked.
const (
	GateWorkflowName = "VendorGate"
	// GateStateQuery returns a GateStatus.
	GateStateQuery = "state"

	gateAcquireSignal = "acquire"
	gateReleaseSignal = "release"
	// gateLeaveSignal withdraws a request, granted or not: a waiter that is
	// cancelled leaves the queue.
	gateLeaveSignal = "leave"
	// gateGrantPrefix + request ID is the signal a requester waits for; a
	// name per request lets concurrent chunks of one import wait apart.
	gateGrantPrefix = "gate-granted/"

	// DefaultGateLease is how long a grant lasts before the gate checks that
	// its holder still runs. A live holder keeps the gate; a dead one (a
	// terminated or timed-out import) loses it then.
	DefaultGateLease        = time.Minute
	defaultGateGrantsPerRun = 500
)

// GateID is the workflow ID of a vendor account's gate.
func GateID(vendor, connection string) string {
	if connection == "" {
		connection = "default"
	}
	return "gate/" + strings.ToLower(vendor) + "/" + connection
}

// GateRequest is one request for the gate.
type GateRequest struct {
	RequestID  string    `json:"request_id"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Label      string    `json:"label,omitempty"` // what it will do, for people
	AskedAt    time.Time `json:"asked_at"`
}

// GateHolder is the request that holds the gate.
type GateHolder struct {
	GateRequest
	Since      time.Time `json:"since"`
	LeaseUntil time.Time `json:"lease_until"`
}

// GateInput starts or continues a gate.
type GateInput struct {
	Vendor     string        `json:"vendor"`
	Connection string        `json:"connection"`
	Lease      time.Duration `json:"lease,omitempty"`
	// GrantsPerRun continues the gate as new after this many grants
	// (default 500), carrying its holder and queue.
	GrantsPerRun int        `json:"grants_per_run,omitempty"`
	State        *GateState `json:"state,omitempty"`
}

// GateState is what a gate carries across continue-as-new.
type GateState struct {
	Holder *GateHolder   `json:"holder,omitempty"`
	Queue  []GateRequest `json:"queue,omitempty"`
	Grants int64         `json:"grants"`
	Taken  int64         `json:"taken_back"` // leases taken back from dead holders
	Runs   int           `json:"runs"`
}

// GateStatus answers GateStateQuery.
type GateStatus struct {
	Vendor     string        `json:"vendor"`
	Connection string        `json:"connection"`
	Holder     *GateHolder   `json:"holder,omitempty"`
	HeldFor    time.Duration `json:"held_for,omitempty"`
	Queue      []GateRequest `json:"queue"`
	Grants     int64         `json:"grants"`
	TakenBack  int64         `json:"taken_back"`
}

type gateSignal struct {
	RequestID string `json:"request_id"`
}

// Gate is the gate workflow. It never ends by itself: it waits for
// requests, and continues as new to keep its history short.
func Gate(ctx workflow.Context, in GateInput) error {
	if in.Lease <= 0 {
		in.Lease = DefaultGateLease
	}
	if in.GrantsPerRun <= 0 {
		in.GrantsPerRun = defaultGateGrantsPerRun
	}
	st := in.State
	if st == nil {
		st = &GateState{}
	}
	st.Runs++
	logger := workflow.GetLogger(ctx)
	if err := workflow.SetQueryHandler(ctx, GateStateQuery, func() (GateStatus, error) {
		s := GateStatus{Vendor: in.Vendor, Connection: in.Connection, Holder: st.Holder, Queue: st.Queue, Grants: st.Grants, TakenBack: st.Taken}
		if s.Queue == nil {
			s.Queue = []GateRequest{}
		}
		if st.Holder != nil {
			s.HeldFor = workflow.Now(ctx).Sub(st.Holder.Since)
		}
		return s, nil
	}); err != nil {
		return err
	}
	acquire := workflow.GetSignalChannel(ctx, gateAcquireSignal)
	release := workflow.GetSignalChannel(ctx, gateReleaseSignal)
	leave := workflow.GetSignalChannel(ctx, gateLeaveSignal)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Second},
	})

	onAcquire := func(req GateRequest) {
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
			var req GateRequest
			var sig gateSignal
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
			err := workflow.SignalExternalWorkflow(ctx, req.WorkflowID, req.RunID, gateGrantPrefix+req.RequestID, gateSignal{RequestID: req.RequestID}).Get(ctx, nil)
			if err != nil {
				logger.Info("gate: dropping a waiter that is gone", "workflow_id", req.WorkflowID, "error", err)
				continue
			}
			st.Holder = &GateHolder{GateRequest: req, Since: now, LeaseUntil: now.Add(in.Lease)}
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
			return workflow.NewContinueAsNewError(ctx, GateWorkflowName, next)
		}

		sel := workflow.NewSelector(ctx)
		sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
			var req GateRequest
			c.Receive(ctx, &req)
			onAcquire(req)
		})
		sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
			var sig gateSignal
			c.Receive(ctx, &sig)
			onRelease(sig.RequestID)
		})
		sel.AddReceive(leave, func(c workflow.ReceiveChannel, _ bool) {
			var sig gateSignal
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
				if err := workflow.ExecuteActivity(actx, activities.GateHolderAliveName, activities.HolderRef{WorkflowID: h.WorkflowID, RunID: h.RunID}).Get(ctx, &alive); err != nil {
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

// gateLock is an import's handle on its vendor account's gate.
type gateLock struct {
	vendor, connection string
	lease              time.Duration
	seq                int
}

// acquire waits for the gate and returns the request ID to release. If ctx
// is cancelled while waiting, the request is withdrawn.
func (g *gateLock) acquire(ctx workflow.Context, label string) (string, error) {
	info := workflow.GetInfo(ctx)
	g.seq++
	id := fmt.Sprintf("%s/%s/%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, g.seq)
	gateID := GateID(g.vendor, g.connection)
	grant := workflow.GetSignalChannel(ctx, gateGrantPrefix+id)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Second},
		Summary:             "ask " + gateID + " for " + label,
	})
	err := workflow.ExecuteActivity(actx, activities.SignalGateName, activities.SignalGateInput{
		GateID:      gateID,
		TaskQueue:   info.TaskQueueName,
		Workflow:    GateWorkflowName,
		WorkflowArg: GateInput{Vendor: g.vendor, Connection: g.connection, Lease: g.lease},
		Signal:      gateAcquireSignal,
		SignalArg: GateRequest{RequestID: id, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
			Label: label, AskedAt: workflow.Now(ctx)},
	}).Get(actx, nil)
	if err != nil {
		if ctx.Err() != nil {
			g.withdraw(ctx, id)
			return "", ctx.Err()
		}
		return "", fmt.Errorf("ask for %s: %w", gateID, err)
	}
	granted := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(grant, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); granted = true })
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
	if !granted || ctx.Err() != nil {
		g.withdraw(ctx, id)
		return "", ctx.Err()
	}
	return id, nil
}

// release gives the gate back. It runs even when ctx is cancelled.
func (g *gateLock) release(ctx workflow.Context, id string) {
	g.signal(ctx, gateReleaseSignal, id)
}

func (g *gateLock) withdraw(ctx workflow.Context, id string) {
	g.signal(ctx, gateLeaveSignal, id)
}

func (g *gateLock) signal(ctx workflow.Context, name, id string) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	// A gate that is gone (terminated by hand) has nothing to release; its
	// replacement starts empty.
	if err := workflow.SignalExternalWorkflow(dctx, GateID(g.vendor, g.connection), "", name, gateSignal{RequestID: id}).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("gate signal not delivered", "signal", name, "error", err)
	}
}
