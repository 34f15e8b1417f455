// Package source plans user lists into chunks and reads chunks back. A
// planner streams through a CSV or NDJSON source once and cuts it at record
// boundaries into chunks (byte ranges, row counts, the physical line a chunk
// starts at); any worker then reads exactly one chunk straight from the source
// (a local file, or an http(s) URL with a Range request). Planner and reader
// share one record scanner, so they cannot disagree: every record is in
// exactly one chunk, and reading a chunk yields exactly its row count, with
// unparseable rows yielded as records that carry an error.
//
// It imports nothing from Temporal.
package source

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Format is the encoding of a source.
type Format string

// Formats.
const (
	CSV    Format = "csv"
	NDJSON Format = "ndjson"
)

// MaxRecordBytes bounds one record. A longer one (often an unterminated
// quote) is yielded as a record with an error instead of being buffered.
const MaxRecordBytes = 16 << 20

// Sentinel errors; match with errors.Is.
var (
	// ErrPermanent marks errors that retrying will not fix.
	ErrPermanent = errors.New("permanent source error")
	// ErrNotFound: no such file, or HTTP 404/410.
	ErrNotFound = errors.New("source not found")
	// ErrChanged: the source differs from what was planned.
	ErrChanged = errors.New("source changed since it was planned")
	// ErrRangeUnsupported: an HTTP server that ignores Range requests.
	ErrRangeUnsupported = errors.New("the server does not support Range requests")
)

// permanent wraps err so that it matches ErrPermanent and kind.
type permanent struct {
	kind error
	err  error
}

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }
func (p permanent) Is(target error) bool {
	return target == ErrPermanent || (p.kind != nil && target == p.kind)
}

func permErr(kind error, format string, args ...any) error {
	return permanent{kind: kind, err: fmt.Errorf(format, args...)}
}

// DetectFormat returns the explicit format if given, else the one the
// extension of uri's path names.
func DetectFormat(uri, explicit string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(explicit)) {
	case "csv":
		return CSV, nil
	case "ndjson", "jsonl":
		return NDJSON, nil
	case "":
	default:
		return "", fmt.Errorf("unknown format %q: use --format csv or --format ndjson", explicit)
	}
	p := uri
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" && u.Host != "" {
		p = u.Path
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".csv":
		return CSV, nil
	case ".ndjson", ".jsonl":
		return NDJSON, nil
	}
	return "", fmt.Errorf("cannot tell the format of %s from its name: use --format csv or --format ndjson", Redact(uri))
}

// Redact drops a URL's query, user info and fragment (a presigned URL's
// query is a credential) so the URL can go into errors and logs.
func Redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return uri
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}
