package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"importer/activities/source"
	"importer/workflows"
)

type parquetMember struct {
	EndUser    string `parquet:"end_user"`
	ActiveFrom string `parquet:"active_from"`
	Tags       struct {
		Plan    string `parquet:"Plan"`
		Country string `parquet:"Country"`
	} `parquet:"tags"`
}

// A Parquet export with several row groups and a nested group imports
// exactly: chunks are runs of rows read with range reads, the nested group
// maps to dotted fields as NDJSON's objects do, invalid rows are rejects
// named by row number, and a dry run agrees. A file whose footer is cut
// off fails saying so and sends nothing.
func TestAParquetExportImportsExactly(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	const rows = 5000
	var b bytes.Buffer
	w := parquet.NewGenericWriter[parquetMember](&b, parquet.MaxRowsPerRowGroup(700))
	invalid := 0
	for i := 0; i < rows; i++ {
		m := parquetMember{EndUser: fmt.Sprintf("pq%05d@example.com", i), ActiveFrom: "2025-03-04"}
		if i%97 == 13 {
			m.ActiveFrom, invalid = "soon", invalid+1
		}
		m.Tags.Plan, m.Tags.Country = []string{"Free", "Pro", "Team"}[i%3], "IT"
		if _, err := w.Write([]parquetMember{m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.dir, "members.parquet")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := h.runCLI(context.Background(), "import", "--vendor", "nebuly", "--source", path, "--dry-run", "-o", "json")
	var dry dryRunJSON
	if code != 0 || json.Unmarshal([]byte(out), &dry) != nil {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	res, err := h.wait(h.start("import-parquet", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.Parquet},
		BatchSize: 250, ChunkRows: 500, Concurrency: 3}), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsRead != rows || res.Rejected != int64(invalid) || res.Accepted != int64(rows-invalid) || h.fake.Count() != rows-invalid {
		t.Fatalf("%+v, fake holds %d; want %d rows, %d rejected", res, h.fake.Count(), rows, invalid)
	}
	if u, ok := h.fake.User("pq00004@example.com"); !ok || u.Tags["Plan"] != "Pro" || u.Tags["Country"] != "IT" {
		t.Fatalf("user 4 as stored: %+v; want its nested tags", u)
	}
	if dry.Rows != res.RowsRead || dry.WouldSend != res.Accepted || dry.WouldReject != res.Rejected {
		t.Fatalf("dry run %+v disagrees with the import %+v", dry, res)
	}
	rejected := h.readRejects(res.WorkflowID)
	if len(rejected) != invalid || rejected[0].Line != 14 {
		t.Fatalf("rejects %+v; want %d, the first on row 14", rejected[:min(len(rejected), 2)], invalid)
	}

	cut := filepath.Join(h.dir, "cut.parquet")
	if err := os.WriteFile(cut, b.Bytes()[:b.Len()-30], 0o600); err != nil {
		t.Fatal(err)
	}
	before := h.fake.Count()
	_, err = h.wait(h.start("import-parquet-cut", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: cut, Format: source.Parquet}}), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "not a Parquet file that can be read") || h.fake.Count() != before {
		t.Fatalf("a cut Parquet file: %v (the fake went from %d to %d users)", err, before, h.fake.Count())
	}
}
