package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"importer/activities/source"
	"importer/internal/gen"
	"importer/workflows"
)

// An import reads its source over HTTP twice: the duplicate scan's pass,
// which plans the chunks too, and the chunks, each its own range; and a
// CSV header, a small range, once more. The bytes the server sends, over
// the file's size, are logged for CSV and NDJSON (IMPORTER_BYTES_ROWS sets
// the rows; the README's figure is for 200,000); above 2.05 the test fails:
// a pass was added, or a header read asks for much more than the header.
func TestAnHTTPSourceIsReadTwice(t *testing.T) {
	rows := 30000
	if s := os.Getenv("IMPORTER_BYTES_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	for _, name := range []string{"users.csv", "users.ndjson"} {
		path, st := h.generate(name, gen.Options{Rows: rows, InvalidEvery: 1000, QuotedNewlineEvery: 100})
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var sent atomic.Int64
		modTime := time.Now()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(&countingResponse{ResponseWriter: w, n: &sent}, r, name, modTime, bytes.NewReader(body))
		}))
		format, _ := source.DetectFormat(name, "")
		res, err := h.wait(h.start("bytes-"+name, workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: srv.URL + "/" + name, Format: format}}), 5*time.Minute)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.RowsRead != int64(st.Rows) {
			t.Fatalf("%s: read %d rows of %d", name, res.RowsRead, st.Rows)
		}
		ratio := float64(sent.Load()) / float64(len(body))
		t.Logf("%s: %d rows, %d bytes; the server sent %d bytes, %.2f times the file", name, rows, len(body), sent.Load(), ratio)
		fmt.Printf("bytes read ÷ size, %s, %d rows: %.2f\n", name, rows, ratio)
		if ratio > 2.05 {
			t.Errorf("%s: the import read %.2f times the file; at most 2.05 (the scan that plans, the chunks, a header)", name, ratio)
		}
	}
}

// A Parquet export is read once, and its key column twice: the duplicate
// scan reads the key column's chunks alone, and the chunks, which find
// their pages through the offset index, read each page once on a worker
// that keeps the pages at their edges. Logged like the others.
func TestAParquetSourceIsReadOncePlusItsKeyColumn(t *testing.T) {
	rows := 30000
	if s := os.Getenv("IMPORTER_BYTES_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	var b bytes.Buffer
	w := parquet.NewGenericWriter[parquetMember](&b, parquet.MaxRowsPerRowGroup(50000), parquet.PageBufferSize(64<<10))
	for i := 0; i < rows; i++ {
		m := parquetMember{EndUser: fmt.Sprintf("pq%07d@example.com", i), ActiveFrom: "2025-03-04"}
		m.Tags.Plan, m.Tags.Country = []string{"Free", "Pro", "Team"}[i%3], "IT"
		if _, err := w.Write([]parquetMember{m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	body := b.Bytes()
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(&countingResponse{ResponseWriter: w, n: &sent}, r, "members.parquet", time.Now().Truncate(time.Hour), bytes.NewReader(body))
	}))
	defer srv.Close()
	res, err := h.wait(h.start("bytes-parquet", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: srv.URL + "/members.parquet", Format: source.Parquet}}), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsRead != int64(rows) {
		t.Fatalf("read %d rows of %d", res.RowsRead, rows)
	}
	// The chunks read the file once; the duplicate scan reads the key
	// column's chunks, and nothing else.
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	var keyBytes int64
	for _, rg := range f.Metadata().RowGroups {
		keyBytes += rg.Columns[0].MetaData.TotalCompressedSize // end_user
	}
	ratio, keyShare := float64(sent.Load())/float64(len(body)), float64(keyBytes)/float64(len(body))
	t.Logf("members.parquet: %d rows, %d bytes, the key column %.2f of them; the server sent %d bytes, %.2f times the file", rows, len(body), keyShare, sent.Load(), ratio)
	fmt.Printf("bytes read ÷ size, members.parquet, %d rows: %.2f (1 + the key column's %.2f)\n", rows, ratio, keyShare)
	if ratio > 1+keyShare+0.02 {
		t.Errorf("the import read %.2f times the Parquet file; at most once, and the key column (%.2f) again", ratio, keyShare)
	}
}

type countingResponse struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingResponse) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}
