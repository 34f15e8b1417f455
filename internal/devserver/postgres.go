package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	postgresschema "go.temporal.io/server/schema/postgresql/v12"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"

	"importer/internal/logging"
	"importer/internal/temporalclient"
)

// PostgresOptions points the server at PostgreSQL instead of SQLite, as the
// production topology (docker-compose) runs it.
type PostgresOptions struct {
	// Host and Port of the PostgreSQL server. Default 127.0.0.1:5432.
	Host string
	Port int
	// User and Password to connect with; an empty password suits trust
	// authentication.
	User     string
	Password string
	// Database holds workflows; VisibilityDatabase the list and search
	// index. Defaults temporal and temporal_visibility, the names the
	// official compose files use.
	Database           string
	VisibilityDatabase string
	// Setup creates the two databases when missing and brings their schema
	// up to the version this server build expects, as the admin-tools job
	// of the compose files does. Every step is a no-op when already done,
	// so it is safe on every start. Without it the server refuses to start
	// on a missing or outdated schema.
	Setup bool
}

// The server's embedded schema directories for PostgreSQL 12 and later.
const (
	postgresMainSchema       = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
)

// namespaceRetention is how long closed workflows stay visible, as the
// SQLite path registers them.
const namespaceRetention = 24 * time.Hour

func (o PostgresOptions) withDefaults() PostgresOptions {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 5432
	}
	if o.Database == "" {
		o.Database = "temporal"
	}
	if o.VisibilityDatabase == "" {
		o.VisibilityDatabase = "temporal_visibility"
	}
	return o
}

// sqlConfig is the server's connection config for one of the databases.
func (o PostgresOptions) sqlConfig(database string) *config.SQL {
	return &config.SQL{
		PluginName:      postgresql.PluginName,
		DatabaseName:    database,
		ConnectAddr:     net.JoinHostPort(o.Host, strconv.Itoa(o.Port)),
		ConnectProtocol: "tcp",
		User:            o.User,
		Password:        o.Password,
		// Enough for four services in one process without starving the
		// PostgreSQL default of 100 connections shared with other users.
		MaxConns:        20,
		MaxIdleConns:    20,
		MaxConnLifetime: time.Hour,
	}
}

// where names the server and database in errors; never the password.
func (o PostgresOptions) where(database string) string {
	return fmt.Sprintf("PostgreSQL database %s at %s:%d", database, o.Host, o.Port)
}

// setupPostgres runs temporal-sql-tool's create-database, setup-schema -v 0.0
// and update-schema on both databases. It drives the tool's own tasks rather
// than its command line (tools/sql.RunTool), because RunTool exits the
// process on an error, or with --quiet reports none.
func setupPostgres(o PostgresOptions, logger log.Logger) error {
	for _, db := range []struct{ name, schema, version string }{
		{o.Database, postgresMainSchema, postgresschema.Version},
		{o.VisibilityDatabase, postgresVisibilitySchema, postgresschema.VisibilityVersion},
	} {
		// An empty default database makes the tool try "postgres", then
		// "defaultdb" (Aiven), as the command line does.
		if err := sqltool.DoCreateDatabase(o.sqlConfig(db.name), "", logger); err != nil {
			return fmt.Errorf("create %s: %w", o.where(db.name), err)
		}
		if err := setupSchema(o.sqlConfig(db.name), db.schema, db.version, logger); err != nil {
			return fmt.Errorf("%s: %w", o.where(db.name), err)
		}
	}
	return nil
}

func setupSchema(cfg *config.SQL, schemaName, want string, logger log.Logger) error {
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	// Version 0.0 creates only the version tables; a database that is
	// already further along is left as it is.
	if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return fmt.Errorf("set up schema versioning: %w", err)
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{SchemaName: schemaName}, logger).Run(); err != nil {
		return fmt.Errorf("update schema %s: %w", schemaName, err)
	}
	got, err := conn.ReadSchemaVersion()
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if got != want {
		return fmt.Errorf("schema is at version %s after the update; this server needs %s", got, want)
	}
	return nil
}

// postgresStores is the persistence config: workflows in one database,
// visibility (advanced, SQL) in the other.
func postgresStores(o PostgresOptions) config.Persistence {
	return config.Persistence{
		DefaultStore:    "postgres-default",
		VisibilityStore: "postgres-visibility",
		DataStores: map[string]config.DataStore{
			"postgres-default":    {SQL: o.sqlConfig(o.Database)},
			"postgres-visibility": {SQL: o.sqlConfig(o.VisibilityDatabase)},
		},
	}
}

// registerNamespace registers the namespace and its search attributes
// through the frontend, as an operator would with the CLI: on PostgreSQL
// there is no pre-start shortcut like the SQLite one. Both steps are
// idempotent, so a restarted server keeps what it had.
func registerNamespace(ctx context.Context, frontend, namespace string, attrs map[string]enumspb.IndexedValueType, l logging.Temporal) error {
	c, err := client.DialContext(ctx, client.Options{HostPort: frontend, Namespace: namespace, Logger: l})
	if err != nil {
		return fmt.Errorf("connect to the embedded frontend %s: %w", frontend, err)
	}
	defer c.Close()
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(namespaceRetention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	if len(attrs) == 0 {
		return nil
	}
	_, err = temporalclient.EnsureSearchAttributes(ctx, c, namespace, attrs)
	return err
}
