package source

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"gocloud.dev/blob"
	// The object stores a source may name, each with its cloud's standard
	// credentials: the AWS default chain (AWS_ENDPOINT_URL_S3 for an
	// S3-compatible service), Google's application default credentials,
	// Azure's AZURE_STORAGE_* variables.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// blobSchemes are the URL schemes of objects in object storage.
var blobSchemes = []string{"s3://", "gs://", "azblob://"}

// Remote says whether a source is read over the network: an http(s) URL
// or an object in object storage.
func Remote(uri string) bool { return isHTTP(uri) || isBlob(uri) }

func isBlob(uri string) bool {
	for _, s := range blobSchemes {
		if strings.HasPrefix(uri, s) {
			return true
		}
	}
	return false
}

// object opens the bucket of a source's object URL
// (scheme://bucket/key?region=...), as the Policy allows, once per bucket
// and options, and returns it with the object's key.
func (o *Opener) object(ctx context.Context, uri string) (*blob.Bucket, string, error) {
	return o.openObject(ctx, uri, false)
}

// openObject is object; trusted URLs are the worker's own (its staging
// area, from its configuration), whose options the policy does not judge.
func (o *Opener) openObject(ctx context.Context, uri string, trusted bool) (*blob.Bucket, string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, "", permErr(nil, "source %s: %v", Redact(uri), err)
	}
	key := strings.TrimPrefix(u.Path, "/")
	if u.Host == "" || key == "" {
		return nil, "", permErr(nil, "source %s names no bucket or no object: write %s://BUCKET/PATH/TO/FILE", Redact(uri), u.Scheme)
	}
	q := u.Query()
	if o.Policy != nil && !trusted {
		if err := o.Policy.checkObject(ctx, uri, q); err != nil {
			return nil, "", err
		}
	}
	if u.Scheme == "s3" && o.S3PathStyle && q.Get("use_path_style") == "" {
		q.Set("use_path_style", "true")
	}
	bucketURL := u.Scheme + "://" + u.Host
	if len(q) > 0 {
		bucketURL += "?" + q.Encode()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if b, ok := o.buckets[bucketURL]; ok {
		return b, key, nil
	}
	b, err := blob.OpenBucket(ctx, bucketURL)
	if err != nil {
		return nil, "", permErr(nil, "source %s: open the bucket: %v", Redact(uri), err)
	}
	if o.buckets == nil {
		o.buckets = map[string]*blob.Bucket{}
	}
	o.buckets[bucketURL] = b
	return b, key, nil
}

// statObject reads an object's size and identity (ETag, modification time).
func (o *Opener) statObject(ctx context.Context, uri string) (*blob.Bucket, string, Version, error) {
	b, key, err := o.object(ctx, uri)
	if err != nil {
		return nil, "", Version{}, err
	}
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return nil, "", Version{}, objectErr(uri, err)
	}
	return b, key, Version{Size: a.Size, ETag: a.ETag, LastModified: a.ModTime.UTC().Format(time.RFC3339Nano)}, nil
}

// openObjectRange reads length bytes of an object from offset (length < 0:
// to the end) with the store's range reads. The version returned is the
// object's as it is read, so a chunk of an object replaced since planning
// fails with ErrChanged.
func (o *Opener) openObjectRange(ctx context.Context, uri string, offset, length int64) (io.ReadCloser, Version, error) {
	b, key, v, err := o.statObject(ctx, uri)
	if err != nil {
		return nil, Version{}, err
	}
	if offset > v.Size {
		return nil, Version{}, permErr(ErrChanged, "source %s: bytes from %d are no longer there: %v", Redact(uri), offset, ErrChanged)
	}
	r, err := b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, Version{}, objectErr(uri, err)
	}
	return r, v, nil
}

// objectErr says what went wrong with an object in a sentence: a missing
// object or refused credentials are final, anything else may pass.
func objectErr(uri string, err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return permErr(ErrNotFound, "source %s: no such object", Redact(uri))
	case gcerrors.PermissionDenied:
		return permErr(nil, "source %s: the worker's credentials may not read it (%v)", Redact(uri), err)
	case gcerrors.InvalidArgument, gcerrors.FailedPrecondition, gcerrors.Unimplemented:
		return permErr(nil, "source %s: %v", Redact(uri), err)
	}
	return fmt.Errorf("source %s: %w", Redact(uri), err)
}

func isNotFound(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }
