package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstded(t *testing.T, s string) []byte {
	t.Helper()
	z, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return z.EncodeAll([]byte(s), nil)
}

func TestCompressionAndFormatComeFromTheName(t *testing.T) {
	for _, c := range []struct {
		uri, explicit string
		want          Compression
		format        Format
	}{
		{"users.csv.gz", "", Gzip, CSV},
		{"s3://b/x/users.ndjson.zst?region=eu-west-1", "", Zstd, NDJSON},
		{"https://h/export.jsonl.gz?sig=1", "", Gzip, NDJSON},
		{"users.csv", "", "", CSV},
		{"users.csv", "gzip", Gzip, CSV},
		{"users.csv.gz", "none", "", CSV},
	} {
		got, err := DetectCompression(c.uri, c.explicit)
		f, ferr := DetectFormat(c.uri, "")
		if err != nil || ferr != nil || got != c.want || f != c.format {
			t.Errorf("%s (%q): compression %q %v, format %q %v; want %q and %q", c.uri, c.explicit, got, err, f, ferr, c.want, c.format)
		}
	}
	if _, err := DetectCompression("x.csv", "bzip2"); err == nil || !strings.Contains(err.Error(), "gzip, zstd or none") {
		t.Errorf("an unknown compression: %v", err)
	}
}

// A gzip or zstd list is staged once as a plain copy, which plans and reads
// like any list; the copy is deleted after.
func TestACompressedListIsStagedOnceAndReadsLikeAPlainOne(t *testing.T) {
	content, want := genCSV(rand.New(rand.NewSource(9)), 700)
	for name, packed := range map[string][]byte{"users.csv.gz": gzipped(t, content), "users.csv.zst": zstded(t, content)} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, name)
			if err := os.WriteFile(src, packed, 0o600); err != nil {
				t.Fatal(err)
			}
			c, _ := DetectCompression(src, "")
			o := &Opener{}
			var progress []int64
			staged, err := Stage(context.Background(), o, Ref{URI: src, Format: CSV, Compression: c}, filepath.Join(dir, "staging"), "import-1/abc", func(n int64) { progress = append(progress, n) })
			if err != nil {
				t.Fatal(err)
			}
			if staged.Compression != "" || !staged.Staged || !filepath.IsAbs(staged.URI) || !strings.HasSuffix(staged.URI, "import-1_abc.csv") || len(progress) == 0 {
				t.Fatalf("staged %+v, progress %v", staged, progress)
			}
			first, chunks := planAll(t, o, staged.URI, CSV, 50, 4)
			if recs := readAll(t, o, staged.URI, CSV, first, chunks); len(recs) != len(want) || first.Version.Size != int64(len(content)) {
				t.Fatalf("%d records of %d bytes from the staged copy; want %d of %d", len(recs), first.Version.Size, len(want), len(content))
			}
			if err := o.Unstage(context.Background(), filepath.Join(dir, "staging"), "import-1/abc", CSV); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(staged.URI); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the staged copy is still there: %v", err)
			}
		})
	}
}

// A stream cut short fails staging with a sentence that says so, and
// leaves nothing staged.
func TestATruncatedGzipFailsStagingAndLeavesNothing(t *testing.T) {
	content, _ := genCSV(rand.New(rand.NewSource(2)), 3000)
	packed := gzipped(t, content)
	dir := t.TempDir()
	src := filepath.Join(dir, "users.csv.gz")
	if err := os.WriteFile(src, packed[:len(packed)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	area := filepath.Join(dir, "staging")
	_, err := Stage(context.Background(), &Opener{}, Ref{URI: src, Format: CSV, Compression: Gzip}, area, "k", nil)
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "corrupt or cut short") {
		t.Fatalf("a truncated gzip: %v; want a final error that says it is cut short", err)
	}
	if left, _ := os.ReadDir(area); len(left) != 0 {
		t.Fatalf("staging left %v behind", left)
	}
	if err := os.WriteFile(src, []byte("plain text, not gzip"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Stage(context.Background(), &Opener{}, Ref{URI: src, Format: CSV, Compression: Gzip}, area, "k", nil); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "not gzip-compressed") {
		t.Fatalf("a file that is not gzip: %v", err)
	}
}

// Staged to object storage, the copy is range-read from there by every
// worker, and deleted after.
func TestACompressedObjectIsStagedToObjectStorage(t *testing.T) {
	s := newS3Server(t)
	content, want := genCSV(rand.New(rand.NewSource(4)), 500)
	s.put(t, "nightly/users.csv.zst", string(zstded(t, content)))
	o := &Opener{S3PathStyle: true}
	staged, err := Stage(context.Background(), o, Ref{URI: "s3://exports/nightly/users.csv.zst", Format: CSV, Compression: Zstd}, "s3://exports/staging", "imp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if staged.URI != "s3://exports/staging/imp.csv" {
		t.Fatalf("staged at %s", staged.URI)
	}
	first, chunks := planAll(t, o, staged.URI, CSV, 60, 10)
	if recs := readAll(t, o, staged.URI, CSV, first, chunks); len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	if err := o.Unstage(context.Background(), "s3://exports/staging", "imp", CSV); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Stat(context.Background(), staged.URI); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the staged object is still there: %v", err)
	}
}
