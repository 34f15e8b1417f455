// Package gate is the vendor gate flow: its workflow, its whole contract
// (workflow, signal and query names, the messages, the activities it and
// its users call, its workflow ID), and Lock, the handle an import's
// workflow code holds the gate with.
//
// The vendor gate serialises bulk work at one vendor account across every
// import and every worker: BitLabs runs one bulk import at a time per
// account, Userpilot one bulk job. It is a singleton workflow per account
// (ID gate/<vendor>/<connection>), started by the first import that needs
// it (SignalWithStart), granting the account to one holder at a time in
// the order asked.
package gate

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"importer/internal/metrics"
)

// The gate's names, as registered and as called.
const (
	WorkflowName = "VendorGate"
	// StateQuery returns a Status.
	StateQuery = "state"

	acquireSignal = "acquire"
	releaseSignal = "release"
	// leaveSignal withdraws a request, granted or not: a waiter that is
	// cancelled leaves the queue.
	leaveSignal = "leave"
	// grantPrefix + request ID is the signal a requester waits for; a
	// name per request lets concurrent chunks of one import wait apart.
	grantPrefix = "gate-granted/"

	// DefaultLease is how long a grant lasts before the gate checks that
	// its holder still runs. A live holder keeps the gate; a dead one (a
	// terminated or timed-out import) loses it then.
	DefaultLease        = time.Minute
	defaultGrantsPerRun = 500
)

// Activity names of the gate: the two things it and its users need from
// outside workflow code. Workflow code cannot SignalWithStart by itself,
// and cannot describe another workflow.
const (
	SignalActivity      = "SignalGate"
	HolderAliveActivity = "GateHolderAlive"
)

// SignalInput asks for a signal to a gate workflow, starting the gate if
// it is not running (SignalWithStart), so the first import to need a vendor
// account brings its gate up.
type SignalInput struct {
	GateID    string `json:"gate_id"`
	TaskQueue string `json:"task_queue"`
	// Workflow is the gate's registered name (WorkflowName).
	Workflow string `json:"workflow"`
	// Start is the gate's input, if the signal starts it.
	Start  Input  `json:"workflow_arg"`
	Signal string `json:"signal"`
	// Request is the request the signal carries.
	Request Request `json:"signal_arg"`
}

// HolderRef names one run of a workflow that holds or waits for a gate.
type HolderRef struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// ID is the workflow ID of a vendor account's gate.
func ID(vendor, connection string) string {
	if connection == "" {
		connection = "default"
	}
	return "gate/" + strings.ToLower(vendor) + "/" + connection
}

// Request is one request for the gate.
type Request struct {
	RequestID  string    `json:"request_id"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Label      string    `json:"label,omitempty"` // what it will do, for people
	AskedAt    time.Time `json:"asked_at"`
}

// Holder is the request that holds the gate.
type Holder struct {
	Request
	Since      time.Time `json:"since"`
	LeaseUntil time.Time `json:"lease_until"`
}

// Input starts or continues a gate.
type Input struct {
	Vendor     string        `json:"vendor"`
	Connection string        `json:"connection"`
	Lease      time.Duration `json:"lease,omitempty"`
	// GrantsPerRun continues the gate as new after this many grants
	// (default 500), carrying its holder and queue.
	GrantsPerRun int    `json:"grants_per_run,omitempty"`
	State        *State `json:"state,omitempty"`
}

// State is what a gate carries across continue-as-new.
type State struct {
	Holder *Holder   `json:"holder,omitempty"`
	Queue  []Request `json:"queue,omitempty"`
	Grants int64     `json:"grants"`
	Taken  int64     `json:"taken_back"` // leases taken back from dead holders
	Runs   int       `json:"runs"`
}

// Status answers StateQuery.
type Status struct {
	Vendor     string        `json:"vendor"`
	Connection string        `json:"connection"`
	Holder     *Holder       `json:"holder,omitempty"`
	HeldFor    time.Duration `json:"held_for,omitempty"`
	Queue      []Request     `json:"queue"`
	Grants     int64         `json:"grants"`
	TakenBack  int64         `json:"taken_back"`
}

type requestSignal struct {
	RequestID string `json:"request_id"`
}

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

// NewLock is an import's handle on the gate of one vendor account; lease
// is how long a grant lasts before the gate checks the holder (0: the
// default).
func NewLock(vendor, connection string, lease time.Duration) *Lock {
	return &Lock{vendor: vendor, connection: connection, lease: lease}
}

// Lock is an import's handle on its vendor account's gate, for workflow
// code: Acquire waits for a grant, Release gives it back.
type Lock struct {
	vendor, connection string
	lease              time.Duration
	seq                int
	// grantedAt is when each held request was granted, for the hold time.
	grantedAt map[string]time.Time
}

// Acquire waits for the gate and returns the request ID to release. If ctx
// is cancelled while waiting, the request is withdrawn.
func (g *Lock) Acquire(ctx workflow.Context, label string) (string, error) {
	info := workflow.GetInfo(ctx)
	asked := workflow.Now(ctx)
	g.seq++
	id := fmt.Sprintf("%s/%s/%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, g.seq)
	gateID := ID(g.vendor, g.connection)
	grant := workflow.GetSignalChannel(ctx, grantPrefix+id)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Second},
		Summary:             "ask " + gateID + " for " + label,
	})
	err := workflow.ExecuteActivity(actx, SignalActivity, SignalInput{
		GateID:    gateID,
		TaskQueue: info.TaskQueueName,
		Workflow:  WorkflowName,
		Start:     Input{Vendor: g.vendor, Connection: g.connection, Lease: g.lease},
		Signal:    acquireSignal,
		Request: Request{RequestID: id, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
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
	now := workflow.Now(ctx)
	metrics.GateWaited(workflow.GetMetricsHandler(ctx), g.vendor, g.connection, now.Sub(asked))
	if g.grantedAt == nil {
		g.grantedAt = map[string]time.Time{}
	}
	g.grantedAt[id] = now
	return id, nil
}

// Release gives the gate back. It runs even when ctx is cancelled.
func (g *Lock) Release(ctx workflow.Context, id string) {
	if at, ok := g.grantedAt[id]; ok {
		delete(g.grantedAt, id)
		metrics.GateHeld(workflow.GetMetricsHandler(ctx), g.vendor, g.connection, workflow.Now(ctx).Sub(at))
	}
	g.signal(ctx, releaseSignal, id)
}

func (g *Lock) withdraw(ctx workflow.Context, id string) {
	g.signal(ctx, leaveSignal, id)
}

func (g *Lock) signal(ctx workflow.Context, name, id string) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	// A gate that is gone (terminated by hand) has nothing to release; its
	// replacement starts empty.
	if err := workflow.SignalExternalWorkflow(dctx, ID(g.vendor, g.connection), "", name, requestSignal{RequestID: id}).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("gate signal not delivered", "signal", name, "error", err)
	}
}
