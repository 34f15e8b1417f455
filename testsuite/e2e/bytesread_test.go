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
	"importer/activities/vendors/gen"
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

// wideMember is a row of a wider export, closer to a warehouse's: ten
// attributes beside the key, Snappy-compressed.
type wideMember struct {
	EndUser    string `parquet:"end_user"`
	ActiveFrom string `parquet:"active_from"`
	Tags       struct {
		Plan     string `parquet:"Plan"`
		Country  string `parquet:"Country"`
		Company  string `parquet:"Company"`
		Role     string `parquet:"Role"`
		Industry string `parquet:"Industry"`
		City     string `parquet:"City"`
		Language string `parquet:"Language"`
		Referrer string `parquet:"Referrer"`
		Team     string `parquet:"Team"`
		Seats    string `parquet:"Seats"`
	} `parquet:"tags"`
}

// A Parquet export is read once, and its key column twice: the duplicate
// scan reads the key column's chunks alone, and the chunks, which find
// their pages through the offset index, read each page once on a worker
// that keeps the pages at their edges. Logged for a narrow list (the key
// is most of it) and a wide one; the test fails above 1 + the key
// column's share + 0.02.
func TestAParquetSourceIsReadOncePlusItsKeyColumn(t *testing.T) {
	rows := 30000
	if s := os.Getenv("IMPORTER_BYTES_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	for _, tc := range []struct {
		name  string
		write func(b *bytes.Buffer) error
	}{
		{"members.parquet", func(b *bytes.Buffer) error {
			w := parquet.NewGenericWriter[parquetMember](b, parquet.MaxRowsPerRowGroup(50000), parquet.PageBufferSize(64<<10))
			for i := 0; i < rows; i++ {
				m := parquetMember{EndUser: fmt.Sprintf("pq%07d@example.com", i), ActiveFrom: "2025-03-04"}
				m.Tags.Plan, m.Tags.Country = []string{"Free", "Pro", "Team"}[i%3], "IT"
				if _, err := w.Write([]parquetMember{m}); err != nil {
					return err
				}
			}
			return w.Close()
		}},
		{"members-wide.parquet", func(b *bytes.Buffer) error {
			w := parquet.NewGenericWriter[wideMember](b, parquet.MaxRowsPerRowGroup(50000), parquet.PageBufferSize(256<<10), parquet.Compression(&parquet.Snappy))
			for i := 0; i < rows; i++ {
				m := wideMember{EndUser: fmt.Sprintf("pq%07d@example.com", i), ActiveFrom: fmt.Sprintf("2025-%02d-%02d", 1+i%12, 1+i%28)}
				tg := &m.Tags
				tg.Plan, tg.Country = []string{"Free", "Pro", "Team", "Enterprise"}[i%4], []string{"IT", "DE", "FR", "US", "BR", "JP"}[i%6]
				tg.Company, tg.Role = fmt.Sprintf("Company %d Ltd", i*7919%20011), []string{"Engineer", "Manager", "Designer", "Analyst", "Founder"}[i%5]
				tg.Industry, tg.City = []string{"Retail", "Finance", "Health", "Media"}[i%4], fmt.Sprintf("City %d", i*31%997)
				tg.Language, tg.Referrer = []string{"it-IT", "de-DE", "en-US"}[i%3], fmt.Sprintf("https://ref%d.example.org/campaign/%d", i%53, i%211)
				tg.Team, tg.Seats = fmt.Sprintf("team-%04d", i*13%4099), strconv.Itoa(1+i*17%250)
				if _, err := w.Write([]wideMember{m}); err != nil {
					return err
				}
			}
			return w.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			body := b.Bytes()
			var sent atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(&countingResponse{ResponseWriter: w, n: &sent}, r, tc.name, time.Now().Truncate(time.Hour), bytes.NewReader(body))
			}))
			defer srv.Close()
			res, err := h.wait(h.start("bytes-"+tc.name, workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: srv.URL + "/" + tc.name, Format: source.Parquet}}), 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if res.RowsRead != int64(rows) || res.Accepted != int64(rows) {
				t.Fatalf("read %d rows of %d, %d accepted", res.RowsRead, rows, res.Accepted)
			}
			f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
			if err != nil {
				t.Fatal(err)
			}
			var keyBytes int64
			for _, rg := range f.Metadata().RowGroups {
				keyBytes += rg.Columns[0].MetaData.TotalCompressedSize // end_user
			}
			ratio, keyShare := float64(sent.Load())/float64(len(body)), float64(keyBytes)/float64(len(body))
			t.Logf("%s: %d rows, %d bytes, the key column %.2f of them; the server sent %d bytes, %.2f times the file", tc.name, rows, len(body), keyShare, sent.Load(), ratio)
			fmt.Printf("bytes read ÷ size, %s, %d rows, %.1f MB: %.2f (1 + the key column's %.2f)\n", tc.name, rows, float64(len(body))/1e6, ratio, keyShare)
			if ratio > 1+keyShare+0.02 {
				t.Errorf("the import read %.2f times the Parquet file; at most once, and the key column (%.2f) again", ratio, keyShare)
			}
		})
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
