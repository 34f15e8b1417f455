package artifacts

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"importer/internal/atomicfile"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MinSecretLen is the shortest URL-signing secret NewLocal accepts, in bytes.
const MinSecretLen = 16

// DefaultURLTTL is the longest a local store's URL stays valid when nothing
// else is configured: the day the Fynd audience sync asks for, since its
// jobs may queue that long before they fetch the file.
const DefaultURLTTL = 24 * time.Hour

// ClockSkew is how far beyond now+MaxURLTTL a URL's expiry may lie and still
// be served: the worker that minted it may run on a clock a little ahead.
const ClockSkew = time.Minute

// Local keeps artifacts as files under a directory and publishes them through
// its own HTTP handler (see Handler and Listen) at URLs signed with an HMAC
// and an expiry time.
type Local struct {
	dir    string
	keys   []urlKey // keys[0] signs; every one verifies
	maxTTL time.Duration
	now    func() time.Time // tests move it to expire URLs

	mu        sync.RWMutex
	publicURL string // base of URLs, no trailing slash; "" until Listen when not configured
}

// urlKey is one URL-signing key and the id URLs name it by.
type urlKey struct {
	id     string
	secret []byte
}

// KeyID is the id a URL names its signing key by (the kid parameter): the
// first 8 bytes of the key's SHA-256, hex-encoded. It says which key to
// verify with and nothing about the key itself.
func KeyID(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:8])
}

// LocalOptions are the local store's settings beyond its directory and
// public URL.
type LocalOptions struct {
	// Keys sign and verify URLs. The first signs every new URL; each one
	// verifies the URLs that name it (kid), so a new key put first leaves
	// the URLs signed with the old one valid until they expire, and a key
	// removed revokes its URLs. At least one, each at least MinSecretLen
	// bytes.
	Keys [][]byte
	// MaxURLTTL is the longest a URL stays valid: URL cuts a longer ttl to
	// it, and the server refuses a URL whose expiry lies further ahead than
	// this plus ClockSkew (one minted elsewhere with the key, say). 0 means
	// DefaultURLTTL.
	MaxURLTTL time.Duration
}

// NewLocal is NewLocalWith one URL-signing secret and DefaultURLTTL.
func NewLocal(dir, publicURL string, secret []byte) (*Local, error) {
	return NewLocalWith(dir, publicURL, LocalOptions{Keys: [][]byte{secret}})
}

// NewLocalWith returns a store that keeps files under dir (created 0700 if
// missing) and mints URLs under publicURL, the address at which vendors reach
// the handler (e.g. "http://127.0.0.1:8235" or "https://files.example.com").
// An empty publicURL means "wherever Listen binds", which suits tests that
// listen on port 0. o.Keys sign URLs; keep them stable (LoadOrCreateKeys) so
// URLs outlive a worker restart.
func NewLocalWith(dir, publicURL string, o LocalOptions) (*Local, error) {
	if dir == "" {
		return nil, errors.New("local artifact store: no directory given")
	}
	if len(o.Keys) == 0 {
		return nil, errors.New("local artifact store: no URL-signing secret given")
	}
	keys := make([]urlKey, len(o.Keys))
	for i, k := range o.Keys {
		if len(k) < MinSecretLen {
			return nil, fmt.Errorf("local artifact store: URL-signing secret %d is %d bytes; at least %d are needed", i+1, len(k), MinSecretLen)
		}
		keys[i] = urlKey{id: KeyID(k), secret: append([]byte(nil), k...)}
	}
	switch {
	case o.MaxURLTTL == 0:
		o.MaxURLTTL = DefaultURLTTL
	case o.MaxURLTTL < time.Second:
		return nil, fmt.Errorf("local artifact store: the longest URL lifetime must be a second or more, got %s", o.MaxURLTTL)
	}
	base, err := normalizePublicURL(publicURL)
	if err != nil {
		return nil, fmt.Errorf("local artifact store: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local artifact store: directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("local artifact store: create directory: %w", err)
	}
	return &Local{
		dir:       abs,
		keys:      keys,
		maxTTL:    o.MaxURLTTL,
		now:       time.Now,
		publicURL: base,
	}, nil
}

// normalizePublicURL checks that u is an absolute http(s) URL without query
// or fragment (they would corrupt the URLs built on it) and drops a trailing
// slash. "" stays "".
func normalizePublicURL(u string) (string, error) {
	if u == "" {
		return "", nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("public URL %q: %w", u, err)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return "", fmt.Errorf("public URL %q: want an http:// or https:// URL", u)
	}
	if p.Host == "" {
		return "", fmt.Errorf("public URL %q has no host", u)
	}
	if p.RawQuery != "" || p.Fragment != "" || p.User != nil {
		return "", fmt.Errorf("public URL %q: must not carry a query, fragment or user info", u)
	}
	return strings.TrimRight(u, "/"), nil
}

// Dir is the directory that holds the artifacts.
func (l *Local) Dir() string { return l.dir }

func (l *Local) base() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.publicURL
}

