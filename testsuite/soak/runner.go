package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"importer/workflows"
)

// importTimeout is a safety net against an import that never ends; it is
// no measure of speed.
const importTimeout = 20 * time.Minute

// stallAfter is how long an import may show the same progress before it
// counts as stuck.
const stallAfter = 90 * time.Second

// endpoint is a vendor's stable URL, given to the workers once, behind
// which each run puts a fresh fake (and its watch).
type endpoint struct {
	srv *httptest.Server
	mu  sync.RWMutex
	h   http.Handler
}

func newEndpoint() *endpoint {
	e := &endpoint{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.RLock()
		h := e.h
		e.mu.RUnlock()
		if h == nil {
			http.Error(w, "no soak run is using this vendor", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	return e
}

func (e *endpoint) set(h http.Handler) {
	e.mu.Lock()
	e.h = h
	e.mu.Unlock()
}

// runner runs scenarios against one cluster and one pool of workers.
type runner struct {
	cfg       config
	cl        *cluster
	pool      *pool
	endpoints map[string]*endpoint
	dir       string
	seq       int
}

// row is one line of the report.
type row struct {
	scenario, vendor  string
	imports, rows     int
	killed, restarts  int
	faults            int64
	lost, duplicates  int64
	overlaps, early   int64
	resent, limited   int64
	took              time.Duration
	problems, details []string
	notes             []string
}

func (r *row) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// trial is one vendor's part of a scenario: its fake behind a watch, and
// the row it reports in.
type trial struct {
	t   *target
	w   *watch
	row *row
	id  string // workflow ID of the (first) import
}

// scenario runs one scenario against the named vendors: all at once,
// sharing the workers (and their deaths), except temporal-restart, which
// restarts the server for one import at a time so that each is caught
// mid-way.
func (r *runner) scenario(ctx context.Context, name string, names []string, done func(row)) []row {
	var trials []*trial
	rows := make([]*row, 0, len(names))
	for _, v := range names {
		rw := &row{scenario: name, vendor: v}
		rows = append(rows, rw)
		r.seq++
		prefix := fmt.Sprintf("s%02d", r.seq)
		t, err := newTarget(v, r.dir, prefix, rowsFor(v, r.cfg), r.cfg.settings)
		if err != nil {
			rw.problem("set up: %v", err)
			continue
		}
		rw.rows = t.list.rows
		tr := &trial{t: t, w: newWatch(t.fake, t.alike), row: rw, id: fmt.Sprintf("soak-%s-%s-%s", name, v, prefix)}
		r.endpoints[v].set(tr.w)
		trials = append(trials, tr)
	}
	timed := func(tr *trial, fn func(context.Context, *trial)) {
		began := time.Now()
		fn(ctx, tr)
		tr.row.took = time.Since(began)
	}
	switch name {
	case scenarioWorkerLoss:
		r.workerLoss(ctx, trials, timed)
	case scenarioFaultsRestart:
		r.faultsRestart(ctx, trials, timed)
	case scenarioTemporalRestart:
		for _, tr := range trials {
			timed(tr, r.temporalRestart)
		}
	default:
		fn := r.vendorFaults
		if name == scenarioVendorDown {
			fn = r.vendorDown
		}
		var wg sync.WaitGroup
		for _, tr := range trials {
			wg.Add(1)
			go func() {
				defer wg.Done()
				timed(tr, fn)
			}()
		}
		wg.Wait()
	}
	exited := r.pool.takeExited()
	for _, tr := range trials {
		for _, e := range exited {
			tr.row.problem("%s", e)
		}
		r.endpoints[tr.t.vendor].set(nil)
		tr.t.close()
		if !r.cfg.keep {
			_ = os.Remove(tr.t.list.path)
		}
	}
	out := make([]row, len(rows))
	for i, rw := range rows {
		out[i] = *rw
		done(out[i])
	}
	return out
}

// endure waits for an import while a disruption (kills, faults) goes on;
// the caller ends the disruption afterwards. An import that shows the same
// progress for stallAfter is failed for it: the disruption stops then (stop,
// when not nil), and the import is still waited for and checked, so that
// the report tells whether it was stuck only while disrupted. One that
// stalls without a disruption to stop is terminated, so that it cannot
// disturb the runs after it.
func (r *runner) endure(ctx context.Context, tr *trial, run client.WorkflowRun, disruption string, stop func()) (outcome, error) {
	done := make(chan struct{})
	var o outcome
	var err error
	go func() {
		defer close(done)
		o, err = r.wait(ctx, tr.t, run)
	}()
	for {
		stalled := r.watchProgress(ctx, run, done)
		if stalled == "" {
			return o, err
		}
		if stop == nil {
			tr.row.problem("%s; terminated", stalled)
			_ = r.cl.c.TerminateWorkflow(ctx, run.GetID(), "", "soak: "+stalled)
			<-done
			return o, err
		}
		stop()
		stop = nil
		tr.row.problem("%s while %s; that stopped then", stalled, disruption)
	}
}

// watchProgress polls the import's progress query until done is closed.
// It returns "" then, or a description of the stall when the progress
// stayed the same for stallAfter.
func (r *runner) watchProgress(ctx context.Context, run client.WorkflowRun, done <-chan struct{}) string {
	last, since := "", time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return ""
		case <-ctx.Done():
			<-done
			return ""
		case <-tick.C:
		}
		p, err := r.progress(ctx, run.GetID())
		if err != nil {
			continue // a query fails while no worker is up
		}
		if p != last {
			last, since = p, time.Now()
			continue
		}
		if time.Since(since) >= stallAfter {
			return fmt.Sprintf("no progress for %s (stuck at %s)", stallAfter, p)
		}
	}
}

// progress answers the workflow's progress query with the fields that
// move when work gets done (not chunks in flight, which come and go).
func (r *runner) progress(ctx context.Context, id string) (string, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := r.cl.c.QueryWorkflow(qctx, id, "", workflows.ProgressQuery)
	if err != nil {
		return "", err
	}
	var p map[string]any
	if err := v.Get(&p); err != nil {
		return "", err
	}
	var parts []string
	for _, k := range []string{"phase", "rows_done", "rows_read", "members", "jobs_done", "chunks_done", "rejected"} {
		if x, ok := p[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, x))
		}
	}
	return strings.Join(parts, " "), nil
}

