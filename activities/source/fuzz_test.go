package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// The fuzz targets of this file feed the package's readers bytes that
// someone else made: an NDJSON list, a Parquet file, the Thrift structures
// of its footer, page index and page headers, and a gzip or zstd stream to
// stage. Each asserts what the package promises of such bytes (every
// record read once, a refusal that is an error, memory held to the caps),
// not only that nothing panics. Run one for a while with
//
//	go test -run '^$' -fuzz '^FuzzParquetFile$' -fuzztime 10m ./activities/source/

// fuzzMemory is the most one fuzz input may make a reader allocate, under
// the small caps the targets set: more means a cap does not hold.
const fuzzMemory = 256 << 20

// fuzzSlow is how long one input may take to read: longer is a hang in
// the making.
const fuzzSlow = 10 * time.Second

// watchdog ends the process, printing every goroutine's stack, if the
// input being read takes longer than fuzzHang: fuzzing has no timeout of
// its own for one input, and a process that ends has its input kept as a
// failing one (testdata/fuzz). stop, called when the input is read, calls
// it off.
func watchdog() (stop func()) {
	t := time.AfterFunc(fuzzHang, func() {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		panic(fmt.Sprintf("one input has been read for %v; every goroutine:\n%s", fuzzHang, buf))
	})
	return func() { t.Stop() }
}

// fuzzHang is how long one input may take before watchdog ends the process.
const fuzzHang = 30 * time.Second

// reportPanic, deferred, fails t with the stack of a panic of the input
// being read, instead of ending the test binary (and every test after it)
// when go test replays the corpus.
func reportPanic(t *testing.T) {
	if p := recover(); p != nil {
		t.Fatalf("panic: %v\n%s", p, debug.Stack())
	}
}

// allocated is the bytes this process has allocated so far.
func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// heldToBudget fails t if more than fuzzMemory was allocated since from
// (allocated's value), or more than fuzzSlow passed since start.
func heldToBudget(t *testing.T, from uint64, start time.Time) {
	t.Helper()
	if n := allocated() - from; n > fuzzMemory {
		t.Fatalf("one input allocated %d MiB, more than %d MiB", n>>20, fuzzMemory>>20)
	}
	if d := time.Since(start); d > fuzzSlow {
		t.Fatalf("one input took %v to read", d.Round(time.Millisecond))
	}
}

// ndjsonRecord is a record of an NDJSON file as its lines tell it, found
// without the package's scanner: each line that holds more than white
// space, after a BOM at the start of the file.
type ndjsonRecord struct {
	offset, end int64 // its first byte; one past its line ending
	line        int64 // 1-based physical line
	raw         []byte
}

func ndjsonRecords(data []byte) []ndjsonRecord {
	var out []ndjsonRecord
	off := 0
	if bytes.HasPrefix(data, []byte("\ufeff")) {
		off = 3
	}
	for line := int64(1); off < len(data); line++ {
		end, content := len(data), data[off:]
		if i := bytes.IndexByte(content, '\n'); i >= 0 {
			end, content = off+i+1, bytes.TrimSuffix(content[:i], []byte("\r"))
		}
		if len(bytes.TrimSpace(content)) > 0 {
			out = append(out, ndjsonRecord{offset: int64(off), end: int64(end), line: line, raw: content})
		}
		off = end
	}
	return out
}

// ndjsonChunks are the chunks a plan of recs must cut: a chunk ends with
// its chunkRows-th record, or with the record that brings it to budget
// bytes.
func ndjsonChunks(recs []ndjsonRecord, chunkRows int, budget int64) []Chunk {
	var out []Chunk
	open := false
	for _, r := range recs {
		if !open {
			out = append(out, Chunk{Index: len(out), Offset: r.offset, FirstLine: r.line})
			open = true
		}
		c := &out[len(out)-1]
		c.Rows++
		c.Length = r.end - c.Offset
		if c.Rows >= chunkRows || c.Length >= budget {
			open = false
		}
	}
	return out
}

// Outcomes of reading an NDJSON record.
const (
	readOK     = "read"
	readReject = "a reject"
	readFails  = "fails the read"
)

