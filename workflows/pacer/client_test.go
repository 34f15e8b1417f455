package pacer

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/failure"
)

// fakeTemporal is the part of the Temporal client a pacer Client uses: the
// update that reserves (answered by reserve, in order), the state query
// (answered by state) and the pause signal. Any other call panics on the
// nil embedded client.
type fakeTemporal struct {
	client.Client

	mu       sync.Mutex
	reserve  []func(Reserve) (Reservation, error)
	asked    []Reserve
	ids      []string
	state    func() Status
	queried  int
	signals  []Pause
	signalTo []string
}

func (f *fakeTemporal) NewWithStartWorkflowOperation(client.StartWorkflowOptions, any, ...any) client.WithStartWorkflowOperation {
	return nil
}

func (f *fakeTemporal) UpdateWithStartWorkflow(_ context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.UpdateOptions.UpdateName != ReserveUpdate {
		return nil, errors.New("unexpected update " + o.UpdateOptions.UpdateName)
	}
	ask := o.UpdateOptions.Args[0].(Reserve)
	f.asked = append(f.asked, ask)
	n := len(f.asked) - 1
	if n >= len(f.reserve) {
		return nil, errors.New("more reservations than the test answers")
	}
	r, err := f.reserve[n](ask)
	if err != nil {
		return nil, err
	}
	return updated{answer{r}}, nil
}

func (f *fakeTemporal) QueryWorkflow(_ context.Context, id, _, query string, _ ...any) (converter.EncodedValue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if query != StateQuery {
		return nil, errors.New("unexpected query " + query)
	}
	f.queried++
	f.ids = append(f.ids, id)
	return queried{answer{f.state()}}, nil
}

func (f *fakeTemporal) SignalWorkflow(_ context.Context, id, _, name string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name != PauseSignal {
		return errors.New("unexpected signal " + name)
	}
	f.signals = append(f.signals, arg.(Pause))
	f.signalTo = append(f.signalTo, id)
	return nil
}

// answer is a value as Temporal hands it back, through JSON.
type answer struct{ v any }

