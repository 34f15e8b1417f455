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

	"importer/activities/source"
	"importer/internal/gen"
	"importer/workflows"
)

// An import reads its source over HTTP a bounded number of times: the
// duplicate scan once, planning once, the chunks once, each chunk its own
// range, and a header no more than it needs. The bytes the server sends,
// over the file's size, are logged for CSV and NDJSON (IMPORTER_BYTES_ROWS
// sets the rows; the README's figure is for 200,000); above 3.1 the test
// fails: a pass was added, or a header read asks for the whole file.
func TestAnHTTPSourceIsReadAFewTimesAtMostWholly(t *testing.T) {
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
		if ratio > 3.1 {
			t.Errorf("%s: the import read %.2f times the file; at most 3.1 (scan, planning, chunks)", name, ratio)
		}
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
