package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"importer/activities/failure"
	"importer/activities/imports"
	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/internal/metrics"
	"importer/internal/steps"
	"importer/workflows/gate"
)

// Import imports a user list into one vendor. It plans the source into
// chunks page by page, keeps at most Concurrency chunks in flight (a sliding
// window), totals what each chunk reports, and continues as new before its
// history grows large, carrying its cursor and totals. Rows never pass
// through it: only chunk descriptors and counts do. When it ends, it
// notifies the webhook its input names, if any (see Notify).
//
// Its input comes from whoever may start a workflow in the namespace, so
// it is checked first (ImportInput.admit) and held within the worker's
// caps. What it takes from outside its code (the worker's settings, the
// vendor's traits, the defaults) its first run records (Decisions) and
// every later run follows, so a deploy changes new imports only. Imports
// started before either existed replay without them, reading the code's
// defaults and the registry's traits as they did.
func (f *flows) Import(ctx workflow.Context, in ImportInput) (ImportResult, error) {
	var traits vendorapi.Traits
	var decided *Decisions
	if workflow.GetVersion(ctx, "admit-input", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		in.applyDefaults(codeDefaults())
		t, err := f.traitsOf(in.Vendor)
		if err != nil {
			return ImportResult{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, nil)
		}
		traits = t
	} else {
		d := f.decide(ctx, in.Vendor, in.State)
		in.applyDefaults(d.Defaults)
		if err := in.admit(ctx, d.Settings); err != nil {
			return ImportResult{}, err
		}
		if d.Unknown != "" {
			return ImportResult{}, temporal.NewNonRetryableApplicationError(d.Unknown, failure.BadInput, nil)
		}
		traits, decided = d.Traits, &d
	}
	var end runEnd
	res, err := importRun(ctx, in, traits, decided, &end)
	return notifyImport(ctx, in, &end, res, err)
}

