package source

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// planAll plans a whole source in pages of maxChunks.
func planAll(t testing.TB, o *Opener, uri string, f Format, chunkRows, maxChunks int) (Page, []Chunk) {
	t.Helper()
	var all []Chunk
	var first Page
	req := PlanRequest{URI: uri, Format: f, ChunkRows: chunkRows, MaxChunks: maxChunks}
	for i := 0; ; i++ {
		p, err := Plan(context.Background(), o, req, nil)
		if err != nil {
			t.Fatalf("plan page %d: %v", i, err)
		}
		if i == 0 {
			first = p
			v := p.Version
			req.Expect = &v
		}
		all = append(all, p.Chunks...)
		if p.Done {
			return first, all
		}
		if len(p.Chunks) == 0 {
			t.Fatal("a page that is not done returned no chunks")
		}
		req.From, req.FromLine, req.NextIndex = p.Next, p.NextLine, p.NextIndex
	}
}

// readAll reads every chunk and returns the records.
func readAll(t testing.TB, o *Opener, uri string, f Format, first Page, chunks []Chunk) []Record {
	t.Helper()
	var out []Record
	for _, c := range chunks {
		n := 0
		err := ReadChunk(context.Background(), o, uri, f, first.Header, first.Version, c, func(r Record) error {
			out = append(out, r)
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("read chunk %d: %v", c.Index, err)
		}
		if n != c.Rows {
			t.Fatalf("chunk %d: read %d records, planned %d", c.Index, n, c.Rows)
		}
	}
	return out
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCSVEdgeCases(t *testing.T) {
	type row struct {
		line   int64
		fields map[string]any
		err    string
	}
	cases := []struct {
		name   string
		in     string
		header []string
		rows   []row
	}{
		{"quoted comma and newline", "a,b\n\"x,1\",\"multi\nline\"\n2,3\n", []string{"a", "b"}, []row{
			{line: 2, fields: map[string]any{"a": "x,1", "b": "multi\nline"}},
			{line: 4, fields: map[string]any{"a": "2", "b": "3"}},
		}},
		{"CRLF with quoted CRLF and escaped quotes", "a,b\r\n\"say \"\"hi\"\"\",\"l1\r\nl2\"\r\nz,y\r\n", []string{"a", "b"}, []row{
			{line: 2, fields: map[string]any{"a": `say "hi"`, "b": "l1\nl2"}},
			{line: 4, fields: map[string]any{"a": "z", "b": "y"}},
		}},
		{"BOM, blank lines, no final newline", "\xEF\xBB\xBFa,b\n\n1,2\r\n\r\n\n3,4", []string{"a", "b"}, []row{
			{line: 3, fields: map[string]any{"a": "1", "b": "2"}},
			{line: 6, fields: map[string]any{"a": "3", "b": "4"}},
		}},
		{"lone quote in unquoted field", "a,b\nab\"c,d\n", []string{"a", "b"}, []row{
			{line: 2, fields: map[string]any{"a": `ab"c`, "b": "d"}},
		}},
		{"wrong field count", "a,b,c\n1,2\n1,2,3\n", []string{"a", "b", "c"}, []row{
			{line: 2, err: "row has 2 fields, header has 3"},
			{line: 3, fields: map[string]any{"a": "1", "b": "2", "c": "3"}},
		}},
		{"unterminated quote at end", "a,b\n1,2\n3,\"open\n4,5\n", []string{"a", "b"}, []row{
			{line: 2, fields: map[string]any{"a": "1", "b": "2"}},
			{line: 3, err: "quoted field is not closed"},
		}},
		{"invalid UTF-8", "a\n\xff\xfe\nok\n", []string{"a"}, []row{
			{line: 2, err: "not valid UTF-8"},
			{line: 3, fields: map[string]any{"a": "ok"}},
		}},
		{"header only", "a,b\n", []string{"a", "b"}, nil},
		{"empty trailing field", "a,b\n1,\n", []string{"a", "b"}, []row{{line: 2, fields: map[string]any{"a": "1", "b": ""}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "x.csv", tc.in)
			o := &Opener{}
			for _, chunkRows := range []int{1, 2, 100} {
				first, chunks := planAll(t, o, path, CSV, chunkRows, 1)
				if !reflect.DeepEqual(first.Header, tc.header) {
					t.Fatalf("header %q, want %q", first.Header, tc.header)
				}
				recs := readAll(t, o, path, CSV, first, chunks)
				if len(recs) != len(tc.rows) {
					t.Fatalf("chunkRows %d: %d records, want %d: %+v", chunkRows, len(recs), len(tc.rows), recs)
				}
				for i, want := range tc.rows {
					got := recs[i]
					if got.Line != want.line {
						t.Errorf("record %d: line %d, want %d", i, got.Line, want.line)
					}
					if want.err != "" {
						if got.Err == nil || !strings.Contains(got.Err.Error(), want.err) {
							t.Errorf("record %d: err %v, want %q", i, got.Err, want.err)
						}
						continue
					}
					if got.Err != nil || !reflect.DeepEqual(got.Fields, want.fields) {
						t.Errorf("record %d: %v %v, want %v", i, got.Fields, got.Err, want.fields)
					}
				}
			}
		})
	}
}

func TestEmptyAndBadHeaders(t *testing.T) {
	o := &Opener{}
	for name, in := range map[string]string{"empty": "", "blank lines": "\n\n", "duplicate": "a,a\n1,2\n", "unnamed": "a,,c\n"} {
		path := writeFile(t, "x.csv", in)
		_, err := Plan(context.Background(), o, PlanRequest{URI: path, Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil)
		if !errors.Is(err, ErrPermanent) {
			t.Errorf("%s: want a permanent error, got %v", name, err)
		}
	}
	_, err := Plan(context.Background(), o, PlanRequest{URI: filepath.Join(t.TempDir(), "nope.csv"), Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "nope.csv") {
		t.Errorf("missing file: %v", err)
	}
}

func TestNDJSON(t *testing.T) {
	in := "{\"end_user\":\"a\",\"n\":1.50,\"tags\":{\"x\":\"y\"}}\n   \n[1,2]\n{bad\n{\"end_user\":\"b\"}"
	path := writeFile(t, "x.ndjson", in)
	o := &Opener{}
	first, chunks := planAll(t, o, path, NDJSON, 2, 1)
	recs := readAll(t, o, path, NDJSON, first, chunks)
	if len(recs) != 4 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	if recs[0].Fields["n"] != jsonNumber("1.50") || recs[0].Fields["tags"].(map[string]any)["x"] != "y" {
		t.Errorf("record 0: %+v", recs[0].Fields)
	}
	if recs[1].Line != 3 || recs[1].Err == nil || !strings.Contains(recs[1].Err.Error(), "not a JSON object") {
		t.Errorf("record 1: %+v", recs[1])
	}
	if recs[2].Line != 4 || recs[2].Err == nil {
		t.Errorf("record 2: %+v", recs[2])
	}
	if recs[3].Line != 5 || recs[3].Fields["end_user"] != "b" {
		t.Errorf("record 3: %+v", recs[3])
	}
}

// genCSV writes a random CSV and returns it with its expected records.
func genCSV(r *rand.Rand, rows int) (string, [][]string) {
	var b bytes.Buffer
	b.WriteString("id,name,note\n")
	want := make([][]string, 0, rows)
	for i := 0; i < rows; i++ {
		name := fmt.Sprintf("n%d", i)
		note := "plain"
		switch r.Intn(6) {
		case 0:
			note = "with, comma"
		case 1:
			note = "two\nlines"
		case 2:
			note = `quote "inside"`
		case 3:
			note = "crlf\r\ninside"
		}
		rec := []string{fmt.Sprint(i), name, note}
		var line bytes.Buffer
		w := csv.NewWriter(&line)
		w.UseCRLF = r.Intn(2) == 0
		_ = w.Write(rec)
		w.Flush()
		b.Write(line.Bytes())
		if r.Intn(10) == 0 {
			b.WriteString("\n")
		}
		want = append(want, []string{fmt.Sprint(i), name, strings.ReplaceAll(note, "\r\n", "\n")})
	}
	return b.String(), want
}

func TestPlanAndReadCoverEveryRecordOnce(t *testing.T) {
	o := &Opener{}
	for seed := int64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewSource(seed))
		content, want := genCSV(r, 50+r.Intn(300))
		path := writeFile(t, "x.csv", content)
		for _, chunkRows := range []int{1, 7, 64, 1000} {
			for _, page := range []int{1, 3, 50} {
				first, chunks := planAll(t, o, path, CSV, chunkRows, page)
				recs := readAll(t, o, path, CSV, first, chunks)
				if len(recs) != len(want) {
					t.Fatalf("seed %d rows %d page %d: %d records, want %d", seed, chunkRows, page, len(recs), len(want))
				}
				for i, rec := range recs {
					if rec.Err != nil || rec.Fields["id"] != want[i][0] || rec.Fields["note"] != want[i][2] {
						t.Fatalf("seed %d record %d: %+v, want %q", seed, i, rec, want[i])
					}
				}
				for i := 1; i < len(chunks); i++ {
					if chunks[i].Index != i || chunks[i].Offset < chunks[i-1].Offset+chunks[i-1].Length {
						t.Fatalf("chunks overlap or are misnumbered: %+v %+v", chunks[i-1], chunks[i])
					}
				}
			}
		}
	}
}

func TestLineNumbersCountPhysicalLines(t *testing.T) {
	path := writeFile(t, "x.csv", "a,b\n1,\"x\ny\nz\"\n\n2,3\n")
	o := &Opener{}
	first, chunks := planAll(t, o, path, CSV, 1, 10)
	recs := readAll(t, o, path, CSV, first, chunks)
	if len(recs) != 2 || recs[0].Line != 2 || recs[1].Line != 6 {
		t.Fatalf("lines: %+v", recs)
	}
	if chunks[1].FirstLine != 6 {
		t.Fatalf("chunk 1 first line %d", chunks[1].FirstLine)
	}
}

func TestSplitCSVMatchesEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	alphabet := []string{"a", "b", ",", "\"", " ", "\n", "é", ""}
	for i := 0; i < 5000; i++ {
		n := 1 + r.Intn(5)
		rec := make([]string, n)
		for j := range rec {
			var b strings.Builder
			for k := r.Intn(6); k > 0; k-- {
				b.WriteString(alphabet[r.Intn(len(alphabet))])
			}
			rec[j] = b.String()
		}
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		_ = w.Write(rec)
		w.Flush()
		line := strings.TrimSuffix(buf.String(), "\n")
		cr := csv.NewReader(strings.NewReader(buf.String()))
		cr.LazyQuotes, cr.FieldsPerRecord = true, -1
		want, err := cr.Read()
		if err != nil {
			continue // encoding/csv wrote something it cannot read back as one record
		}
		got, err := splitCSV([]byte(line), nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("record %q: got %q %v, want %q", line, got, err, want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	for uri, want := range map[string]Format{"a.csv": CSV, "/x/A.CSV": CSV, "b.ndjson": NDJSON, "c.jsonl": NDJSON, "https://h/x.csv?sig=1": CSV} {
		if got, err := DetectFormat(uri, ""); err != nil || got != want {
			t.Errorf("%s: %v %v", uri, got, err)
		}
	}
	if got, _ := DetectFormat("x.txt", "ndjson"); got != NDJSON {
		t.Error("explicit format")
	}
	if _, err := DetectFormat("x.txt", ""); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("unknown extension: %v", err)
	}
	if _, err := DetectFormat("https://h/x?token=SECRET", ""); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("query in error: %v", err)
	}
}

func TestHTTPSources(t *testing.T) {
	content, want := genCSV(rand.New(rand.NewSource(3)), 500)
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	body := []byte(content)
	modTime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mux := http.NewServeMux()
	mux.HandleFunc("/users.csv", func(w http.ResponseWriter, r *http.Request) {
		<-mu
		b := body
		mu <- struct{}{}
		http.ServeContent(w, r, "users.csv", modTime, bytes.NewReader(b))
	})
	mux.HandleFunc("/norange.csv", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	mux.HandleFunc("/down.csv", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	o := &Opener{HTTP: srv.Client()}

	uri := srv.URL + "/users.csv?X-Amz-Signature=SECRET"
	first, chunks := planAll(t, o, uri, CSV, 37, 4)
	recs := readAll(t, o, uri, CSV, first, chunks)
	if len(recs) != len(want) {
		t.Fatalf("%d records over HTTP, want %d", len(recs), len(want))
	}
	if v, err := o.Stat(context.Background(), uri); err != nil || v.Size != int64(len(body)) {
		t.Fatalf("stat: %+v %v", v, err)
	}

	// The file is replaced between planning and reading.
	<-mu
	body = append([]byte(content), "999,new,row\n"...)
	modTime = modTime.Add(time.Hour)
	mu <- struct{}{}
	err := ReadChunk(context.Background(), o, uri, CSV, first.Header, first.Version, chunks[1], func(Record) error { return nil })
	if !errors.Is(err, ErrChanged) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("changed source: %v", err)
	}

	err = ReadChunk(context.Background(), o, srv.URL+"/norange.csv", CSV, first.Header, Version{Size: int64(len(content))}, chunks[1], func(Record) error { return nil })
	if !errors.Is(err, ErrRangeUnsupported) {
		t.Fatalf("no Range support: %v", err)
	}
	_, err = Plan(context.Background(), o, PlanRequest{URI: srv.URL + "/missing.csv?token=SECRET", Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil)
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("404: %v", err)
	}
	_, err = Plan(context.Background(), o, PlanRequest{URI: srv.URL + "/down.csv", Format: CSV, ChunkRows: 1, MaxChunks: 1}, nil)
	if err == nil || errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503 must be transient: %v", err)
	}
}

func TestLocalFileChangedIsDetected(t *testing.T) {
	path := writeFile(t, "x.csv", "a\n1\n2\n3\n")
	o := &Opener{}
	first, chunks := planAll(t, o, path, CSV, 1, 10)
	if err := os.WriteFile(path, []byte("a\n1\n2\n3\n4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := ReadChunk(context.Background(), o, path, CSV, first.Header, first.Version, chunks[0], func(Record) error { return nil })
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("want ErrChanged, got %v", err)
	}
}

func TestPlanHonoursCancellation(t *testing.T) {
	content, _ := genCSV(rand.New(rand.NewSource(1)), 1000)
	path := writeFile(t, "x.csv", content)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Plan(ctx, &Opener{}, PlanRequest{URI: path, Format: CSV, ChunkRows: 10, MaxChunks: 100}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func FuzzPlanRead(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n\"x\ny\",3\n"), uint8(2))
	f.Add([]byte("a\r\n\"\"\"\r\n\r\nb\"c\n\"open"), uint8(1))
	f.Add([]byte("{\"a\":1}\n\n[\n{}"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, rows uint8) {
		chunkRows := int(rows%5) + 1
		for _, format := range []Format{CSV, NDJSON} {
			path := writeFile(t, "f."+string(format), string(data))
			o := &Opener{}
			req := PlanRequest{URI: path, Format: format, ChunkRows: chunkRows, MaxChunks: 2}
			var chunks []Chunk
			var first Page
			for i := 0; ; i++ {
				p, err := Plan(context.Background(), o, req, nil)
				if err != nil {
					if format == CSV && errors.Is(err, ErrPermanent) && i == 0 {
						break // no usable header: refused as a whole, nothing to cover
					}
					t.Fatalf("plan: %v", err)
				}
				if i == 0 {
					first = p
				}
				chunks = append(chunks, p.Chunks...)
				if p.Done {
					// Everything after the last chunk is blank.
					if p.Next != int64(len(data)) {
						t.Fatalf("planning ended at %d of %d", p.Next, len(data))
					}
					break
				}
				req.From, req.FromLine, req.NextIndex = p.Next, p.NextLine, p.NextIndex
			}
			for i, c := range chunks {
				if c.Rows < 1 || c.Rows > chunkRows || c.Length <= 0 {
					t.Fatalf("chunk %+v", c)
				}
				if i > 0 && c.Offset < chunks[i-1].Offset+chunks[i-1].Length {
					t.Fatalf("overlap: %+v %+v", chunks[i-1], c)
				}
				var lines, goodLines []int64
				err := ReadChunk(context.Background(), o, path, format, first.Header, first.Version, c, func(r Record) error {
					lines = append(lines, r.Line)
					if r.Err == nil {
						goodLines = append(goodLines, r.Line)
					}
					return nil
				})
				if err != nil || len(lines) != c.Rows {
					t.Fatalf("chunk %+v read %d records, err %v", c, len(lines), err)
				}
				// The duplicate scan reads only some columns; it must see the
				// same records at the same lines, or it would blame the
				// wrong row.
				var colLines []int64
				cols := first.Header
				if format == NDJSON {
					cols = []string{"a"}
				}
				var okLines []int64
				err = ReadColumns(context.Background(), o, path, format, first.Header, first.Version, c, cols, func(line int64, _ []string, ok bool) error {
					colLines = append(colLines, line)
					if ok {
						okLines = append(okLines, line)
					}
					return nil
				})
				if err != nil || !slices.Equal(lines, colLines) || !slices.Equal(goodLines, okLines) {
					t.Fatalf("chunk %+v: ReadChunk saw lines %v (good %v), ReadColumns %v (good %v), err %v", c, lines, goodLines, colLines, okLines, err)
				}
			}
		}
	})
}

func BenchmarkPlan(b *testing.B) {
	content, _ := genCSV(rand.New(rand.NewSource(1)), 100_000)
	path := writeFile(b, "x.csv", content)
	b.SetBytes(int64(len(content)))
	for i := 0; i < b.N; i++ {
		planAll(b, &Opener{}, path, CSV, 5000, 1000)
	}
}

func BenchmarkReadChunk(b *testing.B) {
	content, _ := genCSV(rand.New(rand.NewSource(1)), 100_000)
	path := writeFile(b, "x.csv", content)
	o := &Opener{}
	first, chunks := planAll(b, o, path, CSV, 5000, 1000)
	b.SetBytes(int64(len(content)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		readAll(b, o, path, CSV, first, chunks)
	}
}

type jsonNumber = json.Number

func TestReadColumnsReturnsOnlyTheColumnsAsked(t *testing.T) {
	ctx := context.Background()
	o := &Opener{}
	collect := func(path string, f Format, cols []string) [][]string {
		t.Helper()
		first, chunks := planAll(t, o, path, f, 10, 10)
		var got [][]string
		if err := ReadColumns(ctx, o, path, f, first.Header, first.Version, chunks[0], cols, func(_ int64, v []string, ok bool) error {
			if !ok {
				got = append(got, nil)
				return nil
			}
			got = append(got, slices.Clone(v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	csvPath := writeFile(t, "c.csv", "end_user,plan,note\n\"a@x.io\",Pro,\"x,\ny\"\nb@x.io,Free,\"q\"\"\"\n\"c@x.io\",short\n")
	got := collect(csvPath, CSV, []string{"note", "end_user", "missing"})
	want := [][]string{{"x,\ny", "a@x.io", ""}, {"q\"", "b@x.io", ""}, nil}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("csv columns %q, want %q (a row with too few fields is not ok)", got, want)
	}
	ndPath := writeFile(t, "n.ndjson", `{"user":{"email":"a@x.io"},"id":7}`+"\n"+`{"user.email":"flat@x.io","user":{"email":"nested@x.io"},"id":true}`+"\n"+`not json`+"\n"+`{"user":{"email":["x"]}}`+"\n")
	got = collect(ndPath, NDJSON, []string{"user.email", "id"})
	want = [][]string{{"a@x.io", "7"}, {"flat@x.io", "true"}, nil, {"", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ndjson paths %q, want %q", got, want)
	}
}

// The scan's pass plans the same chunks Plan's pages do, record for
// record, so planning need not read the list again.
func TestOneScanPlansTheChunksPlanWould(t *testing.T) {
	o := &Opener{}
	for seed := int64(1); seed <= 12; seed++ {
		r := rand.New(rand.NewSource(seed))
		content, _ := genCSV(r, 30+r.Intn(400))
		if seed%3 == 0 {
			content = "\ufeff" + content + "\n\n"
		}
		path := writeFile(t, "x.csv", content)
		for _, chunkRows := range []int{1, 7, 64, 1000} {
			_, planned := planAll(t, o, path, CSV, chunkRows, 3)
			whole, err := Whole(context.Background(), o, path, CSV)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			got, err := ReadColumnsAndPlan(context.Background(), o, path, CSV, whole.Header, whole.Version, whole.Chunks[0], []string{"id"}, chunkRows,
				func(int64, []string, bool) error { n++; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, planned) {
				t.Fatalf("seed %d, %d rows a chunk: the scan planned %+v, Plan %+v", seed, chunkRows, got, planned)
			}
		}
	}
	for _, content := range []string{`{"id":1}` + "\n\n" + `{"id":2}` + "\n", "\ufeff" + `{"id":1}` + "\n" + `{"id":2`} {
		path := writeFile(t, "x.ndjson", content)
		_, planned := planAll(t, o, path, NDJSON, 1, 5)
		whole, err := Whole(context.Background(), o, path, NDJSON)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadColumnsAndPlan(context.Background(), o, path, NDJSON, nil, whole.Version, whole.Chunks[0], []string{"id"}, 1, func(int64, []string, bool) error { return nil })
		if err != nil || !slices.Equal(got, planned) {
			t.Fatalf("NDJSON %q: the scan planned %+v (%v), Plan %+v", content, got, err, planned)
		}
	}
}

// A file whose rows fill its last page exactly ends with that page: over
// http, asking for the page after it would ask for bytes past the end (416),
// which reads as a changed source.
func TestAPageThatFillsToTheEndIsTheLast(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,email\n")
	for i := range 24 {
		fmt.Fprintf(&b, "%d,u%d@example.com\n", i, i)
	}
	body := []byte(b.String())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "users.csv", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), bytes.NewReader(body))
	}))
	defer srv.Close()
	o := &Opener{HTTP: srv.Client()}
	req := PlanRequest{URI: srv.URL + "/users.csv", Format: CSV, ChunkRows: 4, MaxChunks: 3}
	var pages, rows int
	for {
		p, err := Plan(context.Background(), o, req, nil)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		for _, c := range p.Chunks {
			rows += c.Rows
		}
		if p.Done {
			if p.Next != int64(len(body)) {
				t.Fatalf("the last page ends at byte %d of %d", p.Next, len(body))
			}
			break
		}
		req.From, req.FromLine, req.NextIndex = p.Next, p.NextLine, p.NextIndex
	}
	if pages != 2 || rows != 24 {
		t.Fatalf("%d pages, %d rows; want 2 pages (the second one done), 24 rows", pages, rows)
	}
}
