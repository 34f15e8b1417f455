package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	serverconfig "go.temporal.io/server/common/config"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqltool "go.temporal.io/server/tools/sql"

	"importer/internal/devserver"
	"importer/internal/temporalclient"
	"importer/workflows"
)

// cluster is the embedded Temporal server the soak stops and starts again,
// and the soak's own client of it.
type cluster struct {
	opts     devserver.Options
	srv      *devserver.Server
	c        client.Client
	log      zerolog.Logger
	pg       *devserver.PostgresOptions // nil on SQLite
	restarts int
}

// startCluster starts the server on a fixed frontend port, so that workers
// and the client find a restarted server where the first one was, with
// its persistence in dir (SQLite) or in fresh PostgreSQL databases.
func startCluster(ctx context.Context, dir string, usePostgres bool, log zerolog.Logger) (*cluster, error) {
	port, err := devserver.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	cl := &cluster{log: log, opts: devserver.Options{
		DisableUI:        true,
		FrontendPort:     port,
		DBFile:           filepath.Join(dir, "temporal.db"),
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           log,
	}}
	if usePostgres {
		pg, err := freshPostgres()
		if err != nil {
			return nil, err
		}
		cl.pg = &pg
		cl.opts.Postgres = &pg
	}
	if cl.srv, err = devserver.Start(ctx, cl.opts); err != nil {
		return nil, fmt.Errorf("start Temporal: %w", err)
	}
	cl.c, err = temporalclient.Dial(ctx, temporalclient.Options{Address: cl.srv.FrontendAddress(), Namespace: cl.srv.Namespace(), Logger: log})
	if err != nil {
		cl.srv.Stop()
		return nil, err
	}
	return cl, nil
}

func (cl *cluster) address() string   { return cl.srv.FrontendAddress() }
func (cl *cluster) namespace() string { return cl.srv.Namespace() }

// restart stops the server and starts it again on the same port and the
// same database, pausing in between as a real outage would.
func (cl *cluster) restart(ctx context.Context, down time.Duration) error {
	cl.srv.Stop()
	cl.srv = nil
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	srv, err := devserver.Start(ctx, cl.opts)
	if err != nil {
		return fmt.Errorf("start Temporal again on the same database: %w", err)
	}
	cl.srv = srv
	cl.restarts++
	return nil
}

// close stops the client and the server and, unless keep, drops the
// PostgreSQL databases.
func (cl *cluster) close(keep bool) {
	cl.c.Close()
	if cl.srv != nil {
		cl.srv.Stop()
	}
	if cl.pg == nil {
		return
	}
	if keep {
		fmt.Fprintf(os.Stderr, "soak: kept PostgreSQL databases %s and %s\n", cl.pg.Database, cl.pg.VisibilityDatabase)
		return
	}
	for _, db := range []string{cl.pg.Database, cl.pg.VisibilityDatabase} {
		// The stopped server's pool may not have let go yet.
		err := adminExec(*cl.pg, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, db)
		if err == nil {
			err = adminExec(*cl.pg, `DROP DATABASE IF EXISTS "`+db+`"`)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: drop database %s: %v\n", db, err)
		}
	}
}

// freshPostgres names a new pair of databases (created by the server's
// schema setup) on the PostgreSQL at 127.0.0.1:5432, or where PGHOST and
// PGPORT say, as PGUSER (default postgres) with PGPASSWORD.
func freshPostgres() (devserver.PostgresOptions, error) {
	pg := devserver.PostgresOptions{Host: "127.0.0.1", Port: 5432, User: "postgres", Password: os.Getenv("PGPASSWORD"), Setup: true}
	// A PGHOST starting with / is a socket directory; the server needs TCP.
	if h := os.Getenv("PGHOST"); h != "" && !strings.HasPrefix(h, "/") {
		pg.Host = h
	}
	if p := os.Getenv("PGPORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return pg, fmt.Errorf("PGPORT=%q is not a port", p)
		}
		pg.Port = n
	}
	if u := os.Getenv("PGUSER"); u != "" {
		pg.User = u
	}
	addr := net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port))
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return pg, fmt.Errorf("-postgres: nothing answers at %s: %w", addr, err)
	}
	_ = conn.Close()
	if err := adminExec(pg, "SELECT 1"); err != nil {
		return pg, fmt.Errorf("-postgres: %s does not let user %q in (set PGUSER and PGPASSWORD): %w", addr, pg.User, err)
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return pg, err
	}
	pg.Database = "importer_soak_" + hex.EncodeToString(suffix)
	pg.VisibilityDatabase = pg.Database + "_visibility"
	return pg, nil
}

// adminExec runs one statement in the postgres database through the
// server's SQL tool, the driver the server itself uses.
func adminExec(pg devserver.PostgresOptions, stmt string, args ...any) error {
	conn, err := sqltool.NewConnection(&serverconfig.SQL{
		PluginName:      postgresql.PluginName,
		DatabaseName:    "postgres",
		ConnectAddr:     net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)),
		ConnectProtocol: "tcp",
		User:            pg.User,
		Password:        pg.Password,
	}, serverlog.NewNoopLogger())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	return conn.Exec(stmt, args...)
}
