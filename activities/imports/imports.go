// Package imports holds the activities of the import flow
// (workflows.Import): the duplicate scan, planning a source into chunks,
// importing one chunk into a vendor in batches or as a vendor job, the
// incremental state's steps, joining the rejects, and waiting for a paced
// vendor's pacer (through its client, workflows/pacer). The gate's
// activities are the gate's (workflows/gate). It reaches every vendor through the
// registry (activities/vendors), by traits, never by name; no row it reads
// goes into workflow history, only descriptors and counts.
package imports

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"importer/activities/failure"
	"importer/activities/mapping"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/activities/vendors"
	"importer/internal/connections"
	"importer/internal/limits"
	"importer/internal/metrics"
	"importer/internal/steps"
	"importer/internal/store"
	"importer/workflows/pacer"
)

// Activities carries what the activities need from the worker. It holds no
// per-import state: any worker can run any chunk.
type Activities struct {
	Connections connections.Set
	// Store keeps rejects, duplicate scans and incremental state, where
	// every worker of a deployment reads and writes them.
	Store  *store.Store
	Opener *source.Opener
	// HTTP is the client for vendor calls; its timeout bounds one call.
	HTTP *http.Client
	// Heartbeats sends the heartbeat that says an attempt has left its
	// reading at once (leftReading); nil leaves it to the SDK's throttled
	// heartbeats.
	Heartbeats HeartbeatClient
	// Pacer reserves send times for paced vendors (workflows/pacer) and
	// tells it of their 429s; without it, paced vendors fail with a Config
	// failure.
	Pacer *pacer.Client
	// Staging is where compressed sources are decompressed to, once per
	// import, so every worker can range-read the plain copy: a local
	// directory (one host) or an object-storage prefix such as
	// s3://bucket/staging (IMPORTER_STAGING_URL); "" refuses compressed
	// sources with a sentence that says how to set it.
	Staging string
	// DuplicatesDir is the absolute directory where the duplicate scan of
	// an import started before the scan went to the store left its file
	// (<data dir>/duplicates); "" reads no such file.
	DuplicatesDir string
	// Limits are the operator's caps on what an import's input may ask
	// (rows per chunk and per request, chunk descriptors per planning
	// call, job polls); zero fields are limits' defaults. The workflow
	// holds its input within them; the activities check again.
	Limits limits.Limits
	// StagingLimits cap what staging a compressed source may write: the
	// plain copy's size and expansion, and a local staging area's free
	// space (see source.StageLimits); zero fields are their defaults.
	StagingLimits source.StageLimits

	// Loaded duplicates files, by path.
	dupMu    sync.Mutex
	dupFiles map[string]map[int64]int64
}

// New builds Activities with sensible HTTP clients, keeping their records
// in st.
func New(conns connections.Set, st *store.Store) *Activities {
	return NewWithRoots(conns, st, nil)
}

// NewWithRoots is New with the certificate authorities that vendor HTTPS
// and http(s) sources are verified against (internal/vendorca adds a
// sandbox's CA to the system's); nil means the system's roots.
// Certificates are always verified.
func NewWithRoots(conns connections.Set, st *store.Store, roots *x509.CertPool) *Activities {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Chunks run in parallel against one vendor host: keep their
	// connections alive instead of opening one per call.
	transport.MaxIdleConnsPerHost = 64
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &Activities{
		Connections: conns,
		Store:       st,
		Opener:      &source.Opener{HTTP: &http.Client{Transport: transport}},
		// Vendor calls are counted, by vendor and status, in the metrics of
		// the activity that makes them.
		HTTP: &http.Client{Transport: metrics.VendorTransport(transport), Timeout: DefaultHTTPTimeout, CheckRedirect: vendorapi.NoRedirects},
	}
}

