package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/klauspost/compress/zstd"

	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/workflows"
)

func compress(t *testing.T, plain []byte, c source.Compression) []byte {
	t.Helper()
	var b bytes.Buffer
	switch c {
	case source.Gzip:
		z := gzip.NewWriter(&b)
		if _, err := z.Write(plain); err != nil {
			t.Fatal(err)
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
	case source.Zstd:
		z, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := z.Write(plain); err != nil {
			t.Fatal(err)
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// A gzip CSV and a zstd NDJSON import exactly: decompressed once into the
// staging area, read from there chunk by chunk, the staged copy deleted
// when the import ends; a dry run of the compressed file agrees.
func TestCompressedListsImportExactlyThroughOneStagedCopy(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	total := 0
	for _, c := range []struct {
		name string
		c    source.Compression
		o    gen.Options
	}{
		{"users.csv.gz", source.Gzip, gen.Options{Rows: 5000, InvalidEvery: 41, QuotedNewlineEvery: 13, Domain: "gz.test"}},
		{"users.ndjson.zst", source.Zstd, gen.Options{Rows: 4000, InvalidEvery: 37, Domain: "zst.test"}},
	} {
		plain, st := h.generate(strings.TrimSuffix(c.name, filepath.Ext(c.name)), c.o)
		body, err := os.ReadFile(plain)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(h.dir, c.name)
		if err := os.WriteFile(path, compress(t, body, c.c), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := h.runCLI(context.Background(), "import", "--vendor", "nebuly", "--source", path, "--dry-run", "-o", "json")
		var dry dryRunJSON
		if code != 0 || json.Unmarshal([]byte(out), &dry) != nil {
			t.Fatalf("dry run of %s: exit %d\n%s\n%s", c.name, code, out, errOut)
		}
		format, _ := source.DetectFormat(path, "")
		res, err := h.wait(h.start("import-"+strings.ReplaceAll(c.name, ".", "-"), workflows.ImportInput{Vendor: "nebuly",
			Source: source.Ref{URI: path, Format: format, Compression: c.c}, BatchSize: 200, ChunkRows: 600, Concurrency: 3}), 2*time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		total += st.Valid
		if res.RowsRead != int64(st.Rows) || res.Accepted != int64(st.Valid) || res.Rejected != int64(st.Invalid) || h.fake.Count() != total {
			t.Fatalf("%s: %+v, fake holds %d; want %d rows, %d accepted, %d rejected", c.name, res, h.fake.Count(), st.Rows, st.Valid, st.Invalid)
		}
		if dry.Rows != res.RowsRead || dry.WouldSend != res.Accepted || dry.WouldReject != res.Rejected {
			t.Fatalf("%s: dry run %+v disagrees with the import %+v", c.name, dry, res)
		}
		if res.Source != path {
			t.Errorf("the summary names %s, want the compressed source %s", res.Source, path)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(h.data, "staging")); len(left) != 0 {
		t.Fatalf("staged copies left behind: %v", left)
	}
}

// A gzip file cut short fails the import before anything is sent, with a
// sentence that says what is wrong with it; so does one that is no gzip.
func TestACorruptCompressedListFailsSayingSoAndSendsNothing(t *testing.T) {
	h := newHarness(t)
	h.startWorker(h.conns(apiKey), 0)
	plain, _ := h.generate("users.csv", gen.Options{Rows: 20000})
	body, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	packed := compress(t, body, source.Gzip)
	for name, content := range map[string][]byte{"cut.csv.gz": packed[:len(packed)*2/3], "plain.csv.gz": body} {
		path := filepath.Join(h.dir, name)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := h.wait(h.start("import-"+strings.ReplaceAll(name, ".", "-"), workflows.ImportInput{Vendor: "nebuly",
			Source: source.Ref{URI: path, Format: source.CSV, Compression: source.Gzip}}), time.Minute)
		if err == nil || !(strings.Contains(err.Error(), "corrupt or cut short") || strings.Contains(err.Error(), "not gzip-compressed")) {
			t.Fatalf("%s: %v; want a failure that says the file is corrupt or not gzip", name, err)
		}
	}
	if n := h.fake.Count(); n != 0 {
		t.Fatalf("the vendor received %d users from corrupt files", n)
	}
}

// Workers on several hosts stage to object storage: a zstd object is
// decompressed into the shared staging prefix, read from there, and the
// copy is deleted.
func TestACompressedObjectStagesToSharedObjectStorage(t *testing.T) {
	h := newHarness(t)
	backend := h.withS3Sources()
	h.staging = "s3://exports/staging"
	h.startWorker(h.conns(apiKey), 0)
	plain, st := h.generate("users.csv", gen.Options{Rows: 3000, InvalidEvery: 29})
	body, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	packed := compress(t, body, source.Zstd)
	if _, err := backend.PutObject("exports", "nightly/users.csv.zst", map[string]string{}, bytes.NewReader(packed), int64(len(packed)), nil); err != nil {
		t.Fatal(err)
	}
	res, err := h.wait(h.start("import-s3-zst", workflows.ImportInput{Vendor: "nebuly",
		Source: source.Ref{URI: "s3://exports/nightly/users.csv.zst", Format: source.CSV, Compression: source.Zstd}, ChunkRows: 500}), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != int64(st.Valid) || res.Rejected != int64(st.Invalid) || h.fake.Count() != st.Valid {
		t.Fatalf("%+v, fake holds %d; want %d accepted, %d rejected", res, h.fake.Count(), st.Valid, st.Invalid)
	}
	list, err := backend.ListBucket("exports", nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		if strings.HasPrefix(o.Key, "staging/") {
			t.Fatalf("the staged copy %s is left in the bucket", o.Key)
		}
	}
}
