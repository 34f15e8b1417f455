// Package workflows holds the deterministic workflow code of the importer.
// Workflow inputs, results, queries and state carry descriptors, counts and
// paths only, never rows of user data: activities read rows from the source.
package workflows

import (
	"time"

	"importer/activities/imports"
	"importer/activities/mapping"
	"importer/activities/notify"
	"importer/activities/source"
)

// TaskQueue is the default task queue of the worker and the starter.
const TaskQueue = "importer"

// ImportWorkflowName is the registered name of the import workflow.
const ImportWorkflowName = "Import"

// ProgressQuery is the name of the import's progress query.
const ProgressQuery = "progress"

// ImportInput is what a person (or a schedule) asks for.
type ImportInput struct {
	Vendor     string          `json:"vendor"`
	Connection string          `json:"connection,omitempty"`
	Source     source.Ref      `json:"source"`
	Mapping    mapping.Mapping `json:"mapping"`
	// BatchSize is rows per vendor request; ChunkRows is rows per activity
	// (a whole number of batches); Concurrency is chunks in flight.
	BatchSize   int `json:"batch_size,omitempty"`
	ChunkRows   int `json:"chunk_rows,omitempty"`
	Concurrency int `json:"concurrency,omitempty"`
	// PlanPage is how many chunk descriptors one planning call returns.
	PlanPage int `json:"plan_page,omitempty"`
	// ChunksPerRun continues the workflow as new after this many chunks even
	// if the server has not suggested it yet; it keeps each run's history
	// small and predictable.
	ChunksPerRun int `json:"chunks_per_run,omitempty"`
	// VendorDeadline is how long one chunk may keep failing with retryable
	// errors (vendor down, throttling) before the import fails.
	VendorDeadline time.Duration `json:"vendor_deadline,omitempty"`
	// HeartbeatTimeout is how soon a dead worker's chunk is given to another.
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`

	// GateLease is how long a grant of the vendor's gate lasts before the
	// gate checks that this import still runs (gated vendors only).
	GateLease time.Duration `json:"gate_lease,omitempty"`
	// JobPoll and JobMaxPoll are the first and the longest wait between two
	// polls of a vendor's background job (Userpilot).
	JobPoll    time.Duration `json:"job_poll,omitempty"`
	JobMaxPoll time.Duration `json:"job_max_poll,omitempty"`

	// Incremental sends only users that changed since the last successful
	// run with the same state key, and commits this run's state when it
	// succeeds.
	Incremental *imports.Incremental `json:"incremental,omitempty"`

	// Notify names the webhook to notify when the import ends, and on
	// which ends; nil notifies no one.
	Notify *notify.Spec `json:"notify,omitempty"`

	// State is set only by continue-as-new: the cursor and totals so far.
	State *ImportState `json:"state,omitempty"`
}

// ImportState is carried from one run of an import to the next.
type ImportState struct {
	ImportKey    string         `json:"import_key"`
	StartedAt    time.Time      `json:"started_at"`
	Runs         int            `json:"runs"`
	Source       source.Ref     `json:"source"`
	Planned      bool           `json:"planned"` // the first page has been planned
	PlanningDone bool           `json:"planning_done"`
	NextPlan     PlanCursor     `json:"next_plan"`
	Queue        []source.Chunk `json:"queue,omitempty"` // planned, not yet sent
	Totals       imports.Counts `json:"totals"`
	ChunksDone   int            `json:"chunks_done"`
	ChunksPlan   int            `json:"chunks_planned"`
	RowsPlanned  int64          `json:"rows_planned"`
	BytesDone    int64          `json:"bytes_done"`
	BytesTotal   int64          `json:"bytes_total"`
	// The duplicate scan: done once, before the first chunk; the file of
	// superseded rows, how many, and the bytes it scanned.
	Scanned     bool           `json:"scanned,omitempty"`
	Duplicates  string         `json:"duplicates,omitempty"`
	Superseded  int            `json:"superseded,omitempty"`
	ScanVersion source.Version `json:"scan_version"`
	// StoreChecked: the import checks the store against the counts in
	// history before it ends (rejects, incremental-state records), so a
	// deployment whose workers keep separate stores fails loudly. False
	// for imports started before that check existed.
	StoreChecked bool `json:"store_checked,omitempty"`
	// Staged is the plain copy of a compressed source that the import
	// reads instead (Source is then the copy), deleted when it ends.
	Staged *source.Ref `json:"staged,omitempty"`
	// Plan: the duplicate scan planned the chunks into the store, and
	// planning reads pages of them there.
	Plan *StoredPlan `json:"plan,omitempty"`
	// Decided: what the first run took from outside the workflow (the
	// worker's settings, the vendor's traits, the defaults), which every
	// later run follows. Nil for imports started before it was recorded.
	Decided *Decisions `json:"decided,omitempty"`
}

// StoredPlan is a plan the duplicate scan kept in the store.
type StoredPlan struct {
	Chunks    int   `json:"chunks"`
	DataStart int64 `json:"data_start"`
}

// PlanCursor is where planning continues.
type PlanCursor struct {
	From      int64 `json:"from"`
	FromLine  int64 `json:"from_line"`
	NextIndex int   `json:"next_index"`
}

// ImportResult is the summary of a finished import.
type ImportResult struct {
	WorkflowID string `json:"workflow_id"`
	Vendor     string `json:"vendor"`
	Connection string `json:"connection"`
	Source     string `json:"source"`
	RowsRead   int64  `json:"rows_read"`
	Accepted   int64  `json:"accepted"`
	Rejected   int64  `json:"rejected"`
	Inserted   int64  `json:"inserted"`
	Updated    int64  `json:"updated"`
	// RejectsCommand is the command that lists the rejected rows (they are
	// in the importer's store); empty without rejects.
	RejectsCommand string `json:"rejects_command,omitempty"`
	// RejectsFile named the rejects file of imports that finished before
	// the rejects went to the store; empty for newer ones.
	RejectsFile string `json:"rejects_file,omitempty"`
	// Incremental imports: rows not sent because they had not changed,
	// users of the last success the list no longer has (`starter rejects
	// ID --disappeared` lists them), and how many of those were
	// deactivated.
	Unchanged int64 `json:"unchanged,omitempty"`
	// Duplicates counts rows a later row of the same user replaced; they
	// are among the rejects.
	Duplicates      int            `json:"duplicates,omitempty"`
	Disappeared     int            `json:"disappeared,omitempty"`
	DisappearedFile string         `json:"disappeared_file,omitempty"`
	Deactivated     int            `json:"deactivated,omitempty"`
	Chunks          int            `json:"chunks"`
	Runs            int            `json:"runs"`
	StartedAt       time.Time      `json:"started_at"`
	FinishedAt      time.Time      `json:"finished_at"`
	Counts          imports.Counts `json:"-"`
}