// Register registers the activities under their public names.
func (a *Activities) Register(w worker.ActivityRegistry) {
	w.RegisterActivityWithOptions(a.PlanChunks, activity.RegisterOptions{Name: PlanChunksName})
	w.RegisterActivityWithOptions(a.ImportChunk, activity.RegisterOptions{Name: ImportChunkName})
	w.RegisterActivityWithOptions(a.FinalizeRejects, activity.RegisterOptions{Name: FinalizeRejectsName})
	w.RegisterActivityWithOptions(a.SubmitJob, activity.RegisterOptions{Name: SubmitJobName})
	w.RegisterActivityWithOptions(a.WaitJob, activity.RegisterOptions{Name: WaitJobName})
	for name, fn := range map[string]any{
		PrepareStateName:      a.PrepareState,
		DeactivateMissingName: a.DeactivateMissing,
		CommitStateName:       a.CommitState,
		DiscardStateName:      a.DiscardState,
		FindDuplicatesName:    a.FindDuplicates,
		StageSourceName:       a.StageSource,
		DropStagedName:        a.DropStaged,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// planSubPage bounds the work between two heartbeats that record found
// chunks, so a planning attempt that dies loses little.
const planSubPage = 50

// The activity names, as registered on the worker and called by workflows.
//
// PlanChunksName is what PlanChunks is registered as and workflows call.
const PlanChunksName = "PlanChunks"

// PlanChunks returns one page of chunk descriptors. The first page also
// checks that the source can fill the vendor's required fields, so a wrong
// file fails at once rather than row by row.
func (a *Activities) PlanChunks(ctx context.Context, in PlanInput) (source.Page, error) {
	v, err := vendors.Import(in.Vendor)
	if err != nil {
		return source.Page{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, nil)
	}
	if in.ChunkRows <= 0 || in.MaxChunks <= 0 {
		return source.Page{}, temporal.NewNonRetryableApplicationError("chunk rows and page size must be positive", failure.BadInput, nil)
	}
	l := a.Limits.WithDefaults()
	if in.ChunkRows > l.MaxChunkRows || in.MaxChunks > l.MaxPlanPage {
		return source.Page{}, overCap(fmt.Sprintf("planning asks for chunks of %d rows, %d a page", in.ChunkRows, in.MaxChunks),
			fmt.Sprintf("IMPORTER_MAX_CHUNK_ROWS=%d, IMPORTER_MAX_PLAN_PAGE=%d", l.MaxChunkRows, l.MaxPlanPage))
	}
	if in.Stored {
		if err := ownKey(ctx, in.ImportKey); err != nil {
			return source.Page{}, err
		}
		return a.storedPage(ctx, v, in)
	}
	ctx = staged(ctx, in.Source)
	var page source.Page
	var reading steps.Reading
	started := false
	if activity.HasHeartbeatDetails(ctx) {
		var p planProgress
		if err := activity.GetHeartbeatDetails(ctx, &p); err == nil {
			page, reading, started = p.Page, p.Reading, true
		}
	}
	if !started {
		page = source.Page{Next: in.From, NextLine: in.FromLine, NextIndex: in.NextIndex}
	}
	beat := func() { activity.RecordHeartbeat(ctx, planProgress{Page: page, Reading: reading}) }
	if err := startReading(&reading, in.Source, beat); err != nil {
		return source.Page{}, err
	}
	var expect *source.Version
	if in.From > 0 {
		expect = &in.Source.Version
	}
	for !page.Done && len(page.Chunks) < in.MaxChunks {
		n := min(planSubPage, in.MaxChunks-len(page.Chunks))
		sub, err := source.Plan(ctx, a.Opener, source.PlanRequest{
			URI: in.Source.URI, Format: in.Source.Format,
			From: page.Next, FromLine: page.NextLine, NextIndex: page.NextIndex,
			ChunkRows: in.ChunkRows, MaxChunks: n, Expect: expect,
		}, func(offset int64) { beat() })
		if err != nil {
			reading.Inside = false
			a.leftReading(ctx, planProgress{Page: page, Reading: reading})
			return source.Page{}, failure.Classify(err, "") // the source's errors name it
		}
		if expect == nil {
			// Later sub-pages and pages must read the same bytes as the first.
			version := sub.Version
			expect = &version
		}
		chunks := append(page.Chunks, sub.Chunks...)
		page = sub
		page.Chunks = chunks
		beat()
	}
	reading.Inside = false
	a.leftReading(ctx, planProgress{Page: page, Reading: reading})
	if in.Source.Format != source.NDJSON && in.From == 0 {
		msg, err := ColumnsProblem(v.Spec().Name, in.Mapping, page.Header, false)
		if err != nil {
			return source.Page{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, nil)
		}
		if msg != "" {
			return source.Page{}, temporal.NewNonRetryableApplicationError(msg, failure.MissingColumns, nil)
		}
	}
	return page, nil
}

// storedPage is a page of the plan the duplicate scan kept in the store.
func (a *Activities) storedPage(ctx context.Context, v vendorapi.Vendor, in PlanInput) (source.Page, error) {
	stored, done, err := a.Store.PlanPage(ctx, in.ImportKey, in.NextIndex, in.MaxChunks)
	if err != nil {
		return source.Page{}, err
	}
	chunks := make([]source.Chunk, len(stored))
	for i, c := range stored {
		chunks[i] = source.Chunk(c)
	}
	next := in.NextIndex + len(chunks)
	if (done && next != in.Chunks) || (len(chunks) == 0 && next < in.Chunks) {
		return source.Page{}, failure.NotShared(a.Store, fmt.Sprintf("the store holds %d of the %d chunks this import's scan planned", next, in.Chunks))
	}
	page := source.Page{Header: in.Source.Header, DataStart: in.DataStart, Chunks: chunks, NextIndex: next, Done: done, Version: in.Source.Version}
	if n := len(chunks); n > 0 {
		last := chunks[n-1]
		page.Next = last.Offset + last.Length
	}
	if in.Source.Format != source.NDJSON && in.NextIndex == 0 {
		msg, err := ColumnsProblem(v.Spec().Name, in.Mapping, page.Header, false)
		if err != nil {
			return source.Page{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, nil)
		}
		if msg != "" {
			return source.Page{}, temporal.NewNonRetryableApplicationError(msg, failure.MissingColumns, nil)
		}
	}
	return page, nil
}

// ColumnsProblem says, in a sentence, why a CSV with this header cannot
// fill the vendor's required fields under m; "" when it can. It is the one
// check of a list's columns: the starter, the dry run and planning all ask
// it. The columns' names are the file's content: only the starter and a
// dry run, on the machine of the person who runs them, list them (local);
// a worker's sentence, which goes into history, counts them.
func ColumnsProblem(vendorName string, m mapping.Mapping, header []string, local bool) (string, error) {
	missing, err := vendors.MissingColumns(vendorName, m, header)
	if err != nil || len(missing) == 0 {
		return "", err
	}
	if local {
		if hint := source.DelimiterHint(header); hint != "" {
			return hint, nil
		}
		return fmt.Sprintf("the source has no column for the %s fields %s (its columns: %s); add the columns or map them with --mapping",
			vendorName, strings.Join(missing, ", "), strings.Join(header, ", ")), nil
	}
	if hint := source.DelimiterHintUnquoted(header); hint != "" {
		return hint, nil
	}
	// The columns' names are the file's content, which stays out of
	// history: the person's dry run lists them.
	return fmt.Sprintf("the source has no column for the %s fields %s (it has %d columns; `starter import --dry-run` lists them); add the columns or map them with --mapping",
		vendorName, strings.Join(missing, ", "), len(header)), nil
}

// vendorConn looks up a vendor and its connection, and checks that the
// connection has the credentials the vendor needs, so a missing one fails
// before any call with the variable to set.
func (a *Activities) vendorConn(vendorName, connName string) (vendorapi.Vendor, connections.Connection, error) {
	v, err := vendors.Import(vendorName)
	if err != nil {
		return nil, connections.Connection{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, nil)
	}
	conn, err := a.Connections.Get(v.Spec().Name, connName)
	if err != nil {
		return nil, connections.Connection{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadConnection, nil)
	}
	for _, setting := range v.Spec().Credentials {
		if _, err := conn.Require(setting); err != nil {
			return nil, connections.Connection{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.MissingCredentials, nil)
		}
	}
	return v, conn, nil
}

// ImportChunkName is what ImportChunk is registered as and workflows call.
const ImportChunkName = "ImportChunk"

// ImportChunk reads one chunk from the source, maps and validates its rows,
// sends the valid ones to the vendor batch by batch, and writes the rejects.
// It heartbeats after every batch with the counts so far; a retried attempt
// (after a 429, a crash, a timeout) resumes at the first unfinished batch.
// Resending a batch is safe because every vendor call is an upsert.
func (a *Activities) ImportChunk(ctx context.Context, in ChunkInput) (ChunkResult, error) {
	if err := a.checkChunk(ctx, in); err != nil {
		return ChunkResult{}, err
	}
	v, conn, err := a.vendorConn(in.Vendor, in.Connection)
	if err != nil {
		return ChunkResult{}, err
	}
	if v.Spec().Traits.Jobs {
		return ChunkResult{}, temporal.NewNonRetryableApplicationError(v.Spec().Name+" imports run as background jobs, not batches", failure.BadInput, nil)
	}
	batchSize := in.BatchSize
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}

	var prog chunkProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &prog); err != nil {
			prog = chunkProgress{}
		}
	}
	if err := startReading(&prog.Reading, in.Source, func() { activity.RecordHeartbeat(ctx, prog) }); err != nil {
		return ChunkResult{}, err
	}
	hb := steps.StartHeartbeat(ctx, prog)
	defer hb.Stop()

	rows, payloads, err := a.readRows(ctx, v, in)
	prog.Reading.Inside = false
	hb.Set(prog)
	a.leftReading(ctx, prog)
	if err != nil {
		return ChunkResult{}, err
	}
	if err := a.markUnchanged(ctx, in, rows, payloads); err != nil {
		return ChunkResult{}, err
	}
	for b := prog.BatchesDone; b*batchSize < len(rows); b++ {
		batch := rows[b*batchSize : min((b+1)*batchSize, len(rows))]
		label := fmt.Sprintf("%s chunk %d batch %d", activity.GetInfo(ctx).WorkflowExecution.ID, in.Chunk.Index+1, b+1)
		counts, rejected, failed, err := a.sendBatch(ctx, v, payloads, conn, batch, label)
		if err != nil {
			return ChunkResult{}, failure.Classify(fmt.Errorf("chunk %d, lines %d-%d: %w", in.Chunk.Index, batch[0].line, batch[len(batch)-1].line, err), authHint(v, conn))
		}
		if err := a.Store.PutRejects(ctx, in.ImportKey, rejects.PartName(in.Chunk.Index, b), rejects.Stored(rejected)); err != nil {
			return ChunkResult{}, err
		}
		recorded, err := a.recordState(ctx, in, rejects.PartName(in.Chunk.Index, b), batch, failed)
		if err != nil {
			return ChunkResult{}, err
		}
		counts.Recorded = recorded
		prog.BatchesDone = b + 1
		prog.Counts.Add(counts)
		hb.Set(prog)
	}
	if !prog.Counts.Balanced() || prog.Counts.Rows != int64(in.Chunk.Rows) {
		// A bug, not a vendor problem: fail loudly rather than lose a row.
		return ChunkResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("chunk %d accounting does not add up: planned %d rows, counted %+v", in.Chunk.Index, in.Chunk.Rows, prog.Counts),
			failure.AccountingError, nil)
	}
	metrics.Rows(metrics.Activity(ctx), v.Spec().Name, conn.Name, prog.Counts.Accepted, prog.Counts.Rejected, prog.Counts.Unchanged)
	return ChunkResult{Chunk: in.Chunk.Index, Counts: prog.Counts}, nil
}

