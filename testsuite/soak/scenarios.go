package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Scenario names, in the order they run.
const (
	scenarioWorkerLoss      = "worker-loss"
	scenarioVendorFaults    = "vendor-faults"
	scenarioVendorDown      = "vendor-down"
	scenarioTemporalRestart = "temporal-restart"
	scenarioFaultsRestart   = "faults-restart"
)

var scenarios = []string{scenarioWorkerLoss, scenarioVendorFaults, scenarioVendorDown, scenarioTemporalRestart, scenarioFaultsRestart}

// workerLoss runs every vendor's import at once while SIGKILLing a worker
// every kill-every, the two slots in turn, each replaced at once. The first
// kill comes as soon as a vendor has answered, so that a quick import loses
// a worker too. A stalled import stops the kills for all (it cannot be
// spared alone); the others' rows count the kills they lived through.
func (r *runner) workerLoss(ctx context.Context, trials []*trial, timed func(*trial, func(context.Context, *trial))) {
	answered := func() bool {
		for _, tr := range trials {
			if tr.w.counts().answered > 0 {
				return true
			}
		}
		return false
	}
	k := r.startKills(ctx, answered)
	var wg sync.WaitGroup
	for _, tr := range trials {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timed(tr, func(ctx context.Context, tr *trial) { r.loseWorkers(ctx, tr, k) })
		}()
	}
	wg.Wait()
	k.stop()
	for _, tr := range trials {
		for _, e := range k.errs {
			tr.row.problem("replace a worker: %s", e)
		}
	}
}

func (r *runner) loseWorkers(ctx context.Context, tr *trial, k *kills) {
	run, err := tr.t.start(ctx, r.cl.c, tr.id, r.cfg.queue, 0)
	if err != nil {
		tr.row.problem("start: %v", err)
		return
	}
	tr.row.imports = 1
	before := r.pool.killedCount()
	o, err := r.endure(ctx, tr, run, "workers were being killed", k.stop)
	tr.row.killed = r.pool.killedCount() - before
	if err != nil {
		tr.row.problem("import failed: %v", err)
		return
	}
	if tr.row.killed == 0 {
		tr.row.problem("the import ended before the first kill; use more -rows or a shorter -kill-every")
	}
	check(tr, o, baseline{})
}

// kills SIGKILLs and replaces workers until stopped.
type kills struct {
	stop func()
	errs []string
}