// adoptURL makes u the public URL when none was configured.
func (l *Local) adoptURL(u string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.publicURL == "" {
		l.publicURL = u
	}
}

// path maps a valid key to its file.
func (l *Local) path(key string) string {
	return filepath.Join(l.dir, filepath.FromSlash(key))
}

// Put writes r to a hidden temporary file next to the target and renames it
// into place, so a reader (or the handler serving a vendor) sees the old file
// or the new one, never half of one.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := ValidKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("put artifact %s: %w", key, err)
	}
	target := l.path(key)
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return 0, fmt.Errorf("put artifact %s: %w", key, err)
	}
	// The temporary file's leading dot keeps it out of the key space
	// (ValidKey refuses segments that start with '.'), and the file is
	// synced before the rename: after a crash the key holds a whole file.
	var n int64
	err := atomicfile.Write(target, func(w *bufio.Writer) error {
		var err error
		n, err = io.Copy(w, ctxReader{ctx: ctx, r: r})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("put artifact %s: %w", key, err)
	}
	return n, nil
}

// Open returns the artifact's file.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", key, err)
	}
	f, _, err := l.openFile(key)
	if err != nil {
		return nil, fmt.Errorf("open artifact %s: %w", key, err)
	}
	return f, nil
}

// openFile opens a regular file for key; a directory, or a path through a
// file, counts as absent.
func (l *Local) openFile(key string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(l.path(key))
	if err != nil {
		if absent(err) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, ErrNotFound
	}
	return f, st, nil
}

func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// URL returns {publicURL}/artifacts/{key}?expires=<unix>&kid=<id>&sig=<hex>,
// valid until now+ttl, signed with the first key. A ttl longer than the
// store's MaxURLTTL is cut to it: the server would refuse the URL.
func (l *Local) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("artifact URL for %s: ttl must be positive, got %s", key, ttl)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("artifact URL for %s: %w", key, err)
	}
	base := l.base()
	if base == "" {
		return "", fmt.Errorf("artifact URL for %s: the local store has no public URL (configure one or call Listen first)", key)
	}
	f, _, err := l.openFile(key)
	if err != nil {
		return "", fmt.Errorf("artifact URL for %s: %w", key, err)
	}
	_ = f.Close()
	ttl = min(ttl, l.maxTTL)
	expires := strconv.FormatInt(l.now().Add(ttl).Unix(), 10)
	signer := l.keys[0]
	q := url.Values{"expires": {expires}, "kid": {signer.id}, "sig": {hex.EncodeToString(sign(signer.secret, key, expires))}}
	return base + urlPrefix + key + "?" + q.Encode(), nil
}

// sign is HMAC-SHA256(secret, key "\n" expires); the newline keeps key and
// expiry from running into each other (key "a1" expires "2" differs from key
// "a" expires "12"). The kid is not signed: it only picks the key the
// signature must verify with.
func sign(secret []byte, key, expires string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(key))
	m.Write([]byte{'\n'})
	m.Write([]byte(expires))
	return m.Sum(nil)
}

// Delete removes the artifact's file.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete artifact %s: %w", key, err)
	}
	p := l.path(key)
	st, err := os.Lstat(p)
	if err != nil {
		if absent(err) {
			return nil
		}
		return fmt.Errorf("delete artifact %s: %w", key, err)
	}
	if st.IsDir() {
		// A key that names a directory of other artifacts is not an
		// artifact itself: there is nothing to delete.
		return nil
	}
	if err := os.Remove(p); err != nil && !absent(err) {
		return fmt.Errorf("delete artifact %s: %w", key, err)
	}
	return nil
}

// Describe names the directory and the address vendors fetch from.
func (l *Local) Describe() string {
	base := l.base()
	if base == "" {
		base = "(not listening yet)"
	}
	return "local " + l.dir + " (served at " + base + ")"
}
