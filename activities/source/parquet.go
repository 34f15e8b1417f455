package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Parquet is a Parquet file: its footer tells the row groups, so planning
// reads only the footer, and a chunk is a run of rows of one row group,
// read with range reads. A chunk's Offset is its first row (0-based, across
// the file), FirstLine that row's number (1-based: rejects name rows by
// it), and Length the share of its row group's compressed bytes, for
// progress.
const Parquet Format = "parquet"

// parquetFile opens a Parquet source's footer through range reads.
func (o *Opener) parquetFile(ctx context.Context, uri string) (*parquet.File, Version, error) {
	f, ra, err := o.openParquet(ctx, uri)
	if err != nil {
		return nil, Version{}, err
	}
	return f, ra.want, nil
}

// rangeReaderAt reads a source at offsets, each read a range read or bytes
// the worker kept from one, and fails with ErrChanged if the source is no
// longer the one opened.
type rangeReaderAt struct {
	ctx     context.Context
	o       *Opener
	uri     string
	want    Version
	err     error // the last transport error, which says more than the parser's
	problem error // a page header that failed its check (pageGuard), which says more too
}

func (r *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := min(int64(len(p)), r.want.Size-off)
	if n <= 0 {
		return 0, io.EOF
	}
	b, err := r.fetch(off, n)
	if err != nil {
		return 0, err
	}
	copy(p, b)
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// readRemote fills p with one range read from off.
func (r *rangeReaderAt) readRemote(p []byte, off int64) (int, error) {
	rc, v, err := r.o.openRange(r.ctx, r.uri, off, int64(len(p)))
	if err != nil {
		r.err = err
		return 0, err
	}
	defer rc.Close()
	if !r.want.matches(v) {
		r.err = changed(r.uri, r.want, v)
		return 0, r.err
	}
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, err
}

// parquetColumns are a file's leaf columns as dotted names, as NDJSON's
// nested objects are named.
func parquetColumns(f *parquet.File) []string {
	var names []string
	for _, path := range f.Schema().Columns() {
		names = append(names, strings.Join(path, "."))
	}
	return names
}

// planParquet is Plan for a Parquet file, from its footer: From is the
// first row of the page.
func planParquet(ctx context.Context, o *Opener, req PlanRequest) (Page, error) {
	f, v, err := o.parquetFile(ctx, req.URI)
	if err != nil {
		return Page{}, err
	}
	if req.Expect != nil && !req.Expect.matches(v) {
		return Page{}, changed(req.URI, *req.Expect, v)
	}
	page := Page{Header: parquetColumns(f), Version: v, NextIndex: req.NextIndex, Next: req.From}
	groups := f.Metadata().RowGroups
	budget := o.limits().MaxChunkBytes
	var start int64
	for i, rg := range f.RowGroups() {
		n := rg.NumRows()
		step := groupChunkRows(&groups[i], req.ChunkRows, budget)
		for first := start; first < start+n; first += step {
			rows := min(step, start+n-first)
			if first < req.From {
				continue
			}
			if len(page.Chunks) == req.MaxChunks {
				return page, nil
			}
			length := int64(0)
			if n > 0 {
				length = int64(float64(max(groups[i].TotalCompressedSize, 0)) * float64(rows) / float64(n))
			}
			page.Chunks = append(page.Chunks, Chunk{Index: page.NextIndex, Offset: first, Length: length, Rows: int(rows), FirstLine: first + 1})
			page.NextIndex++
			page.Next = first + rows
		}
		start += n
	}
	page.Done = true
	return page, nil
}

// groupChunkRows is how many rows a chunk of row group rg holds: chunkRows,
// or fewer when that many would be more than budget bytes, counted as the
// row group's uncompressed bytes (its compressed ones if it does not say)
// shared among its rows. A chunk holds one row at least.
func groupChunkRows(rg *format.RowGroup, chunkRows int, budget int64) int64 {
	size := rg.TotalByteSize
	if size <= 0 {
		size = rg.TotalCompressedSize
	}
	if rg.NumRows <= 0 || size <= 0 {
		return int64(chunkRows)
	}
	perRow := size / rg.NumRows
	if size%rg.NumRows != 0 {
		perRow++
	}
	return max(1, min(int64(chunkRows), budget/perRow))
}

// readParquet reads the rows of one Parquet chunk as objects, like NDJSON
// objects: nested groups as nested maps, numbers as json.Number, byte
// arrays as text. A row that cannot be decoded comes with an error.
func readParquet(ctx context.Context, o *Opener, uri string, version Version, c Chunk, fn func(line int64, obj map[string]any, err error) error) error {
	f, ra, err := o.openPlanned(ctx, uri, version)
	if err != nil {
		return err
	}
	return readParquetRows(ctx, f, ra, uri, c, fn)
}

// readParquetRows is readParquet on a file already opened.
func readParquetRows(ctx context.Context, f *parquet.File, ra *rangeReaderAt, uri string, c Chunk, fn func(line int64, obj map[string]any, err error) error) error {
	buf := make([]parquet.Row, 128)
	return eachGroupRun(f, uri, c, func(g int, from, count int64) error {
		line := groupStart(f, g) + from // the line before the run's first
		return readRowGroup(ctx, f, ra, g, from, count, buf, func(obj map[string]any, err error) error {
			line++
			return fn(line, obj, err)
		})
	})
}

// openPlanned opens a Parquet source's footer, and fails with ErrChanged
// if the source is not the planned version.
func (o *Opener) openPlanned(ctx context.Context, uri string, version Version) (*parquet.File, *rangeReaderAt, error) {
	f, ra, err := o.openParquet(ctx, uri)
	if err != nil {
		return nil, nil, err
	}
	if !version.matches(ra.want) {
		return nil, nil, changed(uri, version, ra.want)
	}
	return f, ra, nil
}

// groupStart is the first row of row group g, counted across the file.
func groupStart(f *parquet.File, g int) int64 {
	var start int64
	for _, rg := range f.RowGroups()[:g] {
		start += rg.NumRows()
	}
	return start
}

// eachGroupRun calls read for each run of a chunk's rows within one row
// group, in order: the group, the run's first row in it, and its rows. A
// file with fewer rows than the chunk planned has changed.
func eachGroupRun(f *parquet.File, uri string, c Chunk, read func(g int, from, count int64) error) error {
	row, remaining := c.Offset, int64(c.Rows)
	var start int64
	for g, rg := range f.RowGroups() {
		n := rg.NumRows()
		if remaining == 0 {
			break
		}
		if row < start+n {
			from, count := row-start, min(remaining, start+n-row)
			if err := read(g, from, count); err != nil {
				return fmt.Errorf("read chunk %d of %s: %w", c.Index, Redact(uri), err)
			}
			row, remaining = row+count, remaining-count
		}
		start += n
	}
	if remaining > 0 {
		return permErr(ErrChanged, "source %s: %d rows short of the %d planned for chunk %d: %v", Redact(uri), remaining, c.Rows, c.Index, ErrChanged)
	}
	return nil
}

// readRowGroup reads count rows of row group g from its row from, reading
// only the pages that hold them.
func readRowGroup(ctx context.Context, f *parquet.File, ra *rangeReaderAt, g int, from, count int64, buf []parquet.Row, fn func(map[string]any, error) error) (err error) {
	defer libraryPanic(ra, &err)
	rg, err := chunkGroup(f, ra, g, from, from+count)
	if err != nil {
		return err
	}
	rows := rg.Rows()
	defer rows.Close()
	if err := rows.SeekToRow(from); err != nil {
		return ra.saying(err)
	}
	for count > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, err := rows.ReadRows(buf[:min(int64(len(buf)), count)])
		for i := 0; i < k; i++ {
			obj, derr := decodeParquetRow(f.Schema(), buf[i])
			if ferr := fn(obj, derr); ferr != nil {
				return ferr
			}
		}
		count -= int64(k)
		if errors.Is(err, io.EOF) {
			if count > 0 {
				return permErr(nil, "the Parquet file %s is malformed: row group %d ends %d rows before the ones its footer declares", Redact(ra.uri), g, count)
			}
			break
		}
		if err != nil {
			return ra.saying(err)
		}
	}
	return nil
}

