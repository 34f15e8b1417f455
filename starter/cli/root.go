// Package cli holds the starter's commands: start an import, follow it, show
// its status, cancel it. It does not link the Temporal server; the demo
// command that does lives in starter/demo.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"importer/internal/logging"
	"importer/internal/temporalclient"
	"importer/workflows"
)

// ExitError carries the process exit code of a command that failed in a way
// it has already explained (a failed import, for example).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit %d", e.Code) }

// Globals are the flags every command shares.
type Globals struct {
	address   string
	namespace string
	taskQueue string
	uiURL     string
	output    string
	logLevel  string
	stdout    io.Writer
	stderr    io.Writer
}

// NewRoot builds the root command; extra commands (the demo) are added by
// the caller.
func NewRoot(stdout, stderr io.Writer, extra ...func(*Globals) *cobra.Command) *cobra.Command {
	g := &Globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "starter",
		Short: "Start, follow and manage user-list imports",
		Long: `starter starts imports of user lists (CSV or NDJSON, local files or URLs)
into SaaS vendors, as durable Temporal workflows run by the importer worker.

It connects to Temporal with the settings the Temporal CLI reads
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
temporal.toml profiles). Vendor credentials live in the worker, not here.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.address, "address", "", "Temporal frontend host:port (default: TEMPORAL_ADDRESS or localhost:7233)")
	pf.StringVar(&g.namespace, "namespace", "", "Temporal namespace (default: TEMPORAL_NAMESPACE or default)")
	pf.StringVar(&g.taskQueue, "task-queue", workflows.TaskQueue, "the worker's task queue")
	pf.StringVar(&g.uiURL, "ui-url", envOr("IMPORTER_UI_URL", "http://127.0.0.1:8233"), "base URL of the Temporal web UI, for links [IMPORTER_UI_URL]")
	pf.StringVarP(&g.output, "output", "o", "table", "table or json")
	pf.StringVar(&g.logLevel, "log-level", "warn", "log level of the client's own logs: debug, info, warn, error")
	root.AddCommand(newImportCmd(g), newStatusCmd(g), newCancelCmd(g), newGateCmd(g), newAudienceCmd(g), newSetupCmd(g), newScheduleCmd(g),
		newListCmd(g), newRejectsCmd(g))
	for _, e := range extra {
		root.AddCommand(e(g))
	}
	return root
}

func (g *Globals) logger() zerolog.Logger {
	l, err := logging.New(logging.Options{Format: "console", Level: g.logLevel, Out: g.stderr})
	if err != nil {
		l, _ = logging.New(logging.Options{Format: "console", Level: "warn", Out: g.stderr})
	}
	return l
}

func (g *Globals) dial(ctx context.Context) (client.Client, error) {
	if err := g.checkOutput(); err != nil {
		return nil, err
	}
	return temporalclient.Dial(ctx, temporalclient.Options{Address: g.address, Namespace: g.namespace, Logger: g.logger()})
}

func (g *Globals) namespaceOr(c client.Client) string {
	if g.namespace != "" {
		return g.namespace
	}
	if ns := os.Getenv("TEMPORAL_NAMESPACE"); ns != "" {
		return ns
	}
	return client.DefaultNamespace
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
