package imports

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/mapping"
	"importer/activities/source"
	"importer/activities/state"
	"importer/activities/vendorapi"
	"importer/activities/vendors"
	"importer/internal/fsname"
	"importer/internal/store"
)

// FindDuplicatesName scans a list for user ids that appear more than once.
// Chunks run in parallel, so without it two rows of one user in two chunks
// would race to the vendor and either could win; with it the last row wins
// and the earlier ones are rejects that name the line that replaced them.
const FindDuplicatesName = "FindDuplicates"

// DuplicatesInput names the list to scan.
type DuplicatesInput struct {
	ImportKey string          `json:"import_key"`
	Vendor    string          `json:"vendor"`
	Source    source.Ref      `json:"source"`
	Mapping   mapping.Mapping `json:"mapping"`
	// ChunkRows, when set, makes the scan plan the list too, in the same
	// pass, into chunks of that many rows kept in the store, so planning
	// need not read the list again (Duplicates.Planned).
	ChunkRows int `json:"chunk_rows,omitempty"`
}

// Duplicates is what the scan found: how many rows a later row of the same
// user replaces (listed in the store, where the chunks look them up), and
// the version of the bytes scanned.
type Duplicates struct {
	Rows       int64 `json:"rows"`
	Superseded int   `json:"superseded"`
	// File listed the rows of an import scanned before the store existed;
	// empty now.
	File    string         `json:"file,omitempty"`
	Version source.Version `json:"version"`
	// Planned describes the plan the scan kept in the store, when asked
	// for one (DuplicatesInput.ChunkRows).
	Planned *Planned `json:"planned,omitempty"`
}

// Planned is a plan the scan kept in the store: how many chunks, and what
// planning's first page would have said of the list.
type Planned struct {
	Chunks    int      `json:"chunks"`
	Header    []string `json:"header,omitempty"`
	DataStart int64    `json:"data_start"`
}

// FindDuplicates reads only the key columns of the whole list and lists
// every row whose user appears again further down. The key is what the
// vendor's own row builder makes of those columns, so the scan and the
// import always agree on who a row is.
func (a *Activities) FindDuplicates(ctx context.Context, in DuplicatesInput) (Duplicates, error) {
	if err := ownKey(ctx, in.ImportKey); err != nil {
		return Duplicates{}, err
	}
	if l := a.Limits.WithDefaults(); in.ChunkRows > l.MaxChunkRows {
		return Duplicates{}, overCap(fmt.Sprintf("the scan asks for chunks of %d rows", in.ChunkRows), fmt.Sprintf("IMPORTER_MAX_CHUNK_ROWS=%d", l.MaxChunkRows))
	}
	ctx = staged(ctx, in.Source)
	v, err := vendors.Import(in.Vendor)
	if err != nil {
		return Duplicates{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, nil)
	}
	var prog scanProgress
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &prog) // an older attempt's is a count alone
	}
	if err := startReading(&prog.Reading, in.Source, func() { activity.RecordHeartbeat(ctx, prog) }); err != nil {
		return Duplicates{}, err
	}
	scan, err := scanDuplicates(ctx, a.Opener, v, in.Source, in.Mapping, in.ChunkRows, func(progress any) {
		if n, ok := progress.(int); ok {
			prog.Rows = n
		}
		activity.RecordHeartbeat(ctx, prog)
	})
	prog.Reading.Inside = false
	a.leftReading(ctx, prog)
	if err = notStaged(in.Source, err); err != nil {
		return Duplicates{}, failure.Classify(err, "")
	}
	lines := make([]store.Superseded, len(scan.lines))
	for i, l := range scan.lines {
		lines[i] = store.Superseded{Line: l.line, By: l.by}
	}
	// Recorded even when empty, so a chunk on a worker with another store
	// finds no scan and says so.
	if err := a.Store.PutDuplicates(ctx, in.ImportKey, lines); err != nil {
		return Duplicates{}, err
	}
	out := Duplicates{Rows: scan.rows, Superseded: len(lines), Version: scan.version}
	if in.ChunkRows > 0 {
		if err := a.Store.PutPlan(ctx, in.ImportKey, planned(scan.chunks)); err != nil {
			return Duplicates{}, err
		}
		out.Planned = &Planned{Chunks: len(scan.chunks), Header: scan.header, DataStart: scan.dataStart}
	}
	return out, nil
}

// supersededLine is a row that a later row of the same user replaces.
type supersededLine struct{ line, by int64 }

// duplicateScan is what a scan of a list's key columns found: the rows
// read, the rows a later row of the same user replaces (in line order),
// and the version of the bytes scanned.
type duplicateScan struct {
	rows    int64
	lines   []supersededLine
	version source.Version
	// When the scan plans too: the chunks, the CSV header and where the
	// data starts.
	chunks    []source.Chunk
	header    []string
	dataStart int64
}