// until polls cond until it holds. It fails if the import ends first:
// whatever the scenario wanted to do mid-import would prove nothing.
func (r *runner) until(ctx context.Context, run client.WorkflowRun, cond func() bool) error {
	deadline := time.Now().Add(importTimeout)
	lastDescribe := time.Time{}
	for !cond() {
		if time.Since(lastDescribe) > 500*time.Millisecond {
			lastDescribe = time.Now()
			desc, err := r.cl.c.DescribeWorkflowExecution(ctx, run.GetID(), "")
			if err == nil {
				if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					return fmt.Errorf("the import ended (%s) before the scenario could act; use more -rows", s)
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the vendor saw too little of the import in %s", importTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (r *runner) wait(ctx context.Context, t *target, run client.WorkflowRun) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, importTimeout)
	defer cancel()
	return t.wait(ctx, run)
}

// baseline is what the fake and the watch had counted before an import,
// so that a re-run is judged on its own deliveries.
type baseline struct {
	delivered map[string]int
	watch     watchCounts
}

func snapshot(tr *trial) baseline {
	b := baseline{watch: tr.w.counts()}
	if tr.t.delivered != nil {
		b.delivered = make(map[string]int, len(tr.t.list.keys))
		for _, k := range tr.t.list.keys {
			b.delivered[k] = tr.t.delivered(k)
		}
	}
	return b
}

// check judges a finished import against the list and the fake:
//
//   - accounting: rows read = rows of the list = accepted + rejected, with
//     exactly the valid rows accepted and the invalid ones rejected;
//   - lost: valid users the vendor does not hold, plus rows the result does
//     not account for;
//   - duplicates: users delivered again in requests that were no replay of
//     an identical one (see watch), where the fake counts deliveries, and
//     users the vendor holds that are no valid row of the list;
//   - overlapping bulks and early requests, from the fake and the watch.
func check(tr *trial, o outcome, base baseline) {
	t, l, rw := tr.t, tr.t.list, tr.row
	if o.rows != int64(l.rows) || o.accepted != int64(l.valid) || o.rejected != int64(l.invalid) {
		rw.problem("accounting: read %d rows = %d accepted + %d rejected; the list has %d = %d valid + %d invalid",
			o.rows, o.accepted, o.rejected, l.rows, l.valid, l.invalid)
	}
	rw.lost = abs(int64(l.rows) - o.accepted - o.rejected)
	holds := t.holds()
	for _, k := range l.keys {
		if !holds[k] {
			rw.lost++
		} else {
			delete(holds, k)
		}
	}
	if len(holds) > 0 {
		rw.problem("the vendor holds %d users that are no valid row of the list", len(holds))
		rw.duplicates += int64(len(holds))
	}
	wc := tr.w.counts()
	rw.resent = wc.replayedUsers - base.watch.replayedUsers
	if t.delivered != nil {
		var again int64
		for _, k := range l.keys {
			if n := t.delivered(k) - base.delivered[k]; n > 1 {
				again += int64(n - 1)
			}
		}
		rw.duplicates += max(again-rw.resent, 0)
	}
	rw.overlaps = t.overlaps()
	if t.early != nil {
		rw.early = t.early()
	} else {
		rw.early = wc.early
	}
	rw.limited = t.limited()
	for _, p := range o.problems {
		rw.problem("%s", p)
	}
	if rw.lost > 0 {
		rw.problem("%d rows lost", rw.lost)
	}
	if rw.duplicates > 0 {
		rw.problem("%d duplicate deliveries", rw.duplicates)
	}
	if rw.overlaps > 0 {
		rw.problem("%d overlapping bulks", rw.overlaps)
	}
	if rw.early > 0 {
		rw.problem("%d requests inside a Retry-After window", rw.early)
	}
	if n := wc.replays - base.watch.replays; n > 0 {
		rw.notes = append(rw.notes, fmt.Sprintf("%d requests replayed (%d users resent)", n, rw.resent))
	}
	// Dynamic's limit is the fake's own; how often it refused is part of
	// the picture even when it is never.
	if rw.limited > 0 || t.early != nil {
		rw.notes = append(rw.notes, fmt.Sprintf("%d answered 429", rw.limited))
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
