package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Record is one row of a chunk.
type Record struct {
	Line   int64          // 1-based physical line where the record starts
	Fields map[string]any // CSV: column → string; NDJSON: the decoded object
	Err    error          // the row could not be parsed; it is a reject
}

// ReadChunk reads exactly one chunk and calls fn for each record, in order.
func ReadChunk(ctx context.Context, o *Opener, uri string, format Format, header []string, version Version, c Chunk, fn func(Record) error) error {
	if format == CSV && len(header) == 0 {
		return permErr(nil, "read chunk %d of %s: no header was planned", c.Index, Redact(uri))
	}
	if format == Parquet {
		return readParquet(ctx, o, uri, version, c, func(line int64, obj map[string]any, err error) error {
			return fn(Record{Line: line, Fields: obj, Err: err})
		})
	}
	l := o.limits()
	fields := make([]string, len(header))
	return eachRecord(ctx, o, uri, format, version, c, func(rec record) error {
		out := Record{Line: rec.line}
		if out.Err = recordProblem(rec); out.Err != nil {
			return fn(out)
		}
		if format != CSV {
			var err error
			if out.Fields, out.Err, err = readObject(uri, rec, l); err != nil {
				return err
			}
			return fn(out)
		}
		// The fields past the header's are counted, not copied: a record
		// of a million commas is one reject, not a million strings.
		n, err := walkCSV(rec.raw, func(i int) bool { return i < len(fields) }, func(i int, f string) { fields[i] = f })
		switch {
		case err != nil:
			out.Err = err
		case n != len(header):
			out.Err = fmt.Errorf("row has %d fields, header has %d", n, len(header))
		default:
			m := make(map[string]any, len(header))
			for i, h := range header {
				m[h] = fields[i]
			}
			out.Fields = m
		}
		return fn(out)
	})
}

// ReadColumns reads one chunk like ReadChunk, but yields only the given
// columns of each record, as text, in the order asked: for CSV the cells of
// those header columns (the others are skipped, not copied), for NDJSON the
// values at those dotted paths of the decoded object ("user.email" is
// {"user":{"email":…}}; a number or a boolean as its JSON text, an object or
// a list as ""). A column a record lacks is "". ok is false for a record
// ReadChunk would yield with an error. values is reused from one record to
// the next. A scan of a whole list for its key column stays cheap.
func ReadColumns(ctx context.Context, o *Opener, uri string, format Format, header []string, version Version, c Chunk, columns []string, fn func(line int64, values []string, ok bool) error) error {
	return readColumns(ctx, o, uri, format, header, version, c, columns, nil, fn)
}

// ReadColumnsAndPlan is ReadColumns over a Whole chunk that, in the same
// pass, plans the list into chunks of chunkRows records each, exactly as
// Plan's pages would: the duplicate scan and planning share one read.
func ReadColumnsAndPlan(ctx context.Context, o *Opener, uri string, format Format, header []string, version Version, c Chunk, columns []string, chunkRows int, fn func(line int64, values []string, ok bool) error) ([]Chunk, error) {
	if chunkRows <= 0 {
		return nil, permErr(nil, "plan: chunk rows must be positive")
	}
	if format == Parquet {
		// The footer plans a Parquet file; only the columns are read.
		var chunks []Chunk
		for page := (Page{}); !page.Done; {
			next, err := planParquet(ctx, o, PlanRequest{URI: uri, Format: Parquet, From: page.Next, NextIndex: page.NextIndex, ChunkRows: chunkRows, MaxChunks: 1 << 20, Expect: &version})
			if err != nil {
				return nil, err
			}
			page = next
			chunks = append(chunks, page.Chunks...)
		}
		return chunks, readColumns(ctx, o, uri, format, header, version, c, columns, nil, fn)
	}
	var chunks []Chunk
	open := false
	budget := o.limits().MaxChunkBytes
	err := readColumns(ctx, o, uri, format, header, version, c, columns, func(rec record) {
		if !open {
			chunks = append(chunks, Chunk{Index: len(chunks), Offset: rec.offset, FirstLine: rec.line})
			open = true
		}
		cur := &chunks[len(chunks)-1]
		cur.Rows++
		cur.Length = rec.end - cur.Offset
		if chunkFull(cur, chunkRows, budget) {
			open = false
		}
	}, fn)
	return chunks, err
}

func readColumns(ctx context.Context, o *Opener, uri string, format Format, header []string, version Version, c Chunk, columns []string, each func(record), fn func(line int64, values []string, ok bool) error) error {
	if format == Parquet {
		return readParquetKeys(ctx, o, uri, version, c, columns, fn)
	}
	l := o.limits()
	values := make([]string, len(columns))
	var wanted [][]int // CSV: header index → positions in columns
	if format == CSV {
		if len(header) == 0 {
			return permErr(nil, "read chunk %d of %s: no header was planned", c.Index, Redact(uri))
		}
		wanted = make([][]int, len(header))
		for pos, col := range columns {
			for i, h := range header {
				if h == col {
					wanted[i] = append(wanted[i], pos)
				}
			}
		}
	}
	return eachRecord(ctx, o, uri, format, version, c, func(rec record) error {
		if each != nil {
			each(rec)
		}
		clear(values)
		if recordProblem(rec) != nil {
			return fn(rec.line, nil, false)
		}
		if format == CSV {
			n, err := pickCSV(rec.raw, wanted, values)
			if err != nil || n != len(header) {
				return fn(rec.line, nil, false)
			}
			return fn(rec.line, values, true)
		}
		obj, bad, err := readObject(uri, rec, l)
		if err != nil {
			return err
		}
		if bad != nil {
			return fn(rec.line, nil, false)
		}
		for i, col := range columns {
			if v, found := lookupPath(obj, col); found {
				values[i] = scalarText(v)
			}
		}
		return fn(rec.line, values, true)
	})
}