// scanDuplicates is the duplicate scan of an import (FindDuplicates) and of
// a dry run. beat, if not nil, is called now and then with the progress, for
// a heartbeat.
// With chunkRows > 0 the same pass plans the list into chunks of that
// many rows.
func scanDuplicates(ctx context.Context, o *source.Opener, v vendorapi.Vendor, src source.Ref, m mapping.Mapping, chunkRows int, beat func(progress any)) (duplicateScan, error) {
	if beat == nil {
		beat = func(any) {}
	}
	// One pass over the data: the header tells where it starts, and the
	// pass counts the rows.
	page, err := source.Whole(ctx, o, src.URI, src.Format)
	if err != nil {
		return duplicateScan{}, err // the source's errors name it
	}
	out := duplicateScan{version: page.Version, header: page.Header, dataStart: page.DataStart}
	if len(page.Chunks) == 0 {
		return out, nil
	}
	fields := v.Spec().KeyFields
	columns := make([]string, len(fields))
	constants := make([]string, len(fields))
	for i, f := range fields {
		columns[i] = f
		if mapped, ok := m.Fields[f]; ok {
			columns[i] = mapped
		}
		// As mapping.Apply: a constant stands in for a blank cell.
		constants[i] = m.Constants[f]
	}
	type seen struct {
		key  uint64
		line int64
	}
	// The rows' keys go into buckets by their hash's top byte: each bucket
	// grows and is sorted on its own (a user's rows share one), so a 10M-row
	// list never copies one 160 MB slice into a larger one.
	var buckets [256][]seen
	// The rows a Parquet footer declares, which a tiny hostile file can set
	// to 2^62: the buckets are sized ahead for at most a million.
	if rows := min(page.Chunks[0].Rows, 1<<20); rows > 0 {
		for i := range buckets {
			buckets[i] = make([]seen, 0, rows/len(buckets)+rows/len(buckets)/8+16)
		}
	}
	n := 0
	each := func(line int64, values []string, ok bool) error {
		if n++; n%100000 == 0 {
			beat(n)
		}
		if !ok {
			return nil // an unreadable row: the import rejects it
		}
		for i, c := range constants {
			if c != "" && strings.TrimSpace(values[i]) == "" {
				values[i] = c
			}
		}
		if key := v.KeyOf(values); key != "" {
			h := state.KeyHash(key)
			buckets[h>>56] = append(buckets[h>>56], seen{key: h, line: line})
		}
		return nil
	}
	if chunkRows > 0 {
		out.chunks, err = source.ReadColumnsAndPlan(ctx, o, src.URI, src.Format, page.Header, page.Version, page.Chunks[0], columns, chunkRows, each)
	} else {
		err = source.ReadColumns(ctx, o, src.URI, src.Format, page.Header, page.Version, page.Chunks[0], columns, each)
	}
	if err != nil {
		return duplicateScan{}, err // the source's errors name it
	}
	out.rows = int64(n)
	for b := range buckets {
		rows := buckets[b]
		buckets[b] = nil
		slices.SortFunc(rows, func(a, b seen) int {
			if c := cmp.Compare(a.key, b.key); c != 0 {
				return c
			}
			return cmp.Compare(a.line, b.line)
		})
		for i := 0; i < len(rows); {
			j := i
			for j+1 < len(rows) && rows[j+1].key == rows[i].key {
				j++
			}
			for k := i; k < j; k++ {
				out.lines = append(out.lines, supersededLine{line: rows[k].line, by: rows[j].line})
			}
			i = j + 1
		}
	}
	sort.Slice(out.lines, func(i, j int) bool { return out.lines[i].line < out.lines[j].line })
	return out, nil
}

// maxDuplicateFiles bounds the duplicates files a worker keeps loaded.
const maxDuplicateFiles = 32

// supersededLines loads the duplicates file of an import scanned before
// the scan went to the store: superseded line → the line that replaces it.
// Each worker loads a file once; it never changes. The file is the one a
// worker wrote for that import in its own data directory
// (a.DuplicatesDir/<key>.txt): the path comes with the activity's input,
// so any other path, or any path on a worker that keeps no such files, is
// refused.
func (a *Activities) supersededLines(key, path string) (map[int64]int64, error) {
	if a.DuplicatesDir == "" || !filepath.IsAbs(a.DuplicatesDir) || path != filepath.Join(a.DuplicatesDir, fsname.Safe(key)+".txt") {
		return nil, temporal.NewNonRetryableApplicationError("the duplicates file this chunk names is not its import's", failure.BadState, nil)
	}
	a.dupMu.Lock()
	defer a.dupMu.Unlock()
	if m, ok := a.dupFiles[path]; ok {
		return m, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read duplicates: %w", err)
	}
	defer f.Close()
	m := map[int64]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a, b, ok := strings.Cut(sc.Text(), " ")
		line, err1 := strconv.ParseInt(a, 10, 64)
		by, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, temporal.NewNonRetryableApplicationError("the duplicates file "+path+" is corrupt", failure.BadState, nil)
		}
		m[line] = by
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read duplicates: %w", err)
	}
	if a.dupFiles == nil || len(a.dupFiles) >= maxDuplicateFiles {
		// Imports come and go; a worker keeps only its recent ones.
		a.dupFiles = map[string]map[int64]int64{}
	}
	a.dupFiles[path] = m
	return m, nil
}

// planned is chunks as the store keeps them.
func planned(chunks []source.Chunk) []store.PlannedChunk {
	out := make([]store.PlannedChunk, len(chunks))
	for i, c := range chunks {
		out[i] = store.PlannedChunk(c)
	}
	return out
}
