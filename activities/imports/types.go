package imports

import (
	"time"

	"importer/internal/steps"

	"importer/activities/mapping"
	"importer/activities/source"
)

// Counts is the accounting of rows: Rows = Accepted + Rejected + Unchanged,
// always.
type Counts struct {
	Rows     int64 `json:"rows"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	// Unchanged counts rows an incremental import did not send, because
	// the last successful run delivered the same content.
	Unchanged int64 `json:"unchanged,omitempty"`
	// Inserted and Updated split Accepted where the vendor tells them apart.
	Inserted int64 `json:"inserted"`
	Updated  int64 `json:"updated"`
	// Recorded counts the incremental-state records the chunks wrote to the
	// store, checked against the store before the state is committed.
	Recorded int64 `json:"recorded,omitempty"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Rows += o.Rows
	c.Accepted += o.Accepted
	c.Rejected += o.Rejected
	c.Unchanged += o.Unchanged
	c.Inserted += o.Inserted
	c.Updated += o.Updated
	c.Recorded += o.Recorded
}

// Balanced says whether every row is accounted for.
func (c Counts) Balanced() bool { return c.Rows == c.Accepted+c.Rejected+c.Unchanged }

// Incremental makes an import send only what changed since the last
// successful run with the same state key (a schedule, say).
type Incremental struct {
	// StateKey names the state compared with and, after success, replaced.
	StateKey string `json:"state_key"`
	// Missing says what to do with users of the last successful run that
	// the list no longer has: "report" (default) lists them; "deactivate"
	// ends their access where the vendor has such a thing (Nebuly:
	// active_to is set to today).
	Missing string `json:"missing,omitempty"`
}

// Missing-user policies of an incremental import.
const (
	MissingReport     = "report"
	MissingDeactivate = "deactivate"
)

// PlanInput asks for one page of chunk descriptors.
type PlanInput struct {
	Vendor    string          `json:"vendor"`
	Source    source.Ref      `json:"source"`
	Mapping   mapping.Mapping `json:"mapping"`
	ChunkRows int             `json:"chunk_rows"`
	MaxChunks int             `json:"max_chunks"`
	From      int64           `json:"from"`
	FromLine  int64           `json:"from_line"`
	NextIndex int             `json:"next_index"`
	// Stored: the duplicate scan planned the list into the store
	// (Duplicates.Planned), and a page is read from there, from chunk
	// NextIndex, instead of from the list; Chunks is how many the scan
	// planned, so a store that lacks them fails instead of ending early.
	Stored    bool   `json:"stored,omitempty"`
	ImportKey string `json:"import_key,omitempty"`
	Chunks    int    `json:"chunks,omitempty"`
	DataStart int64  `json:"data_start,omitempty"`
}

// ChunkInput asks for one chunk to be read, mapped, validated and sent.
type ChunkInput struct {
	// ImportKey names the import's rejects; stable across continue-as-new.
	ImportKey  string          `json:"import_key"`
	Vendor     string          `json:"vendor"`
	Connection string          `json:"connection"`
	Source     source.Ref      `json:"source"`
	Mapping    mapping.Mapping `json:"mapping"`
	Chunk      source.Chunk    `json:"chunk"`
	BatchSize  int             `json:"batch_size"`
	// Incremental, when set, skips users whose content is unchanged since
	// the last success and records what this run delivered.
	Incremental *Incremental `json:"incremental,omitempty"`
	// DuplicatesStored says the store holds rows a later row of the same
	// user replaces (FindDuplicates), looked up batch by batch.
	DuplicatesStored bool `json:"duplicates_stored,omitempty"`
	// Duplicates is the file of such rows of an import started before the
	// scan went to the store; empty otherwise.
	Duplicates string `json:"duplicates,omitempty"`
}

// ChunkResult is the accounting of one chunk.
type ChunkResult struct {
	Chunk  int    `json:"chunk"`
	Counts Counts `json:"counts"`
}

// chunkProgress is the heartbeat of ImportChunk: how many batches are done
// and what they counted, so a retried attempt resumes at the next batch.
type chunkProgress struct {
	BatchesDone int    `json:"batches_done"`
	Counts      Counts `json:"counts"`
	// Reading says whether the attempt was reading the chunk from the
	// source, and how many attempts went silent doing so.
	Reading steps.Reading `json:"reading"`
}

// planProgress is the heartbeat of PlanChunks: the chunks found so far in
// this page (descriptors only) and where to continue.
type planProgress struct {
	Page    source.Page   `json:"page"`
	Reading steps.Reading `json:"reading"`
}

// scanProgress is the heartbeat of FindDuplicates: rows scanned so far.
type scanProgress struct {
	Rows    int           `json:"rows"`
	Reading steps.Reading `json:"reading"`
}

// submitProgress is the heartbeat of SubmitJob: the job it submitted, so a
// retried attempt waits for that job instead of submitting another.
// Attempts from before it heartbeat the job ID alone, as a string.
type submitProgress struct {
	JobID   string        `json:"job_id,omitempty"`
	Reading steps.Reading `json:"reading"`
}

// FinalizeInput names the import whose rejects are counted.
type FinalizeInput struct {
	ImportKey string `json:"import_key"`
	// Expected is how many rows the import's chunks rejected, by the
	// counts in history; a store that holds fewer fails the import
	// (failure.StoreNotShared). Nil skips the check (imports started before it).
	Expected *int64 `json:"expected,omitempty"`
}

// FinalizeResult is how many rejects the store holds for the import.
type FinalizeResult struct {
	Count int `json:"count"`
}

// Defaults sized to what vendors are known to accept.
const (
	DefaultBatchSize   = 1000
	DefaultHTTPTimeout = 30 * time.Second
)