// eachRecord opens one chunk, checks that the source is the planned one,
// and calls fn for each record's bytes.
func eachRecord(ctx context.Context, o *Opener, uri string, format Format, version Version, c Chunk, fn func(record) error) error {
	rc, v, err := o.openRange(ctx, uri, c.Offset, c.Length)
	if err != nil {
		return err
	}
	defer rc.Close()
	if !version.matches(v) {
		return changed(uri, version, v)
	}
	s := newScanner(rc, format, c.Offset, c.FirstLine, true)
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := s.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read chunk %d of %s: %w", c.Index, Redact(uri), scrub(err, uri))
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// recordProblem says why a record cannot be read at all, if it cannot.
func recordProblem(rec record) error {
	switch {
	case rec.tooLong:
		return fmt.Errorf("row is longer than %d MiB: an unterminated quote, or not a user list?", MaxRecordBytes>>20)
	case !utf8.Valid(rec.raw):
		return errors.New("row is not valid UTF-8")
	}
	return nil
}

// scalarText renders a decoded JSON value as the text a vendor's key field
// would read: strings as they are, numbers and booleans as JSON writes
// them, anything else as "".
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return ""
}

// readObject decodes an NDJSON record. bad says why the row is a reject:
// it nests deeper than l.MaxNesting, or is not one JSON object. err is a
// row with more fields than l.MaxColumns, which fails the import.
func readObject(uri string, rec record, l Limits) (obj map[string]any, bad, err error) {
	deep, fields := jsonShape(rec.raw, l.MaxNesting)
	if deep {
		return nil, fmt.Errorf("row nests objects and lists deeper than %d levels (IMPORTER_MAX_NESTING)", l.MaxNesting), nil
	}
	if obj, bad = decodeObject(rec.raw); bad != nil {
		return nil, bad, nil
	}
	if fields > l.MaxColumns {
		return nil, nil, permErr(nil, "line %d of %s has %d fields, more than the %d columns an import reads (IMPORTER_MAX_COLUMNS)", rec.line, Redact(uri), fields, l.MaxColumns)
	}
	return obj, nil, nil
}

func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("row is not valid JSON: %v", err)
	}
	// Only white space may follow the value: not another value, and not a
	// stray "]" or "}", which the decoder's More would let pass.
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) > 0 {
		return nil, errors.New("row holds more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("row is not a JSON object")
	}
	return m, nil
}

// splitCSV splits one record's bytes (line ending removed; newlines inside
// quoted fields already normalised to LF) into fields, with lazy quotes.
func splitCSV(raw []byte, dst []string) ([]string, error) {
	_, err := walkCSV(raw, func(int) bool { return true }, func(_ int, f string) { dst = append(dst, f) })
	return dst, err
}

// pickCSV copies into values only the fields that wanted (field index →
// positions in values) names, and returns how many fields the record has.
func pickCSV(raw []byte, wanted [][]int, values []string) (int, error) {
	return walkCSV(raw,
		func(i int) bool { return i < len(wanted) && len(wanted[i]) > 0 },
		func(i int, f string) {
			for _, pos := range wanted[i] {
				values[pos] = f
			}
		})
}

// walkCSV splits one record into fields, with lazy quotes as the scanner
// reads them (a quote inside an unquoted field, or one inside a quoted
// field not followed by a quote, a comma or the end, is literal). It hands
// emit the text of each field keep wants, skipping the others without
// copying them, and returns the number of fields.
func walkCSV(raw []byte, keep func(i int) bool, emit func(i int, field string)) (int, error) {
	var b strings.Builder
	i, n := 0, 0
	for {
		want := keep(n)
		if i < len(raw) && raw[i] == '"' {
			i++
			b.Reset()
			closed := false
			for !closed {
				k := bytes.IndexByte(raw[i:], '"')
				if k < 0 {
					return n, errors.New("a quoted field is not closed")
				}
				if want {
					b.Write(raw[i : i+k])
				}
				i += k
				switch {
				case i+1 < len(raw) && raw[i+1] == '"':
					if want {
						b.WriteByte('"')
					}
					i += 2
				case i+1 == len(raw) || raw[i+1] == ',':
					i++
					closed = true
				default:
					if want {
						b.WriteByte('"') // a lone quote is literal (lazy)
					}
					i++
				}
			}
			if want {
				emit(n, b.String())
			}
		} else {
			j := len(raw)
			if k := bytes.IndexByte(raw[i:], ','); k >= 0 {
				j = i + k
			}
			if want {
				emit(n, string(raw[i:j]))
			}
			i = j
		}
		n++
		if i >= len(raw) {
			return n, nil
		}
		i++ // the comma
		if i == len(raw) {
			if keep(n) {
				emit(n, "")
			}
			return n + 1, nil
		}
	}
}

// lookupPath finds a dotted path in a decoded object: a key that holds the
// whole path wins over nested objects.
func lookupPath(obj map[string]any, path string) (any, bool) {
	if v, ok := obj[path]; ok {
		return v, true
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if inner, ok := obj[path[:i]].(map[string]any); ok {
			if v, ok := lookupPath(inner, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}
