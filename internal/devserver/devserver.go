// Package devserver runs a complete Temporal service (frontend, history,
// matching, worker) and the Temporal web UI inside the calling process, so a
// new user needs nothing installed but Go. It persists to a SQLite file (or
// memory) and registers the namespace and the project's search attributes at
// start.
//
// With Options.Postgres it persists to PostgreSQL instead, as production
// does: workflows in one database, SQL visibility in another. Setup creates
// the databases and applies or upgrades the schema with the server's own
// SQL tool (what temporal-sql-tool and the compose files' admin-tools job
// run), and the namespace and search attributes are registered through the
// frontend once it is up. Restarting on the same databases keeps every
// workflow, which is what the end-to-end tests use it for.
//
// The Temporal CLI's own dev server is an internal package and cannot be
// imported, so this is the project's small equivalent, built on the server's
// public packages. Linking it is expensive (the server's dependency tree), so
// only the worker, the starter's demo path and one end-to-end test package
// import it.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"importer/internal/logging"
)

// Options configures the embedded server.
type Options struct {
	// Host is the address every listener binds to. Default 127.0.0.1.
	Host string
	// FrontendPort is the gRPC port clients and workers dial; 0 picks a free one.
	FrontendPort int
	// UIPort is the web UI's port; 0 picks a free one. DisableUI turns it off.
	UIPort    int
	DisableUI bool
	// CodecEndpoint, when set, is the payload codec endpoint's base URL the
	// web UI's browser pages call to show encrypted payloads decoded.
	CodecEndpoint string
	// DBFile is the SQLite file; empty keeps everything in memory (lost at exit).
	DBFile string
	// Postgres, when set, persists to PostgreSQL instead of SQLite (DBFile
	// is then ignored).
	Postgres *PostgresOptions
	// Namespace to register. Default "default".
	Namespace string
	// SearchAttributes to register in the namespace (name → type).
	SearchAttributes map[string]enumspb.IndexedValueType
	// DynamicConfig overrides server dynamic config keys (tests use it to
	// make continue-as-new suggestions come sooner, for example).
	DynamicConfig map[string]any
	// Logger receives the server's own logs. Its level decides how chatty the
	// server is; warn is a good default for humans.
	Logger zerolog.Logger
}

// Server is a running embedded Temporal service.
type Server struct {
	server    temporal.Server
	ui        *uiserver.Server
	frontend  string
	uiAddress string
	namespace string
}

// FrontendAddress is host:port for Temporal clients.
func (s *Server) FrontendAddress() string { return s.frontend }

// UIAddress is the web UI's base URL, or "" when the UI is off.
func (s *Server) UIAddress() string { return s.uiAddress }

// Namespace is the registered namespace.
func (s *Server) Namespace() string { return s.namespace }

