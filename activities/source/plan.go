package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// Chunk is a run of records: the unit one activity reads and sends.
type Chunk struct {
	Index     int   `json:"index"`      // 0-based, across the whole source
	Offset    int64 `json:"offset"`     // first byte of the first record
	Length    int64 `json:"length"`     // bytes, through the last record's line ending
	Rows      int   `json:"rows"`       // records; blank lines are not records
	FirstLine int64 `json:"first_line"` // 1-based physical line of the first record
}

// PlanRequest asks for one page of chunks.
type PlanRequest struct {
	URI       string
	Format    Format
	From      int64    // 0 = start; otherwise Page.Next of the page before
	FromLine  int64    // Page.NextLine matching From
	NextIndex int      // index of this page's first chunk
	ChunkRows int      // records per chunk
	MaxChunks int      // chunks in this page at most
	Expect    *Version // pages after the first: fail with ErrChanged if the source differs
}

// Page is one page of a plan.
type Page struct {
	Header    []string `json:"header,omitempty"` // CSV column names
	DataStart int64    `json:"data_start"`       // first byte after the header
	Chunks    []Chunk  `json:"chunks"`
	Next      int64    `json:"next"`
	NextLine  int64    `json:"next_line"`
	NextIndex int      `json:"next_index"`
	Done      bool     `json:"done"`
	Version   Version  `json:"version"`
}

// chunkFull says whether a chunk being planned ends with the record just
// added to it: it has the rows asked for, or has reached the byte budget
// (Limits.MaxChunkBytes). Plan and ReadColumnsAndPlan cut chunks alike.
func chunkFull(c *Chunk, chunkRows int, budget int64) bool {
	return c.Rows >= chunkRows || c.Length >= budget
}

// progressEvery is how many bytes pass between progress callbacks.
const progressEvery = 8 << 20

// Plan scans from req.From and returns up to MaxChunks chunks.
func Plan(ctx context.Context, o *Opener, req PlanRequest, progress func(offset int64)) (Page, error) {
	if req.ChunkRows <= 0 || req.MaxChunks <= 0 {
		return Page{}, permErr(nil, "plan: chunk rows and page size must be positive")
	}
	if req.Format == Parquet {
		page, err := planParquet(ctx, o, req)
		if err == nil && progress != nil {
			progress(page.Next)
		}
		return page, err
	}
	if req.Format != CSV && req.Format != NDJSON {
		return Page{}, permErr(nil, "plan: unknown format %q", req.Format)
	}
	var page Page
	from, line := req.From, req.FromLine
	if req.Format == CSV {
		header, dataStart, v, err := readHeader(ctx, o, req.URI)
		if err != nil {
			return Page{}, err
		}
		page.Header, page.DataStart, page.Version = header, dataStart, v
		if from == 0 {
			from, line = dataStart, 2
		}
	}
	if from == 0 {
		line = 1
	}
	if line <= 0 {
		line = 1
	}
	rc, v, err := o.openFrom(ctx, req.URI, from)
	if err != nil {
		return Page{}, err
	}
	defer rc.Close()
	if req.Format == CSV && !page.Version.matches(v) {
		return Page{}, permErr(ErrChanged, "source %s changed while it was being planned: %v", Redact(req.URI), ErrChanged)
	}
	page.Version = v
	if req.Expect != nil && !req.Expect.matches(v) {
		return Page{}, changed(req.URI, *req.Expect, v)
	}
	var r io.Reader = rc
	if from == 0 {
		// NDJSON from the start: skip a BOM, as the CSV header read does.
		var skipped int64
		if r, skipped, err = skipBOM(rc); err != nil {
			return Page{}, fmt.Errorf("read %s: %w", Redact(req.URI), scrub(err, req.URI))
		}
		from = skipped
	}
	s := newScanner(r, req.Format, from, line, false)
	page.NextIndex = req.NextIndex
	budget := o.limits().MaxChunkBytes
	var cur *Chunk
	lastReport := from
	for {
		if err := ctx.Err(); err != nil {
			return Page{}, err
		}
		rec, err := s.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Page{}, fmt.Errorf("read %s at byte %d: %w", Redact(req.URI), s.offset, scrub(err, req.URI))
		}
		if cur == nil {
			page.Chunks = append(page.Chunks, Chunk{Index: page.NextIndex, Offset: rec.offset, FirstLine: rec.line})
			page.NextIndex++
			cur = &page.Chunks[len(page.Chunks)-1]
		}
		cur.Rows++
		cur.Length = rec.end - cur.Offset
		page.Next, page.NextLine = rec.end, s.line
		if chunkFull(cur, req.ChunkRows, budget) {
			cur = nil
			if len(page.Chunks) == req.MaxChunks {
				// A page that ends the file says so: the next page would
				// start at its end, which an http or object storage source
				// cannot be asked for (416).
				page.Done = s.atEOF()
				if progress != nil {
					progress(page.Next)
				}
				return page, nil
			}
		}
		if progress != nil && s.offset-lastReport >= progressEvery {
			lastReport = s.offset
			progress(s.offset)
		}
	}
	page.Done = true
	page.Next, page.NextLine = s.offset, s.line
	if progress != nil {
		progress(page.Next)
	}
	return page, nil
}

