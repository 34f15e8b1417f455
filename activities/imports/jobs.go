package imports

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/rejects"
	"importer/activities/vendorapi"
	"importer/internal/metrics"
	"importer/internal/steps"
)

// JobSubmitResult is a submitted chunk: its job, and the counts of the rows
// that were not sent (invalid ones, already in the rejects file).
type JobSubmitResult struct {
	Chunk   int    `json:"chunk"`
	JobID   string `json:"job_id,omitempty"` // empty when no row was valid
	Counts  Counts `json:"counts"`           // Rows = the chunk's rows; Rejected = invalid rows
	Pending int64  `json:"pending"`          // valid rows in the job, accepted or rejected by WaitJob
}

// WaitJobInput names the job to wait for and its chunk.
type WaitJobInput struct {
	Chunk   ChunkInput `json:"chunk"`
	JobID   string     `json:"job_id"`
	Pending int64      `json:"pending"`
	// PollInterval is the first wait between polls; it grows to MaxPoll.
	PollInterval time.Duration `json:"poll_interval,omitempty"`
	MaxPoll      time.Duration `json:"max_poll,omitempty"`
}

// jobWaitProgress is WaitJob's heartbeat: the last status seen.
type jobWaitProgress struct {
	Status string `json:"status"`
	Done   int    `json:"done"`
	Total  int    `json:"total"`
	Polls  int    `json:"polls"`
}

// The activity names for vendors whose bulk call starts a background job
// (Userpilot): one activity submits a chunk as a job, another waits for it.
// They are apart so that the job ID is in the workflow's history before any
// waiting: a retried or resumed wait polls the same job and never submits
// the rows again.
//
// SubmitJobName is what SubmitJob is registered as and workflows call.
const SubmitJobName = "SubmitJob"

// SubmitJob reads a chunk, writes its invalid rows to the rejects, and
// submits the valid ones as one vendor job. The caller holds the vendor's
// gate. The job ID is recorded as a heartbeat the moment the vendor answers,
// so an attempt retried after a crash between the answer and the activity's
// completion returns that job instead of submitting again.
func (a *Activities) SubmitJob(ctx context.Context, in ChunkInput) (JobSubmitResult, error) {
	if err := a.checkChunk(ctx, in); err != nil {
		return JobSubmitResult{}, err
	}
	v, conn, err := a.vendorConn(in.Vendor, in.Connection)
	if err != nil {
		return JobSubmitResult{}, err
	}
	traits := v.Spec().Traits
	if !traits.Jobs {
		return JobSubmitResult{}, temporal.NewNonRetryableApplicationError(v.Spec().Name+" has no bulk jobs", failure.BadInput, nil)
	}
	if traits.MaxChunkRows > 0 && in.Chunk.Rows > traits.MaxChunkRows {
		return JobSubmitResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("chunk %d has %d rows; one %s job takes at most %d", in.Chunk.Index, in.Chunk.Rows, v.Spec().Name, traits.MaxChunkRows), failure.BadInput, nil)
	}
	var prog submitProgress
	if activity.HasHeartbeatDetails(ctx) {
		if activity.GetHeartbeatDetails(ctx, &prog) != nil {
			_ = activity.GetHeartbeatDetails(ctx, &prog.JobID) // an older attempt's
		}
	}
	if err := startReading(&prog.Reading, in.Source, func() { activity.RecordHeartbeat(ctx, prog) }); err != nil {
		return JobSubmitResult{}, err
	}
	rows, payloads, err := a.readRows(ctx, v, in)
	prog.Reading.Inside = false
	a.leftReading(ctx, prog)
	if err != nil {
		return JobSubmitResult{}, err
	}
	if err := a.markUnchanged(ctx, in, rows, payloads); err != nil {
		return JobSubmitResult{}, err
	}
	res := JobSubmitResult{Chunk: in.Chunk.Index, Counts: Counts{Rows: int64(len(rows))}}
	var slots []int
	var invalid []rejects.Reject
	for _, r := range rows {
		switch {
		case r.unchanged:
			res.Counts.Unchanged++
		case r.slot < 0:
			invalid = append(invalid, rejects.Reject{Line: r.line, UserID: r.key, Vendor: v.Spec().Name, Reason: r.reason})
		default:
			slots = append(slots, r.slot)
		}
	}
	if err := a.Store.PutRejects(ctx, in.ImportKey, rejects.PartName(in.Chunk.Index, 0), rejects.Stored(invalid)); err != nil {
		return JobSubmitResult{}, err
	}
	// The job's users count as delivered until WaitJob says the job failed.
	recorded, err := a.recordState(ctx, in, rejects.PartName(in.Chunk.Index, 0), rows, nil)
	if err != nil {
		return JobSubmitResult{}, err
	}
	res.Counts.Recorded = recorded
	res.Counts.Rejected = int64(len(invalid))
	res.Pending = int64(len(slots))
	// The rows not sent are counted once the attempt succeeds; WaitJob
	// counts the job's.
	done := func() (JobSubmitResult, error) {
		metrics.Rows(metrics.Activity(ctx), v.Spec().Name, conn.Name, 0, res.Counts.Rejected, res.Counts.Unchanged)
		return res, nil
	}
	if len(slots) == 0 {
		return done()
	}
	if prog.JobID != "" {
		res.JobID = prog.JobID
		return done()
	}
	if err := a.awaitHold(ctx, v.Spec().Name, conn); err != nil {
		return JobSubmitResult{}, err
	}
	jobID, err := payloads.Submit(ctx, a.target(conn), slots)
	if err != nil {
		a.holdOn429(ctx, v.Spec().Name, conn, err)
		return JobSubmitResult{}, failure.Classify(fmt.Errorf("chunk %d: submit %d users: %w", in.Chunk.Index, len(slots), err), authHint(v, conn))
	}
	prog.JobID = jobID
	activity.RecordHeartbeat(ctx, prog)
	res.JobID = jobID
	return done()
}

