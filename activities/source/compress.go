package source

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"gocloud.dev/blob"

	"importer/internal/atomicfile"
)

// Compression names how a source's bytes are compressed; "" is none.
type Compression string

// The compressions a source may have.
const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
)

// DetectCompression tells a source's compression from explicit (--compression:
// gzip, zstd, none, or "" to go by the name) or from its name's last
// extension (.gz, .zst).
func DetectCompression(uri, explicit string) (Compression, error) {
	switch strings.ToLower(strings.TrimSpace(explicit)) {
	case "gzip", "gz":
		return Gzip, nil
	case "zstd", "zst":
		return Zstd, nil
	case "none":
		return "", nil
	case "", "auto":
	default:
		return "", fmt.Errorf("unknown compression %q: use --compression gzip, zstd or none", explicit)
	}
	switch strings.ToLower(path.Ext(uriPath(uri))) {
	case ".gz", ".gzip":
		return Gzip, nil
	case ".zst", ".zstd":
		return Zstd, nil
	}
	return "", nil
}

// uriPath is the path of a URL, or the local path itself.
func uriPath(uri string) string {
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Path
	}
	return uri
}

// withoutCompression drops a compression extension from a name, so that
// users.csv.gz tells its format like users.csv.
func withoutCompression(p string) string {
	switch strings.ToLower(path.Ext(p)) {
	case ".gz", ".gzip", ".zst", ".zstd":
		return strings.TrimSuffix(p, path.Ext(p))
	}
	return p
}

// maxZstdWindow bounds the window a zstd frame may ask the decoder to
// keep, which it allocates before it decodes a byte: 128 MiB, zstd's own
// default limit for decompression (frames made with --long=28 or more need
// more and are refused). The library's default, 512 MiB, let a 551-byte
// file make a worker allocate 480 MiB.
const maxZstdWindow = 128 << 20

// decompressor reads the plain bytes of a compressed stream.
func decompressor(r io.Reader, c Compression) (io.ReadCloser, error) {
	switch c {
	case Gzip:
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		z.Multistream(true)
		return z, nil
	case Zstd:
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, err
		}
		return z.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// Stage is StageWithin under the default StageLimits.
func Stage(ctx context.Context, o *Opener, src Ref, area, key string, progress func(read int64)) (Ref, error) {
	return StageWithin(ctx, o, src, area, key, StageLimits{}, progress)
}

// StageWithin decompresses a compressed source once, into a plain copy
// under area that every worker can range-read: a local directory (one
// host), or an object-storage prefix (s3://bucket/prefix, gs://...,
// azblob://...). The copy is named by key (an import's key) and keeps the
// source's format; StageWithin returns its Ref. progress is called now and
// then with the compressed bytes read so far. The copy is held within lim,
// counted as the bytes flow: its size, its expansion and, for a local
// area, the free space left (see StageLimits). A stream that passes a cap,
// is corrupt or is cut short fails with a sentence that says so, and
// leaves no copy behind: no temporary file, no object, no multipart
// upload.
func StageWithin(ctx context.Context, o *Opener, src Ref, area, key string, lim StageLimits, progress func(read int64)) (Ref, error) {
	if src.Compression == "" {
		return src, nil
	}
	if area == "" {
		return Ref{}, permErr(nil, "%s is %s-compressed, and this worker has no staging area to decompress it to (set IMPORTER_STAGING_URL)", Redact(src.URI), src.Compression)
	}
	lim = lim.WithDefaults()
	rc, v, err := o.openFrom(ctx, src.URI, 0)
	if err != nil {
		return Ref{}, err
	}
	defer rc.Close()
	dir := "" // a local area's directory, whose free space is checked
	if !isBlob(area) {
		dir = localPath(area)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Ref{}, fmt.Errorf("stage to %s: %w", dir, err)
		}
		if err := lim.checkFreeBefore(dir, Redact(src.URI), v.Size); err != nil {
			return Ref{}, err
		}
	}
	counted := &countingReader{r: rc, every: 4 << 20, progress: progress}
	plain, err := decompressor(counted, src.Compression)
	if err != nil {
		return Ref{}, permErr(nil, "%s is not %s-compressed as its name says: %v", Redact(src.URI), src.Compression, err)
	}
	defer plain.Close()
	g := &guard{ctx: ctx, plain: plain, packed: counted, lim: lim, what: Redact(src.URI), dir: dir}
	name := StagedName(key, src.Format)
	staged := Ref{URI: joinArea(area, name), Format: src.Format, Staged: true}
	if err := o.writeStaged(ctx, area, name, g); err != nil {
		_ = o.Unstage(context.WithoutCancel(ctx), area, key, src.Format)
		if errors.Is(err, errCorrupt) {
			return Ref{}, permErr(nil, "%s: %v", Redact(src.URI), err)
		}
		return Ref{}, err
	}
	return staged, nil
}

