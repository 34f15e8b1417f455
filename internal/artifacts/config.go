package artifacts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"importer/internal/envconf"
)

// Store kinds.
const (
	KindLocal = "local"
	KindS3    = "s3"
)

// DefaultListen is where the local store's server listens unless told
// otherwise: loopback, because in development the vendor is a fake on the
// same machine.
const DefaultListen = "127.0.0.1:8235"

// Config chooses and configures the artifact store. Only the fields of the
// chosen Kind are used.
type Config struct {
	Kind string // KindLocal or KindS3

	// Local store.
	Dir        string // where files are kept
	Listen     string // address the server binds
	PublicURL  string // base of the URLs handed to vendors; "" means the server's own address
	SecretFile string // URL-signing keys, first signs (see LoadOrCreateKeys)
	// URLTTL is the longest a local store's URL stays valid (see
	// LocalOptions.MaxURLTTL); 0 means DefaultURLTTL.
	URLTTL time.Duration

	S3 S3Config
}

// ConfigFromEnv reads the store's settings through getenv (os.Getenv, or a
// map in tests). dataDir is the worker's data directory, under which the
// local store keeps its files and secret by default.
//
//	IMPORTER_ARTIFACTS              local (default) or s3
//	IMPORTER_ARTIFACTS_DIR          default <dataDir>/artifacts
//	IMPORTER_ARTIFACTS_LISTEN       default 127.0.0.1:8235
//	IMPORTER_ARTIFACTS_PUBLIC_URL   default http://<listen>
//	IMPORTER_ARTIFACTS_SECRET_FILE  default <dataDir>/artifacts.key
//	IMPORTER_ARTIFACTS_URL_TTL      longest URL lifetime, default 24h
//	IMPORTER_S3_BUCKET              required for s3
//	IMPORTER_S3_PREFIX, IMPORTER_S3_REGION, IMPORTER_S3_ENDPOINT
//	IMPORTER_S3_PATH_STYLE          true or false
//
// A wildcard listen address (":8235", "0.0.0.0:8235") yields a loopback
// default public URL, and port 0 leaves it empty so that the server's
// actual address is used; a vendor outside this machine needs
// IMPORTER_ARTIFACTS_PUBLIC_URL set to an address it can reach.
func ConfigFromEnv(getenv func(string) string, dataDir string) (Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	kind := strings.ToLower(get("IMPORTER_ARTIFACTS"))
	switch kind {
	case "", KindLocal:
		return localFromEnv(get, dataDir)
	case KindS3:
		return s3FromEnv(get)
	default:
		return Config{}, fmt.Errorf("IMPORTER_ARTIFACTS=%q: want %q or %q", kind, KindLocal, KindS3)
	}
}

func localFromEnv(get func(string) string, dataDir string) (Config, error) {
	c := Config{
		Kind:       KindLocal,
		Dir:        get("IMPORTER_ARTIFACTS_DIR"),
		Listen:     get("IMPORTER_ARTIFACTS_LISTEN"),
		PublicURL:  get("IMPORTER_ARTIFACTS_PUBLIC_URL"),
		SecretFile: get("IMPORTER_ARTIFACTS_SECRET_FILE"),
	}
	if (c.Dir == "" || c.SecretFile == "") && dataDir == "" {
		return Config{}, errors.New("artifact store: no data directory: set IMPORTER_ARTIFACTS_DIR and IMPORTER_ARTIFACTS_SECRET_FILE")
	}
	if c.Dir == "" {
		c.Dir = filepath.Join(dataDir, "artifacts")
	}
	if c.SecretFile == "" {
		c.SecretFile = filepath.Join(dataDir, "artifacts.key")
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	c.URLTTL = DefaultURLTTL
	if v := get("IMPORTER_ARTIFACTS_URL_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return Config{}, fmt.Errorf("IMPORTER_ARTIFACTS_URL_TTL=%q: want a duration of a minute or more, e.g. 24h", v)
		}
		c.URLTTL = d
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return Config{}, fmt.Errorf("IMPORTER_ARTIFACTS_LISTEN=%q: want host:port, e.g. %s", c.Listen, DefaultListen)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil {
		return Config{}, fmt.Errorf("IMPORTER_ARTIFACTS_LISTEN=%q: port %q is not a number from 0 to 65535", c.Listen, port)
	} else if c.PublicURL == "" && p != 0 {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	if c.PublicURL != "" {
		u, err := normalizePublicURL(c.PublicURL)
		if err != nil {
			return Config{}, fmt.Errorf("IMPORTER_ARTIFACTS_PUBLIC_URL: %w", err)
		}
		c.PublicURL = u
	}
	return c, nil
}

func s3FromEnv(get func(string) string) (Config, error) {
	c := Config{Kind: KindS3, S3: S3Config{
		Bucket:   get("IMPORTER_S3_BUCKET"),
		Prefix:   strings.Trim(get("IMPORTER_S3_PREFIX"), "/"),
		Region:   get("IMPORTER_S3_REGION"),
		Endpoint: get("IMPORTER_S3_ENDPOINT"),
	}}
	if c.S3.Bucket == "" {
		return Config{}, errors.New("IMPORTER_ARTIFACTS=s3 needs IMPORTER_S3_BUCKET")
	}
	if c.S3.Prefix != "" {
		if err := ValidKey(c.S3.Prefix); err != nil {
			return Config{}, fmt.Errorf("IMPORTER_S3_PREFIX: %w", err)
		}
	}
	if c.S3.Endpoint != "" {
		if err := checkEndpoint(c.S3.Endpoint); err != nil {
			return Config{}, fmt.Errorf("IMPORTER_S3_ENDPOINT: %w", err)
		}
	}
	var err error
	if c.S3.PathStyle, err = envconf.Bool(get, envconf.S3PathStyle); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Open builds the configured store. For a local store it also starts the
// server that vendors fetch from; the caller closes it. For S3 the server is
// nil.
func Open(ctx context.Context, cfg Config) (Store, *Server, error) {
	switch cfg.Kind {
	case KindLocal:
		keys, err := LoadOrCreateKeys(cfg.SecretFile)
		if err != nil {
			return nil, nil, err
		}
		l, err := NewLocalWith(cfg.Dir, cfg.PublicURL, LocalOptions{Keys: keys, MaxURLTTL: cfg.URLTTL})
		if err != nil {
			return nil, nil, err
		}
		addr := cfg.Listen
		if addr == "" {
			addr = DefaultListen
		}
		srv, err := l.Listen(addr)
		if err != nil {
			return nil, nil, err
		}
		return l, srv, nil
	case KindS3:
		s, err := NewS3(ctx, cfg.S3)
		if err != nil {
			return nil, nil, err
		}
		return s, nil, nil
	default:
		return nil, nil, fmt.Errorf("artifact store: unknown kind %q: want %q or %q", cfg.Kind, KindLocal, KindS3)
	}
}

// Places are where the store keeps what it holds: the local store's
// directory and key file, or the S3 store's bucket and prefix as an
// s3:// URL. They are the worker's own, and no import may name them as
// its source.
func (c Config) Places() []string {
	switch c.Kind {
	case KindLocal:
		return []string{c.Dir, c.SecretFile}
	case KindS3:
		return []string{"s3://" + path.Join(c.S3.Bucket, strings.Trim(c.S3.Prefix, "/"))}
	}
	return nil
}
