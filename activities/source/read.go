package source

import (
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
	rc, v, err := o.openRange(ctx, uri, c.Offset, c.Length)
	if err != nil {
		return err
	}
	defer rc.Close()
	if !version.matches(v) {
		return permErr(ErrChanged, "source %s: %v (size %d, planned %d)", Redact(uri), ErrChanged, v.Size, version.Size)
	}
	s := newScanner(rc, format, c.Offset, c.FirstLine, true)
	var fields []string
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := s.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read chunk %d of %s: %w", c.Index, Redact(uri), scrub(err, uri))
		}
		out := Record{Line: rec.line}
		switch {
		case rec.tooLong:
			out.Err = fmt.Errorf("row is longer than %d MiB; an unterminated quote?", MaxRecordBytes>>20)
		case !utf8.Valid(rec.raw):
			out.Err = errors.New("row is not valid UTF-8")
		case format == CSV:
			fields, err = splitCSV(rec.raw, fields[:0])
			switch {
			case err != nil:
				out.Err = err
			case len(fields) != len(header):
				out.Err = fmt.Errorf("row has %d fields, header has %d", len(fields), len(header))
			default:
				m := make(map[string]any, len(header))
				for i, h := range header {
					m[h] = fields[i]
				}
				out.Fields = m
			}
		default:
			out.Fields, out.Err = decodeObject(rec.raw)
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	return nil
}

func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("row is not valid JSON: %v", err)
	}
	if dec.More() {
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
	var b strings.Builder
	i := 0
	for {
		b.Reset()
		if i < len(raw) && raw[i] == '"' {
			// Quoted field.
			i++
			closed := false
			for i < len(raw) {
				c := raw[i]
				if c != '"' {
					b.WriteByte(c)
					i++
					continue
				}
				switch {
				case i+1 < len(raw) && raw[i+1] == '"':
					b.WriteByte('"')
					i += 2
				case i+1 == len(raw) || raw[i+1] == ',':
					i++
					closed = true
				default:
					b.WriteByte('"') // a lone quote is literal (lazy)
					i++
				}
				if closed {
					break
				}
			}
			if !closed {
				return dst, errors.New("a quoted field is not closed")
			}
			dst = append(dst, b.String())
		} else {
			j := i
			for j < len(raw) && raw[j] != ',' {
				j++
			}
			dst = append(dst, string(raw[i:j]))
			i = j
		}
		if i >= len(raw) {
			return dst, nil
		}
		i++ // the comma
		if i == len(raw) {
			return append(dst, ""), nil
		}
	}
}