// ndjsonOutcome is what reading an NDJSON record under l must give, found
// with encoding/json's tokens rather than the package's shape scan: a row
// that is not valid UTF-8 or not valid JSON, not an object, or that nests
// deeper than MaxNesting is a reject; a valid object with more fields
// than MaxColumns (duplicate keys counted, nested objects' fields counted
// one by one, a list one field) fails the read; any other row is read as
// the object it decodes to.
func ndjsonOutcome(t testing.TB, raw []byte, l Limits) (string, map[string]any) {
	if !utf8.Valid(raw) || !json.Valid(raw) {
		return readReject, nil
	}
	depth, fields := jsonTokensShape(raw)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("json.Valid accepted %q, which json cannot decode: %v", raw, err)
	}
	obj, isObject := v.(map[string]any)
	switch {
	case depth > l.MaxNesting, !isObject:
		return readReject, nil
	case fields > l.MaxColumns:
		return readFails, nil
	}
	return readOK, obj
}

// jsonTokensShape is how deep a valid JSON text nests objects and lists,
// and how many fields it holds as NDJSON columns count them.
func jsonTokensShape(raw []byte) (depth, fields int) {
	type frame struct {
		object, wantKey, counted bool
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return depth, fields
		}
		var parent *frame
		if len(stack) > 0 {
			parent = &stack[len(stack)-1]
		}
		if d, isDelim := tok.(json.Delim); isDelim && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if parent != nil && parent.object && parent.wantKey {
			parent.wantKey = false // tok is a member's name
			continue
		}
		member := parent != nil && parent.object // tok starts a member's value
		if member {
			parent.wantKey = true
		}
		if d, isDelim := tok.(json.Delim); isDelim {
			// A list is one field, whatever it holds; an object's fields
			// count where the object would: at the top, or as a member of
			// a counted object.
			if d == '[' && member && parent.counted {
				fields++
			}
			counted := d == '{' && (parent == nil || member && parent.counted)
			stack = append(stack, frame{object: d == '{', wantKey: d == '{', counted: counted})
			depth = max(depth, len(stack))
			continue
		}
		if member && parent.counted {
			fields++
		}
	}
}

