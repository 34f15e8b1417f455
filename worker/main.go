// Command worker runs the importer's Temporal worker. With --dev it first
// starts an embedded Temporal server and web UI, so nothing else needs to be
// installed; without it, it connects to the cluster named by the Temporal
// CLI's settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TLS variables, temporal.toml profiles).
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"importer/activities/source"
	"importer/activities/vendors"
	"importer/activities/vendors/sandbox"
	"importer/internal/artifacts"
	"importer/internal/codec"
	"importer/internal/connections"
	"importer/internal/devserver"
	"importer/internal/logging"
	"importer/internal/metrics"
	"importer/internal/temporalclient"
	"importer/internal/vendorca"
	"importer/worker/workerrun"
	"importer/workflows"
)

type flags struct {
	dev       bool
	devPort   int
	uiPort    int
	devDB     string
	sandbox   bool
	dataDir   string
	store     string
	taskQueue string
	address   string
	namespace string
	logFormat string
	logLevel  string
	maxActs   int

	codecListen  string
	codecOrigins []string

	config   string
	vendorCA string

	metricsListen string
}

func main() {
	if err := newCommand(osEnvironment()).Execute(); err != nil {
		os.Exit(1)
	}
}

// newCommand is the worker's command over env, the environment read once.
func newCommand(env snapshot) *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the importer's Temporal worker (and, with --dev, a Temporal server and UI)",
		Long: `Run the importer's Temporal worker.

Vendor connections come from the worker, never from the workflows, which
only name one. Each vendor's "default" connection reads
IMPORTER_<VENDOR>_<SETTING>, for example IMPORTER_NEBULY_API_KEY and
IMPORTER_NEBULY_BASE_URL. --config names a YAML file with more accounts:

  connections:
    nebuly:
      eu: {api_key: "${NEBULY_EU_KEY}", base_url: "https://backend.eu.nebuly.com"}
    dynamic:
      prod: {api_token: "${DYNAMIC_TOKEN}", environment_id: "...", requests_per_minute: 150}

Settings are the variables' names lower-cased; ${VAR} is replaced by the
worker's environment variable. A "default" connection in the file is
overridden setting by setting by the IMPORTER_<VENDOR>_<SETTING> variables
that are set. The file must be private to its owner (chmod 600).

Vendor HTTPS certificates are always verified; --vendor-ca adds a PEM
bundle (a sandbox's or a proxy's private CA) to the system's roots for
vendor calls and http(s) sources.

The importer's records (rejected rows, duplicate scans, incremental state)
go to a store: by default the SQLite file importer.db under --data-dir, for
one host; with IMPORTER_STORE=postgres://user@host:5432/db?sslmode=... (or
--store) a PostgreSQL database that every worker shares, so workers on many
hosts need no shared directory. The worker applies the store's schema
migrations when it starts. A worker on the SQLite store warns when other
workers poll its task queue.

Fynd audience syncs publish the files Fynd fetches by URL in an artifact
store: IMPORTER_ARTIFACTS=local (a directory this worker serves over HTTP
with signed, expiring URLs; IMPORTER_ARTIFACTS_PUBLIC_URL is the address
Fynd reaches) or s3 (IMPORTER_S3_BUCKET, presigned URLs). With --dev a local
store on a free loopback port is used; otherwise no listener is opened.

Without --dev the worker connects to an existing Temporal cluster with the
settings the Temporal CLI reads: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TEMPORAL_TLS_*, and profiles in temporal.toml.

With IMPORTER_CODEC_KEYS set (make a key with go run ./internal/codec/cmd/newkey)
every payload is encrypted; the starter needs the same variable. --codec-listen
serves the codec endpoint the Temporal UI (and temporal --codec-endpoint) use
to show payloads decoded; off loopback it demands a bearer token from
IMPORTER_CODEC_TOKENS (comma-separated).

IMPORTER_VENDOR_TIMEOUT (a duration, default 30s) bounds one vendor call; a
call that takes longer is abandoned and retried like a network error.

--metrics-listen (IMPORTER_METRICS_LISTEN) serves Prometheus metrics at
http://ADDR/metrics: the Temporal SDK's, named as Temporal's SDK dashboards
expect, and the importer's own (importer_*: rows by outcome, vendor requests
by status, gate and pacer waits, chunk durations, imports by result). With
--dev they are served on a free loopback port, logged at start.

Whoever can start an import names its source; the worker reads it only
inside its source policy (SECURITY.md). IMPORTER_SOURCE_ROOTS lists the
directories local files may be read from (separated like PATH; default:
none, and with --dev the directory the worker was started in);
IMPORTER_SOURCE_HOSTS lists the hosts (host or host:port, comma-separated)
http(s) sources may reach on loopback, private or link-local addresses
(default: public addresses only; with --dev, loopback too). The config file
may give them as sources: {roots: [...], hosts: [...]}. The caps on what an
import may ask are IMPORTER_MAX_CHUNK_ROWS (50000), IMPORTER_MAX_BATCH_SIZE
(10000), IMPORTER_MAX_CONCURRENCY (16), IMPORTER_MAX_PLAN_PAGE (1000) and
IMPORTER_MIN_POLL (1s).

Sources in object storage (s3://, gs://, azblob://) are read with the cloud's
standard credentials, and take no option in their URL but ?region=;
IMPORTER_S3_PATH_STYLE=true addresses S3-compatible services by path. A
compressed source (.gz, .zst) is decompressed once into IMPORTER_STAGING_URL,
which workers on several hosts must share (for example s3://bucket/staging);
by default <data-dir>/staging, for one host.

Imports and syncs started with --notify NAME notify a webhook when they
end: IMPORTER_WEBHOOK_URL defines the one named "default",
IMPORTER_WEBHOOK_<NAME>_URL others, and the config file may name more:

  webhooks:
    oncall: {url: "${SLACK_ONCALL_URL}"}
    audit: {url: "https://audit.example.com/hooks", secret: "${AUDIT_SECRET}"}

A webhook with a secret (IMPORTER_WEBHOOK_[<NAME>_]SECRET or secret:, a
Standard Webhooks whsec_<base64 key>) gets signed posts (webhook-id,
webhook-timestamp, webhook-signature); without one, posts are unsigned.
The worker logs the names it knows, never a URL. IMPORTER_UI_URL (with
--dev, the embedded UI) is the base of the run's link in notifications.

SIGINT or SIGTERM stop the worker gracefully: it stops taking work and lets
running chunks finish their batch; anything cut off resumes on another worker.`,
		Example: `  # Everything on this machine: Temporal, its UI, sandbox vendors, the worker
  go run ./worker --dev --sandbox

  # Against a cluster
  TEMPORAL_ADDRESS=temporal.example.com:7233 IMPORTER_NEBULY_API_KEY=... go run ./worker`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := readConfig(env)
			if err == nil {
				err = run(cmd.Context(), f, cfg)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "worker:", err)
			}
			return err
		},
	}
	cmd.SilenceErrors = true
	cmd.AddCommand(newProbeCommand())
	fl := cmd.Flags()
	fl.BoolVar(&f.dev, "dev", false, "start an embedded Temporal server and web UI (SQLite under --data-dir)")
	fl.IntVar(&f.devPort, "dev-port", 7233, "with --dev: the Temporal frontend port")
	fl.IntVar(&f.uiPort, "ui-port", 8233, "with --dev: the Temporal web UI port")
	fl.StringVar(&f.devDB, "dev-db", "", "with --dev: the SQLite file (default <data-dir>/temporal.db; \":memory:\" keeps nothing)")
	fl.BoolVar(&f.sandbox, "sandbox", false, "start fake vendor servers in-process and point the default connections at them")
	fl.StringVar(&f.dataDir, "data-dir", env.or(envDataDir, ".importer"), "where the embedded store (importer.db), the --dev database and local artifacts are kept [IMPORTER_DATA_DIR]")
	fl.StringVar(&f.store, "store", env.Getenv(envStore), "where rejects and incremental state are kept: postgres://user@host:5432/db?sslmode=... shared by all workers, or empty for the SQLite file under --data-dir (one host only) [IMPORTER_STORE]")
	fl.StringVar(&f.taskQueue, "task-queue", workflows.TaskQueue, "the task queue to poll")
	fl.StringVar(&f.address, "address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS or localhost:7233)")
	fl.StringVar(&f.namespace, "namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE or default)")
	fl.StringVar(&f.logFormat, "log-format", "", "json or console (default: console with --dev, json otherwise)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.IntVar(&f.maxActs, "max-concurrent-chunks", 0, "chunks this worker runs at once (default: the SDK's)")
	fl.StringVar(&f.codecListen, "codec-listen", "", "serve the payload codec endpoint for the Temporal UI on this host:port, e.g. 127.0.0.1:8081 (needs IMPORTER_CODEC_KEYS)")
	fl.StringSliceVar(&f.codecOrigins, "codec-origin", nil, "web UI origin allowed to call the codec endpoint, repeatable (default with --dev: the dev UI's URL)")
	fl.StringVar(&f.config, "config", env.Getenv(envConfig), "YAML file of named vendor connections and webhooks, mode 600 [IMPORTER_CONFIG]")
	fl.StringVar(&f.vendorCA, "vendor-ca", env.Getenv(envVendorCA), "PEM bundle of extra CAs to trust for vendor calls and http(s) sources [IMPORTER_VENDOR_CA_FILE]")
	fl.StringVar(&f.metricsListen, "metrics-listen", env.Getenv(envListen), "serve Prometheus metrics at http://ADDR/metrics, e.g. 0.0.0.0:9464 (default with --dev: a free loopback port) ["+metrics.EnvListen+"]")
	return cmd
}

func run(parent context.Context, f flags, cfg Config) error {
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	format := f.logFormat
	if format == "" {
		format = "json"
		if f.dev {
			format = "console"
		}
	}
	log, err := logging.New(logging.Options{Format: format, Level: f.logLevel})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// Before any server starts: a bad file should stop the worker at once.
	conns, err := connections.Load(f.config, cfg.Environ, vendors.ConnectionSchema())
	if err != nil {
		return err
	}
	if f.config != "" {
		log.Info().Str("file", f.config).Msg("vendor connections read from the config file")
	}
	sources, err := sourcePolicy(f.dev, cfg, conns.Sources())
	if err != nil {
		return err
	}
	var roots *x509.CertPool
	if f.vendorCA != "" {
		var n int
		if roots, n, err = vendorca.Load(f.vendorCA); err != nil {
			return err
		}
		log.Info().Str("file", f.vendorCA).Int("certificates", n).Msg("vendor CA bundle added to the system's roots")
	}

	address, namespace := f.address, f.namespace
	// The UI's address, for the run's link in notifications.
	uiURL := cfg.UI
	if f.dev && address != "" {
		return errors.New("--address and --dev do not go together: --dev starts its own server (use --dev-port)")
	}
	var codecURL string
	if f.codecListen != "" {
		// Before the dev server: its UI must be told where the endpoint is.
		cs, err := startCodec(&f, cfg, log)
		if err != nil {
			return err
		}
		defer func() { _ = cs.Close() }()
		codecURL = cs.URL()
	}
	if f.dev {
		db := f.devDB
		switch db {
		case "":
			db = filepath.Join(f.dataDir, "temporal.db")
		case ":memory:":
			db = ""
		}
		srv, err := devserver.Start(ctx, devserver.Options{
			FrontendPort:     f.devPort,
			UIPort:           f.uiPort,
			CodecEndpoint:    codecURL,
			DBFile:           db,
			Namespace:        namespace,
			SearchAttributes: workflows.SearchAttributes(),
			Logger:           log.Level(serverLevel(log.GetLevel())),
		})
		if err != nil {
			return err
		}
		defer srv.Stop()
		address, namespace = srv.FrontendAddress(), srv.Namespace()
		if uiURL == "" {
			uiURL = srv.UIAddress()
		}
		log.Info().Str("address", address).Str("ui", srv.UIAddress()).Str("namespace", namespace).Str("db", dbLabel(db)).
			Msg("embedded Temporal server started")
		fmt.Fprintf(os.Stderr, "\nTemporal UI: %s\nTemporal frontend: %s (namespace %s)\n\n", srv.UIAddress(), address, namespace)
	}

	if f.sandbox {
		sb, err := sandbox.Start(sandbox.Options{})
		if err != nil {
			return err
		}
		defer sb.Close()
		conns = sb.Connections(conns)
		log.Info().Str("url", sb.URL).Msg("sandbox vendors started; default connections point at them")
	}

	health := &metrics.Health{}
	metricsHandler, stopMetrics, err := startMetrics(f.metricsListen, f.dev, health, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	c, err := temporalclient.Dial(ctx, temporalclient.Options{Address: address, Namespace: namespace, Logger: log, MetricsHandler: metricsHandler})
	if err != nil {
		return err
	}
	defer c.Close()
	if f.dev {
		// A database made by an older version may lack newer attributes.
		added, err := temporalclient.EnsureSearchAttributes(ctx, c, namespace, workflows.SearchAttributes())
		if err != nil {
			return err
		}
		if len(added) > 0 {
			log.Info().Strs("search_attributes", added).Msg("registered search attributes")
		}
	}
	store, places, err := openArtifacts(ctx, f, cfg, log)
	if err != nil {
		return err
	}
	sources.AddPrivate(places...)
	if closer, ok := store.(interface{ Close() error }); ok {
		defer closer.Close()
	}
	return workerrun.Run(ctx, c, workerrun.Options{
		Artifacts:               store,
		TaskQueue:               f.taskQueue,
		Connections:             conns,
		DataDir:                 f.dataDir,
		StoreURL:                f.store,
		MaxConcurrentActivities: f.maxActs,
		VendorTimeout:           cfg.VendorTimeout,
		S3PathStyle:             cfg.S3PathStyle,
		Staging:                 cfg.Staging,
		Logger:                  log,
		VendorRoots:             roots,
		UI:                      uiURL,
		Sources:                 sources,
		Limits:                  cfg.Limits,
		Sealed:                  cfg.Keyring != nil,
		Health:                  health,
		StagingLimits:           cfg.StagingLimits,
		SourceLimits:            cfg.SourceLimits,
	})
}

// sourcePolicy reads the operator's source policy: the directories local
// sources may be read from (IMPORTER_SOURCE_ROOTS, or the config file's
// sources.roots) and the hosts http(s) sources may reach on non-public
// addresses (IMPORTER_SOURCE_HOSTS, or sources.hosts). With --dev, the
// roots default to the directory the worker was started in and loopback
// is allowed, so the quick start's examples and sandbox work; in
// production nothing local is read unless the operator names it.
func sourcePolicy(dev bool, cfg Config, file connections.Sources) (*source.Policy, error) {
	roots := cfg.SourceRoots
	if len(roots) == 0 {
		roots = file.Roots
	}
	hosts := cfg.SourceHosts
	if len(hosts) == 0 {
		hosts = file.Hosts
	}
	if dev && len(roots) == 0 {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("--dev reads sources from the directory it was started in: %w", err)
		}
		roots = []string{wd}
	}
	p, err := source.NewPolicy(roots, hosts)
	if err != nil {
		return nil, err
	}
	p.AllowLoopback = dev
	return p, nil
}

// startCodec serves the codec endpoint with the worker's keyring. With --dev
// and no --codec-origin it allows the dev UI, fixing the UI's port now if it
// was left to chance so the origin is known before the UI starts.
func startCodec(f *flags, cfg Config, log zerolog.Logger) (*codec.Server, error) {
	ring, tokens := cfg.Keyring, cfg.CodecTokens
	if ring == nil {
		return nil, fmt.Errorf("--codec-listen needs %s (make a key with `go run ./internal/codec/cmd/newkey`)", codec.EnvKeys)
	}
	origins := f.codecOrigins
	if f.dev && len(origins) == 0 {
		if f.uiPort == 0 {
			var err error
			if f.uiPort, err = devserver.FreePort("127.0.0.1"); err != nil {
				return nil, err
			}
		}
		port := strconv.Itoa(f.uiPort)
		// The UI listens on 127.0.0.1; people open it by either name.
		origins = []string{"http://127.0.0.1:" + port, "http://localhost:" + port}
		if len(tokens) > 0 {
			log.Warn().Msgf("%s is set, but the dev UI sends no token: it will not decode payloads", codec.EnvTokens)
		}
	}
	cs, err := codec.Serve(f.codecListen, codec.Handler(ring, codec.HandlerOptions{AllowedOrigins: origins, Tokens: tokens}))
	if err != nil {
		return nil, err
	}
	log.Info().Str("url", cs.URL()).Strs("origins", origins).Bool("tokens", len(tokens) > 0).
		Str("active_key", ring.ActiveID()).Msg("codec endpoint started")
	return cs, nil
}

// openArtifacts opens the store for files vendors fetch by URL (Fynd audience
// syncs) when IMPORTER_ARTIFACTS asks for one, or with --dev, where a local
// store on a free loopback port serves the sandbox. Otherwise the worker
// opens no listener and audience syncs fail with a clear error.
//
// It returns the store's places too (artifacts.Config.Places), which no
// import may read as its source.
func openArtifacts(ctx context.Context, f flags, cfg Config, log zerolog.Logger) (artifacts.Store, []string, error) {
	getenv := cfg.getenv
	if getenv("IMPORTER_ARTIFACTS") == "" {
		if !f.dev {
			return nil, nil, nil
		}
		getenv = func(k string) string {
			if k == "IMPORTER_ARTIFACTS_LISTEN" && cfg.getenv(k) == "" {
				return "127.0.0.1:0"
			}
			return cfg.getenv(k)
		}
	}
	ac, err := artifacts.ConfigFromEnv(getenv, f.dataDir)
	if err != nil {
		return nil, nil, err
	}
	store, srv, err := artifacts.Open(ctx, ac)
	if err != nil {
		return nil, nil, err
	}
	log.Info().Str("store", store.Describe()).Msg("artifact store ready")
	if srv == nil {
		return store, ac.Places(), nil
	}
	return serverStore{Store: store, srv: srv}, ac.Places(), nil
}

// serverStore is a store whose HTTP server closes with it.
type serverStore struct {
	artifacts.Store
	srv *artifacts.Server
}

func (s serverStore) Close() error { return s.srv.Close() }