func (a answer) get(ptr any) error {
	b, err := json.Marshal(a.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

// updated is an update's outcome.
type updated struct{ answer }

func (updated) WorkflowID() string                     { return "" }
func (updated) RunID() string                          { return "" }
func (updated) UpdateID() string                       { return "" }
func (u updated) Get(_ context.Context, ptr any) error { return u.get(ptr) }

// queried is a query's answer.
type queried struct{ answer }

func (queried) HasValue() bool      { return true }
func (q queried) Get(ptr any) error { return q.get(ptr) }

// pace runs c.Pace in an activity, as the chunks do.
func pace(t *testing.T, c *Client, interval time.Duration) error {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	send := func(ctx context.Context) error { return c.Pace(ctx, "dynamic", "ip-1", interval, "chunk 1 batch 1") }
	env.RegisterActivity(send)
	_, err := env.ExecuteActivity(send)
	return err
}

// A request waits for its reserved slot, asking the pacer of its vendor
// and rate group with its interval, and goes when no pause began since.
func TestARequestWaitsForItsSlot(t *testing.T) {
	at := time.Now().Add(80 * time.Millisecond)
	f := &fakeTemporal{
		reserve: []func(Reserve) (Reservation, error){func(Reserve) (Reservation, error) { return Reservation{At: at, Epoch: 3}, nil }},
		state:   func() Status { return Status{Epoch: 3} },
	}
	if err := pace(t, &Client{Temporal: f}, 400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); now.Before(at) {
		t.Fatalf("Pace returned %s before the reserved slot", at.Sub(now))
	}
	if len(f.asked) != 1 || f.asked[0].Interval != 400*time.Millisecond || f.asked[0].Label != "chunk 1 batch 1" {
		t.Fatalf("asked %+v; want one reservation with the connection's interval and the request's label", f.asked)
	}
	if f.queried != 1 || f.ids[0] != ID("dynamic", "ip-1") {
		t.Fatalf("checked the pacer %d times at %v; want once, at %s", f.queried, f.ids, ID("dynamic", "ip-1"))
	}
}

// A Retry-After pause that began after the reservation (the epoch moved)
// and still runs is waited out, and the request reserves again; a pause
// that has passed already lets it go.
func TestAPauseThatBeganSinceTheReservationIsWaitedOut(t *testing.T) {
	var pausedUntil time.Time // set when the request first checks the pacer
	var checks int
	f := &fakeTemporal{
		reserve: []func(Reserve) (Reservation, error){
			func(Reserve) (Reservation, error) { return Reservation{At: time.Now(), Epoch: 1}, nil },
			func(Reserve) (Reservation, error) { return Reservation{At: pausedUntil, Epoch: 2}, nil },
		},
	}
	f.state = func() Status {
		if checks++; checks == 1 {
			pausedUntil = time.Now().Add(150 * time.Millisecond)
		}
		return Status{Epoch: 2, PausedUntil: pausedUntil}
	}
	if err := pace(t, &Client{Temporal: f}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(pausedUntil) {
		t.Fatal("Pace returned inside the pause")
	}
	if len(f.asked) != 2 || checks != 2 {
		t.Fatalf("%d reservations and %d checks; want the request to reserve again after the pause", len(f.asked), checks)
	}
}

// A pacer between runs (Draining) or too busy for another update is asked
// again; any other failure is the request's failure, naming the pacer.
func TestABusyPacerIsAskedAgainAndABrokenOneFails(t *testing.T) {
	busy := []error{
		temporal.NewApplicationError("continuing as new", Draining),
		serviceerror.NewResourceExhausted(0, "too many updates"),
	}
	f := &fakeTemporal{state: func() Status { return Status{} }}
	for _, err := range busy {
		f.reserve = append(f.reserve, func(Reserve) (Reservation, error) { return Reservation{}, err })
	}
	f.reserve = append(f.reserve, func(Reserve) (Reservation, error) { return Reservation{At: time.Now()}, nil })
	if err := pace(t, &Client{Temporal: f}, time.Second); err != nil {
		t.Fatalf("after a draining and a busy pacer: %v", err)
	}
	if len(f.asked) != 3 {
		t.Fatalf("asked %d times; want 3", len(f.asked))
	}

	broken := &fakeTemporal{reserve: []func(Reserve) (Reservation, error){
		func(Reserve) (Reservation, error) { return Reservation{}, errors.New("namespace not found") },
	}}
	err := pace(t, &Client{Temporal: broken}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "reserve a dynamic send slot at "+ID("dynamic", "ip-1")) || !strings.Contains(err.Error(), "namespace not found") {
		t.Fatalf("a broken pacer: %v", err)
	}
	if len(broken.asked) != 1 {
		t.Fatalf("a broken pacer was asked %d times; want once", len(broken.asked))
	}

	var app *temporal.ApplicationError
	if err := pace(t, &Client{}, time.Second); !errors.As(err, &app) || app.Type() != failure.Config || !app.NonRetryable() {
		t.Fatalf("a worker without a Temporal client: %v; want a final %s failure", err, failure.Config)
	}
}

// A 429 pauses the vendor's rate group for its Retry-After, or a second
// when it gave none.
func TestA429PausesTheRateGroup(t *testing.T) {
	f := &fakeTemporal{}
	c := &Client{Temporal: f}
	at := time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC)
	c.Pause(context.Background(), "dynamic", "ip-1", 7*time.Second, at)
	c.Pause(context.Background(), "dynamic", "", 0, at)
	if len(f.signals) != 2 || f.signalTo[0] != ID("dynamic", "ip-1") || f.signalTo[1] != ID("dynamic", "") {
		t.Fatalf("signalled %v", f.signalTo)
	}
	if p := f.signals[0]; p.RetryAfter != 7*time.Second || !p.ReceivedAt.Equal(at) || p.Reason != "HTTP 429 from dynamic" {
		t.Fatalf("pause %+v", p)
	}
	if p := f.signals[1]; p.RetryAfter != time.Second {
		t.Fatalf("a 429 without Retry-After paused for %s; want 1s", p.RetryAfter)
	}
	(&Client{}).Pause(context.Background(), "dynamic", "ip-1", time.Second, at) // no client: nothing to tell, no panic
}