// StagedName is the name of the staged copy of the import with key: the
// worker derives it, so neither a copy's name nor what is deleted when the
// import ends is chosen by a caller. Only letters, digits, '-', '_' and '.'
// are kept.
func StagedName(key string, f Format) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, key)
	clean = strings.TrimLeft(clean, ".")
	if clean == "" {
		clean = "_"
	}
	return clean + "." + string(f)
}

// StagedURI is where the staged copy of the import with key is, in area.
func StagedURI(area, key string, f Format) string { return joinArea(area, StagedName(key, f)) }

// errCorrupt marks a compressed stream that cannot be read to its end.
var errCorrupt = errors.New("the compressed stream is corrupt or cut short")

func joinArea(area, name string) string {
	if isBlob(area) {
		u, _ := url.Parse(area)
		u.Path = path.Join(u.Path, name)
		return u.String()
	}
	dir := localPath(area)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // the same path whatever a reader's working directory
	}
	return filepath.Join(dir, name)
}

// writeStaged copies what g hands over into the staging area under name.
// When g stops, its error is returned and the copy is dropped before it
// is ever complete: a local temporary file is deleted, and an object's
// upload is aborted (see uploadStaged).
func (o *Opener) writeStaged(ctx context.Context, area, name string, g *guard) error {
	if isBlob(area) {
		b, prefix, err := o.area(ctx, area)
		if err != nil {
			return err
		}
		if err := uploadStaged(ctx, b, area, path.Join(prefix, name), g); err != nil {
			if g.err != nil {
				return g.err
			}
			return fmt.Errorf("stage to %s: %w", Redact(area), err)
		}
		return nil
	}
	dir := localPath(area)
	f, err := atomicfile.Create(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("stage to %s: %w", dir, err)
	}
	if _, err := io.Copy(f, g); err != nil {
		f.Abort()
		if g.err != nil {
			return g.err
		}
		return fmt.Errorf("write the staged copy: %w", err) // err names the file
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("stage to %s: %w", dir, err)
	}
	return nil
}

// abortGrace is how long an upload to object storage outlives the stage's
// context, so that an upload cut off by it can still abort itself.
const abortGrace = 30 * time.Second

// uploadStaged uploads what g hands over as the object key. A failed
// upload leaves nothing: S3's and Azure's uploaders abort themselves when
// their reader fails (S3 aborts the multipart upload; Azure drops the
// uncommitted blocks), which needs a context that is still live; so the
// upload runs on one that outlives ctx by abortGrace, while g stops at
// once when ctx ends. Cancelling the context first, gocloud's documented
// abort, makes S3's AbortMultipartUpload fail and leaves the parts
// behind. Google Cloud Storage, whose writer would commit what it has on
// Close, is aborted that way: its context is cancelled before Close.
func uploadStaged(ctx context.Context, b *blob.Bucket, area, key string, g *guard) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(abortGrace, cancel) })
	defer stop()
	opts := &blob.WriterOptions{ContentType: "application/octet-stream"}
	if !strings.HasPrefix(area, "gs://") {
		return b.Upload(wctx, key, g, opts)
	}
	w, err := b.NewWriter(wctx, key, opts)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, g); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	return w.Close()
}

// area opens the bucket of an object-storage staging area and returns it
// with the area's prefix.
func (o *Opener) area(ctx context.Context, area string) (*blob.Bucket, string, error) {
	u, err := url.Parse(area)
	if err != nil || u.Host == "" {
		return nil, "", permErr(nil, "staging area %s is no bucket URL: write s3://BUCKET/PREFIX", Redact(area))
	}
	b, _, err := o.openObject(ctx, u.Scheme+"://"+u.Host+"/x?"+u.RawQuery, true)
	return b, strings.TrimPrefix(u.Path, "/"), err
}

// Unstage deletes the staged copy of the import with key from area, by the
// name Stage gave it; one already gone is no error. Nothing outside the
// area is ever deleted.
func (o *Opener) Unstage(ctx context.Context, area, key string, f Format) error {
	name := StagedName(key, f)
	if isBlob(area) {
		b, prefix, err := o.area(ctx, area)
		if err != nil {
			return err
		}
		if err := b.Delete(ctx, path.Join(prefix, name)); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete the staged copy %s: %w", name, err)
		}
		return nil
	}
	r, err := os.OpenRoot(localPath(area))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the staged copy %s: %w", name, err)
	}
	defer r.Close()
	if err := r.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete the staged copy %s: %w", name, err)
	}
	return nil
}

// countingReader reports how many bytes went through it, every so often.
type countingReader struct {
	r        io.Reader
	n, next  int64
	every    int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && c.n >= c.next {
		c.progress(c.n)
		c.next = c.n + c.every
	}
	return n, err
}
