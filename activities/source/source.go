// Package source owns reading user lists: naming them (Ref, under the
// worker's source policy in policy.go: which roots, hosts and object
// stores an import may name), opening them (local files, http(s) with
// Range requests, s3/gs/azblob through gocloud.dev/blob, gzip and zstd
// staged once to a plain copy), planning them into chunks, and reading
// chunks back, for CSV, NDJSON and Parquet.
//
// A planner streams through a list once and cuts it at record boundaries
// into chunks (byte ranges, or row ranges of a Parquet file; row counts;
// the physical line a chunk starts at); any worker then reads exactly one
// chunk straight from the source. Planner and reader share one record
// scanner, so they cannot disagree: every record is in exactly one chunk,
// and reading a chunk yields exactly its row count, with unparseable rows
// yielded as records that carry an error. The duplicate scan reads the key
// columns alone (ReadColumns; Parquet's key column chunks only).
//
// No list file, however it is made, can exhaust the process that reads it:
// what a list declares is held to an Opener's Limits (columns, nesting, a
// header's and a chunk's bytes, a Parquet footer's), a Parquet file's
// footer, page index and page headers are checked before the Parquet
// library decodes a byte of them, and staging is held to StageLimits
// (size, expansion, free space). A cap that is reached fails the import,
// or rejects the row, with a sentence that names its setting.
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

// MaxRecordBytes bounds one record. No user record comes near it: a longer
// one is an unterminated quote or a file that is not a list, and it is
// yielded as a record with an error (a reject) instead of being buffered
// or sent to a vendor.
const MaxRecordBytes = 1 << 20

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
	case "parquet":
		return Parquet, nil
	case "":
	default:
		return "", fmt.Errorf("unknown format %q: use --format csv, ndjson or parquet", explicit)
	}
	p := uri
	if u, err := url.Parse(uri); err == nil && u.Scheme != "" && u.Host != "" {
		p = u.Path
	}
	switch strings.ToLower(path.Ext(withoutCompression(p))) {
	case ".csv":
		return CSV, nil
	case ".ndjson", ".jsonl":
		return NDJSON, nil
	case ".parquet":
		return Parquet, nil
	}
	return "", fmt.Errorf("cannot tell the format of %s from its name: use --format csv, ndjson or parquet", Redact(uri))
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

// CredentialIn says what in a source URL may be a credential: user info,
// or a query (a presigned signature, a token) other than an object-store
// URL's region; "" when there is none. Such a URL is a secret: it may
// travel in workflow history only when payloads are encrypted.
func CredentialIn(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	if u.User != nil {
		return "user info"
	}
	if u.RawQuery == "" {
		return ""
	}
	if isBlob(uri) {
		// An object-store URL's options are refused on their own
		// (ObjectOptionProblem); the worker's credentials read it.
		return ""
	}
	return "a query (a presigned signature or token)"
}

// CredentialRefusal is the sentence that refuses a source URL carrying a
// credential (what, from CredentialIn) when payloads are not encrypted.
func CredentialRefusal(uri, what string) string {
	return fmt.Sprintf("the source URL %s carries %s, which would be kept in the workflow's history in plain text: "+
		"read the list from an s3://, gs:// or azblob:// URL with the workers' own credentials, "+
		"or turn payload encryption on (IMPORTER_CODEC_KEYS on the workers and the starter)", Redact(uri), what)
}

// DelimiterHint explains a CSV header that came out as one column because
// the file is separated by something other than commas; "" otherwise. It
// quotes the header, for the person who runs the starter on their own
// file; a worker's message uses DelimiterHintUnquoted.
func DelimiterHint(header []string) string {
	kind := delimiterKind(header)
	if kind == "" {
		return ""
	}
	return fmt.Sprintf("the header is one column holding %q: the file looks %s-separated, and only comma-separated CSV (or NDJSON) is read; convert it, e.g. with a spreadsheet's CSV export", clip(header[0]), kind)
}

// DelimiterHintUnquoted is DelimiterHint without the header's text, which
// is the file's content: what a worker says goes into workflow history.
func DelimiterHintUnquoted(header []string) string {
	kind := delimiterKind(header)
	if kind == "" {
		return ""
	}
	return fmt.Sprintf("the header is one column: the file looks %s-separated, and only comma-separated CSV (or NDJSON) is read; convert it, e.g. with a spreadsheet's CSV export", kind)
}

func delimiterKind(header []string) string {
	if len(header) != 1 {
		return ""
	}
	for _, d := range []struct{ sep, name string }{{";", "semicolon"}, {"\t", "tab"}, {"|", "pipe"}} {
		if strings.Contains(header[0], d.sep) {
			return d.name
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Ref says where the user list is and how to read it. It carries no
// rows: activities read their own chunk straight from the source.
type Ref struct {
	URI    string `json:"uri"`
	Format Format `json:"format"`
	// Header and Version are filled in by planning: the CSV column names and
	// the identity of the planned bytes, so every chunk reads the same file.
	Header  []string `json:"header,omitempty"`
	Version Version  `json:"version"`
	// Compression says the bytes at URI are compressed: an import stages
	// a plain copy first (Stage) and reads that.
	Compression Compression `json:"compression,omitempty"`
	// Staged: URI is the plain copy Stage made of a compressed source,
	// which every worker must be able to read.
	Staged bool `json:"staged,omitempty"`
}

// LocalStaged says whether a source is a staged copy on this machine's
// disk, which workers on other hosts cannot read.
func (r Ref) LocalStaged() bool { return r.Staged && !Remote(r.URI) }