// checkChunk checks what a chunk's input asks against the worker: its
// records key is the calling import's, its rows and batches are within
// the operator's caps.
func (a *Activities) checkChunk(ctx context.Context, in ChunkInput) error {
	if err := ownKey(ctx, in.ImportKey); err != nil {
		return err
	}
	l := a.Limits.WithDefaults()
	if in.Chunk.Rows > l.MaxChunkRows || in.BatchSize > l.MaxBatchSize {
		return overCap(fmt.Sprintf("chunk %d has %d rows in batches of %d", in.Chunk.Index, in.Chunk.Rows, in.BatchSize),
			fmt.Sprintf("IMPORTER_MAX_CHUNK_ROWS=%d, IMPORTER_MAX_BATCH_SIZE=%d", l.MaxChunkRows, l.MaxBatchSize))
	}
	return nil
}

// overCap is the refusal of input beyond the worker's caps, which the
// workflow should have held it within: a worker whose caps are lower than
// those of the worker that ran the workflow.
func overCap(what, caps string) error {
	return temporal.NewNonRetryableApplicationError(what+", more than this worker allows ("+caps+"): give every worker the same caps", failure.BadInput, nil)
}

// readRows reads, maps and validates a chunk (chunkRows), with the rows the
// duplicate scan found replaced by a later row of the same user rejected.
func (a *Activities) readRows(ctx context.Context, v vendorapi.Vendor, in ChunkInput) ([]row, vendorapi.Rows, error) {
	var superseded func([]int64) (map[int64]int64, error)
	switch {
	case in.DuplicatesStored:
		superseded = func(lines []int64) (map[int64]int64, error) {
			m, err := a.Store.SupersededAmong(ctx, in.ImportKey, lines)
			if errors.Is(err, store.ErrNoScan) {
				return nil, failure.NotShared(a.Store, fmt.Sprintf("the duplicate scan of this import is not in this worker's store (%s)", a.Store.Describe()))
			}
			return m, err
		}
	case in.Duplicates != "":
		// An import started before the scan went to the store.
		m, err := a.supersededLines(in.ImportKey, in.Duplicates)
		if err != nil {
			return nil, nil, err
		}
		superseded = func([]int64) (map[int64]int64, error) { return m, nil }
	}
	rows, payloads, err := chunkRows(staged(ctx, in.Source), a.Opener, v, in.Source, in.Mapping, in.Chunk, superseded)
	if err = notStaged(in.Source, err); err != nil {
		return nil, nil, failure.Classify(fmt.Errorf("chunk %d: %w", in.Chunk.Index, err), "") // the source's errors name it
	}
	if len(rows) != in.Chunk.Rows {
		return nil, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("chunk %d of %s: read %d rows where planning found %d", in.Chunk.Index, source.Redact(in.Source.URI), len(rows), in.Chunk.Rows),
			failure.SourceChanged, nil)
	}
	return rows, payloads, nil
}

