// Command worker runs the importer's Temporal worker. With --dev it first
// starts an embedded Temporal server and web UI, so nothing else needs to be
// installed; without it, it connects to the cluster named by the Temporal
// CLI's settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TLS variables, temporal.toml profiles).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"importer/activities"
	"importer/internal/connections"
	"importer/internal/devserver"
	"importer/internal/logging"
	"importer/internal/sandbox"
	"importer/internal/temporalclient"
	"importer/internal/workerrun"
	"importer/workflows"
)

type flags struct {
	dev       bool
	devPort   int
	uiPort    int
	devDB     string
	sandbox   bool
	dataDir   string
	taskQueue string
	address   string
	namespace string
	logFormat string
	logLevel  string
	maxActs   int
}

func main() {
	if err := newCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the importer's Temporal worker (and, with --dev, a Temporal server and UI)",
		Long: `Run the importer's Temporal worker.

Vendor connections come from the worker's environment, never from the
workflows: IMPORTER_<VENDOR>_<SETTING>, for example IMPORTER_NEBULY_API_KEY
and IMPORTER_NEBULY_BASE_URL.

Without --dev the worker connects to an existing Temporal cluster with the
settings the Temporal CLI reads: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TEMPORAL_TLS_*, and profiles in temporal.toml.

SIGINT or SIGTERM stop the worker gracefully: it stops taking work and lets
running chunks finish their batch; anything cut off resumes on another worker.`,
		Example: `  # Everything on this machine: Temporal, its UI, sandbox vendors, the worker
  go run ./worker --dev --sandbox

  # Against a cluster
  TEMPORAL_ADDRESS=temporal.example.com:7233 IMPORTER_NEBULY_API_KEY=... go run ./worker`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := run(cmd.Context(), f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "worker:", err)
			}
			return err
		},
	}
	cmd.SilenceErrors = true
	fl := cmd.Flags()
	fl.BoolVar(&f.dev, "dev", false, "start an embedded Temporal server and web UI (SQLite under --data-dir)")
	fl.IntVar(&f.devPort, "dev-port", 7233, "with --dev: the Temporal frontend port")
	fl.IntVar(&f.uiPort, "ui-port", 8233, "with --dev: the Temporal web UI port")
	fl.StringVar(&f.devDB, "dev-db", "", "with --dev: the SQLite file (default <data-dir>/temporal.db; \":memory:\" keeps nothing)")
	fl.BoolVar(&f.sandbox, "sandbox", false, "start fake vendor servers in-process and point the default connections at them")
	fl.StringVar(&f.dataDir, "data-dir", envOr("IMPORTER_DATA_DIR", ".importer"), "where rejects files (and the --dev database) are kept [IMPORTER_DATA_DIR]")
	fl.StringVar(&f.taskQueue, "task-queue", workflows.TaskQueue, "the task queue to poll")
	fl.StringVar(&f.address, "address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS or localhost:7233)")
	fl.StringVar(&f.namespace, "namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE or default)")
	fl.StringVar(&f.logFormat, "log-format", "", "json or console (default: console with --dev, json otherwise)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.IntVar(&f.maxActs, "max-concurrent-chunks", 0, "chunks this worker runs at once (default: the SDK's)")
	return cmd
}

func run(parent context.Context, f flags) error {
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

	address, namespace := f.address, f.namespace
	if f.dev {
		if address != "" {
			return errors.New("--address and --dev do not go together: --dev starts its own server (use --dev-port)")
		}
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
		log.Info().Str("address", address).Str("ui", srv.UIAddress()).Str("namespace", namespace).Str("db", dbLabel(db)).
			Msg("embedded Temporal server started")
		fmt.Fprintf(os.Stderr, "\nTemporal UI: %s\nTemporal frontend: %s (namespace %s)\n\n", srv.UIAddress(), address, namespace)
	}

	conns := connections.FromOS(activities.Vendors())
	if f.sandbox {
		sb, err := sandbox.Start(sandbox.Options{})
		if err != nil {
			return err
		}
		defer sb.Close()
		conns = sb.Connections(conns)
		log.Info().Str("url", sb.URL).Msg("sandbox vendors started; default connections point at them")
	}

	c, err := temporalclient.Dial(ctx, temporalclient.Options{Address: address, Namespace: namespace, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	return workerrun.Run(ctx, c, workerrun.Options{
		TaskQueue:               f.taskQueue,
		Connections:             conns,
		DataDir:                 f.dataDir,
		MaxConcurrentActivities: f.maxActs,
		Logger:                  log,
	})
}
