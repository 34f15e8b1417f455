// Package gen writes generated user lists for the demo, the tests and the
// benchmarks, so no large data file is committed. Lists are deterministic:
// the same options give the same bytes, and the caller is told exactly which
// rows are valid, so tests can assert exact accounting.
package gen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Options shapes a list of Nebuly-style users.
type Options struct {
	Rows int
	// InvalidEvery makes every n-th row break a Nebuly rule (a missing
	// end_user, a bad date, or active_to before active_from); 0 for none.
	InvalidEvery int
	// QuotedNewlineEvery puts a quoted field with a newline and a comma in
	// every n-th row (CSV only); 0 for none.
	QuotedNewlineEvery int
	// CRLF ends lines with CRLF instead of LF.
	CRLF bool
	// Domain is the e-mail domain of the users; default example.com.
	Domain string
	// IDPrefix starts the user ids of BitLabs and Userpilot lists; default
	// "u". Two lists with other prefixes have no user in common.
	IDPrefix string
}

// Stats says what was written.
type Stats struct {
	Rows    int
	Valid   int
	Invalid int
	Bytes   int64
}

// Email is the end_user of row i (0-based).
func (o Options) Email(i int) string {
	d := o.Domain
	if d == "" {
		d = "example.com"
	}
	return fmt.Sprintf("user%08d@%s", i, d)
}

// Invalid says whether row i (0-based) is one of the invalid ones.
func (o Options) Invalid(i int) bool {
	return o.InvalidEvery > 0 && i%o.InvalidEvery == o.InvalidEvery-1
}

// CSV writes the list as CSV with a header.
func CSV(w io.Writer, o Options) (Stats, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &countWriter{w: bw}
	eol := "\n"
	if o.CRLF {
		eol = "\r\n"
	}
	fmt.Fprint(cw, "end_user,active_from,active_to,tags.Plan,tags.Country,tags.Note"+eol)
	st := Stats{Rows: o.Rows}
	plans := []string{"Free", "Standard", "Premium"}
	countries := []string{"US", "DE", "IT", "CA", "JP"}
	for i := 0; i < o.Rows; i++ {
		email, from, to := o.Email(i), fmt.Sprintf("2025-%02d-%02d", i%12+1, i%28+1), ""
		if i%7 == 0 {
			to = "2027-01-31"
		}
		note := fmt.Sprintf("row %d", i)
		if o.QuotedNewlineEvery > 0 && i%o.QuotedNewlineEvery == 0 {
			note = fmt.Sprintf("\"line one, with a comma%sline two with \"\"quotes\"\"\"", eol)
		}
		if o.Invalid(i) {
			st.Invalid++
			switch (i / o.InvalidEvery) % 3 {
			case 0:
				email = ""
			case 1:
				from = "31/12/2025"
			case 2:
				to = "2024-01-01"
			}
		} else {
			st.Valid++
		}
		fmt.Fprintf(cw, "%s,%s,%s,%s,%s,%s%s", email, from, to, plans[i%len(plans)], countries[i%len(countries)], note, eol)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write generated CSV: %w", err)
	}
	if cw.err != nil {
		return st, fmt.Errorf("write generated CSV: %w", cw.err)
	}
	st.Bytes = cw.n
	return st, nil
}

// NDJSON writes the list as one JSON object a line, tags nested.
func NDJSON(w io.Writer, o Options) (Stats, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &countWriter{w: bw}
	enc := json.NewEncoder(cw)
	st := Stats{Rows: o.Rows}
	for i := 0; i < o.Rows; i++ {
		u := map[string]any{
			"end_user":    o.Email(i),
			"active_from": fmt.Sprintf("2025-%02d-%02d", i%12+1, i%28+1),
			"tags":        map[string]any{"Plan": "Standard", "Seats": i % 50, "Note": "multi\nline"},
		}
		if o.Invalid(i) {
			st.Invalid++
			u["active_from"] = "not a date"
		} else {
			st.Valid++
		}
		if err := enc.Encode(u); err != nil {
			return st, fmt.Errorf("write generated NDJSON: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write generated NDJSON: %w", err)
	}
	st.Bytes = cw.n
	return st, cw.err
}

// File writes a list to path, as CSV or NDJSON by the extension.
func File(path string, o Options) (Stats, error) {
	f, err := os.Create(path)
	if err != nil {
		return Stats{}, fmt.Errorf("create %s: %w", path, err)
	}
	var st Stats
	if strings.HasSuffix(path, ".ndjson") || strings.HasSuffix(path, ".jsonl") {
		st, err = NDJSON(f, o)
	} else {
		st, err = CSV(f, o)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", path, cerr)
	}
	return st, err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
