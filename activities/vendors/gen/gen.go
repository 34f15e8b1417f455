// Package gen writes generated user lists for the demo, the tests and the
// benchmarks, so no large data file is committed. Each vendor's list has
// the shape its fake package gives it (the registry's Sample); gen writes
// it and counts it. Lists are deterministic: the same options give the same
// bytes, and the caller is told exactly which rows are valid, so tests can
// assert exact accounting.
package gen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"importer/activities/vendorapi/fakeapi"
	"importer/activities/vendors"
)

// Options shape a list; the fields are those of fakeapi.SampleOptions:
// Rows, InvalidEvery (every n-th row breaks one of the vendor's rules; 0
// for none), QuotedNewlineEvery and CRLF (for the lists that have them),
// Domain (of Email) and IDPrefix (of the ids; lists with other prefixes
// have no user in common).
type Options fakeapi.SampleOptions

// Stats says what was written.
type Stats struct {
	Rows    int
	Valid   int
	Invalid int
	Bytes   int64
}

func (o Options) sample() fakeapi.SampleOptions { return fakeapi.SampleOptions(o) }

// Invalid says whether row i (0-based) is one of the invalid ones.
func (o Options) Invalid(i int) bool { return o.sample().Invalid(i) }

// Email is the e-mail of row i in the lists that use
// fakeapi.SampleOptions.Email (Nebuly's end_user, for one).
func (o Options) Email(i int) string { return o.sample().Email(i) }

// UID is the user id of row i in the lists that use
// fakeapi.SampleOptions.UID.
func (o Options) UID(i int) string { return o.sample().UID(i) }

// VendorCSV writes a list for a vendor of the registry as CSV to w.
func VendorCSV(w io.Writer, vendor string, o Options) (Stats, error) {
	e, err := vendors.Get(vendor)
	if err != nil || e.Sample == nil {
		return Stats{}, fmt.Errorf("no generator for vendor %q", vendor)
	}
	return writeCSV(w, o, e.Sample)
}

// VendorFile writes a list for a vendor of the registry to path: NDJSON
// when the extension says so and the vendor's lists can be, else CSV.
func VendorFile(vendor, path string, o Options) (Stats, error) {
	e, err := vendors.Get(vendor)
	if err != nil || e.Sample == nil {
		return Stats{}, fmt.Errorf("no generator for vendor %q", vendor)
	}
	return writeFile(path, o, e.Sample)
}

func writeFile(path string, o Options, s fakeapi.Sample) (Stats, error) {
	f, err := os.Create(path)
	if err != nil {
		return Stats{}, fmt.Errorf("create %s: %w", path, err)
	}
	var st Stats
	if objects, ok := s.(fakeapi.ObjectSample); ok && (strings.HasSuffix(path, ".ndjson") || strings.HasSuffix(path, ".jsonl")) {
		st, err = writeNDJSON(f, o, objects)
	} else {
		st, err = writeCSV(f, o, s)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", path, cerr)
	}
	return st, err
}

func writeCSV(w io.Writer, o Options, s fakeapi.Sample) (Stats, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &countWriter{w: bw}
	so := o.sample()
	_, _ = io.WriteString(cw, s.Header(so))
	st := Stats{Rows: o.Rows}
	for i := 0; i < o.Rows; i++ {
		st.count(so.Invalid(i))
		_, _ = io.WriteString(cw, s.Row(so, i))
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

func writeNDJSON(w io.Writer, o Options, s fakeapi.ObjectSample) (Stats, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := &countWriter{w: bw}
	enc := json.NewEncoder(cw)
	so := o.sample()
	st := Stats{Rows: o.Rows}
	for i := 0; i < o.Rows; i++ {
		st.count(so.Invalid(i))
		if err := enc.Encode(s.Object(so, i)); err != nil {
			return st, fmt.Errorf("write generated NDJSON: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write generated NDJSON: %w", err)
	}
	if cw.err != nil {
		return st, fmt.Errorf("write generated NDJSON: %w", cw.err)
	}
	st.Bytes = cw.n
	return st, nil
}

func (st *Stats) count(invalid bool) {
	if invalid {
		st.Invalid++
	} else {
		st.Valid++
	}
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