// row is one source record on its way to a vendor. Its payload is built by
// the vendor's own rules and kept, in the vendor's type, at slot of the
// chunk's vendorapi.Rows; rows that break the rules are rejected here,
// before anything is sent.
type row struct {
	line   int64
	key    string // the vendor's user id, for rejects and duplicate detection
	slot   int    // the payload's slot; -1 when the row is rejected
	reason string // why the row is rejected, if it is
	// duplicate: rejected because a later row of the same user replaces it.
	duplicate bool
	// Incremental imports only: the hashes of the key and the payload,
	// whether the last successful run delivered the same payload, and
	// whether it delivered this user at all (the vendor has it).
	keyHash, contentHash uint64
	unchanged            bool
	known                bool
}

// target is where this worker's calls to a connection go.
func (a *Activities) target(conn connections.Connection) vendorapi.Target {
	return vendorapi.Target{Conn: conn, HTTP: a.HTTP}
}

// chunkRows reads one chunk and maps and validates every row by the
// vendor's rules, keeping the valid rows' payloads in the vendor's own type.
// It is the one implementation behind an import's chunks and a dry run
// (DryRun), so the two cannot disagree about a row. A row whose
// line superseded names (line → the later line of the same user; nil for
// none) is a duplicate; of the valid rows left, a user id that appears
// twice in the chunk is sent once, with its last row, and the earlier rows
// are rejected.
func chunkRows(ctx context.Context, o *source.Opener, v vendorapi.Vendor, src source.Ref, m mapping.Mapping, c source.Chunk, superseded func(lines []int64) (map[int64]int64, error)) ([]row, vendorapi.Rows, error) {
	rows := make([]row, 0, c.Rows)
	payloads := v.NewRows(c.Rows)
	err := source.ReadChunk(ctx, o, src.URI, src.Format, src.Header, src.Version, c,
		func(rec source.Record) error {
			r := row{line: rec.Line, slot: -1}
			if rec.Err != nil {
				r.reason = rec.Err.Error()
			} else {
				key, slot, err := payloads.Add(m.Apply(rec.Fields))
				r.key, r.slot = key, slot
				if err != nil {
					r.reason = err.Error()
				}
			}
			rows = append(rows, r)
			return nil
		})
	if err != nil {
		return nil, nil, err
	}
	var lines map[int64]int64
	if superseded != nil {
		all := make([]int64, len(rows))
		for i, r := range rows {
			all[i] = r.line
		}
		if lines, err = superseded(all); err != nil {
			return nil, nil, err
		}
	}
	for i := range rows {
		if by, ok := lines[rows[i].line]; ok {
			rows[i].slot = -1
			rows[i].reason = duplicateReason(by)
			rows[i].duplicate = true
		}
	}
	last := make(map[string]int, len(rows))
	for i, r := range rows {
		if r.slot < 0 {
			continue
		}
		if j, dup := last[r.key]; dup {
			rows[j].slot = -1
			rows[j].reason = duplicateReason(r.line)
			rows[j].duplicate = true
		}
		last[r.key] = i
	}
	return rows, payloads, nil
}

