package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
)

// Version identifies the bytes that were planned; a chunk read compares it
// to detect a source that changed in between.
type Version struct {
	Size         int64  `json:"size"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// changedFrom says what tells the source now (v) from the planned one
// (want), for the sentence of ErrChanged: "size 120, planned 100".
func (want Version) changedFrom(v Version) string {
	switch {
	case want.Size != v.Size:
		return fmt.Sprintf("size %d, planned %d", v.Size, want.Size)
	case want.ETag != "" && v.ETag != "" && want.ETag != v.ETag:
		return fmt.Sprintf("ETag %s, planned %s", v.ETag, want.ETag)
	case want.LastModified != "" && v.LastModified != "" && want.LastModified != v.LastModified:
		return fmt.Sprintf("last modified %s, planned %s", v.LastModified, want.LastModified)
	}
	return fmt.Sprintf("size %d", v.Size)
}

// changed is the error of a source that is no longer the planned one.
func changed(uri string, want, now Version) error {
	return permErr(ErrChanged, "source %s changed since it was planned (%s)", Redact(uri), want.changedFrom(now))
}

// matches says whether the source now (v) is still the planned one (want).
func (want Version) matches(v Version) bool {
	if want.Size != v.Size {
		return false
	}
	if want.ETag != "" && v.ETag != "" {
		return want.ETag == v.ETag
	}
	if want.LastModified != "" && v.LastModified != "" {
		return want.LastModified == v.LastModified
	}
	return true
}

// Opener opens sources: local paths, file:// URLs, http(s) URLs and
// objects in object storage (s3://, gs://, azblob://). Its zero value
// reads with the default HTTP client and each cloud's standard settings,
// whatever its process can read; a worker's Opener has a Policy.
type Opener struct {
	HTTP *http.Client // nil means http.DefaultClient
	// Policy is what sources the worker may read (see Policy); nil reads
	// anything, for the starter's dry run on a person's own machine.
	Policy *Policy
	// S3PathStyle addresses S3 buckets by path (endpoint/bucket/key), as
	// S3-compatible services such as MinIO or SeaweedFS want; false is
	// AWS's virtual-hosted style (IMPORTER_S3_PATH_STYLE).
	S3PathStyle bool
	// Limits are the caps on what a list may make this process hold (see
	// Limits); a zero field is its default.
	Limits Limits

	mu      sync.Mutex
	buckets map[string]*blob.Bucket // opened once per bucket URL
	guarded *http.Client            // HTTP under Policy, made once

	ranges rangeCache // Parquet bytes kept for the next chunks
}

// Client is the HTTP client http(s) sources are read with: under the
// worker's source policy (each dial checked, no proxy), when it has one.
// Other URLs that arrive from outside, such as a file a vendor's answer
// names, are fetched with it too.
func (o *Opener) Client() *http.Client { return o.client() }

func (o *Opener) client() *http.Client {
	if o == nil {
		return http.DefaultClient
	}
	if o.Policy != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.guarded == nil {
			o.guarded = o.Policy.guardedClient(o.HTTP)
		}
		return o.guarded
	}
	if o.HTTP == nil {
		return http.DefaultClient
	}
	return o.HTTP
}

func isHTTP(uri string) bool {
	return strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://")
}

func localPath(uri string) string {
	if strings.HasPrefix(uri, "file://") {
		if u, err := url.Parse(uri); err == nil {
			return u.Path
		}
	}
	return uri
}

// Stat returns the Version of a source.
func (o *Opener) Stat(ctx context.Context, uri string) (Version, error) {
	if isBlob(uri) {
		_, _, v, err := o.statObject(ctx, uri)
		return v, err
	}
	if !isHTTP(uri) {
		f, fi, err := o.localFile(ctx, uri)
		if err != nil {
			return Version{}, err
		}
		f.Close()
		return fileVersion(fi), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, uri, nil)
	if err != nil {
		return Version{}, permErr(nil, "source %s: %v", Redact(uri), err)
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return Version{}, transportErr(uri, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusMethodNotAllowed {
		rc, v, err := o.openRange(ctx, uri, 0, 1)
		if err != nil {
			return Version{}, err
		}
		rc.Close()
		return v, nil
	}
	if err := statusErr(uri, resp); err != nil {
		return Version{}, err
	}
	return Version{Size: resp.ContentLength, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}, nil
}

func fileVersion(fi fs.FileInfo) Version {
	return Version{Size: fi.Size(), LastModified: fi.ModTime().UTC().Format(time.RFC3339Nano)}
}

// openFrom opens a source for reading from offset to its end.
func (o *Opener) openFrom(ctx context.Context, uri string, offset int64) (io.ReadCloser, Version, error) {
	return o.openRange(ctx, uri, offset, -1)
}

// openRange opens length bytes from offset (length < 0: to the end).
func (o *Opener) openRange(ctx context.Context, uri string, offset, length int64) (io.ReadCloser, Version, error) {
	if isBlob(uri) {
		return o.openObjectRange(ctx, uri, offset, length)
	}
	if !isHTTP(uri) {
		f, fi, err := o.localFile(ctx, uri)
		if err != nil {
			return nil, Version{}, err
		}
		if fi.IsDir() {
			f.Close()
			return nil, Version{}, permErr(nil, "source %s is a directory", uri)
		}
		var r io.Reader = io.NewSectionReader(f, offset, max(fi.Size()-offset, 0))
		if length >= 0 {
			r = io.NewSectionReader(f, offset, length)
		}
		return readCloser{Reader: r, Closer: f}, fileVersion(fi), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, Version{}, permErr(nil, "source %s: %v", Redact(uri), err)
	}
	whole := offset == 0 && length < 0
	if !whole {
		if length >= 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
		} else {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return nil, Version{}, transportErr(uri, err)
	}
	if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		resp.Body.Close()
		return nil, Version{}, permErr(ErrChanged, "source %s: bytes from %d are no longer there: %v", Redact(uri), offset, ErrChanged)
	}
	if err := statusErr(uri, resp); err != nil {
		resp.Body.Close()
		return nil, Version{}, err
	}
	v := Version{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		total, ok := contentRangeTotal(resp.Header.Get("Content-Range"))
		if !ok {
			resp.Body.Close()
			return nil, Version{}, permErr(ErrRangeUnsupported, "source %s: a 206 answer without a usable Content-Range: %v", Redact(uri), ErrRangeUnsupported)
		}
		v.Size = total
	case whole:
		v.Size = resp.ContentLength
	case offset == 0 && resp.ContentLength == length:
		// The server sent the whole file, which is exactly the range asked.
		v.Size = resp.ContentLength
	default:
		resp.Body.Close()
		return nil, Version{}, permErr(ErrRangeUnsupported, "source %s answered a Range request with HTTP %d: %v; serve it from a server that supports Range (S3, GCS, nginx, ...)",
			Redact(uri), resp.StatusCode, ErrRangeUnsupported)
	}
	return resp.Body, v, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

func contentRangeTotal(h string) (int64, bool) {
	i := strings.LastIndexByte(h, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(h[i+1:]), 10, 64)
	return n, err == nil
}

func statusErr(uri string, resp *http.Response) error {
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusNotFound || c == http.StatusGone:
		return permErr(ErrNotFound, "source %s answered HTTP %d %s", Redact(uri), c, http.StatusText(c))
	case c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500:
		return fmt.Errorf("source %s: HTTP %d %s", Redact(uri), c, http.StatusText(c))
	default:
		return permErr(nil, "source %s: HTTP %d %s", Redact(uri), c, http.StatusText(c))
	}
}

func fileErr(uri string, err error) error {
	var pe *fs.PathError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = fmt.Sprintf("%s %s: %v", pe.Op, uri, pe.Err)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return permErr(ErrNotFound, "source %s: no such file", uri)
	case errors.Is(err, fs.ErrPermission):
		return permErr(nil, "%s", msg)
	}
	return fmt.Errorf("%s", msg)
}

// transportErr is the error of a request that got no answer: a refusal of
// the source policy (final), or the transport's error without the URL.
func transportErr(uri string, err error) error {
	if r, ok := dialRefused(err); ok {
		return refused("source %s: %s", Redact(uri), r.Error())
	}
	return fmt.Errorf("source %s: %w", Redact(uri), scrub(err, uri))
}

// scrub removes the URL (and its query) from a transport error, which
// quotes it in full.
func scrub(err error, uri string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return errors.New(strings.ReplaceAll(err.Error(), uri, Redact(uri)))
}
