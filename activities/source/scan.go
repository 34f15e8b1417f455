package source

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// csvState is where the CSV state machine stands inside a record.
type csvState uint8

const (
	fieldStart csvState = iota // at the start of a field
	unquoted                   // inside an unquoted field
	quoted                     // inside a quoted field
	quoteSeen                  // just after a quote inside a quoted field
)

// feed advances the state over b, which holds no record-ending newline.
// Lazy quotes, as encoding/csv with LazyQuotes: a quote inside an unquoted
// field is literal, and a quote inside a quoted field that is not followed by
// a quote, a comma or the end of the line is literal too.
func (st csvState) feed(b []byte) csvState {
	for len(b) > 0 {
		switch st {
		case fieldStart:
			switch b[0] {
			case '"':
				st = quoted
			case ',':
			default:
				st = unquoted
			}
			b = b[1:]
		case unquoted:
			// Fast path: skip to the next comma; quotes here are literal.
			i := bytes.IndexByte(b, ',')
			if i < 0 {
				return unquoted
			}
			st, b = fieldStart, b[i+1:]
		case quoted:
			i := bytes.IndexByte(b, '"')
			if i < 0 {
				return quoted
			}
			st, b = quoteSeen, b[i+1:]
		case quoteSeen:
			switch b[0] {
			case '"':
				st = quoted // an escaped quote
			case ',':
				st = fieldStart
			default:
				st = quoted // a lone quote is literal (lazy)
			}
			b = b[1:]
		}
	}
	return st
}

// record is one record's place in the source and, if kept, its bytes
// (without the line ending that closes it).
type record struct {
	offset  int64 // first byte
	end     int64 // one past the last byte, line ending included
	line    int64 // 1-based physical line of the first byte
	raw     []byte
	tooLong bool
}

// scanner splits a byte stream into records. Planning and reading both use
// it, so chunk boundaries and the records read from a chunk always agree.
type scanner struct {
	r      *bufio.Reader
	format Format
	offset int64 // absolute offset of the next unread byte
	line   int64 // physical line of the next unread byte
	keep   bool  // keep record bytes (reading) or not (planning)
	buf    []byte
}

func newScanner(r io.Reader, format Format, offset, line int64, keep bool) *scanner {
	return &scanner{r: bufio.NewReaderSize(r, 1<<20), format: format, offset: offset, line: line, keep: keep}
}

// next returns the next record, skipping blank lines; io.EOF at the end.
func (s *scanner) next() (record, error) {
	for {
		rec, blank, err := s.scanOne()
		if err != nil {
			return rec, err
		}
		if !blank {
			return rec, nil
		}
	}
}

// atEOF reports whether nothing at all follows the last record read.
func (s *scanner) atEOF() bool {
	_, err := s.r.Peek(1)
	return errors.Is(err, io.EOF)
}

// scanOne reads up to and including the newline that ends a record, or to
// EOF. blank reports a line that holds no record (empty, or for NDJSON only
// white space).
func (s *scanner) scanOne() (rec record, blank bool, err error) {
	rec = record{offset: s.offset, line: s.line}
	s.buf = s.buf[:0]
	st := fieldStart
	size := 0          // content bytes of the record so far (line endings inside quotes included)
	pendingCR := false // a CR held back at a buffer boundary: it may start a CRLF
	nonSpace := false
	for {
		seg, rerr := s.r.ReadSlice('\n')
		if rerr != nil && !errors.Is(rerr, bufio.ErrBufferFull) && !errors.Is(rerr, io.EOF) {
			return rec, false, rerr
		}
		s.offset += int64(len(seg))
		ended := len(seg) > 0 && seg[len(seg)-1] == '\n'
		content := seg
		if ended {
			s.line++
			content = seg[:len(seg)-1]
		}
		// Reattach a CR held back from the previous segment, unless this
		// segment is just the LF that completes a CRLF.
		if pendingCR {
			pendingCR = false
			if !(ended && len(content) == 0) {
				st = s.feedContent(st, []byte{'\r'}, &size, &nonSpace)
			} else {
				// CRLF at a buffer boundary: the CR belongs to the line ending.
				goto lineEnd
			}
		}
		if ended && len(content) > 0 && content[len(content)-1] == '\r' {
			content = content[:len(content)-1]
			st = s.feedContent(st, content, &size, &nonSpace)
			goto lineEnd
		}
		if !ended && len(content) > 0 && content[len(content)-1] == '\r' && errors.Is(rerr, bufio.ErrBufferFull) {
			content = content[:len(content)-1]
			pendingCR = true
		}
		st = s.feedContent(st, content, &size, &nonSpace)
		if !ended {
			if errors.Is(rerr, io.EOF) {
				if pendingCR {
					s.feedContent(st, []byte{'\r'}, &size, &nonSpace) // counts the CR; the state no longer matters
				}
				rec.end = s.offset
				if size == 0 || (s.format == NDJSON && !nonSpace) {
					return rec, false, io.EOF
				}
				rec.raw = s.buf
				rec.tooLong = size > MaxRecordBytes
				return rec, false, nil
			}
			continue // buffer full: the line goes on
		}
	lineEnd:
		if s.format == CSV && st == quoted {
			// The newline is inside a quoted field: keep it and go on.
			s.keepBytes([]byte{'\n'}, &size)
			continue
		}
		rec.end = s.offset
		rec.raw = s.buf
		rec.tooLong = size > MaxRecordBytes
		if size == 0 || (s.format == NDJSON && !nonSpace) {
			return rec, true, nil
		}
		return rec, false, nil
	}
}

func (s *scanner) feedContent(st csvState, b []byte, size *int, nonSpace *bool) csvState {
	if s.format == CSV {
		st = st.feed(b)
	} else if !*nonSpace && len(bytes.TrimSpace(b)) > 0 {
		*nonSpace = true
	}
	s.keepBytes(b, size)
	return st
}

func (s *scanner) keepBytes(b []byte, size *int) {
	*size += len(b)
	if s.keep && len(s.buf)+len(b) <= MaxRecordBytes {
		s.buf = append(s.buf, b...)
	}
}