// An NDJSON list is planned into chunks and read back record by record as
// its lines say, without the package's scanner: each non-blank line is one
// record, in exactly one chunk, at its own line; a chunk ends at its rows
// or at the byte budget (Limits.MaxChunkBytes); a row that is not a JSON
// object, or nests deeper than Limits.MaxNesting, is a reject, and one with
// more fields than Limits.MaxColumns fails the read with a permanent error.
// The key scan sees the same records, and one pass over Whole's chunk
// plans the same chunks. (FuzzPlanRead checks CSV and NDJSON against
// themselves; this one checks NDJSON against encoding/json.)
func FuzzNDJSONPlanRead(f *testing.F) {
	f.Add([]byte("{\"end_user\":\"a@x.io\",\"n\":1.50,\"tags\":{\"plan\":\"Pro\"}}\n\n{\"end_user\":\"b@x.io\"}\r\n"), uint8(2), uint8(0x23), uint8(40))
	f.Add([]byte("\ufeff{\"a\":1}\n   \n[1,2]\n{bad\n{\"a\":{\"b\":{\"c\":[{\"d\":1}]}}}\n\"x\"\n{\"a\":1,\"a\":2,\"a\":3}"), uint8(1), uint8(0x02), uint8(255))
	f.Add([]byte("{\"a\":{\"b\":{}}}\n{\"a\":1,\"b\":[]}\n"), uint8(1), uint8(0x08), uint8(9)) // too deep, then too wide: a list is a field
	f.Add([]byte("{\"k\":\"\\\"}{[\"}\n{\"u\":\"\\u00e9\xc3\"}\n{\"v\":\"\xff\"}\n{} \n{\"w\":null}\n"), uint8(3), uint8(0x11), uint8(3))
	var b strings.Builder
	r := rand.New(rand.NewSource(5))
	for i := range 40 {
		fmt.Fprintf(&b, "{\"end_user\":\"user%d@x.io\",\"seats\":%d,\"tags\":{\"plan\":%q,\"list\":[%d,{\"x\":1}]}}\n", i, r.Intn(50), []string{"Free", "Pro"}[i%2], i)
		if r.Intn(5) == 0 {
			b.WriteString("\t \r\n")
		}
	}
	f.Add([]byte(b.String()), uint8(7), uint8(0xff), uint8(20))
	f.Fuzz(func(t *testing.T, data []byte, rows, caps, budget uint8) {
		defer reportPanic(t)
		defer watchdog()()
		chunkRows := int(rows%8) + 1
		l := Limits{MaxColumns: 1 + int(caps%8), MaxNesting: 1 + int(caps>>3%4), MaxChunkBytes: 1 + int64(budget)*8}
		o := &Opener{Limits: l}
		ctx := context.Background()
		path := writeFile(t, "f.ndjson", string(data))
		recs := ndjsonRecords(data)
		want := ndjsonChunks(recs, chunkRows, l.MaxChunkBytes)
		outcomes, objects := make([]string, len(recs)), make([]map[string]any, len(recs))
		failing := false // a record fails the read
		for i, r := range recs {
			outcomes[i], objects[i] = ndjsonOutcome(t, r.raw, l)
			failing = failing || outcomes[i] == readFails
		}

		req := PlanRequest{URI: path, Format: NDJSON, ChunkRows: chunkRows, MaxChunks: 2}
		var planned []Chunk
		var first Page
		for i := 0; ; i++ {
			p, err := Plan(ctx, o, req, nil)
			if err != nil {
				t.Fatalf("plan page %d: %v", i, err)
			}
			if i == 0 {
				first = p
				req.Expect = &first.Version
			}
			planned = append(planned, p.Chunks...)
			if p.Done {
				if p.Next != int64(len(data)) {
					t.Fatalf("planning ended at byte %d of %d", p.Next, len(data))
				}
				break
			}
			if len(p.Chunks) == 0 || i > len(want) {
				t.Fatalf("page %d is not done, with %d chunks of the %d the list has", i, len(p.Chunks), len(want))
			}
			req.From, req.FromLine, req.NextIndex = p.Next, p.NextLine, p.NextIndex
		}
		if !slices.Equal(planned, want) {
			t.Fatalf("planned %+v\nthe lines make %+v", planned, want)
		}

		// Each chunk reads its records, in order, at their lines, each as
		// encoding/json reads it; the key scan sees them alike.
		k := 0 // the next record
		for _, c := range planned {
			var got []Record
			err := ReadChunk(ctx, o, path, NDJSON, nil, first.Version, c, func(r Record) error {
				got = append(got, r)
				return nil
			})
			var scanned []int64
			var scannedOK []bool
			serr := ReadColumns(ctx, o, path, NDJSON, nil, first.Version, c, []string{"end_user", "tags.plan"}, func(line int64, _ []string, ok bool) error {
				scanned, scannedOK = append(scanned, line), append(scannedOK, ok)
				return nil
			})
			fails := -1 // the record in the chunk that fails the read
			for j := range c.Rows {
				rec, outcome, obj := recs[k+j], outcomes[k+j], objects[k+j]
				if outcome == readFails {
					fails = j
					break
				}
				if j >= len(got) {
					t.Fatalf("chunk %+v: read %d records (%v), want %d", c, len(got), err, c.Rows)
				}
				g := got[j]
				switch {
				case g.Line != rec.line:
					t.Fatalf("chunk %d: record %d is at line %d, read at line %d", c.Index, j, rec.line, g.Line)
				case outcome == readReject && g.Err == nil:
					t.Fatalf("line %d %q is %s; it was read as %v", rec.line, rec.raw, outcome, g.Fields)
				case outcome == readOK && (g.Err != nil || !reflect.DeepEqual(g.Fields, obj)):
					t.Fatalf("line %d %q: read %v (%v), want %v", rec.line, rec.raw, g.Fields, g.Err, obj)
				case j >= len(scanned) || scanned[j] != rec.line || scannedOK[j] != (outcome == readOK):
					t.Fatalf("line %d (%s): the key scan saw lines %v ok %v (%v)", rec.line, outcome, scanned, scannedOK, serr)
				}
			}
			if fails >= 0 {
				for what, e := range map[string]error{"the chunk": err, "the key scan": serr} {
					if !errors.Is(e, ErrPermanent) || !strings.Contains(e.Error(), "IMPORTER_MAX_COLUMNS") {
						t.Fatalf("line %d has more fields than %d: %s read it with %v", recs[k+fails].line, l.MaxColumns, what, e)
					}
				}
				if len(got) != fails || len(scanned) != fails {
					t.Fatalf("chunk %d: the read stopped after %d and %d records, want %d", c.Index, len(got), len(scanned), fails)
				}
				break // the import fails here
			}
			if err != nil || serr != nil || len(got) != c.Rows || len(scanned) != c.Rows {
				t.Fatalf("chunk %+v: read %d (%v), scanned %d (%v)", c, len(got), err, len(scanned), serr)
			}
			k += c.Rows
		}

		// One pass over the whole list plans what Plan's pages did.
		whole, err := Whole(ctx, o, path, NDJSON)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return
		}
		n := 0
		scanned, err := ReadColumnsAndPlan(ctx, o, path, NDJSON, nil, whole.Version, whole.Chunks[0], []string{"end_user"}, chunkRows, func(int64, []string, bool) error {
			n++
			return nil
		})
		switch {
		case failing && (!errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "IMPORTER_MAX_COLUMNS")):
			t.Fatalf("a record has more fields than %d; the scan read the list with %v", l.MaxColumns, err)
		case !failing && (err != nil || n != len(recs) || !slices.Equal(scanned, want)):
			t.Fatalf("the scan counted %d of %d records and planned %+v (%v), want %+v", n, len(recs), scanned, err, want)
		}
	})
}

