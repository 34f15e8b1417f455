package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"
	"gocloud.dev/blob"
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

// packedZeros is n zero bytes compressed with c: a decompression bomb,
// small on disk.
func packedZeros(t *testing.T, c Compression, n int64) []byte {
	t.Helper()
	return compressed(t, c, func(w io.Writer) error {
		block := make([]byte, 1<<20)
		for written := int64(0); written < n; written += int64(len(block)) {
			if _, err := w.Write(block[:min(int64(len(block)), n-written)]); err != nil {
				return err
			}
		}
		return nil
	})
}

// watchedArea is a local staging area whose free-space checks, one every
// watchEvery bytes written, measure what the stage has written so far: the
// bytes of its temporary files on disk.
type watchedArea struct {
	t       *testing.T
	dir     string
	free    func(calls int) int64 // the free space the area reports; nil: plenty
	calls   int
	largest int64 // the most bytes the area held at a check
}

const watchEvery = 64 << 10

func newWatchedArea(t *testing.T) *watchedArea {
	return &watchedArea{t: t, dir: filepath.Join(t.TempDir(), "staging")}
}

func (a *watchedArea) limits(l StageLimits) StageLimits {
	l.freeEvery = watchEvery
	l.freeSpace = func(dir string) (int64, error) {
		if dir != a.dir {
			a.t.Errorf("free space asked of %s, not of the staging area %s", dir, a.dir)
		}
		a.calls++
		a.largest = max(a.largest, a.held())
		if a.free == nil {
			return 1 << 50, nil
		}
		return a.free(a.calls), nil
	}
	return l
}

// held is the bytes of the area's temporary files.
func (a *watchedArea) held() int64 {
	entries, _ := os.ReadDir(a.dir)
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), ".tmp-") {
			n += fi.Size()
		}
	}
	return n
}

