// Package store keeps the importer's records, the things no workflow
// history may hold and every worker must see: the rows an import rejected,
// the lines its duplicate scan found superseded, and the state of
// incremental imports (a hash per user, staged per run and made current
// only when the run succeeds).
//
// Two backends sit behind one type. SQLite, a file under the worker's data
// directory, is the embedded default: nothing to install, one host only.
// PostgreSQL (IMPORTER_STORE=postgres://...) is for production: workers on
// many hosts share it, so a reject written by one is read by the import's
// last step on another and by `starter rejects` anywhere. Both run the same
// versioned schema migrations (goose, embedded), applied by Open.
//
// Writes are idempotent per part (an activity that runs twice replaces the
// rows it wrote the first time), large writes take the database's bulk path
// (COPY on PostgreSQL, one prepared statement in one transaction on
// SQLite), and lookups go by batch, so no caller ever loads a whole state
// into memory.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Backends.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// EnvVar names the variable the worker and the starter read the store from.
const EnvVar = "IMPORTER_STORE"

// DefaultFile is the SQLite file under the data directory when nothing is
// configured.
const DefaultFile = "importer.db"

// Store is the importer's records in one database. It is safe for
// concurrent use by many goroutines, and by many processes on one database.
type Store struct {
	db      *sql.DB
	backend string
	where   string // for Describe: a path, or host/db without credentials
	dialect dialect
}

// Options configure Open. The zero value opens the embedded default.
type Options struct {
	// URL selects the backend: "" or "sqlite" for DataDir/importer.db,
	// "sqlite:PATH" (or "file:PATH") for another SQLite file, and
	// "postgres://user[:password]@host:port/db?sslmode=verify-full&sslrootcert=..."
	// (or postgresql://) for PostgreSQL. No message shows the password.
	URL string
	// DataDir is where the default SQLite file goes; "" means ".importer".
	DataDir string
	// MaxConns bounds PostgreSQL connections; 0 means 16. SQLite ignores it.
	MaxConns int
}

// Open connects to the store, and applies the schema migrations it lacks.
// Workers opening one store at once are safe: migrations run under an
// advisory lock on PostgreSQL, and under a lock on the file PATH.lock beside
// the database on SQLite.
func Open(ctx context.Context, o Options) (*Store, error) {
	s, err := open(o)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func open(o Options) (*Store, error) {
	u := strings.TrimSpace(o.URL)
	switch {
	case u == "" || u == SQLite:
		dir := o.DataDir
		if dir == "" {
			dir = ".importer"
		}
		return openSQLite(filepath.Join(dir, DefaultFile))
	case strings.HasPrefix(u, "sqlite:") || strings.HasPrefix(u, "file:"):
		_, path, _ := strings.Cut(u, ":")
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, fmt.Errorf("%s=%q names no file", EnvVar, u)
		}
		return openSQLite(path)
	case strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://"):
		return openPostgres(u, o.MaxConns)
	case keywordSetting.MatchString(u):
		// The setting is not shown, only its keywords: it may hold a
		// password under any of them.
		return nil, fmt.Errorf("%s holds keyword/value settings (%s), which the importer does not read: write them as a URL, %s",
			EnvVar, settingKeys(u), exampleURL)
	default:
		what := "is not a store"
		if scheme, _, ok := strings.Cut(u, "://"); ok && validScheme(scheme) {
			what = "is a " + scheme + ":// URL, which is not a store"
		}
		return nil, fmt.Errorf("%s %s: use %s, or sqlite:PATH, or leave it empty for %s under the data directory",
			EnvVar, what, exampleURL, DefaultFile)
	}
}

// exampleURL is how messages show a PostgreSQL setting: one that verifies
// the server's certificate.
const exampleURL = "postgres://user@host:5432/db?sslmode=verify-full&sslrootcert=/path/ca.pem"

// validScheme says whether s can be a URL's scheme (RFC 3986), and so can
// be named in a message without showing anything else of the setting.
func validScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func openSQLite(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the store's directory: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	// WAL lets readers run beside the writer; busy_timeout makes a writer
	// wait for another (in this process or another) instead of failing;
	// immediate transactions take the write lock at BEGIN, so two writers
	// never deadlock upgrading a read lock.
	// journal_size_limit cuts the WAL back to 64 MiB whenever it is reset.
	dsn := "file:" + abs + "?_pragma=busy_timeout%3d30000&_pragma=journal_mode%3dWAL&_pragma=synchronous%3dNORMAL" +
		"&_pragma=journal_size_limit%3d67108864&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open the store %s: %w", abs, err)
	}
	// One connection: SQLite has one writer at a time anyway, and with no
	// reader of this process holding an old snapshot the WAL is
	// checkpointed and reused instead of growing for as long as chunks run
	// (gigabytes in a 1M-row import on a pool of four). A caller must not
	// use the store inside a callback of Rejects or Disappeared.
	db.SetMaxOpenConns(1)
	if f, err := os.OpenFile(abs, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close() // created owner-only: it holds user ids
	}
	return &Store{db: db, backend: SQLite, where: abs, dialect: sqliteDialect{}}, nil
}

// Backend is SQLite or Postgres.
func (s *Store) Backend() string { return s.backend }

// Describe names the store for logs and messages, without credentials.
func (s *Store) Describe() string {
	if s.backend == SQLite {
		return "SQLite file " + s.where
	}
	return "PostgreSQL " + s.where
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("reach the store (%s): %w", s.Describe(), err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := subFS(s.backend)
	if err != nil {
		return err
	}
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if s.backend == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("store migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	opts = append(opts, goose.WithTableName("importer_schema_version"))
	p, err := goose.NewProvider(dialect, s.db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store migrations: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if s.backend == SQLite {
		// SQLite has no advisory lock: workers starting together on one
		// fresh file would each create the version table and run the
		// first migration. A lock file beside the database lets one
		// migrate (and switch the file to WAL) while the others wait.
		unlock, err := lockFile(ctx, s.where+".lock")
		if err != nil {
			return fmt.Errorf("migrate the store (%s): %w", s.Describe(), err)
		}
		defer unlock()
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate the store (%s): %w", s.Describe(), err)
	}
	return nil
}

// SchemaVersion is the newest migration the database has.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM importer_schema_version WHERE is_applied`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read the store's schema version: %w", err)
	}
	return v, nil
}

func subFS(backend string) (fs.FS, error) {
	f, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store migrations: %w", err)
	}
	if backend == SQLite {
		return sqliteFS(f)
	}
	return f, nil
}

// createTable is a CREATE TABLE statement up to its closing parenthesis.
var createTable = regexp.MustCompile(`(?s)(CREATE TABLE [^;]*\))\s*;`)

// sqliteFS is the migrations as SQLite runs them: every table (each has a
// primary key) WITHOUT ROWID. The rest of the SQL is the same for both.
func sqliteFS(src fs.FS) (fs.FS, error) {
	out := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		out[p] = &fstest.MapFile{Data: createTable.ReplaceAll(b, []byte("$1 WITHOUT ROWID;")), Mode: 0o444}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store migrations: %w", err)
	}
	return out, nil
}