// parquetWithRows is data, a Parquet file, with its footer saying each row
// group holds rows (and the file their sum), whatever its pages hold.
func parquetWithRows(tb testing.TB, data []byte, rows int64) []byte {
	tb.Helper()
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	var md format.FileMetaData
	if err := thrift.Unmarshal(&thrift.CompactProtocol{}, data[len(data)-8-n:len(data)-8], &md); err != nil {
		tb.Fatal(err)
	}
	md.NumRows = 0
	for i := range md.RowGroups {
		md.RowGroups[i].NumRows = rows
		md.NumRows += rows
	}
	b, err := thrift.Marshal(&thrift.CompactProtocol{}, &md)
	if err != nil {
		tb.Fatal(err)
	}
	out := append(slices.Clip(data[:len(data)-8-n]), b...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(b)))
	return append(out, "PAR1"...)
}

// fuzzParquetChunks is how many chunks of a Parquet file a fuzz input plans
// and reads at most: a footer may declare 2^62 rows.
const fuzzParquetChunks = 12

// A Parquet file of any bytes is either refused, with a permanent error
// (planning and Whole alike), or planned from its footer into chunks that
// cover its rows once, in order; each chunk then reads exactly its rows,
// at their lines, or fails with an error; the key scan reads the rows a
// chunk reads, with the text the chunk's rows give. Nothing panics, and no
// input allocates more than fuzzMemory under small caps.
func FuzzParquetFile(f *testing.F) {
	list := parquetList(f, 6, 4)
	f.Add(list, uint8(3))
	f.Add(withoutPageIndex(f, list), uint8(2))
	f.Add(parquetList(f, 3, 3, parquet.PageBufferSize(64)), uint8(1))
	var kinds bytes.Buffer
	w := parquet.NewGenericWriter[parquetKinds](&kinds, parquet.MaxRowsPerRowGroup(3))
	for i := range 5 {
		r := parquetKinds{Name: fmt.Sprint("u", i), Raw: []byte{byte(i), 0xff}, Small: int32(-i), Big: int64(i) << 40, Flag: i%2 == 0,
			Ratio: float32(i) / 3, Score: 1.5, Tiny: int8(i), Emails: []string{fmt.Sprint(i, "@x.io")}}
		if i%2 == 0 {
			s := "m"
			r.Maybe = &s
		}
		if _, err := w.Write([]parquetKinds{r}); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	f.Add(kinds.Bytes(), uint8(4))
	var dict bytes.Buffer
	if err := parquet.Write(&dict, []parquetRandom{{Name: "a", Plan: "Pro", List: []string{"1", "2"}}, {Name: "b", Plan: "Pro"}, {Name: "c", Plan: "Free"}},
		parquet.DataPageVersion(1)); err != nil {
		f.Fatal(err)
	}
	f.Add(dict.Bytes(), uint8(2))
	f.Add(parquetWithRows(f, parquetList(f, 4, 2), 1), uint8(5)) // fewer rows declared than held
	nineteen, _ := hex.DecodeString("50415231" + "29fcffffffff07" + "07000000" + "50415231")
	f.Add(nineteen, uint8(1))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, rows uint8) {
		chunkRows := int(rows%8) + 1
		o := &Opener{Limits: Limits{MaxColumns: 64, MaxNesting: 8, MaxChunkBytes: 1 << 20, MaxParquetFooter: 1 << 16}}
		ctx := context.Background()
		defer reportPanic(t)
		path := writeFile(t, "f.parquet", string(data))
		defer watchdog()()
		defer heldToBudget(t, allocated(), time.Now())

		whole, werr := Whole(ctx, o, path, Parquet)
		req := PlanRequest{URI: path, Format: Parquet, ChunkRows: chunkRows, MaxChunks: 4}
		var planned []Chunk
		var first Page
		done := false
		for i := 0; len(planned) < fuzzParquetChunks; i++ {
			p, err := Plan(ctx, o, req, nil)
			if err != nil && i == 0 {
				if !errors.Is(err, ErrPermanent) || werr == nil || !errors.Is(werr, ErrPermanent) {
					t.Fatalf("planning refused the file (%v), Whole said %v; want both to refuse it for good", err, werr)
				}
				return
			}
			if err != nil {
				t.Fatalf("plan page %d: %v", i, err)
			}
			if i == 0 {
				first = p
				req.Expect = &first.Version
				if werr != nil || !slices.Equal(p.Header, whole.Header) || p.Version != whole.Version {
					t.Fatalf("planning read the file (header %q), Whole said %q, %v", p.Header, whole.Header, werr)
				}
			}
			planned = append(planned, p.Chunks...)
			if p.Done {
				done = true
				break
			}
			if len(p.Chunks) == 0 {
				t.Fatalf("page %d is not done and has no chunks", i)
			}
			req.From, req.NextIndex = p.Next, p.NextIndex
		}
		var total int64
		for i, c := range planned {
			if c.Index != i || c.Offset != total || c.FirstLine != total+1 || c.Rows < 1 || c.Rows > chunkRows || c.Length < 0 {
				t.Fatalf("chunk %d of %+v after %d rows", i, c, total)
			}
			total += int64(c.Rows)
		}
		var declared int64
		if len(whole.Chunks) > 0 {
			declared = int64(whole.Chunks[0].Rows)
		}
		if done && total != declared || !done && total >= declared {
			t.Fatalf("the plan's chunks hold %d rows (done: %v), Whole says the file holds %d", total, done, declared)
		}

		for _, c := range planned {
			var got []Record
			err := ReadChunk(ctx, o, path, Parquet, first.Header, first.Version, c, func(r Record) error {
				got = append(got, r)
				return nil
			})
			if err == nil && len(got) != c.Rows {
				t.Fatalf("chunk %+v read %d rows, and no error", c, len(got))
			}
			for j, r := range got {
				if r.Line != c.FirstLine+int64(j) {
					t.Fatalf("chunk %+v: row %d read at line %d", c, j, r.Line)
				}
			}
			if len(first.Header) == 0 {
				continue
			}
			col := first.Header[int(rows)%len(first.Header)] // a leaf, read alone if it can be
			var keys []string
			var lines []int64
			var oks []bool
			serr := ReadColumns(ctx, o, path, Parquet, first.Header, first.Version, c, []string{col}, func(line int64, v []string, ok bool) error {
				lines, oks = append(lines, line), append(oks, ok)
				if ok {
					keys = append(keys, v[0])
				} else {
					keys = append(keys, "")
				}
				return nil
			})
			if serr == nil && len(lines) != c.Rows {
				t.Fatalf("chunk %+v: the key scan read %d rows, and no error", c, len(lines))
			}
			if err != nil || serr != nil {
				continue
			}
			// The key scan reads the key column alone, so it cannot see a
			// row that another column of a malformed file leaves without a
			// value: it may take as good a row the chunk rejects (the row
			// is a reject either way, and a reject that names its line
			// stays accounted for). It must never reject a row the chunk
			// reads, nor read another key than the chunk's.
			for j, r := range got {
				want := ""
				if r.Err == nil {
					if v, found := lookupPath(r.Fields, col); found {
						want = scalarText(v)
					}
				}
				if lines[j] != r.Line || (r.Err == nil && (!oks[j] || keys[j] != want)) {
					t.Fatalf("line %d, column %s: the key scan read %q (ok %v), the chunk %q (%v)", r.Line, col, keys[j], oks[j], want, r.Err)
				}
			}
		}

		// One pass plans the same chunks, when the footer declares no more
		// rows than a fuzz input plans: the pass plans every row the
		// footer declares (2^62, if it says so) before it reads one.
		if !done || len(whole.Chunks) == 0 || len(whole.Header) == 0 {
			return
		}
		n := 0
		scanned, err := ReadColumnsAndPlan(ctx, o, path, Parquet, whole.Header, whole.Version, whole.Chunks[0], whole.Header[:1], chunkRows, func(int64, []string, bool) error {
			n++
			return nil
		})
		if err == nil && (n != int(declared) || !slices.Equal(scanned, planned)) {
			t.Fatalf("the scan read %d rows of %d and planned %+v; Plan planned %+v", n, declared, scanned, planned)
		}
	})
}

