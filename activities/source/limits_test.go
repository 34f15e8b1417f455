package source

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// footerOf is the footer of a Parquet file, decoded.
func footerOf(t testing.TB, data []byte) format.FileMetaData {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	var md format.FileMetaData
	if err := thrift.Unmarshal(&thrift.CompactProtocol{}, data[len(data)-8-n:len(data)-8], &md); err != nil {
		t.Fatal(err)
	}
	return md
}

// An operator sets the caps with variables; a value that is not one is
// refused naming its variable, and what is not set is its default.
func TestTheCapsComeFromTheirVariables(t *testing.T) {
	env := map[string]string{"IMPORTER_MAX_COLUMNS": "2_000", "IMPORTER_MAX_CHUNK_BYTES": "1048576"}
	l, err := LimitsFromEnv(func(k string) string { return env[k] })
	want := Limits{MaxColumns: 2000, MaxNesting: 32, MaxHeaderBytes: 1 << 20, MaxChunkBytes: 1 << 20, MaxParquetFooter: 64 << 20}
	if err != nil || l != want {
		t.Fatalf("%+v, %v; want %+v", l, err, want)
	}
	for name, value := range map[string]string{"IMPORTER_MAX_NESTING": "deep", "IMPORTER_PARQUET_MAX_FOOTER": "-1", "IMPORTER_MAX_HEADER_BYTES": "2000000"} {
		_, err := LimitsFromEnv(func(k string) string {
			if k == name {
				return value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v; want an error that names it", name, value, err)
		}
	}
	if (Limits{}).WithDefaults() != (Limits{MaxColumns: 1000, MaxNesting: 32, MaxHeaderBytes: 1 << 20, MaxChunkBytes: 64 << 20, MaxParquetFooter: 64 << 20}) {
		t.Errorf("defaults: %+v", Limits{}.WithDefaults())
	}
}

// csvOfWidth is a CSV of columns c0, c1, ... and rows of their numbers.
func csvOfWidth(columns, rows int) string {
	var b strings.Builder
	for r := -1; r < rows; r++ {
		for c := range columns {
			if c > 0 {
				b.WriteByte(',')
			}
			if r < 0 {
				fmt.Fprintf(&b, "c%d", c)
			} else {
				fmt.Fprint(&b, r*columns+c)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// A list with more columns than a worker reads (1,000 by default) fails
// at planning and at the scan with one sentence that names the setting,
// before a row is read; the setting raises the cap.
func TestAListWiderThanTheColumnCapFailsNamingTheSetting(t *testing.T) {
	ctx := context.Background()
	wide := writeFile(t, "wide.csv", csvOfWidth(1001, 3))
	for _, o := range []*Opener{{}, {Limits: Limits{MaxColumns: 1000}}} {
		_, err := Plan(ctx, o, PlanRequest{URI: wide, Format: CSV, ChunkRows: 10, MaxChunks: 10}, nil)
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "has 1001 columns, more than the 1000 an import reads (IMPORTER_MAX_COLUMNS)") {
			t.Fatalf("plan: %v", err)
		}
		if _, err := Whole(ctx, o, wide, CSV); err == nil || !strings.Contains(err.Error(), "IMPORTER_MAX_COLUMNS") {
			t.Fatalf("the scan's plan: %v", err)
		}
	}
	raised := &Opener{Limits: Limits{MaxColumns: 1001}}
	first, chunks := planAll(t, raised, wide, CSV, 10, 10)
	if recs := readAll(t, raised, wide, CSV, first, chunks); len(first.Header) != 1001 || len(recs) != 3 || recs[2].Fields["c1000"] != "3002" {
		t.Fatalf("with the cap raised: %d columns, %d rows", len(first.Header), len(recs))
	}

	// NDJSON: an object's fields, nested ones counted one by one.
	var obj strings.Builder
	obj.WriteString(`{"id":1,"tags":{`)
	for i := range 1000 {
		if i > 0 {
			obj.WriteByte(',')
		}
		fmt.Fprintf(&obj, `"t%d":[1,{"x":2}]`, i)
	}
	obj.WriteString("}}")
	nd := writeFile(t, "wide.ndjson", `{"id":0,"tags":{"t":"a"}}`+"\n"+obj.String()+"\n")
	first, chunks = planAll(t, &Opener{}, nd, NDJSON, 10, 10)
	err := ReadChunk(ctx, &Opener{}, nd, NDJSON, nil, first.Version, chunks[0], func(Record) error { return nil })
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "line 2 of "+nd+" has 1001 fields, more than the 1000 columns an import reads (IMPORTER_MAX_COLUMNS)") {
		t.Fatalf("an NDJSON row of 1001 fields: %v", err)
	}
	err = ReadColumns(ctx, &Opener{}, nd, NDJSON, nil, first.Version, chunks[0], []string{"id"}, func(int64, []string, bool) error { return nil })
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "IMPORTER_MAX_COLUMNS") {
		t.Fatalf("the scan of an NDJSON row of 1001 fields: %v", err)
	}
	if err := ReadChunk(ctx, &Opener{Limits: Limits{MaxColumns: 1001}}, nd, NDJSON, nil, first.Version, chunks[0], func(Record) error { return nil }); err != nil {
		t.Fatalf("with the cap raised: %v", err)
	}

	// Parquet: the schema's leaf columns.
	group := parquet.Group{}
	for i := range 1001 {
		group[fmt.Sprintf("c%04d", i)] = parquet.String()
	}
	var b bytes.Buffer
	w := parquet.NewWriter(&b, parquet.NewSchema("wide", group))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pq := writeFile(t, "wide.parquet", b.String())
	if _, err := Plan(ctx, &Opener{}, PlanRequest{URI: pq, Format: Parquet, ChunkRows: 10, MaxChunks: 10}, nil); !errors.Is(err, ErrPermanent) ||
		!strings.Contains(err.Error(), "the Parquet schema of "+pq+" has more than 1000 columns, the most an import reads (IMPORTER_MAX_COLUMNS)") {
		t.Fatalf("a Parquet schema of 1001 columns: %v", err)
	}
	if _, err := Whole(ctx, &Opener{Limits: Limits{MaxColumns: 1001}}, pq, Parquet); err != nil {
		t.Fatalf("with the cap raised: %v", err)
	}
}

// An NDJSON row nested deeper than the cap (32 levels) is a reject of that
// row, saying so, decoded no further: a row of 100,000 levels costs no more
// than its bytes. The rows around it are read, and the scan agrees.
func TestAnNDJSONRowNestedDeeperThanTheCapIsAReject(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	atCap := strings.Repeat(`{"a":[`, 16) + "1" + strings.Repeat("]}", 16) // 32 levels
	path := writeFile(t, "deep.ndjson", `{"id":"before"}`+"\n"+deep+"\n"+atCap+"\n"+`{"id":"after"}`+"\n")
	o := &Opener{}
	first, chunks := planAll(t, o, path, NDJSON, 10, 10)
	runtime.GC()
	from := allocated()
	recs := readAll(t, o, path, NDJSON, first, chunks)
	used := allocated() - from
	if len(recs) != 4 || recs[0].Fields["id"] != "before" || recs[3].Fields["id"] != "after" || recs[2].Err != nil {
		t.Fatalf("%d rows: %+v", len(recs), recs)
	}
	if recs[1].Line != 2 || recs[1].Err == nil || recs[1].Err.Error() != "row nests objects and lists deeper than 32 levels (IMPORTER_MAX_NESTING)" {
		t.Fatalf("the deep row: line %d, %v", recs[1].Line, recs[1].Err)
	}
	if used > 8<<20 {
		t.Errorf("reading the list allocated %d MiB", used>>20)
	}
	var ok []bool
	if err := ReadColumns(context.Background(), o, path, NDJSON, nil, first.Version, chunks[0], []string{"id"}, func(_ int64, _ []string, good bool) error {
		ok = append(ok, good)
		return nil
	}); err != nil || !slices.Equal(ok, []bool{true, false, true, true}) {
		t.Fatalf("the scan: %v %v", ok, err)
	}
}

// A CSV record with more fields than its header is a reject; its fields
// past the header's are counted, not copied: a record of a million commas
// does not make a million strings.
func TestACSVRecordOfAMillionFieldsIsOneRejectThatCopiesNoneOfThem(t *testing.T) {
	path := writeFile(t, "commas.csv", "a,b\n1,2\n"+strings.Repeat(",", 1_000_000)+"\n3,4\n")
	o := &Opener{}
	first, chunks := planAll(t, o, path, CSV, 10, 10)
	runtime.GC()
	from := allocated()
	recs := readAll(t, o, path, CSV, first, chunks)
	used := allocated() - from
	if len(recs) != 3 || recs[1].Err == nil || recs[1].Err.Error() != "row has 1000001 fields, header has 2" || recs[2].Fields["b"] != "4" {
		t.Fatalf("%+v", recs)
	}
	if used > 6<<20 {
		t.Errorf("reading the record allocated %d MiB", used>>20)
	}
}

// A CSV header longer than the cap (1 MiB, or less when set) fails
// planning with a sentence that names the setting.
func TestAHeaderLongerThanTheCapFailsNamingTheSetting(t *testing.T) {
	ctx := context.Background()
	long := writeFile(t, "long.csv", "a"+strings.Repeat(",b", (1<<20)/2)+"\n1\n")
	_, err := Plan(ctx, &Opener{}, PlanRequest{URI: long, Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil)
	if !errors.Is(err, ErrPermanent) || err.Error() != "the header row of "+long+" is longer than 1048576 bytes (IMPORTER_MAX_HEADER_BYTES)" {
		t.Fatalf("a header of 1 MiB and a byte: %v", err)
	}
	header := csvOfWidth(200, 1) // 889 bytes
	path := writeFile(t, "h.csv", header)
	o := &Opener{Limits: Limits{MaxHeaderBytes: 888}}
	if _, err := Plan(ctx, o, PlanRequest{URI: path, Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil); err == nil || !strings.Contains(err.Error(), "longer than 888 bytes (IMPORTER_MAX_HEADER_BYTES)") {
		t.Fatalf("a header over a cap of 888: %v", err)
	}
	o.Limits.MaxHeaderBytes = 889
	if p, err := Plan(ctx, o, PlanRequest{URI: path, Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil); err != nil || len(p.Header) != 200 {
		t.Fatalf("a header at the cap: %d columns, %v", len(p.Header), err)
	}
}

// Planning cuts a chunk once its records reach the byte budget, even with
// fewer rows than asked: a wide list gets fewer rows a chunk. Plan's pages
// and the scan's plan cut alike, and the chunks read every row once.
func TestAChunkEndsAtTheByteBudget(t *testing.T) {
	ctx := context.Background()
	row := func(i int) string { return fmt.Sprintf("%04d,%s", i, strings.Repeat("x", 1019)) } // 1,025 bytes with its newline
	var csv, nd strings.Builder
	csv.WriteString("id,pad\n")
	for i := range 95 {
		fmt.Fprintln(&csv, row(i))
		fmt.Fprintf(&nd, "{\"id\":\"%04d\",\"pad\":\"%s\"}\n", i, strings.Repeat("x", 1000))
	}
	o := &Opener{Limits: Limits{MaxChunkBytes: 10 << 10}}
	for _, tc := range []struct {
		format  Format
		content string
	}{{CSV, csv.String()}, {NDJSON, nd.String()}} {
		path := writeFile(t, "wide."+string(tc.format), tc.content)
		first, planned := planAll(t, o, path, tc.format, 50, 3)
		lines := strings.SplitAfter(tc.content, "\n")
		rowBytes := len(lines[len(lines)-2])
		rows := (10<<10 + rowBytes - 1) / rowBytes // the first to reach 10 KiB ends the chunk
		for i, c := range planned {
			if c.Rows != rows && i != len(planned)-1 {
				t.Fatalf("%s chunk %d: %d rows, %d bytes; want %d rows of %d bytes (10 KiB)", tc.format, i, c.Rows, c.Length, rows, rowBytes)
			}
		}
		if recs := readAll(t, o, path, tc.format, first, planned); len(recs) != 95 || recs[94].Fields["id"] != "0094" {
			t.Fatalf("%s: %d rows read", tc.format, len(recs))
		}
		whole, err := Whole(ctx, o, path, tc.format)
		if err != nil {
			t.Fatal(err)
		}
		scanned, err := ReadColumnsAndPlan(ctx, o, path, tc.format, whole.Header, whole.Version, whole.Chunks[0], []string{"id"}, 50, func(int64, []string, bool) error { return nil })
		if err != nil || !slices.Equal(scanned, planned) {
			t.Fatalf("%s: the scan planned %+v (%v), Plan %+v", tc.format, scanned, err, planned)
		}
		// Without a budget set, the default (64 MiB) leaves the rows asked.
		if _, planned := planAll(t, &Opener{}, path, tc.format, 50, 3); len(planned) != 2 || planned[0].Rows != 50 {
			t.Fatalf("%s with the default budget: %+v", tc.format, planned)
		}
	}

	// Parquet: a row group's uncompressed bytes, shared among its rows.
	// (Small pages: a page may take no more than a chunk to decode.)
	data := parquetList(t, 450, 100, parquet.PageBufferSize(512))
	path := writeFile(t, "users.parquet", string(data))
	rg := footerOf(t, data).RowGroups[0]
	perRow := (rg.TotalByteSize + rg.NumRows - 1) / rg.NumRows
	o = &Opener{Limits: Limits{MaxChunkBytes: 35 * perRow}}
	first, planned := planAll(t, o, path, Parquet, 40, 3)
	if planned[0].Rows != 35 || planned[len(planned)-1].Offset+int64(planned[len(planned)-1].Rows) != 450 {
		t.Fatalf("Parquet chunks of %d rows of %d bytes each, a budget of %d: %+v", planned[0].Rows, perRow, 35*perRow, planned[:2])
	}
	if recs := readAll(t, o, path, Parquet, first, planned); len(recs) != 450 || recs[449].Fields["end_user"] != "user00449@example.com" {
		t.Fatalf("%d Parquet rows read", len(recs))
	}
	whole, err := Whole(ctx, o, path, Parquet)
	if err != nil {
		t.Fatal(err)
	}
	scanned, err := ReadColumnsAndPlan(ctx, o, path, Parquet, whole.Header, whole.Version, whole.Chunks[0], []string{"end_user"}, 40, func(int64, []string, bool) error { return nil })
	if err != nil || !slices.Equal(scanned, planned) {
		t.Fatalf("Parquet: the scan planned %d chunks (%v), Plan %d", len(scanned), err, len(planned))
	}
}

// A Parquet footer that declares far more rows than its bytes can hold (a
// tiny file claiming 2^40 rows) is refused before planning or the scan
// work, or hold memory, for rows that are not there.
func TestAParquetFileDeclaringMoreRowsThanItsBytesIsRefused(t *testing.T) {
	from := allocated()
	pq := writeFile(t, "many.parquet", string(parquetWithRows(t, parquetList(t, 10, 10), 1<<40)))
	ctx := context.Background()
	_, err := Plan(ctx, &Opener{}, PlanRequest{URI: pq, Format: Parquet, ChunkRows: 1000, MaxChunks: 10}, nil)
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "declare 1099511627776 rows in") {
		t.Fatalf("plan: %v", err)
	}
	if _, err := Whole(ctx, &Opener{}, pq, Parquet); !errors.Is(err, ErrPermanent) {
		t.Fatalf("the scan's plan: %v", err)
	}
	if grew := allocated() - from; grew > 64<<20 {
		t.Fatalf("refusing it allocated %d MiB", grew>>20)
	}
}