// headerRead is how many bytes readHeader asks for at first: a header is
// rarely longer, and asking for the whole source would have the server
// send much of it for nothing.
const headerRead = 8 << 10

// readHeader reads a CSV's header record from the start of the source,
// asking for a range that grows (8 KiB, 64 KiB, 512 KiB, then up to the
// header cap) until it holds the whole header: a header is read whole, or
// refused as longer than the cap, never cut where a range ends.
func readHeader(ctx context.Context, o *Opener, uri string) ([]string, int64, Version, error) {
	l := o.limits()
	most := int64(l.MaxHeaderBytes) + 8 // a BOM and a line ending besides
	for limit := min(headerRead, most); ; limit = min(limit*8, most) {
		rec, v, whole, err := readHeaderWithin(ctx, o, uri, limit)
		if err != nil {
			return nil, 0, v, err
		}
		if rec.tooLong || len(rec.raw) > l.MaxHeaderBytes || limit == most && rec.end == limit && !whole {
			return nil, 0, v, permErr(nil, "the header row of %s is longer than %d bytes (IMPORTER_MAX_HEADER_BYTES)", Redact(uri), l.MaxHeaderBytes)
		}
		// A record that ends where the range does may go on past it.
		if rec.end < limit || whole {
			fields, err := parseHeader(uri, rec.raw, l)
			return fields, rec.end, v, err
		}
	}
}

// readHeaderWithin reads the first record of the first limit bytes of a
// source; whole says they are all of it.
func readHeaderWithin(ctx context.Context, o *Opener, uri string, limit int64) (rec record, v Version, whole bool, err error) {
	rc, v, err := o.openRange(ctx, uri, 0, limit)
	if errors.Is(err, ErrChanged) || errors.Is(err, ErrRangeUnsupported) {
		// An empty source has no range to give, and a server without
		// Range support still has a header to read.
		rc, v, err = o.openFrom(ctx, uri, 0)
		whole = true
	}
	if err != nil {
		return record{}, Version{}, false, err
	}
	defer rc.Close()
	whole = whole || v.Size >= 0 && v.Size <= limit
	r, skipped, err := skipBOM(rc)
	if err != nil {
		return record{}, v, false, fmt.Errorf("read the header of %s: %w", Redact(uri), scrub(err, uri))
	}
	s := newScanner(r, CSV, skipped, 1, true)
	rec, err = s.next()
	if errors.Is(err, io.EOF) {
		return record{}, v, false, permErr(nil, "source %s is empty: a CSV needs a header row", Redact(uri))
	}
	if err != nil {
		return record{}, v, false, fmt.Errorf("read the header of %s: %w", Redact(uri), scrub(err, uri))
	}
	return rec, v, whole, nil
}