// importRun is the import up to its result, under the vendor's traits and
// the Decisions its first run recorded (nil for imports from before).
func importRun(ctx workflow.Context, in ImportInput, traits vendorapi.Traits, decided *Decisions, end *runEnd) (ImportResult, error) {
	if traits.MaxChunkRows > 0 && in.ChunkRows > traits.MaxChunkRows {
		in.ChunkRows = traits.MaxChunkRows
	}
	info := workflow.GetInfo(ctx)
	st := in.State
	if st == nil {
		st = &ImportState{
			ImportKey: importKeyOf(info),
			StartedAt: workflow.Now(ctx),
			Source:    in.Source,
		}
		// Imports started before the records went to the store replay
		// without checking the store against history.
		st.StoreChecked = workflow.GetVersion(ctx, "records-in-store", workflow.DefaultVersion, 1) == 1
	}
	if st.Decided == nil {
		st.Decided = decided
	}
	st.Runs++
	end.st = st
	r := &run{in: in, st: st, phase: "planning", traits: traits,
		gate: gate.NewLock(in.Vendor, in.Connection, in.GateLease)}
	if st.Planned {
		r.phase = "importing"
	}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return r.progress(), nil }); err != nil {
		return ImportResult{}, err
	}
	r.describe(ctx)

	err := r.stage(ctx)
	if err == nil {
		err = r.findDuplicates(ctx)
	}
	if err == nil {
		err = r.dispatch(ctx)
	}
	var can *workflow.ContinueAsNewError
	if errors.As(err, &can) {
		return ImportResult{}, err
	}
	var committed stateOutcome
	if err == nil && ctx.Err() == nil && in.Incremental != nil {
		committed, err = r.commitState(ctx)
	}

	// Rejects are joined even when the import was cancelled or failed, so
	// what was done is on record; a disconnected context lets this run
	// after a cancellation.
	r.phase = "finishing"
	r.describe(ctx)
	fctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	fctx = workflow.WithActivityOptions(fctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10},
		Summary:             "join rejects",
	})
	var fin imports.FinalizeResult
	finIn := imports.FinalizeInput{ImportKey: st.ImportKey}
	if st.StoreChecked && err == nil && ctx.Err() == nil {
		expected := st.Totals.Rejected
		finIn.Expected = &expected
	}
	ferr := workflow.ExecuteActivity(fctx, imports.FinalizeRejectsName, finIn).Get(fctx, &fin)
	if st.Staged != nil {
		// The plain copy of a compressed source is the import's own.
		// The activity derives the copy's name from the import's key.
		drop := imports.DropStagedInput{ImportKey: st.ImportKey, Format: st.Staged.Format}
		if derr := workflow.ExecuteActivity(fctx, imports.DropStagedName, drop).Get(fctx, nil); derr != nil {
			workflow.GetLogger(ctx).Warn("could not delete the staged copy of the source", "error", derr)
		}
	}
	if in.Incremental != nil && (err != nil || ctx.Err() != nil) {
		// The next run compares with the last success and sends again
		// whatever this one did not finish.
		if derr := workflow.ExecuteActivity(fctx, imports.DiscardStateName, r.stateInput()).Get(fctx, nil); derr != nil {
			workflow.GetLogger(ctx).Warn("could not discard the failed run's state records", "error", derr)
		}
	}

	switch {
	case ctx.Err() != nil:
		r.phase = "canceled"
		r.describe(ctx)
		metrics.ImportEnded(workflow.GetMetricsHandler(ctx), in.Vendor, metrics.ResultCanceled)
		return ImportResult{}, temporal.NewCanceledError(fmt.Sprintf("import canceled after %d rows", st.Totals.Rows))
	case err != nil:
		r.phase, r.failure = "failed", sentence(err)
		r.describe(ctx)
		metrics.ImportEnded(workflow.GetMetricsHandler(ctx), in.Vendor, metrics.ResultFailed)
		return ImportResult{}, failed(err, ImportFailed, fin.Count, info.WorkflowExecution.ID)
	case ferr != nil:
		// The activity's own sentence, without Temporal's wrapping.
		msg, kind := "counting the rejects: "+steps.Message(ferr), RejectsUncounted
		var app *temporal.ApplicationError
		if errors.As(ferr, &app) && app.Type() == failure.StoreNotShared {
			msg, kind = app.Message(), app.Type()
		}
		r.phase, r.failure = "failed", msg
		r.describe(ctx)
		metrics.ImportEnded(workflow.GetMetricsHandler(ctx), in.Vendor, metrics.ResultFailed)
		return ImportResult{}, temporal.NewNonRetryableApplicationError(msg, kind, nil)
	}
	r.phase = "done"
	r.describe(ctx)
	metrics.ImportEnded(workflow.GetMetricsHandler(ctx), in.Vendor, metrics.ResultCompleted)
	return ImportResult{
		WorkflowID:     info.WorkflowExecution.ID,
		Vendor:         in.Vendor,
		Connection:     in.Connection,
		Source:         source.Redact(in.Source.URI),
		RowsRead:       st.Totals.Rows,
		Accepted:       st.Totals.Accepted,
		Rejected:       st.Totals.Rejected,
		Inserted:       st.Totals.Inserted,
		Updated:        st.Totals.Updated,
		RejectsCommand: rejectsCommand(info.WorkflowExecution.ID, fin.Count),
		Unchanged:      st.Totals.Unchanged,
		Duplicates:     st.Superseded,
		Disappeared:    committed.prepared.Disappeared,
		Deactivated:    committed.deactivated.Deactivated,
		Chunks:         st.ChunksDone,
		Runs:           st.Runs,
		StartedAt:      st.StartedAt,
		FinishedAt:     workflow.Now(ctx),
		Counts:         st.Totals,
	}, nil
}

// run is the state of one workflow run; st is what survives continue-as-new.
type run struct {
	in       ImportInput
	traits   vendorapi.Traits
	gate     *gate.Lock
	st       *ImportState
	phase    string
	inFlight int
	// gateWaits counts chunks waiting for the vendor's gate.
	gateWaits int
	failure   string
	// chunkStarted is when each chunk in flight started (for a gated
	// vendor: was granted the gate), for its duration's metric.
	chunkStarted map[int]time.Time
}