// left is what the area holds after a stage.
func (a *watchedArea) left() []string {
	entries, _ := os.ReadDir(a.dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// countUploads puts a proxy in front of the fake S3 server that counts
// the request body bytes it receives: what a stage really wrote to
// object storage.
func countUploads(t *testing.T) *atomic.Int64 {
	t.Helper()
	target, err := url.Parse(os.Getenv("AWS_ENDPOINT_URL_S3"))
	if err != nil || target.Host == "" {
		t.Fatalf("no fake S3 endpoint to count: %q", os.Getenv("AWS_ENDPOINT_URL_S3"))
	}
	var n atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = countedBody{r.Body, &n}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	return &n
}

type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// leftInBucket is what the exports bucket holds under prefix: its objects,
// and its multipart uploads never completed nor aborted.
func leftInBucket(t *testing.T, o *Opener, prefix string) (objects, uploads []string) {
	t.Helper()
	ctx := context.Background()
	b, _, err := o.area(ctx, "s3://exports/"+prefix)
	if err != nil {
		t.Fatal(err)
	}
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		objects = append(objects, obj.Key)
	}
	var client *s3.Client
	if !b.As(&client) {
		t.Fatal("the staging bucket is not S3")
	}
	out, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("exports"), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range out.Uploads {
		uploads = append(uploads, aws.ToString(u.Key))
	}
	return objects, uploads
}

// A gzip or zstd bomb (200 MiB of zeros, 200 KiB or less on disk) stops at
// the size cap, or at the ratio cap once past 64 MiB, with a final
// error that names the setting; the staging area, local or object storage,
// never holds more than the cap, and nothing is left in it after.
func TestADecompressionBombStopsAtItsCapAndLeavesNothingBehind(t *testing.T) {
	const plain = 200 << 20
	bombs := map[Compression][]byte{Gzip: packedZeros(t, Gzip, plain), Zstd: packedZeros(t, Zstd, plain)}
	for _, c := range []struct {
		name    string
		lim     StageLimits
		setting string
		stopAt  int64 // the bytes written when the cap stops the stage
	}{
		{"size cap", StageLimits{MaxBytes: 32 << 20}, "IMPORTER_STAGING_MAX_BYTES", 32 << 20},
		// The default, 1,000, stops both bombs too, but gzip's zeros
		// expand about 1,024 times as counted (the compressed bytes read
		// ahead included), too near it to say where the stage stops.
		{"ratio cap", StageLimits{MaxRatio: 500}, "IMPORTER_STAGING_MAX_RATIO", ratioCheckedFrom},
	} {
		for _, comp := range []Compression{Gzip, Zstd} {
			bomb := bombs[comp]
			t.Run(c.name+"/"+string(comp)+"/local", func(t *testing.T) {
				src := filepath.Join(t.TempDir(), "bomb.csv."+map[Compression]string{Gzip: "gz", Zstd: "zst"}[comp])
				if err := os.WriteFile(src, bomb, 0o600); err != nil {
					t.Fatal(err)
				}
				area := newWatchedArea(t)
				start := time.Now()
				_, err := StageWithin(context.Background(), &Opener{}, Ref{URI: src, Format: CSV, Compression: comp}, area.dir, "bomb", area.limits(c.lim), nil)
				took := time.Since(start)
				if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), c.setting) {
					t.Fatalf("a %d-byte %s bomb: %v; want a final error naming %s", len(bomb), comp, err, c.setting)
				}
				t.Logf("%s bomb of %s: stopped after %s on disk (measured every 64 KiB), in %v: %v", comp, sizeString(int64(len(bomb))), sizeString(area.largest), took.Round(time.Millisecond), err)
				if area.largest > c.stopAt || area.largest < c.stopAt-2*watchEvery {
					t.Fatalf("the staging area held up to %d bytes; want the stage stopped at %d", area.largest, c.stopAt)
				}
				if left := area.left(); len(left) != 0 {
					t.Fatalf("the stopped stage left %v behind", left)
				}
			})
			t.Run(c.name+"/"+string(comp)+"/s3", func(t *testing.T) {
				s := newS3Server(t)
				s.put(t, "nightly/bomb.csv", string(bomb))
				received := countUploads(t)
				o := &Opener{S3PathStyle: true}
				lim := c.lim
				lim.freeSpace = func(string) (int64, error) { t.Error("free space checked for object storage"); return 0, nil }
				start := time.Now()
				_, err := StageWithin(context.Background(), o, Ref{URI: "s3://exports/nightly/bomb.csv", Format: CSV, Compression: comp}, "s3://exports/staging", "bomb", lim, nil)
				took := time.Since(start)
				if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), c.setting) {
					t.Fatalf("a %s bomb staged to S3: %v; want a final error naming %s", comp, err, c.setting)
				}
				t.Logf("%s bomb of %s to S3: %s uploaded before the stop, in %v", comp, sizeString(int64(len(bomb))), sizeString(received.Load()), took.Round(time.Millisecond))
				// Request bodies carry a little framing and checksums
				// besides the staged bytes. How many of the parts in
				// flight at the stop reach the store depends on the
				// machine's load: only the cap is a bound.
				if got := received.Load(); got > c.stopAt+c.stopAt/100 {
					t.Fatalf("%d bytes reached object storage; want the stage stopped at %d", got, c.stopAt)
				}
				if objects, uploads := leftInBucket(t, o, "staging/"); len(objects)+len(uploads) != 0 {
					t.Fatalf("the stopped stage left objects %v and multipart uploads %v", objects, uploads)
				}
			})
		}
	}
}