func (r *runner) startKills(ctx context.Context, begin func() bool) *kills {
	k := &kills{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !begin() {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		tick := time.NewTicker(r.cfg.killEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			if err := r.pool.replace(i % len(r.pool.slots)); err != nil {
				k.errs = append(k.errs, err.Error())
			}
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	k.stop = func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
	return k
}

// vendorFaults imports the list while the fake answers a share of calls
// with 500, or with 429 and a Retry-After (in turns, a second each), and
// every few seconds hangs every call that arrives for a moment, past the
// workers' vendor timeout.
func (r *runner) vendorFaults(ctx context.Context, tr *trial) {
	run, err := tr.t.start(ctx, r.cl.c, tr.id, r.cfg.queue, 0)
	if err != nil {
		tr.row.problem("start: %v", err)
		return
	}
	tr.row.imports = 1
	stop := r.faultLoop(tr.t)
	o, err := r.endure(ctx, tr, run, "the vendor was failing", stop)
	stop()
	tr.row.faults = tr.t.faults.Injected()
	if err != nil {
		tr.row.problem("import failed: %v", err)
		return
	}
	if tr.row.faults == 0 {
		tr.row.problem("no fault was injected; use more -rows")
	}
	check(tr, o, baseline{})
}

// faultLoop makes the fake fail a share of calls, with 500 and with 429
// in turns, a second each, and hang every call that arrives in a moment
// every four seconds. stop turns every fault off; it may be called again.
func (r *runner) faultLoop(t *target) (stop func()) {
	t.faults.SetRetryAfter(2 * time.Second)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer t.faults.SetShare(0, 0)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			code := http.StatusInternalServerError
			if i%2 == 1 {
				code = http.StatusTooManyRequests
			}
			t.faults.SetShare(r.cfg.faultShare, code)
			if i%4 == 3 {
				t.faults.SetHang(true)
				time.Sleep(150 * time.Millisecond)
				t.faults.SetHang(false)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// vendorDown takes the vendor down (503 to everything) once part of the
// list is in and keeps it down until the import gives up; the failure must
// name the vendor and the deadline. Then the vendor comes back and the
// same list is imported again, which must converge: exact accounting,
// every valid user held, none delivered twice by the second import.
func (r *runner) vendorDown(ctx context.Context, tr *trial) {
	t, rw := tr.t, tr.row
	deadline := r.cfg.vendorDeadline
	run, err := t.start(ctx, r.cl.c, tr.id, r.cfg.queue, deadline)
	if err != nil {
		rw.problem("start: %v", err)
		return
	}
	rw.imports = 1
	if err := r.until(ctx, run, func() bool { return t.stored() >= t.list.valid/5 }); err != nil {
		rw.problem("before the outage: %v", err)
		return
	}
	t.faults.SetShare(1, http.StatusServiceUnavailable)
	downAt := time.Now()
	_, err = r.wait(ctx, t, run)
	down := time.Since(downAt)
	t.faults.SetShare(0, 0)
	switch {
	case err == nil:
		rw.problem("the import completed although the vendor was down for %s with a %s deadline", down.Round(time.Second), deadline)
		return
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		rw.problem("the import did not end while the vendor was down (%s): %v", down.Round(time.Second), err)
		return
	}
	// Temporal fails an activity as soon as its next retry would land past
	// the deadline, which runs per chunk from when it was scheduled: the
	// failure may come a little before the deadline has passed since the
	// outage began. When it comes is not judged; what it says is.
	msg := err.Error()
	rw.details = append(rw.details, "the import failed while the vendor was down (as it should): "+msg)
	rw.notes = append(rw.notes, fmt.Sprintf("failed after %s down", down.Round(time.Second)))
	if !strings.Contains(strings.ToLower(msg), t.vendor) {
		rw.problem("the failure does not name the vendor %s", t.vendor)
	}
	if !strings.Contains(strings.ToLower(msg), "deadline") && !strings.Contains(msg, deadline.String()) {
		rw.problem("the failure does not say that the %s vendor deadline ran out", deadline)
	}

	base := snapshot(tr)
	tr.w.forget()
	run, err = t.start(ctx, r.cl.c, tr.id+"-again", r.cfg.queue, deadline)
	if err != nil {
		rw.problem("start again: %v", err)
		return
	}
	rw.imports = 2
	o, err := r.endure(ctx, tr, run, "", nil)
	rw.faults = t.faults.Injected()
	if err != nil {
		rw.problem("the import run again after the vendor recovered failed: %v", err)
		return
	}
	check(tr, o, base)
}

// faultsRestart is the Retry-After test: every vendor's import at once
// under the fault loop (500s, 429s with a Retry-After, calls hung past the
// workers' vendor timeout), a worker SIGKILLed and replaced once a fifth of
// each list is in, then the Temporal server stopped and started again once
// two fifths are, the faults going on throughout. After the restart an
// attempt the server timed out may still run beside its retry; the fakes
// count every request sent inside a Retry-After window a 429 gave (early
// requests), and there must be none.
func (r *runner) faultsRestart(ctx context.Context, trials []*trial, timed func(*trial, func(context.Context, *trial))) {
	var mu sync.Mutex
	ended := map[*trial]bool{}
	reached := func(fifths int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, tr := range trials {
				if !ended[tr] && tr.t.stored()*5 < tr.t.list.valid*fifths {
					return false
				}
			}
			return true
		}
	}
	disrupted := make(chan struct{})
	// Each disruption counts for the imports still running when it came.
	killed, restarted := map[*trial]bool{}, map[*trial]bool{}
	running := func(into map[*trial]bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, tr := range trials {
			if !ended[tr] {
				into[tr] = true
			}
		}
	}
	var disruptErr error
	go func() {
		defer close(disrupted)
		if !r.waitFor(ctx, reached(1)) {
			return
		}
		running(killed)
		if disruptErr = r.pool.replace(0); disruptErr != nil {
			return
		}
		if !r.waitFor(ctx, reached(2)) {
			return
		}
		running(restarted)
		disruptErr = r.cl.restart(ctx, 2*time.Second)
	}()
	var wg sync.WaitGroup
	for _, tr := range trials {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timed(tr, func(ctx context.Context, tr *trial) {
				defer func() {
					mu.Lock()
					ended[tr] = true
					mu.Unlock()
				}()
				r.vendorFaults(ctx, tr)
			})
		}()
	}
	wg.Wait()
	<-disrupted
	for _, tr := range trials {
		if killed[tr] {
			tr.row.killed = 1
		}
		if restarted[tr] {
			tr.row.restarts = 1
		}
		if disruptErr != nil {
			tr.row.problem("disrupt: %v", disruptErr)
		} else if !restarted[tr] {
			tr.row.notes = append(tr.row.notes, "ended before the server restart; use more -rows")
		}
	}
}

// waitFor polls cond until it holds (true) or ctx ends or the imports'
// timeout passes (false).
func (r *runner) waitFor(ctx context.Context, cond func() bool) bool {
	deadline := time.Now().Add(importTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// temporalRestart stops the Temporal server once a quarter of the list is
// in and starts it again on the same port and database.
func (r *runner) temporalRestart(ctx context.Context, tr *trial) {
	t, rw := tr.t, tr.row
	run, err := t.start(ctx, r.cl.c, tr.id, r.cfg.queue, 0)
	if err != nil {
		rw.problem("start: %v", err)
		return
	}
	rw.imports = 1
	if err := r.until(ctx, run, func() bool { return t.stored() >= t.list.valid/4 }); err != nil {
		rw.problem("before the restart: %v", err)
		return
	}
	held := t.stored()
	if err := r.cl.restart(ctx, 2*time.Second); err != nil {
		rw.problem("%v", err)
		return
	}
	rw.restarts = 1
	rw.notes = append(rw.notes, fmt.Sprintf("restart at %d%% stored", held*100/max(t.list.valid, 1)))
	o, err := r.endure(ctx, tr, run, "", nil)
	if err != nil {
		rw.problem("import failed after the restart: %v", err)
		return
	}
	check(tr, o, baseline{})
}
