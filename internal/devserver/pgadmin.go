package devserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	serverlog "go.temporal.io/server/common/log"
	sqltool "go.temporal.io/server/tools/sql"

	"importer/internal/pgenv"
)

// The helpers below serve what runs the server on a throwaway pair of
// databases (the topology test, the soak): where PostgreSQL is, whether it
// lets us in, fresh database names, and dropping them afterwards.

// PostgresFromEnv is the PostgreSQL at 127.0.0.1:5432, or where PGHOST and
// PGPORT say, as PGUSER (default postgres) with PGPASSWORD, with schema
// setup on. It does not connect.
func PostgresFromEnv(getenv func(string) string) (PostgresOptions, error) {
	srv, err := pgenv.FromEnv(getenv)
	pg := PostgresOptions{Host: srv.Host, Port: srv.Port, User: srv.User, Password: srv.Password, Setup: true}
	return pg, err
}

// Addr is host:port.
func (o PostgresOptions) Addr() string { return net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) }

// Reachable says whether anything accepts TCP connections at Addr.
func (o PostgresOptions) Reachable(timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", o.Addr(), timeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

// CheckLogin connects to the postgres database as o.User. The driver's
// reason goes to stderr, since the error only says no connection worked.
func (o PostgresOptions) CheckLogin() error {
	return o.adminExec("SELECT 1")
}

// WithFreshDatabases names a new pair of databases, prefix plus a random
// suffix; schema setup creates them.
func (o PostgresOptions) WithFreshDatabases(prefix string) (PostgresOptions, error) {
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return o, err
	}
	o.Database = prefix + hex.EncodeToString(suffix)
	o.VisibilityDatabase = o.Database + "_visibility"
	return o, nil
}

// DropDatabases drops both databases, ending the sessions a stopped
// server's pool may still hold on them.
func (o PostgresOptions) DropDatabases() error {
	var errs []error
	for _, db := range []string{o.Database, o.VisibilityDatabase} {
		err := o.adminExec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, db)
		if err == nil {
			err = o.adminExec(`DROP DATABASE IF EXISTS "` + strings.ReplaceAll(db, `"`, `""`) + `"`)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drop %s: %w", o.where(db), err))
		}
	}
	return errors.Join(errs...)
}

// adminExec runs one statement in the postgres database through the
// server's SQL tool, the driver the server itself uses.
func (o PostgresOptions) adminExec(stmt string, args ...any) error {
	conn, err := sqltool.NewConnection(o.sqlConfig("postgres"), serverlog.NewCLILogger())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", o.where("postgres"), err)
	}
	defer conn.Close()
	return conn.Exec(stmt, args...)
}