// A compressed list stages byte for byte up to the size cap, and one byte
// over it fails; a small file of repeated bytes, far past the ratio cap,
// stages whole because the ratio is checked only past 64 MiB.
func TestACompressedListStagesExactlyWithinTheCaps(t *testing.T) {
	content, _ := genCSV(rand.New(rand.NewSource(11)), 5000)
	dir := t.TempDir()
	src := filepath.Join(dir, "users.csv.gz")
	if err := os.WriteFile(src, gzipped(t, content), 0o600); err != nil {
		t.Fatal(err)
	}
	area := newWatchedArea(t)
	ref := Ref{URI: src, Format: CSV, Compression: Gzip}
	staged, err := StageWithin(context.Background(), &Opener{}, ref, area.dir, "k", area.limits(StageLimits{MaxBytes: int64(len(content))}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(staged.URI); err != nil || string(got) != content {
		t.Fatalf("the staged copy has %d bytes (%v), want the list's %d exactly", len(got), err, len(content))
	}
	_, err = StageWithin(context.Background(), &Opener{}, ref, area.dir, "k", area.limits(StageLimits{MaxBytes: int64(len(content)) - 1}), nil)
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "IMPORTER_STAGING_MAX_BYTES") {
		t.Fatalf("a list one byte over the cap: %v", err)
	}
	if left := area.left(); len(left) != 0 {
		t.Fatalf("the refused stage left %v behind (the earlier copy included)", left)
	}

	const small = 48 << 20
	zeros := filepath.Join(dir, "zeros.csv.zst")
	if err := os.WriteFile(zeros, packedZeros(t, Zstd, small), 0o600); err != nil {
		t.Fatal(err)
	}
	staged, err = StageWithin(context.Background(), &Opener{}, Ref{URI: zeros, Format: CSV, Compression: Zstd}, area.dir, "z", area.limits(StageLimits{}), nil)
	if err != nil {
		t.Fatalf("48 MiB of repeated bytes: %v; want it staged", err)
	}
	if fi, err := os.Stat(staged.URI); err != nil || fi.Size() != small {
		t.Fatalf("the staged copy: %v %v; want %d bytes", fi, err, small)
	}
}

// A local staging area short of space refuses a stage before anything is
// decompressed, and one whose space runs low stops the stage; either says
// how much is free and names the setting, deletes what was written, and
// is retried (the space may come back).
func TestAStagingAreaShortOfSpaceRefusesOrStopsTheStage(t *testing.T) {
	content, _ := genCSV(rand.New(rand.NewSource(12)), 40000)
	packed := gzipped(t, content)
	src := filepath.Join(t.TempDir(), "users.csv.gz")
	if err := os.WriteFile(src, packed, 0o600); err != nil {
		t.Fatal(err)
	}
	ref := Ref{URI: src, Format: CSV, Compression: Gzip}
	const floor = 10 << 20
	need := int64(floor + 2*len(packed))

	area := newWatchedArea(t)
	area.free = func(int) int64 { return need - 1 }
	_, err := StageWithin(context.Background(), &Opener{}, ref, area.dir, "k", area.limits(StageLimits{MinFree: floor}), nil)
	if err == nil || errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "IMPORTER_STAGING_MIN_FREE_BYTES") || !strings.Contains(err.Error(), sizeString(need-1)+" free") {
		t.Fatalf("an area with one byte too few free: %v; want a retried error naming the free space and the setting", err)
	}
	if area.calls != 1 || area.largest != 0 {
		t.Fatalf("%d free-space checks, %d bytes written; want it refused before staging", area.calls, area.largest)
	}
	area.free = func(int) int64 { return need }
	if _, err := StageWithin(context.Background(), &Opener{}, ref, area.dir, "k", area.limits(StageLimits{MinFree: floor}), nil); err != nil {
		t.Fatalf("an area with just enough free: %v", err)
	}

	area = newWatchedArea(t)
	area.free = func(call int) int64 {
		if call < 3 {
			return need
		}
		return floor - 1
	}
	_, err = StageWithin(context.Background(), &Opener{}, ref, area.dir, "k", area.limits(StageLimits{MinFree: floor}), nil)
	if err == nil || errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "IMPORTER_STAGING_MIN_FREE_BYTES") || !strings.Contains(err.Error(), "fell to") {
		t.Fatalf("an area running low: %v; want a retried error naming the setting", err)
	}
	if area.calls != 3 || area.largest < watchEvery {
		t.Fatalf("%d checks, %d bytes written; want it stopped at the third check, while it wrote", area.calls, area.largest)
	}
	if left := area.left(); len(left) != 0 {
		t.Fatalf("the stopped stage left %v behind", left)
	}
}

