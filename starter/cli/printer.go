package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printer is the one place that knows the output format. A command builds
// a value and hands it over with how people read it; the printer writes the
// value as JSON (-o json) or the text for people (-o table), so no command
// branches on the format.
//
// stdout carries the command's output. stderr carries what people need
// besides; with -o json it carries only what a command writes there in any
// output (progress, warnings, errors), so a script reads stdout alone.
type printer struct {
	json   bool // -o json
	stdout io.Writer
	stderr io.Writer
}

// printer returns the printer of --output; checkOutput has refused the
// values it does not know.
func (g *Globals) printer() printer {
	return printer{json: g.output == "json", stdout: g.stdout, stderr: g.stderr}
}

// checkOutput refuses an --output the printer does not know, before any
// work.
func (g *Globals) checkOutput() error {
	if g.output != "table" && g.output != "json" {
		return fmt.Errorf("unknown --output %q: use table or json", g.output)
	}
	return nil
}

// print writes one record to stdout: v as indented JSON, or text for
// people. A nil text prints nothing for people; the command has said what
// they need on stderr (see note).
func (p printer) print(v any, text func(w io.Writer)) error {
	if p.json {
		return writeJSON(p.stdout, v)
	}
	if text == nil {
		return nil
	}
	w := &errWriter{w: p.stdout}
	text(w)
	return w.err
}

// list writes a list to stdout: rows (a slice of records) as an indented
// JSON array, or t for people.
func (p printer) list(rows any, t table) error {
	return p.print(rows, t.write)
}

// note writes a message for people to stderr. -o json leaves it out: what
// it says is in the JSON on stdout, or is not wanted by a script.
func (p printer) note(format string, args ...any) {
	if !p.json {
		fmt.Fprintf(p.stderr, format, args...)
	}
}

// say writes a message for people to stdout where -o json prints nothing,
// such as an empty NDJSON listing.
func (p printer) say(format string, args ...any) {
	if !p.json {
		fmt.Fprintf(p.stdout, format, args...)
	}
}

// streamTable starts a listing written as it is read, for listings too
// long to hold: one compact JSON object a line (NDJSON), or rows aligned in
// columns under header (none when empty) and flushed every streamBlock
// rows, so columns may shift a little from one block to the next.
func (p printer) streamTable(header ...string) *stream {
	s := &stream{json: p.json, w: p.stdout}
	if !p.json {
		s.tw = newTabWriter(p.stdout)
		if len(header) > 0 {
			writeRow(s.tw, header)
		}
	}
	return s
}

// streamLines starts a listing written as it is read: NDJSON, or each
// row's cells on a line of their own, unaligned.
func (p printer) streamLines() *stream {
	return &stream{json: p.json, w: p.stdout}
}

// streamBlock is how many rows of a streamed table are aligned together.
const streamBlock = 1000

// stream is a listing being written; see printer.streamTable and
// printer.streamLines. Call flush when the last row is written.
type stream struct {
	json bool
	w    io.Writer
	tw   *tabwriter.Writer // nil for plain lines
	rows int
}

// row writes one row: v as a line of JSON, or cells for people.
func (s *stream) row(v any, cells ...string) error {
	switch {
	case s.json:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(s.w, "%s\n", b)
		return err
	case s.tw == nil:
		_, err := fmt.Fprintln(s.w, strings.Join(cells, " "))
		return err
	}
	writeRow(s.tw, cells)
	s.rows++
	if s.rows%streamBlock == 0 {
		return s.tw.Flush()
	}
	return nil
}

// flush writes out the rows still held for alignment.
func (s *stream) flush() error {
	if s.tw == nil {
		return nil
	}
	return s.tw.Flush()
}

// table is a list as people read it: a header over rows of cells aligned
// in columns, or the empty line when there are no rows. Every cell ends
// with a tab, so the last column is padded like the others.
type table struct {
	header []string
	rows   [][]string
	empty  string
}

// write renders the table; a write error is the writer's to keep (print
// passes an errWriter).
func (t table) write(w io.Writer) {
	if len(t.rows) == 0 {
		fmt.Fprintln(w, t.empty)
		return
	}
	tw := newTabWriter(w)
	writeRow(tw, t.header)
	for _, r := range t.rows {
		writeRow(tw, r)
	}
	_ = tw.Flush()
}

func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func writeRow(w io.Writer, cells []string) {
	for _, c := range cells {
		io.WriteString(w, c)
		io.WriteString(w, "\t")
	}
	io.WriteString(w, "\n")
}

// writeJSON writes v indented by two spaces, as -o json always has.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errWriter keeps the first write error, so text renderers can write
// freely and the printer still reports a failed write.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}