// dispatch plans and sends chunks until the source is done, a chunk fails,
// the import is cancelled, or it is time to continue as new.
func (r *run) dispatch(ctx workflow.Context) error {
	in, st := r.in, r.st
	info := workflow.GetInfo(ctx)
	// Chunks are cancelled when one fails for good: they would fail alike
	// (bad credentials) or keep retrying into a deadline for nothing.
	chunkCtx, cancelChunks := workflow.WithCancel(ctx)
	defer cancelChunks()
	sel := workflow.NewSelector(ctx)
	var failure error
	started := 0
	pause := false // continue as new once in-flight chunks are done

	for {
		if failure == nil && !pause && ctx.Err() == nil && !st.PlanningDone && len(st.Queue) <= in.Concurrency {
			if err := r.plan(ctx); err != nil {
				failure = err
				cancelChunks()
			}
		}
		for failure == nil && !pause && ctx.Err() == nil && r.inFlight < in.Concurrency && len(st.Queue) > 0 {
			c := st.Queue[0]
			st.Queue = st.Queue[1:]
			r.started(ctx, c.Index)
			f := r.processChunk(chunkCtx, c)
			r.inFlight++
			started++
			sel.AddFuture(f, func(f workflow.Future) {
				r.inFlight--
				startedAt := r.chunkStarted[c.Index]
				delete(r.chunkStarted, c.Index)
				var res imports.ChunkResult
				if err := f.Get(chunkCtx, &res); err != nil {
					if failure == nil && ctx.Err() == nil {
						// The chunk's own sentence names it and its lines.
						failure = steps.GaveUp(err, in.VendorDeadline, fmt.Sprintf("chunk %d (lines from %d)", c.Index, c.FirstLine))
						cancelChunks()
					}
					return
				}
				metrics.ChunkDone(workflow.GetMetricsHandler(ctx), in.Vendor, workflow.Now(ctx).Sub(startedAt))
				st.Totals.Add(res.Counts)
				st.ChunksDone++
				st.BytesDone += c.Length
			})
			if started >= in.ChunksPerRun || info.GetContinueAsNewSuggested() {
				pause = true
			}
		}
		if r.inFlight == 0 {
			switch {
			case failure != nil:
				return failure
			case ctx.Err() != nil:
				return ctx.Err()
			case st.PlanningDone && len(st.Queue) == 0:
				return nil
			case pause:
				next := in
				next.State = st
				return workflow.NewContinueAsNewError(ctx, ImportWorkflowName, next)
			}
			continue // plan the next page
		}
		sel.Select(ctx)
		r.describe(ctx)
	}
}

// plan fetches the next page of chunk descriptors into the queue.
func (r *run) plan(ctx workflow.Context) error {
	in, st := r.in, r.st
	actx := steps.Retrying(ctx, steps.Options{
		Summary: fmt.Sprintf("plan chunks from byte %d", st.NextPlan.From),
		Attempt: 10 * time.Minute, Deadline: in.VendorDeadline, Heartbeat: in.HeartbeatTimeout,
	})
	var page source.Page
	pin := imports.PlanInput{
		Vendor: in.Vendor, Source: st.Source, Mapping: in.Mapping,
		ChunkRows: in.ChunkRows, MaxChunks: in.PlanPage,
		From: st.NextPlan.From, FromLine: st.NextPlan.FromLine, NextIndex: st.NextPlan.NextIndex,
	}
	if st.Plan != nil {
		pin.Stored, pin.ImportKey, pin.Chunks, pin.DataStart = true, st.ImportKey, st.Plan.Chunks, st.Plan.DataStart
	}
	err := workflow.ExecuteActivity(actx, imports.PlanChunksName, pin).Get(actx, &page)
	if err != nil {
		if ctx.Err() != nil {
			return nil // cancelled: the caller sees ctx.Err()
		}
		return steps.GaveUp(err, in.VendorDeadline, "planning "+source.Redact(in.Source.URI))
	}
	if !st.Planned {
		if st.ScanVersion.Size > 0 && page.Version != st.ScanVersion {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s changed between the duplicate scan and planning (size %d, then %d)", source.Redact(in.Source.URI), st.ScanVersion.Size, page.Version.Size),
				failure.SourceChanged, nil)
		}
		st.Planned = true
		st.Source.Header = page.Header
		st.Source.Version = page.Version
		st.BytesTotal = page.Version.Size - page.DataStart
		r.phase = "importing"
	}
	if len(page.Chunks) == 0 && !page.Done {
		return fmt.Errorf("planning %s returned no chunks at byte %d", source.Redact(in.Source.URI), st.NextPlan.From)
	}
	st.Queue = append(st.Queue, page.Chunks...)
	st.ChunksPlan += len(page.Chunks)
	for _, c := range page.Chunks {
		st.RowsPlanned += int64(c.Rows)
	}
	st.PlanningDone = page.Done
	st.NextPlan = PlanCursor{From: page.Next, FromLine: page.NextLine, NextIndex: page.NextIndex}
	return nil
}

