package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

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
	if err := cl.pg.DropDatabases(); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
	}
}

// freshPostgres names a new pair of databases (created by the server's
// schema setup) on the PostgreSQL at 127.0.0.1:5432, or where PGHOST and
// PGPORT say, as PGUSER (default postgres) with PGPASSWORD.
func freshPostgres() (devserver.PostgresOptions, error) {
	pg, err := devserver.PostgresFromEnv(os.Getenv)
	if err != nil {
		return pg, fmt.Errorf("-postgres: %w", err)
	}
	if err := pg.Reachable(3 * time.Second); err != nil {
		return pg, fmt.Errorf("-postgres: nothing answers at %s: %w", pg.Addr(), err)
	}
	if err := pg.CheckLogin(); err != nil {
		return pg, fmt.Errorf("-postgres: %s does not let user %q in (set PGUSER and PGPASSWORD): %w", pg.Addr(), pg.User, err)
	}
	return pg.WithFreshDatabases("importer_soak_")
}