// Progress is the answer to the progress query.
type Progress struct {
	Phase        string `json:"phase"` // planning, importing, finishing, done, failed, canceled
	RowsDone     int64  `json:"rows_done"`
	Accepted     int64  `json:"accepted"`
	Rejected     int64  `json:"rejected"`
	Unchanged    int64  `json:"unchanged,omitempty"`
	RowsPlanned  int64  `json:"rows_planned"`
	PlanningDone bool   `json:"planning_done"`
	ChunksDone   int    `json:"chunks_done"`
	ChunksPlan   int    `json:"chunks_planned"`
	InFlight     int    `json:"in_flight"`
	// GateWaits counts chunks in flight that wait for their turn at the
	// vendor's gate (BitLabs, Userpilot).
	GateWaits  int       `json:"gate_waits,omitempty"`
	BytesDone  int64     `json:"bytes_done"`
	BytesTotal int64     `json:"bytes_total"`
	StartedAt  time.Time `json:"started_at"`
	Runs       int       `json:"runs"`
	Error      string    `json:"error,omitempty"`
}

// Fraction estimates how much of the import is done, by bytes of the source,
// which is known before planning has counted every row.
func (p Progress) Fraction() float64 {
	if p.PlanningDone && p.RowsPlanned > 0 {
		return float64(p.RowsDone) / float64(p.RowsPlanned)
	}
	if p.BytesTotal > 0 {
		return float64(p.BytesDone) / float64(p.BytesTotal)
	}
	return 0
}

// Defaults.
const (
	DefaultConcurrency      = 8
	DefaultBatchesPerChunk  = 5
	DefaultPlanPage         = 200
	DefaultChunksPerRun     = 1000
	DefaultVendorDeadline   = time.Hour
	DefaultHeartbeatTimeout = 30 * time.Second
)

// Defaults are what an input left unset becomes: the constants above, as
// the code that started a run had them. A run records them with its other
// Decisions, so a deploy that changes a constant changes new runs only.
type Defaults struct {
	BatchSize        int           `json:"batch_size"`
	BatchesPerChunk  int           `json:"batches_per_chunk"`
	Concurrency      int           `json:"concurrency"`
	PlanPage         int           `json:"plan_page"`
	ChunksPerRun     int           `json:"chunks_per_run"`
	VendorDeadline   time.Duration `json:"vendor_deadline"`
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout"`
	// An audience sync's.
	AudienceDeadline time.Duration `json:"audience_deadline"`
	AttributeJobs    int           `json:"attribute_jobs"`
}

// codeDefaults are this code's Defaults.
func codeDefaults() Defaults {
	return Defaults{
		BatchSize: imports.DefaultBatchSize, BatchesPerChunk: DefaultBatchesPerChunk, Concurrency: DefaultConcurrency,
		PlanPage: DefaultPlanPage, ChunksPerRun: DefaultChunksPerRun, VendorDeadline: DefaultVendorDeadline,
		HeartbeatTimeout: DefaultHeartbeatTimeout, AudienceDeadline: DefaultAudienceDeadline, AttributeJobs: defaultAttributeJobs,
	}
}

func (in *ImportInput) applyDefaults(d Defaults) {
	if in.Connection == "" {
		in.Connection = "default"
	}
	if in.BatchSize <= 0 {
		in.BatchSize = d.BatchSize
	}
	if in.ChunkRows <= 0 {
		in.ChunkRows = in.BatchSize * d.BatchesPerChunk
	}
	if in.Concurrency <= 0 {
		in.Concurrency = d.Concurrency
	}
	if in.PlanPage <= 0 {
		in.PlanPage = d.PlanPage
	}
	if in.ChunksPerRun <= 0 {
		in.ChunksPerRun = d.ChunksPerRun
	}
	if in.VendorDeadline <= 0 {
		in.VendorDeadline = d.VendorDeadline
	}
	if in.HeartbeatTimeout <= 0 {
		in.HeartbeatTimeout = d.HeartbeatTimeout
	}
}