// processChunk imports one chunk. For a gated vendor it holds the vendor
// account's gate around the bulk work, so no two imports (on any worker)
// overlap a bulk there; a chunk of one row is no bulk and skips the gate
// where the vendor allows it.
func (r *run) processChunk(ctx workflow.Context, c source.Chunk) workflow.Future {
	t := r.traits
	if !t.Gated || (t.SingleBypass && (c.Rows <= 1 || r.in.BatchSize <= 1)) {
		return r.sendChunk(ctx, c)
	}
	fut, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		r.gateWaits++
		r.describe(ctx)
		id, err := r.gate.Acquire(ctx, fmt.Sprintf("chunk %d (%d rows)", c.Index+1, c.Rows))
		r.gateWaits--
		r.describe(ctx)
		if err != nil {
			set.Set(nil, err)
			return
		}
		r.started(ctx, c.Index) // its time waiting for the gate is the gate's metric
		var res imports.ChunkResult
		if t.Jobs {
			res, err = r.jobChunk(ctx, c)
		} else {
			err = r.sendChunk(ctx, c).Get(ctx, &res)
		}
		r.gate.Release(ctx, id)
		set.Set(res, err)
	})
	return fut
}

// jobChunk submits a chunk as a vendor job and waits for it to end. The
// submit's result (the job ID) is in history before the wait starts, so a
// wait that is retried or resumed on another worker polls the same job.
func (r *run) jobChunk(ctx workflow.Context, c source.Chunk) (imports.ChunkResult, error) {
	in := r.in
	chunk := r.chunkInput(c)
	var sub imports.JobSubmitResult
	if err := workflow.ExecuteActivity(r.activityOptions(ctx, fmt.Sprintf("chunk %d: submit %d rows from line %d", c.Index+1, c.Rows, c.FirstLine)),
		imports.SubmitJobName, chunk).Get(ctx, &sub); err != nil {
		return imports.ChunkResult{}, err
	}
	res := imports.ChunkResult{Chunk: c.Index, Counts: sub.Counts}
	if sub.JobID == "" {
		return res, nil
	}
	wctx := r.activityOptions(ctx, fmt.Sprintf("chunk %d: wait for job %s", c.Index+1, sub.JobID))
	// A job's wait is bounded by the vendor deadline, not by one attempt:
	// Userpilot processes about 1,200 rows a minute.
	wctx = workflow.WithStartToCloseTimeout(wctx, in.VendorDeadline)
	var done imports.ChunkResult
	if err := workflow.ExecuteActivity(wctx, imports.WaitJobName, imports.WaitJobInput{
		Chunk: chunk, JobID: sub.JobID, Pending: sub.Pending, PollInterval: in.JobPoll, MaxPoll: in.JobMaxPoll,
	}).Get(ctx, &done); err != nil {
		return imports.ChunkResult{}, err
	}
	res.Counts.Add(done.Counts)
	return res, nil
}

// started notes that a chunk starts now.
func (r *run) started(ctx workflow.Context, chunk int) {
	if r.chunkStarted == nil {
		r.chunkStarted = map[int]time.Time{}
	}
	r.chunkStarted[chunk] = workflow.Now(ctx)
}

func (r *run) chunkInput(c source.Chunk) imports.ChunkInput {
	in, st := r.in, r.st
	return imports.ChunkInput{
		ImportKey:   st.ImportKey,
		Vendor:      in.Vendor,
		Connection:  in.Connection,
		Source:      st.Source,
		Mapping:     in.Mapping,
		Chunk:       c,
		BatchSize:   in.BatchSize,
		Incremental: in.Incremental,
		Duplicates:  st.Duplicates,
		// A scan that found duplicates and named no file put them in the
		// store: a chunk looks its lines up there.
		DuplicatesStored: st.Superseded > 0 && st.Duplicates == "",
	}
}

