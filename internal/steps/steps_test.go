package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// A step whose retries ran out of its deadline must say that the deadline,
// not its last error, ended it, and still show that error; a step that
// failed for good must say its own sentence, without Temporal's wrapping;
// either way the failure's type says which, for a caller to choose its
// advice by.
func TestAStepThatRanOutOfItsDeadlineSaysSoWithTheLastError(t *testing.T) {
	last := temporal.NewApplicationError("vendor: HTTP 503 Service Unavailable", "VendorUnavailable")
	err := GaveUp(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE, last), 10*time.Minute, "chunk 3")
	var app *temporal.ApplicationError
	want := "gave up: the 10m0s deadline ran out while retrying; the last error: vendor: HTTP 503 Service Unavailable"
	if !errors.As(err, &app) || app.Message() != want || app.Type() != DeadlineExceeded || app.NonRetryable() != true {
		t.Errorf("%v; want %s saying %q", err, DeadlineExceeded, want)
	}
	err = GaveUp(temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil), 0, "chunk 3")
	if want := "chunk 3: gave up: heartbeat timeout"; Message(err) != want || !errors.As(err, &app) || app.Type() != TimedOut {
		t.Errorf("%v; want %s saying %q", err, TimedOut, want)
	}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(func(context.Context) error {
		return temporal.NewNonRetryableApplicationError("the key is wrong", "VendorAuth", nil)
	}, activity.RegisterOptions{Name: "Refused"})
	var cause error
	env.ExecuteWorkflow(func(ctx workflow.Context) error {
		actx := Retrying(ctx, Options{Summary: "refused", Attempt: time.Minute, Deadline: 10 * time.Minute})
		cause = GaveUp(workflow.ExecuteActivity(actx, "Refused").Get(ctx, nil), 10*time.Minute, "refused step")
		return nil
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !errors.As(cause, &app) || app.Message() != "the key is wrong" || app.Type() != "VendorAuth" || Message(cause) != "the key is wrong" {
		t.Errorf("refused step: %v; want the activity's own error, unwrapped", cause)
	}
}

func TestPollUntilGrowsTheIntervalAndStopsWhenDone(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	var at []time.Time
	env.RegisterActivity(func(ctx context.Context) (int, error) {
		polls := 0
		err := PollUntil(ctx, Poll{Every: 10 * time.Millisecond, Max: 25 * time.Millisecond}, func(n int) (bool, error) {
			at = append(at, time.Now())
			polls = n
			return n == 5, nil
		})
		return polls, err
	})
	v, err := env.ExecuteActivity("func1")
	if err != nil {
		t.Fatal(err)
	}
	var polls int
	if err := v.Get(&polls); err != nil || polls != 5 || len(at) != 5 {
		t.Fatalf("polls %d (%v), calls %d; want 5", polls, err, len(at))
	}
	// The waits grow by half from Every and stop growing at Max.
	if gap := at[1].Sub(at[0]); gap < 10*time.Millisecond {
		t.Errorf("first wait %s, want at least 10ms", gap)
	}
	if gap := at[4].Sub(at[3]); gap < 25*time.Millisecond {
		t.Errorf("last wait %s, want the 25ms cap", gap)
	}
}

func TestPollUntilStopsAtTheFirstErrorAndASleepAtCancellation(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	calls := 0
	env.RegisterActivity(func(ctx context.Context) error {
		return PollUntil(ctx, Poll{Every: time.Millisecond}, func(int) (bool, error) {
			calls++
			return false, errors.New("boom")
		})
	})
	if _, err := env.ExecuteActivity("func1"); err == nil || !strings.Contains(err.Error(), "boom") || calls != 1 {
		t.Fatalf("err %v after %d calls; want boom after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SleepUntil(ctx, time.Now().Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled sleep returned %v", err)
	}
}

// The progress an attempt sets just before it stops heartbeating is
// recorded: a retry resumes after it, not before (which would resend a
// batch the vendor already has).
func TestTheLastProgressBeforeStopIsRecorded(t *testing.T) {
	const rounds = 200
	lost := 0
	for i := 1; i <= rounds; i++ {
		var last any
		h := startHeartbeat(time.Hour, 0, func(d any) { last = d })
		h.Set(i)
		h.Stop()
		if last != i {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d progress updates set just before Stop were never recorded", lost, rounds)
	}
}
