package source

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Tests of records, headers and page headers that straddle the edges of
// the buffers and ranges the readers use: a CSV header's growing range
// (8 KiB, 64 KiB, 512 KiB), the scanner's 1 MiB buffer, and for Parquet
// the library's 64-byte header buffer, the 256 bytes a page header is
// first read with, and the 1 MiB and 4 MiB windows column chunks are read
// through.

// namesOfLength are column names (h000000, h000001, ...; the last one
// padded) that, joined with commas, are exactly size bytes.
func namesOfLength(size int) []string {
	var names []string
	for n := 0; ; {
		if size-n < 24 {
			last := fmt.Sprintf("h%06d", len(names))
			return append(names, last+strings.Repeat("x", size-n-len(last)))
		}
		names = append(names, fmt.Sprintf("h%06d", len(names)))
		n += 8 // the name and its comma
	}
}

// wholeHeaderCase is a CSV whose header has a given byte just before a
// range's end.
type wholeHeaderCase struct {
	name      string
	text      string
	header    []string
	dataStart int64 // where the header ends
}

// headersAcross are CSVs whose header holds, at the last byte of a range
// readHeader asks for (edge), a comma (the range would end with an empty
// name), a quote that opens a field going on past it, the CR of a CRLF, the
// LF that ends it, or whose header ends one byte later; with a BOM too.
func headersAcross(edge int) []wholeHeaderCase {
	row := func(header []string) string { return strings.Repeat("1,", len(header)-1) + "1\n" }
	var out []wholeHeaderCase
	add := func(name, bom string, names []string, rest string, more ...string) {
		header := append(slices.Clone(names), more...)
		text := bom + strings.Join(names, ",") + rest
		out = append(out, wholeHeaderCase{fmt.Sprintf("%s before byte %d", name, edge), text + row(header), header, int64(len(text))})
	}
	add("a comma", "", namesOfLength(edge-1), ",last\n", "last")
	add("a comma after a BOM", "\ufeff", namesOfLength(edge-4), ",last\n", "last")
	add("an open quote", "", namesOfLength(edge-2), ",\"x,\ny\",z\r\n", "x,\ny", "z")
	add("the CR of a CRLF", "", namesOfLength(edge-1), "\r\n")
	add("the LF that ends it", "", namesOfLength(edge-1), "\n")
	add("the last name's last byte", "", namesOfLength(edge), "\n")
	return out
}

// A CSV header is read whole, however long, wherever the ranges the header
// is read with end: "starter import" refused a header of 6,500 columns,
// cut where a range ended, as naming a column twice. The header and the
// first row read exactly, from a file and over http.
func TestAHeaderIsReadWholeWhereverItsRangesEnd(t *testing.T) {
	var names []string
	for i := range 6500 {
		names = append(names, fmt.Sprintf("tags.c%d", i))
	}
	header := strings.Join(names, ",") + "\n"
	cases := []wholeHeaderCase{{"6,500 columns named tags.c0...", header + strings.Repeat("x,", 6499) + "x\n", names, int64(len(header))}}
	for _, edge := range []int{8 << 10, 64 << 10, 512 << 10} {
		cases = append(cases, headersAcross(edge)...)
	}
	var current []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "list.csv", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), bytes.NewReader(current))
	}))
	defer srv.Close()
	ctx := context.Background()
	o := &Opener{HTTP: srv.Client(), Limits: Limits{MaxColumns: 100_000}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			current = []byte(tc.text)
			dataStart := tc.dataStart
			for _, uri := range []string{writeFile(t, "list.csv", tc.text), srv.URL + "/list.csv"} {
				// As starter import checks a header, and as a worker plans.
				page, err := Plan(ctx, o, PlanRequest{URI: uri, Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil)
				if err != nil {
					t.Fatalf("%s: %v", uri, err)
				}
				if !slices.Equal(page.Header, tc.header) || page.DataStart != dataStart {
					t.Fatalf("%s: %d columns, data from byte %d; want %d, from byte %d; first difference: %v", uri, len(page.Header), page.DataStart, len(tc.header), dataStart, firstDiff(page.Header, tc.header))
				}
				whole, err := Whole(ctx, o, uri, CSV)
				if err != nil || !slices.Equal(whole.Header, tc.header) {
					t.Fatalf("%s: the scan's header: %d columns, %v", uri, len(whole.Header), err)
				}
				recs := readAll(t, o, uri, CSV, page, page.Chunks)
				if len(recs) != 1 || recs[0].Err != nil || len(recs[0].Fields) != len(tc.header) {
					t.Fatalf("%s: the first row: %d records, %v", uri, len(recs), recs[0].Err)
				}
			}
		})
	}
	// With the default cap, the 6,500 columns are refused as such.
	_, err := Plan(ctx, &Opener{}, PlanRequest{URI: writeFile(t, "tags.csv", cases[0].text), Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "has 6500 columns, more than the 1000 an import reads (IMPORTER_MAX_COLUMNS)") {
		t.Fatalf("6,500 columns with the default cap: %v", err)
	}
}