// Start starts the server and, unless disabled, the UI. It returns once the
// frontend accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	var err error
	if opts.FrontendPort == 0 {
		if opts.FrontendPort, err = FreePort(opts.Host); err != nil {
			return nil, err
		}
	}
	if !opts.DisableUI && opts.UIPort == 0 {
		if opts.UIPort, err = FreePort(opts.Host); err != nil {
			return nil, err
		}
	}
	if err := portFree(opts.Host, opts.FrontendPort); err != nil {
		return nil, fmt.Errorf("temporal frontend port: %w", err)
	}
	if !opts.DisableUI {
		if err := portFree(opts.Host, opts.UIPort); err != nil {
			return nil, fmt.Errorf("temporal UI port: %w", err)
		}
	}

	logger := serverLogger{log: opts.Logger}
	var stores config.Persistence
	if opts.Postgres != nil {
		pg := opts.Postgres.withDefaults()
		opts.Postgres = &pg
		if pg.Setup {
			if err := setupPostgres(pg, logger); err != nil {
				return nil, fmt.Errorf("set up temporal schema: %w", err)
			}
		}
		stores = postgresStores(pg)
	} else {
		sqlConf, err := sqliteConfig(opts)
		if err != nil {
			return nil, err
		}
		stores = config.Persistence{
			DefaultStore:    "sqlite",
			VisibilityStore: "sqlite",
			DataStores:      map[string]config.DataStore{"sqlite": {SQL: sqlConf}},
		}
	}
	conf, err := serverConfig(opts, stores)
	if err != nil {
		return nil, err
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("temporal authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("temporal claim mapper: %w", err)
	}
	dyn := dynamicconfig.StaticClient{
		// A dev machine has one process serving everything; a larger cache
		// and visibility rate keep the UI responsive during a big import.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8192,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
	for k, v := range opts.DynamicConfig {
		dyn[dynamicconfig.MakeKey(k)] = v
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(opts.Host, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	s := &Server{
		server:    srv,
		frontend:  net.JoinHostPort(opts.Host, strconv.Itoa(opts.FrontendPort)),
		namespace: opts.Namespace,
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	if opts.Postgres != nil {
		if err := registerNamespace(ctx, s.frontend, opts.Namespace, opts.SearchAttributes, logging.NewTemporal(opts.Logger)); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if !opts.DisableUI {
		s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                opts.Host,
			Port:                opts.UIPort,
			TemporalGRPCAddress: s.frontend,
			EnableUI:            true,
			DefaultNamespace:    opts.Namespace,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
			// No internet here or on many servers: do not fetch release news.
			DisableNewsFetch: true,
			Codec:            uiconfig.Codec{Endpoint: opts.CodecEndpoint},
		}))
		uiErr := make(chan error, 1)
		go func() { uiErr <- s.ui.Start() }()
		if err := waitListening(ctx, net.JoinHostPort(opts.Host, strconv.Itoa(opts.UIPort)), uiErr); err != nil {
			s.Stop()
			return nil, fmt.Errorf("start temporal UI: %w", err)
		}
		s.uiAddress = "http://" + net.JoinHostPort(opts.Host, strconv.Itoa(opts.UIPort))
	}
	return s, nil
}

// Stop stops the UI and the server.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	if s.server != nil {
		_ = s.server.Stop()
	}
}

func sqliteConfig(opts Options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if opts.DBFile == "" {
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		// A unique name keeps two in-memory servers in one process (tests)
		// from sharing a database.
		conf.DatabaseName = fmt.Sprintf("importer-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		conf.ConnectAttributes = map[string]string{"mode": "rwc", "_journal_mode": "wal", "_synchronous": "normal"}
		conf.DatabaseName = opts.DBFile
		if err := os.MkdirAll(filepath.Dir(opts.DBFile), 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		if _, err := os.Stat(opts.DBFile); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("create temporal schema in %s: %w", opts.DBFile, err)
			}
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", opts.Namespace, err)
	}
	// Creating is a no-op for a namespace that exists, so a restarted dev
	// server keeps its workflows.
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("register namespace %s: %w", opts.Namespace, err)
	}
	return conf, nil
}

func serverConfig(opts Options, stores config.Persistence) (*config.Config, error) {
	httpPort, err := FreePort(opts.Host)
	if err != nil {
		return nil, err
	}
	frontend := net.JoinHostPort(opts.Host, strconv.Itoa(opts.FrontendPort))
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = opts.Host
	conf.Persistence = stores
	// A dev server on one machine needs one shard. The count is fixed when
	// a database is first used: on one made by another cluster the server
	// keeps the stored count (and logs the mismatch).
	conf.Persistence.NumHistoryShards = 1
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
				HTTPAddress:            net.JoinHostPort(opts.Host, strconv.Itoa(httpPort)),
				ClusterID:              "importer-dev",
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = opts.Host
		if name == "frontend" {
			svc.RPC.GRPCPort = opts.FrontendPort
			svc.RPC.HTTPPort = httpPort
		} else {
			if svc.RPC.GRPCPort, err = FreePort(opts.Host); err != nil {
				return nil, err
			}
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontend
	return conf, nil
}

// FreePort asks the kernel for a free TCP port on host.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree fails with a helpful message when another process (often a
// Temporal dev server that is already running) holds the port.
func portFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%s:%d is in use (is another Temporal dev server or worker --dev running?): %w", host, port, err)
	}
	return l.Close()
}

func waitListening(ctx context.Context, addr string, failed <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		select {
		case err := <-failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after 30s", addr)
		}
	}
}