// stage decompresses a compressed source once, before anything else reads
// it, into a plain copy in the workers' staging area; the rest of the
// import reads the copy, and it is deleted when the import ends. Only
// compressed sources take this step, which imports started before it
// existed could not name, so running imports replay as they were.
func (r *run) stage(ctx workflow.Context) error {
	st := r.st
	if st.Source.Compression == "" || st.Staged != nil {
		return nil
	}
	r.phase = "staging: decompressing the source once for every worker"
	r.describe(ctx)
	actx := steps.Retrying(ctx, steps.Options{
		Summary:  fmt.Sprintf("decompress %s (%s) into the staging area", source.Redact(st.Source.URI), st.Source.Compression),
		Deadline: r.in.VendorDeadline, Heartbeat: r.in.HeartbeatTimeout,
	})
	var staged source.Ref
	err := workflow.ExecuteActivity(actx, imports.StageSourceName, imports.StageInput{ImportKey: st.ImportKey, Source: st.Source}).Get(ctx, &staged)
	if err != nil {
		if ctx.Err() != nil {
			return nil // cancelled: the caller sees ctx.Err()
		}
		return steps.GaveUp(err, r.in.VendorDeadline, "decompressing "+source.Redact(r.in.Source.URI))
	}
	st.Staged, st.Source = &staged, staged
	r.phase = "scanning for duplicate users"
	return nil
}

