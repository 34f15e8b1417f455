package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/workflows"
)

// withS3Sources serves an S3-compatible object store in process (bucket
// "exports") and points the AWS default chain of the workers and the CLI
// at it, as AWS_ENDPOINT_URL_S3 and IMPORTER_S3_PATH_STYLE would on a
// deployment with MinIO or SeaweedFS.
func (h *harness) withS3Sources() *s3mem.Backend {
	h.t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("exports"); err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	h.t.Cleanup(srv.Close)
	h.awsEnv(map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": srv.URL, "IMPORTER_S3_PATH_STYLE": "true"})
	h.s3PathStyle = true
	return backend
}

// A list exported to object storage imports exactly, read by the worker
// with its standard credentials and range reads, and a dry run of the same
// URL agrees row for row.
func TestAnS3ObjectImportsExactlyAndItsDryRunAgrees(t *testing.T) {
	h := newHarness(t)
	backend := h.withS3Sources()
	h.startWorker(h.conns(apiKey), 0)
	o := gen.Options{Rows: 6000, InvalidEvery: 53, QuotedNewlineEvery: 17}
	path, st := h.generate("users.csv", o)
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backend.PutObject("exports", "nightly/2026-12-03/users.csv", map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatal(err)
	}
	uri := "s3://exports/nightly/2026-12-03/users.csv"

	out, errOut, code := h.runCLI(context.Background(), "import", "--vendor", "nebuly", "--source", uri, "--dry-run", "-o", "json")
	var dry dryRunJSON
	if code != 0 || json.Unmarshal([]byte(out), &dry) != nil {
		t.Fatalf("dry run of %s: exit %d\n%s\n%s", uri, code, out, errOut)
	}
	res, err := h.wait(h.start("import-s3", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: uri, Format: source.CSV},
		BatchSize: 250, ChunkRows: 1000, Concurrency: 3}), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.RowsRead != int64(st.Rows) || res.Accepted != int64(st.Valid) || res.Rejected != int64(st.Invalid) || h.fake.Count() != st.Valid {
		t.Fatalf("%+v, fake holds %d; want %d rows: %d accepted, %d rejected", res, h.fake.Count(), st.Rows, st.Valid, st.Invalid)
	}
	if dry.Rows != res.RowsRead || dry.WouldSend != res.Accepted || dry.WouldReject != res.Rejected {
		t.Fatalf("dry run %+v disagrees with the import %+v", dry, res)
	}

	// A missing object fails the import at once, saying so.
	_, err = h.wait(h.start("import-s3-missing", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: "s3://exports/nightly/none.csv", Format: source.CSV}}), time.Minute)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("no such object")) {
		t.Fatalf("an import of a missing object: %v; want a failure that says there is no such object", err)
	}
}