func duplicateReason(by int64) string {
	return fmt.Sprintf("duplicate user id: line %d has the same id and replaces this row", by)
}

// sendBatch sends the valid rows of one batch and returns the batch's counts
// and rejects (invalid rows plus the rows the vendor refused).
//
// A paced vendor's request first waits for its reservation at the vendor's
// pacer, and a 429 it gets is reported there, so every worker waits. Every
// request first waits out a Retry-After any worker got from the vendor
// connection (awaitHold), and a 429 is recorded as one (holdOn429).
//
// Rows an incremental import found unchanged are not sent. It returns the
// batch's counts, its rejects, and the users the vendor refused.
func (a *Activities) sendBatch(ctx context.Context, v vendorapi.Vendor, payloads vendorapi.Rows, conn connections.Connection, batch []row, label string) (Counts, []rejects.Reject, map[string]string, error) {
	var slots []int
	var rejected []rejects.Reject
	var known map[string]bool // users the vendor has, by an incremental state
	unchanged := 0
	for _, r := range batch {
		switch {
		case r.unchanged:
			unchanged++
		case r.slot >= 0:
			slots = append(slots, r.slot)
			if r.known {
				if known == nil {
					known = map[string]bool{}
				}
				known[r.key] = true
			}
		}
	}
	var out vendorapi.Outcome
	if len(slots) > 0 {
		paced := v.Spec().Traits.Paced
		var p vendorapi.Pacing
		if paced {
			var err error
			if p, err = v.Pacing(conn); err != nil {
				return Counts{}, nil, nil, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadConnection, nil)
			}
			if err := a.Pacer.Pace(ctx, v.Spec().Name, p.Group, p.Interval, label); err != nil {
				return Counts{}, nil, nil, err
			}
		}
		if err := a.awaitHold(ctx, v.Spec().Name, conn); err != nil {
			return Counts{}, nil, nil, err
		}
		var err error
		if out, err = payloads.Send(ctx, a.target(conn), slots, known); err != nil {
			a.holdOn429(ctx, v.Spec().Name, conn, err)
			if ve, ok := vendorapi.As(err); ok && paced && ve.Status == http.StatusTooManyRequests {
				a.Pacer.Pause(ctx, v.Spec().Name, p.Group, ve.RetryAfter, time.Now())
			}
			return Counts{}, nil, nil, err
		}
		if out.Inserted+out.Updated+len(out.Failed) != len(slots) {
			return Counts{}, nil, nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s answered for %d users of %d sent (%d inserted, %d updated, %d failed)",
					v.Spec().Name, out.Inserted+out.Updated+len(out.Failed), len(slots), out.Inserted, out.Updated, len(out.Failed)),
				failure.AccountingError, nil)
		}
	}
	for _, r := range batch {
		reason := r.reason
		if r.unchanged {
			continue
		}
		if r.slot >= 0 {
			reason = out.Failed[r.key]
			if reason == "" {
				continue
			}
		}
		rejected = append(rejected, rejects.Reject{Line: r.line, UserID: r.key, Vendor: v.Spec().Name, Reason: reason})
	}
	c := Counts{
		Rows:      int64(len(batch)),
		Inserted:  int64(out.Inserted),
		Updated:   int64(out.Updated),
		Accepted:  int64(out.Inserted + out.Updated),
		Rejected:  int64(len(rejected)),
		Unchanged: int64(unchanged),
	}
	return c, rejected, out.Failed, nil
}