// thriftKinds are the Thrift structures the package checks: what each
// decodes to, and what one structure in one of its lists is counted to
// take.
func thriftKinds() []thriftKind {
	return []thriftKind{
		{"footer", footerStructCost, func() any { return new(format.FileMetaData) }},
		{"page header", pageIndexStructCost, func() any { return new(format.PageHeader) }},
		{"column index", pageIndexStructCost, func() any { return new(format.ColumnIndex) }},
		{"offset index", pageIndexStructCost, func() any { return new(format.OffsetIndex) }},
	}
}

type thriftKind struct {
	name string
	cost int64
	into func() any
}

// The Thrift walk on any bytes never panics, never says it took more
// bytes than it had, and never spends more than its budget. A structure
// it accepts is self-delimiting: the walk stops at its end whatever
// follows, and each shorter prefix of it is short, asking for more bytes
// but no more than the structure has (a page header is read a few hundred
// bytes at a time on that answer). What it accepts, the Parquet library
// decodes without a panic, and within a bound linear in what the walk
// counted and in the bytes (the structures outside lists, which the walk
// does not count): a decode that allocates what a length declares rather
// than what the bytes hold goes past it.
func FuzzThriftWalk(f *testing.F) {
	list := parquetList(f, 6, 4)
	n := int(binary.LittleEndian.Uint32(list[len(list)-8:]))
	f.Add(list[len(list)-8-n:len(list)-8], uint8(0), uint32(1<<20))
	md := footerOf(f, list)
	cc := md.RowGroups[0].Columns[0]
	f.Add(list[cc.OffsetIndexOffset:cc.OffsetIndexOffset+int64(cc.OffsetIndexLength)], uint8(3), uint32(4096))
	f.Add(list[cc.ColumnIndexOffset:cc.ColumnIndexOffset+int64(cc.ColumnIndexLength)], uint8(2), uint32(4096))
	h := format.PageHeader{Type: format.DataPage, UncompressedPageSize: 16, CompressedPageSize: 16}
	h.DataPageHeader.Valid = true
	h.DataPageHeader.V.NumValues = 3
	h.DataPageHeader.V.Statistics.MaxValue = []byte("user00099@example.com")
	ph, err := thrift.Marshal(&thrift.CompactProtocol{}, &h)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ph, uint8(1), uint32(1<<16))
	f.Add([]byte{0x15, 0x02, 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07}, uint8(0), uint32(1<<30)) // a list of 2^31-1
	f.Add([]byte{0x15, 0x02, 0x19, 0x1c, 0x48, 0xff, 0xff, 0xff, 0xff, 0x07, 'a'}, uint8(0), uint32(1<<30))
	f.Add(append(bytes.Repeat([]byte{0x1c}, 70), make([]byte, 71)...), uint8(1), uint32(1<<20)) // nested 70 deep
	f.Add([]byte{0x1b, 0x02, 0x58, 0x01, 'k', 0x01, 'v', 0x1a, 0x3d, 0x00, 0x00, 0x00}, uint8(1), uint32(100))
	f.Fuzz(func(t *testing.T, b []byte, kind uint8, budget uint32) {
		defer reportPanic(t)
		kinds := thriftKinds()
		k := kinds[int(kind)%len(kinds)]
		start := int64(budget)
		left := start
		n, err := checkThrift(b, &left, k.cost)
		if n < 0 || n > len(b) {
			t.Fatalf("the walk says it took %d bytes of %d", n, len(b))
		}
		if left < 0 || left > start {
			t.Fatalf("the walk left %d of a budget of %d", left, start)
		}
		var short *thriftShort
		if errors.As(err, &short) && short.need <= int64(len(b)) {
			t.Fatalf("the walk of %d bytes is short (%v), and asks for %d", len(b), err, short.need)
		}
		if err != nil {
			return
		}
		for _, tail := range [][]byte{nil, {0x00}, {0xff, 0xff, 0xff}} {
			again := start
			m, err := checkThrift(append(slices.Clip(b[:n]), tail...), &again, k.cost)
			if m != n || err != nil || again != left {
				t.Fatalf("followed by %x, the structure of %d bytes walks to %d (%v), budget left %d, not %d", tail, n, m, err, again, left)
			}
		}
		for _, cut := range prefixes(n) {
			again := start
			_, err := checkThrift(b[:cut], &again, k.cost)
			if !errors.As(err, &short) || short.need <= int64(cut) || short.need > int64(n) {
				t.Fatalf("cut to %d of its %d bytes, the structure walks with %v (a short one must ask for %d to %d bytes)", cut, n, err, cut+1, n)
			}
		}

		// The library decodes it.
		v := k.into()
		before := allocated()
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("decoding a %s the walk accepted panics: %v\n%s", k.name, p, debug.Stack())
				}
			}()
			var proto thrift.CompactProtocol
			_ = thrift.NewDecoder(proto.NewReaderFromBytes(b[:n])).Decode(v)
		}()
		if took, counted := int64(allocated()-before), start-left; took > 4*counted+64*int64(n)+64<<10 {
			t.Fatalf("decoding a %s of %d bytes took %d bytes; the walk counted %d", k.name, n, took, counted)
		}
	})
}

