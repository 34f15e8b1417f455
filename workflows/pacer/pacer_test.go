package pacer

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

type pacerRun struct {
	t    *testing.T
	env  *testsuite.TestWorkflowEnvironment
	got  []Reservation
	errs []error
	n    int
}

func newPacerRun(t *testing.T) *pacerRun {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	return &pacerRun{t: t, env: env}
}

// reserveAt sends a reserve update after d of workflow time.
func (p *pacerRun) reserveAt(d, interval time.Duration) {
	p.env.RegisterDelayedCallback(func() {
		p.n++
		p.env.UpdateWorkflow(ReserveUpdate, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { p.errs = append(p.errs, err) },
			OnComplete: func(v any, err error) {
				if err != nil {
					p.errs = append(p.errs, err)
					return
				}
				p.got = append(p.got, v.(Reservation))
			},
		}, Reserve{Interval: interval})
	}, d)
}

func TestPacerSpacesReservationsByTheInterval(t *testing.T) {
	p := newPacerRun(t)
	start := p.env.Now()
	for i := 0; i < 4; i++ {
		p.reserveAt(time.Millisecond, 400*time.Millisecond)
	}
	// A reservation asked long after the queue emptied is due at once.
	p.reserveAt(10*time.Second, 400*time.Millisecond)
	p.env.RegisterDelayedCallback(func() { p.env.CancelWorkflow() }, time.Minute)
	p.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "dynamic", Group: "shared"})
	if len(p.errs) > 0 {
		t.Fatalf("updates failed: %v", p.errs)
	}
	if len(p.got) != 5 {
		t.Fatalf("%d reservations, want 5", len(p.got))
	}
	first := p.got[0].At
	if first.Before(start) || first.After(start.Add(time.Second)) {
		t.Fatalf("first reservation at %s, the run started at %s", first, start)
	}
	for i := 1; i < 4; i++ {
		if gap := p.got[i].At.Sub(p.got[i-1].At); gap != 400*time.Millisecond {
			t.Fatalf("reservation %d comes %s after the one before; want the 400ms interval", i, gap)
		}
	}
	if late := p.got[4].At.Sub(start); late < 10*time.Second || late > 11*time.Second {
		t.Fatalf("a reservation asked at 10s is due at %s", late)
	}
}

func TestPacerPauseMovesLaterReservationsAndBumpsTheEpoch(t *testing.T) {
	p := newPacerRun(t)
	start := p.env.Now()
	p.reserveAt(time.Millisecond, 100*time.Millisecond)
	p.env.RegisterDelayedCallback(func() {
		p.env.SignalWorkflow(PauseSignal, Pause{RetryAfter: 3 * time.Second, ReceivedAt: p.env.Now(), Reason: "HTTP 429"})
	}, time.Second)
	p.reserveAt(2*time.Second, 100*time.Millisecond)
	p.reserveAt(2*time.Second, 100*time.Millisecond)
	var status Status
	p.env.RegisterDelayedCallback(func() {
		v, err := p.env.QueryWorkflow(StateQuery)
		if err != nil {
			t.Error(err)
			return
		}
		if err := v.Get(&status); err != nil {
			t.Error(err)
		}
		p.env.CancelWorkflow()
	}, 5*time.Second)
	p.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "dynamic", Group: "shared"})
	if len(p.got) != 3 {
		t.Fatalf("%d reservations (errors %v)", len(p.got), p.errs)
	}
	if p.got[0].Epoch != 0 || p.got[1].Epoch != 1 {
		t.Fatalf("epochs %d, %d; want 0 before the pause and 1 after", p.got[0].Epoch, p.got[1].Epoch)
	}
	pauseEnd := start.Add(4 * time.Second)
	if p.got[1].At.Before(pauseEnd) {
		t.Fatalf("a reservation made during the pause is due at %s, before the pause ends at %s", p.got[1].At.Sub(start), pauseEnd.Sub(start))
	}
	if gap := p.got[2].At.Sub(p.got[1].At); gap != 100*time.Millisecond {
		t.Fatalf("after the pause reservations are %s apart, want 100ms", gap)
	}
	if status.Epoch != 1 || len(status.Pauses) != 1 || status.Pauses[0].RetryAfter != 3*time.Second || status.PausedUntil.Before(pauseEnd) {
		t.Fatalf("state %+v", status)
	}
}

func TestPacerContinuesAsNewCarryingItsState(t *testing.T) {
	p := newPacerRun(t)
	for i := 0; i < 3; i++ {
		p.reserveAt(time.Millisecond, time.Second)
	}
	p.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "dynamic", Group: "shared", ReservationsPerRun: 3})
	if !p.env.IsWorkflowCompleted() {
		t.Fatal("the pacer did not end its run")
	}
	err := p.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("want continue-as-new after 3 reservations, got %v", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.State == nil || next.State.Reservations != 3 || next.State.Interval != time.Second || next.State.Runs != 1 {
		t.Fatalf("carried state %+v", next.State)
	}
	if want := p.got[2].At.Add(time.Second); !next.State.NextSlot.Equal(want) {
		t.Fatalf("next slot %s, want %s: the next run would send too early", next.State.NextSlot, want)
	}
}

func TestPacerRefusesANegativeInterval(t *testing.T) {
	p := newPacerRun(t)
	p.reserveAt(time.Millisecond, -time.Second)
	p.env.RegisterDelayedCallback(func() { p.env.CancelWorkflow() }, time.Second)
	p.env.ExecuteWorkflow(WorkflowName, Input{Vendor: "dynamic"})
	if len(p.errs) != 1 || len(p.got) != 0 {
		t.Fatalf("errors %v, reservations %v", p.errs, p.got)
	}
}