// WaitJobName is what WaitJob is registered as and workflows call.
const WaitJobName = "WaitJob"

// WaitJob polls a job until it ends, heartbeating each status, with a
// growing interval. A completed job accepts its rows; a failed one turns
// them into rejects with the vendor's reason. Counts cover only the job's
// rows (Rows is 0: SubmitJob counted them).
func (a *Activities) WaitJob(ctx context.Context, in WaitJobInput) (ChunkResult, error) {
	if err := ownKey(ctx, in.Chunk.ImportKey); err != nil {
		return ChunkResult{}, err
	}
	// However often the input asks, the vendor is polled no more often
	// than the operator allows.
	if minPoll := a.Limits.WithDefaults().MinPoll; in.PollInterval < minPoll {
		in.PollInterval = minPoll
	}
	v, conn, err := a.vendorConn(in.Chunk.Vendor, in.Chunk.Connection)
	if err != nil {
		return ChunkResult{}, err
	}
	if !v.Spec().Traits.Jobs {
		return ChunkResult{}, temporal.NewNonRetryableApplicationError(v.Spec().Name+" has no bulk jobs", failure.BadInput, nil)
	}
	var final *vendorapi.JobStatus
	err = steps.PollUntil(ctx, steps.Poll{Every: in.PollInterval, Max: in.MaxPoll}, func(polls int) (bool, error) {
		if err := a.awaitHold(ctx, v.Spec().Name, conn); err != nil {
			return false, err
		}
		st, err := v.Job(ctx, a.target(conn), in.JobID)
		if err != nil {
			a.holdOn429(ctx, v.Spec().Name, conn, err)
			return false, failure.Classify(fmt.Errorf("chunk %d: job %s: %w", in.Chunk.Chunk.Index, in.JobID, err), authHint(v, conn))
		}
		activity.RecordHeartbeat(ctx, jobWaitProgress{Status: st.Status, Done: st.Done, Total: st.Total, Polls: polls})
		if st.Terminal {
			final = &st
		}
		return st.Terminal, nil
	})
	if err != nil {
		return ChunkResult{}, err
	}
	res := ChunkResult{Chunk: in.Chunk.Chunk.Index, Counts: Counts{Accepted: in.Pending, Inserted: in.Pending}}
	if final.Failed {
		if res, err = a.failJob(ctx, v, in, *final); err != nil {
			return ChunkResult{}, err
		}
	}
	metrics.Rows(metrics.Activity(ctx), v.Spec().Name, conn.Name, res.Counts.Accepted, res.Counts.Rejected, 0)
	return res, nil
}

// failJob writes every row of a failed job to the rejects, with the reason.
func (a *Activities) failJob(ctx context.Context, v vendorapi.Vendor, in WaitJobInput, st vendorapi.JobStatus) (ChunkResult, error) {
	rows, payloads, err := a.readRows(ctx, v, in.Chunk)
	if err != nil {
		return ChunkResult{}, err
	}
	if err := a.markUnchanged(ctx, in.Chunk, rows, payloads); err != nil {
		return ChunkResult{}, err
	}
	reason := fmt.Sprintf("%s job %s failed", v.Spec().Name, in.JobID)
	if st.Reason != "" {
		reason += ": " + st.Reason
	}
	var out []rejects.Reject
	failed := map[string]string{}
	for _, r := range rows {
		if r.slot >= 0 && !r.unchanged {
			out = append(out, rejects.Reject{Line: r.line, UserID: r.key, Vendor: v.Spec().Name, Reason: reason})
			failed[r.key] = reason
		}
	}
	// The same part as SubmitJob's, rewritten: the count stays SubmitJob's.
	if _, err := a.recordState(ctx, in.Chunk, rejects.PartName(in.Chunk.Chunk.Index, 0), rows, failed); err != nil {
		return ChunkResult{}, err
	}
	if int64(len(out)) != in.Pending {
		return ChunkResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("chunk %d: the failed job had %d rows, the source now gives %d", in.Chunk.Chunk.Index, in.Pending, len(out)), failure.AccountingError, nil)
	}
	if err := a.Store.PutRejects(ctx, in.Chunk.ImportKey, rejects.PartName(in.Chunk.Chunk.Index, 1), rejects.Stored(out)); err != nil {
		return ChunkResult{}, err
	}
	return ChunkResult{Chunk: in.Chunk.Chunk.Index, Counts: Counts{Rejected: in.Pending}}, nil
}