// libraryPanic turns a panic of the Parquet library, reading pages a
// file's headers describe in ways the checks did not foresee, into the
// error of a malformed file, so that it fails the read instead of the
// worker.
func libraryPanic(ra *rangeReaderAt, err *error) {
	if p := recover(); p != nil {
		*err = permErr(nil, "the Parquet file %s is malformed: its pages cannot be decoded (%v)", Redact(ra.uri), p)
	}
}

// saying is the error to say for err, from reading pages through ra: a
// page header that failed its check, or a transport error, rather than
// what the library made of either.
func (ra *rangeReaderAt) saying(err error) error {
	switch {
	case ra.problem != nil:
		return ra.problem
	case ra.err != nil:
		return ra.err
	}
	return err
}

// decodeParquetRow turns a row into an object as NDJSON would give it.
func decodeParquetRow(s *parquet.Schema, row parquet.Row) (obj map[string]any, err error) {
	defer func() {
		if p := recover(); p != nil {
			obj, err = nil, fmt.Errorf("row cannot be decoded: %v", p)
		}
	}()
	obj = map[string]any{}
	if err := s.Reconstruct(&obj, row); err != nil {
		return nil, fmt.Errorf("row cannot be decoded: %v", err)
	}
	return normalize(obj).(map[string]any), nil
}

// normalize makes a decoded value look like the same value decoded from
// JSON with UseNumber: numbers become json.Number, byte arrays text.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case []byte:
		return string(x)
	case int32:
		return json.Number(strconv.FormatInt(int64(x), 10))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case int:
		return json.Number(strconv.Itoa(x))
	case uint32:
		return json.Number(strconv.FormatUint(uint64(x), 10))
	case uint64:
		return json.Number(strconv.FormatUint(x, 10))
	case float32:
		return json.Number(strconv.FormatFloat(float64(x), 'f', -1, 32))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64))
	}
	return v
}