// prefixes are the lengths short of n at which a structure is cut to
// check it: all of them for a small one, some for a large one.
func prefixes(n int) []int {
	if n <= 256 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := 0; i < n; i += n / 64 {
		out = append(out, i)
	}
	for i := n - 32; i < n; i++ {
		out = append(out, i)
	}
	return out
}

// compressedWith is s compressed with c.
func compressedWith(tb testing.TB, c Compression, s string) []byte {
	tb.Helper()
	return compressed(tb, c, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

// compressed is what write writes, compressed with c.
func compressed(tb testing.TB, c Compression, write func(io.Writer) error) []byte {
	tb.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	switch c {
	case Gzip:
		w = gzip.NewWriter(&b)
	case Zstd:
		z, err := zstd.NewWriter(&b)
		if err != nil {
			tb.Fatal(err)
		}
		w = z
	default:
		tb.Fatalf("no compressor for %v", c)
	}
	if err := write(w); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// plainOf is what a compressed stream decompresses to, read with the
// compression libraries alone, and an error if it is not one stream of c
// or decompresses to more than most bytes.
func plainOf(b []byte, c Compression, most int64) ([]byte, error) {
	var r io.Reader
	switch c {
	case Gzip:
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		r = z
	case Zstd:
		z, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer z.Close()
		r = z
	}
	out, err := io.ReadAll(io.LimitReader(r, most+1))
	if err == nil && int64(len(out)) > most {
		err = fmt.Errorf("more than %d bytes", most)
	}
	return out, err
}

// A gzip or zstd stream of any bytes either stages, into a local area,
// exactly the plain bytes the compression library reads from it, within
// StageLimits.MaxBytes; or fails with a permanent error and leaves the
// area empty. Progress only grows, and never past the compressed size.
// Nothing panics, and no input allocates more than fuzzMemory.
func FuzzStage(f *testing.F) {
	content, _ := genCSV(rand.New(rand.NewSource(3)), 20)
	for _, c := range []Compression{Gzip, Zstd} {
		z := c == Zstd
		p := compressedWith(f, c, content)
		f.Add(p, z, uint16(4096))
		f.Add(p, z, uint16(len(content)-1)) // one byte over the cap
		f.Add(p[:len(p)/2], z, uint16(4096))
		f.Add(append(slices.Clip(p), compressedWith(f, c, "id,name\n9,last\n")...), z, uint16(4096)) // two streams, one after the other
		f.Add(compressedWith(f, c, ""), z, uint16(10))
		f.Add(compressedWith(f, c, strings.Repeat("\x00", 100_000)), z, uint16(60_000))
	}
	f.Add([]byte("id,name\n1,not compressed\n"), false, uint16(100))
	f.Add([]byte("\x28\xb5\x2f\xfd\x04\x58\x00\x00"), true, uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, useZstd bool, most uint16) {
		defer reportPanic(t)
		defer watchdog()()
		c, ext := Gzip, ".gz"
		if useZstd {
			c, ext = Zstd, ".zst"
		}
		dir := t.TempDir()
		src := filepath.Join(dir, "users.csv"+ext)
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		area := filepath.Join(dir, "staging")
		lim := StageLimits{MaxBytes: 1 + int64(most), freeSpace: func(string) (int64, error) { return 1 << 50, nil }}
		var progress []int64
		from, start := allocated(), time.Now()
		staged, err := StageWithin(context.Background(), &Opener{}, Ref{URI: src, Format: CSV, Compression: c}, area, "fuzz", lim, func(n int64) {
			progress = append(progress, n)
		})
		heldToBudget(t, from, start)
		for i, n := range progress {
			if n > int64(len(data)) || i > 0 && n < progress[i-1] {
				t.Fatalf("progress %v for %d compressed bytes", progress, len(data))
			}
		}
		want, wantErr := plainOf(data, c, lim.MaxBytes)
		entries, _ := os.ReadDir(area)
		if err != nil {
			if !errors.Is(err, ErrPermanent) {
				t.Fatalf("staging failed with %v, which is not permanent", err)
			}
			if wantErr == nil {
				t.Fatalf("staging failed (%v); the stream decompresses to %d bytes, within the cap of %d", err, len(want), lim.MaxBytes)
			}
			if len(entries) != 0 {
				t.Fatalf("a failed stage (%v) left %s behind", err, entries[0].Name())
			}
			return
		}
		if wantErr != nil {
			t.Fatalf("staged a stream that does not decompress within %d bytes: %v", lim.MaxBytes, wantErr)
		}
		got, err := os.ReadFile(staged.URI)
		if err != nil || !bytes.Equal(got, want) || !staged.Staged || staged.Compression != "" || staged.Format != CSV {
			t.Fatalf("staged %+v: %d bytes (%v), want %d", staged, len(got), err, len(want))
		}
		if len(entries) != 1 || entries[0].Name() != StagedName("fuzz", CSV) {
			t.Fatalf("the area holds %v", entries)
		}
		if err := (&Opener{}).Unstage(context.Background(), area, "fuzz", CSV); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(area); len(entries) != 0 {
			t.Fatalf("unstaged, the area holds %v", entries)
		}
	})
}
