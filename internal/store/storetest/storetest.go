// Package storetest gives tests (and the benchmark) a store on a real
// database: a fresh PostgreSQL database each (dropped at the end), or a
// SQLite file in the test's temporary directory. It is not for production.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"importer/internal/pgenv"
)

// RequireEnv, set to 1, turns a missing PostgreSQL into a test failure
// instead of a skip (CI sets it).
const RequireEnv = "IMPORTER_REQUIRE_POSTGRES"

// server is the URL of a database on the PostgreSQL the tests use (see
// pgenv: PGHOST, PGPORT, PGUSER, PGPASSWORD).
func server(database string) (string, error) {
	s, err := pgenv.FromEnv(os.Getenv)
	if err != nil {
		return "", err
	}
	return s.URL(database), nil
}

// Postgres creates a fresh database and returns its URL; the database is
// dropped when the test ends. Without a reachable server the test is
// skipped, or fails when RequireEnv is set.
func Postgres(t testing.TB) string {
	t.Helper()
	url, drop, err := NewDatabase(context.Background())
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("PostgreSQL is required (%s=1): %v", RequireEnv, err)
		}
		t.Skipf("no PostgreSQL to test against (%v); set PGHOST/PGPORT/PGUSER/PGPASSWORD", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Logf("drop the test database: %v", err)
		}
	})
	return url
}

// NewDatabase creates a fresh database on the PostgreSQL that PGHOST,
// PGPORT, PGUSER and PGPASSWORD name (default 127.0.0.1:5432 as postgres),
// and returns its URL and a function that drops it.
func NewDatabase(ctx context.Context) (string, func() error, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	adminURL, err := server("postgres")
	if err != nil {
		return "", nil, err
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL is not reachable: %w", err)
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "importer_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	url, err := server(name)
	return url, drop, err
}

// CutConnections ends every session on the database of storeURL, as a
// PostgreSQL restart does, and returns how many it ended.
func CutConnections(ctx context.Context, storeURL string) (int, error) {
	cfg, err := pgx.ParseConfig(storeURL)
	if err != nil {
		return 0, err
	}
	adminURL, err := server("postgres")
	if err != nil {
		return 0, err
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return 0, err
	}
	defer admin.Close(ctx)
	var n int
	err = admin.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) t`, cfg.Database).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("end sessions on %s: %w", cfg.Database, err)
	}
	return n, nil
}

// SQLite returns a store URL for a SQLite file in the test's directory.
func SQLite(t testing.TB) string {
	return "sqlite:" + t.TempDir() + "/importer-" + strconv.Itoa(os.Getpid()) + ".db"
}
