package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"importer/internal/metrics"
)

// defaultProbe is the readiness probe of a worker that serves its metrics
// on 0.0.0.0:9464, as docker-compose.yml's do.
const defaultProbe = "http://127.0.0.1:9464" + metrics.ReadyPath

// newProbeCommand is `worker probe`: a container health check for images
// that have no shell or curl (the distroless one).
func newProbeCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "probe [URL]",
		Short: "Ask a worker's probe (default " + defaultProbe + "); exit 0 when it answers 200",
		Long: `Ask a worker's liveness or readiness probe and exit 0 when it answers 200,
1 otherwise, printing its answer: a health check for a container image
without a shell. A worker serves /healthz (alive) and /readyz (polling its
task queue and reaching its store) beside its metrics (--metrics-listen).`,
		Example: `  worker probe
  worker probe http://127.0.0.1:9464/healthz`,
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			url := defaultProbe
			if len(args) == 1 {
				url = args[0]
			}
			err := probe(cmd.Context(), url, timeout)
			if err != nil {
				fmt.Fprintln(os.Stderr, "worker probe:", err)
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

func probe(ctx context.Context, url string, timeout time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