// FinalizeRejectsName is what FinalizeRejects is registered as and workflows call.
const FinalizeRejectsName = "FinalizeRejects"

// FinalizeRejects counts the rejects the store holds for an import and,
// when the workflow says how many its chunks rejected, checks that none is
// missing: fewer rows in the store than in history means the workers that
// ran the chunks wrote to stores this worker does not see.
func (a *Activities) FinalizeRejects(ctx context.Context, in FinalizeInput) (FinalizeResult, error) {
	if err := ownKey(ctx, in.ImportKey); err != nil {
		return FinalizeResult{}, err
	}
	n, err := a.Store.CountRejects(ctx, in.ImportKey)
	if err != nil {
		return FinalizeResult{}, err
	}
	if in.Expected != nil && n < *in.Expected {
		return FinalizeResult{}, failure.NotShared(a.Store, fmt.Sprintf("the store holds %d of the %d rows this import rejected", n, *in.Expected))
	}
	return FinalizeResult{Count: int(n)}, nil
}

func authHint(v vendorapi.Vendor, conn connections.Connection) string {
	if conn.Name != connections.Default {
		return fmt.Sprintf("check the credentials of %s connection %q", v.Spec().Name, conn.Name)
	}
	var names []string
	for _, s := range v.Spec().Credentials {
		names = append(names, connections.EnvName(v.Spec().Name, s))
	}
	return fmt.Sprintf("check %s on the worker", strings.Join(names, ", "))
}
