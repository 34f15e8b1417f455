package imports

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/failure"
	"importer/activities/source"
	"importer/internal/steps"
)

// A list whose reading killed two attempts of a step (their heartbeats
// said they were reading when they went silent) is not read a third time:
// the step fails for good saying so. One lost attempt is retried.
func TestAListThatKilledTwoAttemptsIsNotReadAgain(t *testing.T) {
	a, _ := onOwnStore(t)
	list := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(list, []byte("end_user,active_from\nann@example.com,2026-01-02\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := source.Ref{URI: list, Format: source.CSV}
	lost := func(n int) steps.Reading { return steps.Reading{Inside: true, Lost: n} }
	var ts testsuite.WorkflowTestSuite
	for _, step := range []struct {
		name    string
		details func(steps.Reading) any
		run     func(env *testsuite.TestActivityEnvironment) error
	}{
		{"FindDuplicates", func(r steps.Reading) any { return scanProgress{Rows: 3, Reading: r} }, func(env *testsuite.TestActivityEnvironment) error {
			_, err := env.ExecuteActivity(a.FindDuplicates, DuplicatesInput{ImportKey: testKey, Vendor: "nebuly", Source: src})
			return err
		}},
		{"PlanChunks", func(r steps.Reading) any { return planProgress{Reading: r} }, func(env *testsuite.TestActivityEnvironment) error {
			_, err := env.ExecuteActivity(a.PlanChunks, PlanInput{Vendor: "nebuly", Source: src, ChunkRows: 10, MaxChunks: 5})
			return err
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			env := ts.NewTestActivityEnvironment()
			env.RegisterActivity(a.FindDuplicates)
			env.RegisterActivity(a.PlanChunks)
			env.SetHeartbeatDetails(step.details(lost(1)))
			err := step.run(env)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != failure.SourceKilledWorker || !app.NonRetryable() ||
				!strings.Contains(app.Message(), "2 attempts went silent while reading it") || !strings.Contains(app.Message(), list) {
				t.Fatalf("after two lost attempts: %v; want a final %s failure naming the list", err, failure.SourceKilledWorker)
			}
			// One lost attempt, and the list is read again.
			env = ts.NewTestActivityEnvironment()
			env.RegisterActivity(a.FindDuplicates)
			env.RegisterActivity(a.PlanChunks)
			env.SetHeartbeatDetails(step.details(lost(0)))
			if err := step.run(env); err != nil {
				t.Fatalf("after one lost attempt: %v; want the list read", err)
			}
			// An attempt that failed while reading, and said so, is no loss.
			env = ts.NewTestActivityEnvironment()
			env.RegisterActivity(a.FindDuplicates)
			env.RegisterActivity(a.PlanChunks)
			env.SetHeartbeatDetails(step.details(steps.Reading{Lost: 1}))
			if err := step.run(env); err != nil {
				t.Fatalf("after an attempt that failed and said so: %v; want the list read", err)
			}
		})
	}
}

// sentBeats records the heartbeats sent past the SDK's throttling.
type sentBeats struct {
	mu      sync.Mutex
	details []any
}

func (s *sentBeats) RecordActivityHeartbeat(_ context.Context, _ []byte, details ...any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.details = append(s.details, details...)
	return nil
}

// The heartbeat that says an attempt has left its reading goes to the
// server at once, not after the SDK's throttle: an attempt lost just after
// it read (a worker killed while a paced vendor made it wait, a server
// restart) must not count against the list. The soak's faults-restart
// scenario ended good lists with the breaker's failure before this.
func TestAnAttemptSaysAtOnceThatItLeftTheList(t *testing.T) {
	a, _ := onOwnStore(t)
	beats := &sentBeats{}
	a.Heartbeats = beats
	list := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(list, []byte("end_user,active_from\nann@example.com,2026-01-02\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := source.Ref{URI: list, Format: source.CSV}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.FindDuplicates)
	env.RegisterActivity(a.PlanChunks)
	if _, err := env.ExecuteActivity(a.FindDuplicates, DuplicatesInput{ImportKey: testKey, Vendor: "nebuly", Source: src}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ExecuteActivity(a.PlanChunks, PlanInput{Vendor: "nebuly", Source: src, ChunkRows: 10, MaxChunks: 5}); err != nil {
		t.Fatal(err)
	}
	beats.mu.Lock()
	defer beats.mu.Unlock()
	var scan, plan int
	for _, d := range beats.details {
		switch p := d.(type) {
		case scanProgress:
			if p.Reading.Inside {
				t.Errorf("the scan sent %+v at once; want Inside cleared", p)
			}
			scan++
		case planProgress:
			if p.Reading.Inside {
				t.Errorf("planning sent %+v at once; want Inside cleared", p)
			}
			plan++
		default:
			t.Errorf("sent %T at once", d)
		}
	}
	if scan != 1 || plan != 1 {
		t.Fatalf("sent %d scan and %d planning heartbeats at once; want one each, when each left the list", scan, plan)
	}
}