// Records at the edge of the scanner's 1 MiB buffer read exactly: one of
// 1 MiB or less is read whole, wherever its line ending falls (its CR the
// buffer's last byte, or its LF the first of the next), a longer one is a
// reject, and the records around them are read at their lines; planning,
// the scan's plan and the scan agree.
func TestRecordsAtTheScannersBufferEdgeReadExactly(t *testing.T) {
	ctx := context.Background()
	o := &Opener{}
	for _, format := range []Format{CSV, NDJSON} {
		for _, ending := range []string{"\n", "\r\n"} {
			var b strings.Builder
			var want []string // each row's value, or "" for a reject
			line := func(value string) string {
				if format == NDJSON {
					return `{"v":"` + value + `"}`
				}
				return value
			}
			if format == CSV {
				b.WriteString("v" + ending)
			}
			for _, size := range []int{MaxRecordBytes - 2, MaxRecordBytes - 1, MaxRecordBytes, MaxRecordBytes + 1} {
				b.WriteString(line("before") + ending)
				want = append(want, "before")
				value := strings.Repeat("x", size-len(line("")))
				b.WriteString(line(value) + ending)
				if size > MaxRecordBytes {
					value = ""
				}
				want = append(want, value)
			}
			b.WriteString(line("after") + ending)
			want = append(want, "after")
			path := writeFile(t, "edge."+string(format), b.String())
			for _, chunkRows := range []int{1, 3, 100} {
				first, chunks := planAll(t, o, path, format, chunkRows, 2)
				recs := readAll(t, o, path, format, first, chunks)
				if len(recs) != len(want) {
					t.Fatalf("%s, %q: %d records, want %d", format, ending, len(recs), len(want))
				}
				for i, r := range recs {
					wantLine := int64(i + 1)
					if format == CSV {
						wantLine++ // after the header
					}
					if r.Line != wantLine {
						t.Fatalf("%s, %q: record %d at line %d, want %d", format, ending, i, r.Line, wantLine)
					}
					switch {
					case want[i] == "" && (r.Err == nil || !strings.Contains(r.Err.Error(), "longer than 1 MiB")):
						t.Fatalf("%s, %q: record %d of %d bytes: %v, want a reject", format, ending, i, MaxRecordBytes+1, r.Err)
					case want[i] != "" && (r.Err != nil || r.Fields["v"] != want[i]):
						t.Fatalf("%s, %q: record %d: %v, %d bytes, want %d", format, ending, i, r.Err, len(fmt.Sprint(r.Fields["v"])), len(want[i]))
					}
				}
				whole, err := Whole(ctx, o, path, format)
				if err != nil {
					t.Fatal(err)
				}
				var ok []bool
				scanned, err := ReadColumnsAndPlan(ctx, o, path, format, whole.Header, whole.Version, whole.Chunks[0], []string{"v"}, chunkRows, func(_ int64, v []string, good bool) error {
					ok = append(ok, good && len(v[0]) > 0)
					return nil
				})
				if err != nil || !slices.Equal(scanned, chunks) || len(ok) != len(want) {
					t.Fatalf("%s, %q: the scan planned %d chunks (%v), Plan %d; %d rows", format, ending, len(scanned), err, len(chunks), len(ok))
				}
				for i := range ok {
					if ok[i] != (want[i] != "") {
						t.Fatalf("%s, %q: the scan read record %d: %v", format, ending, i, ok[i])
					}
				}
			}
		}
	}
}

type longRow struct {
	Name string   `parquet:"name"`
	List []string `parquet:"list"`
	N    int64    `parquet:"n"`
}

// Parquet column chunks read exactly across the edges of what they are
// read through: page headers of about a kilobyte (their statistics hold
// long values), longer than the library's 64-byte buffer and than the 256
// bytes a header is first read with; column chunks over 1 MiB, whose pages
// straddle the 1 MiB windows a list column without an offset index is read
// through and whose headers are read one by one; a key column over 4 MiB,
// whose pages straddle the key scan's 4 MiB windows. Every chunk, with
// the offset index or without, reads the rows the library reads.
func TestParquetPagesAcrossReadEdgesReadExactly(t *testing.T) {
	rows := make([]longRow, 10_000)
	for i := range rows {
		pad := strings.Repeat(string(rune('a'+i%26)), 480)
		rows[i] = longRow{Name: fmt.Sprintf("user%05d-%s", i, pad), List: []string{pad[:200+i%200]}, N: int64(i)}
	}
	var b bytes.Buffer
	if err := parquet.Write(&b, rows, parquet.MaxRowsPerRowGroup(10_000), parquet.PageBufferSize(48<<10), parquet.DataPageVersion(1)); err != nil {
		t.Fatal(err)
	}
	md := footerOf(t, b.Bytes())
	if name := md.RowGroups[0].Columns[0].MetaData.TotalCompressedSize; name < 4<<20 {
		t.Fatalf("the name column is %d bytes; the test wants more than 4 MiB", name)
	}
	ctx := context.Background()
	for _, bare := range []bool{false, true} {
		data := b.Bytes()
		if bare {
			data = withoutPageIndex(t, data)
		}
		path := writeFile(t, "long.parquet", string(data))
		o := &Opener{}
		first, chunks := planAll(t, o, path, Parquet, 700, 100)
		recs := readAll(t, o, path, Parquet, first, chunks)
		if len(recs) != len(rows) {
			t.Fatalf("without the index %v: %d rows", bare, len(recs))
		}
		for i, r := range recs {
			list, _ := r.Fields["list"].([]any)
			if r.Err != nil || r.Fields["name"] != rows[i].Name || len(list) != 1 || list[0] != rows[i].List[0] {
				t.Fatalf("without the index %v, row %d: %v", bare, i+1, r.Err)
			}
		}
		whole, err := Whole(ctx, o, path, Parquet)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = ReadColumns(ctx, o, path, Parquet, whole.Header, whole.Version, whole.Chunks[0], []string{"name", "n"}, func(line int64, v []string, ok bool) error {
			if !ok || v[0] != rows[line-1].Name || v[1] != fmt.Sprint(line-1) {
				return fmt.Errorf("line %d: %v", line, ok)
			}
			n++
			return nil
		})
		if err != nil || n != len(rows) {
			t.Fatalf("without the index %v: the scan read %d rows: %v", bare, n, err)
		}
	}
}