// parseHeader splits a header record into column names, and checks them:
// no more than the cap, each named, no name twice. Its sentences name
// columns by position: a name is the file's content.
func parseHeader(uri string, raw []byte, l Limits) ([]string, error) {
	n, err := walkCSV(raw, func(int) bool { return false }, nil) // counts, copying nothing
	if err != nil {
		return nil, permErr(nil, "source %s: header row: %v", Redact(uri), err)
	}
	if n > l.MaxColumns {
		return nil, permErr(nil, "the header of %s has %d columns, more than the %d an import reads (IMPORTER_MAX_COLUMNS)", Redact(uri), n, l.MaxColumns)
	}
	fields, _ := splitCSV(raw, make([]string, 0, n))
	seen := make(map[string]int, n)
	for i, f := range fields {
		if f == "" {
			return nil, permErr(nil, "source %s: header column %d has no name", Redact(uri), i+1)
		}
		if j, dup := seen[f]; dup {
			return nil, permErr(nil, "source %s: header columns %d and %d have the same name", Redact(uri), j+1, i+1)
		}
		seen[f] = i
	}
	return fields, nil
}

// skipBOM drops a UTF-8 byte order mark at the start of r and says how many
// bytes it dropped, so that offsets stay true to the file.
func skipBOM(r io.Reader) (io.Reader, int64, error) {
	head := make([]byte, 3)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	if n == 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF {
		return r, 3, nil
	}
	return io.MultiReader(bytes.NewReader(head[:n]), r), 0, nil
}

// Whole describes a source's data as one chunk, from the end of the CSV
// header (or an NDJSON file's BOM) to the end of the source, reading no
// further than the header: a pass over the whole list (the duplicate scan,
// with ReadColumns) then reads the data once. The chunk's Rows is unknown
// (0); such a pass counts them.
func Whole(ctx context.Context, o *Opener, uri string, format Format) (Page, error) {
	var p Page
	switch format {
	case CSV:
		header, dataStart, v, err := readHeader(ctx, o, uri)
		if err != nil {
			return Page{}, err
		}
		p = Page{Header: header, DataStart: dataStart, Version: v}
	case Parquet:
		// The footer says it all: one chunk of every row.
		f, v, err := o.parquetFile(ctx, uri)
		if err != nil {
			return Page{}, err
		}
		n := groupStart(f, len(f.RowGroups())) // the rows of its row groups, which the chunk reads
		p = Page{Header: parquetColumns(f), Version: v, Done: true, Next: n}
		if n > 0 {
			p.Chunks = []Chunk{{Offset: 0, Length: v.Size, Rows: int(n), FirstLine: 1}}
		}
		return p, nil
	case NDJSON:
		rc, v, err := o.openRange(ctx, uri, 0, 3)
		if errors.Is(err, ErrChanged) || errors.Is(err, ErrRangeUnsupported) {
			rc, v, err = o.openFrom(ctx, uri, 0) // empty, or no Range support
		}
		if err != nil {
			return Page{}, err
		}
		_, skipped, err := skipBOM(rc)
		rc.Close()
		if err != nil {
			return Page{}, fmt.Errorf("read %s: %w", Redact(uri), scrub(err, uri))
		}
		p = Page{DataStart: skipped, Version: v}
	default:
		return Page{}, permErr(nil, "plan: unknown format %q", format)
	}
	if p.Version.Size < 0 {
		// An answer without a length: ask for it.
		v, err := o.Stat(ctx, uri)
		if err != nil {
			return Page{}, err
		}
		if !p.Version.matches(Version{Size: p.Version.Size, ETag: v.ETag, LastModified: v.LastModified}) || v.Size < 0 {
			return Page{}, permErr(ErrRangeUnsupported, "source %s gives no length: %v", Redact(uri), ErrRangeUnsupported)
		}
		p.Version.Size = v.Size
	}
	first := int64(1)
	if format == CSV {
		first = 2
	}
	if p.Version.Size > p.DataStart {
		p.Chunks = []Chunk{{Offset: p.DataStart, Length: p.Version.Size - p.DataStart, FirstLine: first}}
	}
	p.Done, p.Next = true, p.Version.Size
	return p, nil
}