// findDuplicates scans the list once, before any chunk is sent, for users
// that appear in more than one row, so that the last row wins however the
// chunks are scheduled. Imports started before the scan existed replay
// without it.
func (r *run) findDuplicates(ctx workflow.Context) error {
	st := r.st
	if st.Planned || st.Scanned {
		return nil
	}
	if workflow.GetVersion(ctx, "find-duplicates", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	r.phase = "scanning for duplicate users"
	r.describe(ctx)
	actx := steps.Retrying(ctx, steps.Options{
		Summary: "find users that appear in more than one row",
		Attempt: time.Hour, Deadline: r.in.VendorDeadline, Heartbeat: r.in.HeartbeatTimeout,
	})
	din := imports.DuplicatesInput{ImportKey: st.ImportKey, Vendor: r.in.Vendor, Source: st.Source, Mapping: r.in.Mapping}
	// The scan's pass plans the chunks too, into the store, so planning
	// does not read the list again. Imports started before replay without.
	if workflow.GetVersion(ctx, "plan-in-scan", workflow.DefaultVersion, 1) == 1 {
		din.ChunkRows = r.in.ChunkRows
	}
	var d imports.Duplicates
	err := workflow.ExecuteActivity(actx, imports.FindDuplicatesName, din).Get(ctx, &d)
	if err != nil {
		if ctx.Err() != nil {
			return nil // cancelled: the caller sees ctx.Err()
		}
		return steps.GaveUp(err, r.in.VendorDeadline, "scanning "+source.Redact(r.in.Source.URI)+" for duplicate users")
	}
	st.Scanned, st.Duplicates, st.Superseded, st.ScanVersion = true, d.File, d.Superseded, d.Version
	if d.Planned != nil {
		st.Plan = &StoredPlan{Chunks: d.Planned.Chunks, DataStart: d.Planned.DataStart}
		st.Source.Header, st.Source.Version = d.Planned.Header, d.Version
	}
	r.phase = "planning"
	return nil
}

// stateOutcome is what committing an incremental run did.
type stateOutcome struct {
	prepared    imports.StatePrepared
	deactivated imports.Deactivated
}

func (r *run) stateInput() imports.StateInput {
	in := imports.StateInput{Vendor: r.in.Vendor, Connection: r.in.Connection, Incremental: *r.in.Incremental, RunKey: r.st.ImportKey}
	if r.st.StoreChecked {
		recorded := r.st.Totals.Recorded
		in.Expected = &recorded
	}
	return in
}

// commitState makes this successful run's records the state the next run
// compares with, after dealing with the users the list no longer has.
func (r *run) commitState(ctx workflow.Context) (stateOutcome, error) {
	var out stateOutcome
	r.phase = "committing state"
	r.describe(ctx)
	stateStep := func(summary string) workflow.Context {
		return steps.Retrying(ctx, steps.Options{
			Summary: summary, Attempt: 30 * time.Minute, Deadline: r.in.VendorDeadline, Heartbeat: r.in.HeartbeatTimeout,
		})
	}
	actx := stateStep("prepare the incremental state")
	in := r.stateInput()
	if err := workflow.ExecuteActivity(actx, imports.PrepareStateName, in).Get(ctx, &out.prepared); err != nil {
		return out, steps.GaveUp(err, r.in.VendorDeadline, "preparing the incremental state")
	}
	if out.prepared.Disappeared > 0 && r.in.Incremental.Missing == imports.MissingDeactivate {
		dctx := stateStep(fmt.Sprintf("deactivate %d users no longer in the list", out.prepared.Disappeared))
		if err := workflow.ExecuteActivity(dctx, imports.DeactivateMissingName, in).Get(ctx, &out.deactivated); err != nil {
			return out, steps.GaveUp(err, r.in.VendorDeadline, "deactivating users no longer in the list")
		}
	}
	if err := workflow.ExecuteActivity(actx, imports.CommitStateName, in).Get(ctx, nil); err != nil {
		return out, steps.GaveUp(err, r.in.VendorDeadline, "committing the incremental state")
	}
	return out, nil
}

func (r *run) sendChunk(ctx workflow.Context, c source.Chunk) workflow.Future {
	actx := r.activityOptions(ctx, fmt.Sprintf("chunk %d: %d rows from line %d", c.Index+1, c.Rows, c.FirstLine))
	return workflow.ExecuteActivity(actx, imports.ImportChunkName, r.chunkInput(c))
}

func (r *run) activityOptions(ctx workflow.Context, summary string) workflow.Context {
	return steps.Retrying(ctx, steps.Options{
		Summary: summary, Attempt: 10 * time.Minute, Deadline: r.in.VendorDeadline, Heartbeat: r.in.HeartbeatTimeout,
		// Wait for a cancelled chunk to stop, so its rejects are written
		// before they are joined.
		WaitForCancellation: true,
	})
}

func (r *run) progress() Progress {
	st := r.st
	return Progress{
		Phase:        r.phase,
		RowsDone:     st.Totals.Rows,
		Accepted:     st.Totals.Accepted,
		Rejected:     st.Totals.Rejected,
		Unchanged:    st.Totals.Unchanged,
		RowsPlanned:  st.RowsPlanned,
		PlanningDone: st.PlanningDone,
		ChunksDone:   st.ChunksDone,
		ChunksPlan:   st.ChunksPlan,
		InFlight:     r.inFlight,
		GateWaits:    r.gateWaits,
		BytesDone:    st.BytesDone,
		BytesTotal:   st.BytesTotal,
		StartedAt:    st.StartedAt,
		Runs:         st.Runs,
		Error:        r.failure,
	}
}

// describe sets the current details the Temporal UI shows for this run.
func (r *run) describe(ctx workflow.Context) {
	p := r.progress()
	total := fmt.Sprintf("~%d%% of the source", int(p.Fraction()*100))
	if p.PlanningDone {
		total = fmt.Sprintf("%d rows", p.RowsPlanned)
	}
	d := fmt.Sprintf("**%s** %s\n\n%d of %s done · %d accepted · %d rejected · %d chunks in flight · run %d",
		r.in.Vendor, p.Phase, p.RowsDone, total, p.Accepted, p.Rejected, p.InFlight, p.Runs)
	if p.GateWaits > 0 {
		d += fmt.Sprintf("\n\nwaiting: %d chunks for their turn at %s (one bulk at a time)", p.GateWaits, gate.ID(r.in.Vendor, r.in.Connection))
	}
	if r.failure != "" {
		d += "\n\nerror: " + r.failure
	}
	workflow.SetCurrentDetails(ctx, d)
}

// rejectsCommand is how a person lists an import's rejects: from any
// machine that reaches the importer's store.
func rejectsCommand(workflowID string, n int) string {
	if n == 0 {
		return ""
	}
	return "starter rejects " + workflowID
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
