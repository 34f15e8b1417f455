// Package artifacts publishes files that a vendor fetches by URL (Fynd
// Audience takes a user list only as a CSV at a URL its servers GET).
//
// Two stores exist: Local keeps files in a directory that the worker serves
// over HTTP with signed, expiring URLs (development and tests), and S3 keeps
// them in an S3-compatible bucket and hands out presigned GET URLs
// (production).
//
// A URL from a store is a credential: whoever holds it reads the users in the
// file. Only the artifact key belongs in workflow history; mint the URL inside
// the activity that calls the vendor, with a short ttl, and never log it.
package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"
)

// Store keeps artifacts by key and publishes them at expiring URLs.
type Store interface {
	// Put stores r under key, replacing what was there (activities may run
	// twice), and returns its size.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open reads an artifact back (the worker re-reads what it published,
	// e.g. to verify). The error wraps ErrNotFound when key is absent.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// URL returns a URL a vendor can GET for ttl. The error wraps
	// ErrNotFound when key is absent, so a caller learns of a missing file
	// now rather than from a vendor's failed fetch later.
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
	// Delete removes an artifact; an absent one is not an error.
	Delete(ctx context.Context, key string) error
	// Describe names where artifacts go, for the worker's startup log. It
	// never contains secrets.
	Describe() string
}

// Both stores satisfy Store; the worker picks one by configuration.
var (
	_ Store = (*Local)(nil)
	_ Store = (*S3)(nil)
)

// ErrNotFound is wrapped by Open and URL when no artifact has the key.
var ErrNotFound = errors.New("artifact not found")

// MaxKeyLen is the longest key ValidKey accepts, in bytes.
const MaxKeyLen = 512

// ValidKey reports whether key can name an artifact: slash-separated,
// non-empty segments of ASCII letters, digits, '.', '_' and '-', at most
// MaxKeyLen bytes, with no leading or trailing slash.
//
// A segment may not start with '.': that excludes "." and ".." (no way out of
// the store's directory or prefix) and reserves hidden names for the local
// store's temporary files, so a half-written file can never be addressed.
func ValidKey(key string) error {
	if key == "" {
		return errors.New("artifact key is empty")
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("artifact key is %d bytes long; the limit is %d", len(key), MaxKeyLen)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("artifact key %q starts with a slash", key)
	}
	for i, seg := range strings.Split(key, "/") {
		if seg == "" {
			return fmt.Errorf("artifact key %q has an empty segment (segment %d)", key, i+1)
		}
		if seg[0] == '.' {
			return fmt.Errorf("artifact key %q has a segment starting with '.' (segment %d)", key, i+1)
		}
		for j := 0; j < len(seg); j++ {
			if !keyByte(seg[j]) {
				return fmt.Errorf("artifact key %q has a character outside [A-Za-z0-9._-] in segment %d", key, i+1)
			}
		}
	}
	return nil
}

func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// contentType is what a vendor is told it downloads. Vendors that parse a
// file_url may check the type, so CSV is labelled as such rather than
// sniffed; the charset is stated because names in user lists are not ASCII.
func contentType(key string) string {
	switch ext := strings.ToLower(path.Ext(key)); ext {
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".ndjson", ".jsonl":
		return "application/x-ndjson"
	case ".json":
		return "application/json"
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
		return "application/octet-stream"
	}
}

// ctxReader stops a long copy when its context ends: an activity that was
// cancelled or timed out must not keep writing a large file.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