// An import cancelled while its source is staged to S3 leaves neither the
// object nor an incomplete multipart upload: the upload aborts itself.
func TestACancelledStageToObjectStorageLeavesNoUpload(t *testing.T) {
	s := newS3Server(t)
	noise := make([]byte, 24<<20)
	rand.New(rand.NewSource(13)).Read(noise)
	var b bytes.Buffer
	z, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if _, err := z.Write(noise); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	s.put(t, "nightly/users.csv.gz", b.String())
	received := countUploads(t)
	o := &Opener{S3PathStyle: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := StageWithin(ctx, o, Ref{URI: "s3://exports/nightly/users.csv.gz", Format: CSV, Compression: Gzip}, "s3://exports/staging", "imp", StageLimits{}, func(read int64) {
		if read < 12<<20 || ctx.Err() != nil {
			return
		}
		// The parts written so far upload in the background: cancel once
		// a multipart upload is under way, however slow the machine.
		for deadline := time.Now().Add(30 * time.Second); received.Load() < 5<<20 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		cancel()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled stage: %v", err)
	}
	if received.Load() < 5<<20 {
		t.Fatalf("only %d bytes were uploaded before the cancel; want a multipart upload under way", received.Load())
	}
	if objects, uploads := leftInBucket(t, o, "staging/"); len(objects)+len(uploads) != 0 {
		t.Fatalf("the cancelled stage left objects %v and multipart uploads %v", objects, uploads)
	}
}

// When a worker starts, the temporary files of stages a dead worker cut
// off are deleted once an hour old; fresh ones (a stage running) and
// staged copies (imports running) are kept.
func TestSweepingTheStagingAreaDeletesOnlyOldTemporaryFiles(t *testing.T) {
	area := filepath.Join(t.TempDir(), "staging")
	if n, err := SweepStaging(context.Background(), area, StagingSweepAge); n != 0 || err != nil {
		t.Fatalf("an area not made yet: %d, %v", n, err)
	}
	if err := os.MkdirAll(filepath.Join(area, ".tmp-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), ".tmp-outside")
	old := time.Now().Add(-2 * StagingSweepAge)
	for _, name := range []string{".tmp-111", ".tmp-222", ".tmp-fresh", "imp-1.csv", outside} {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(area, name)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != ".tmp-fresh" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink(outside, filepath.Join(area, ".tmp-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(area, ".tmp-dir"), old, old); err != nil {
		t.Fatal(err)
	}
	n, err := SweepStaging(context.Background(), area, StagingSweepAge)
	if err != nil || n != 2 {
		t.Fatalf("swept %d (%v); want the two old temporary files", n, err)
	}
	entries, _ := os.ReadDir(area)
	var kept []string
	for _, e := range entries {
		kept = append(kept, e.Name())
	}
	if strings.Join(kept, " ") != ".tmp-dir .tmp-fresh .tmp-link imp-1.csv" {
		t.Fatalf("the area holds %v; want the fresh temporary file, the staged copy, the directory and the link", kept)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("the file a link points to, outside the area: %v", err)
	}
	if n, err := SweepStaging(context.Background(), "s3://exports/staging", StagingSweepAge); n != 0 || err != nil {
		t.Fatalf("an object-storage area: %d, %v; want nothing swept", n, err)
	}
}

// The staging caps are read from the worker's environment, with defaults
// for what is not set and an error naming the variable for a bad value.
func TestStagingLimitsComeFromTheEnvironment(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	l, err := StagingLimitsFromEnv(env(nil))
	if err != nil || l.MaxBytes != 50<<30 || l.MaxRatio != 1000 || l.MinFree != 1<<30 {
		t.Fatalf("defaults: %+v, %v", l, err)
	}
	l, err = StagingLimitsFromEnv(env(map[string]string{
		"IMPORTER_STAGING_MAX_BYTES": "512MiB", "IMPORTER_STAGING_MAX_RATIO": "2_000", "IMPORTER_STAGING_MIN_FREE_BYTES": "1.5 GiB",
	}))
	if err != nil || l.MaxBytes != 512<<20 || l.MaxRatio != 2000 || l.MinFree != 3<<29 {
		t.Fatalf("set: %+v, %v", l, err)
	}
	if l, err := StagingLimitsFromEnv(env(map[string]string{"IMPORTER_STAGING_MAX_BYTES": "1073741824"})); err != nil || l.MaxBytes != 1<<30 {
		t.Fatalf("bytes: %+v, %v", l, err)
	}
	for name, bad := range map[string]string{
		"IMPORTER_STAGING_MAX_BYTES": "50GB", "IMPORTER_STAGING_MIN_FREE_BYTES": "-1", "IMPORTER_STAGING_MAX_RATIO": "1e3",
	} {
		if _, err := StagingLimitsFromEnv(env(map[string]string{name: bad})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: %v; want an error naming it", name, bad, err)
		}
	}
}
