// Package workerrun runs the importer's Temporal worker: the same code for
// the worker binary, the one-command demo and the end-to-end tests.
package workerrun

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"importer/activities"
	"importer/internal/connections"
	"importer/workflows"
)

// Options configures a worker.
type Options struct {
	TaskQueue   string
	Connections connections.Set
	// DataDir holds the rejects files (under rejects/).
	DataDir string
	// MaxConcurrentActivities bounds chunks run at once by this worker; 0
	// keeps the SDK default.
	MaxConcurrentActivities int
	// StopTimeout is how long Stop waits for running chunks; 0 means 10s.
	// Tests set it tiny to cut chunks off mid-batch, as a crash would.
	StopTimeout time.Duration
	Logger      zerolog.Logger
	// Artifacts publishes the files a vendor fetches by URL (Fynd audience
	// syncs); nil makes those syncs fail with a clear error.
	Artifacts activities.ArtifactStore
	// VendorRoots verify vendor HTTPS and http(s) sources; nil means the
	// system's roots (see internal/vendorca).
	VendorRoots *x509.CertPool
	// VendorTimeout bounds one vendor call; 0 keeps
	// activities.DefaultHTTPTimeout.
	VendorTimeout time.Duration
}

// Worker is a started worker.
type Worker struct {
	w worker.Worker
}

// Start registers the workflows and activities and starts polling.
func Start(c client.Client, o Options) (*Worker, error) {
	if o.TaskQueue == "" {
		o.TaskQueue = workflows.TaskQueue
	}
	dir := filepath.Join(o.DataDir, "rejects")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create rejects directory: %w", err)
	}
	if o.StopTimeout <= 0 {
		// On shutdown give running chunks a moment to finish their batch;
		// whatever is cut off is retried elsewhere from its last heartbeat.
		o.StopTimeout = 10 * time.Second
	}
	w := worker.New(c, o.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities,
		WorkerStopTimeout:                  o.StopTimeout,
	})
	workflows.Register(w)
	acts := activities.NewWithRoots(o.Connections, o.DataDir, o.VendorRoots)
	acts.Temporal = c
	acts.Artifacts = o.Artifacts
	if o.VendorTimeout > 0 {
		acts.HTTP.Timeout = o.VendorTimeout
	}
	acts.Register(w)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker on task queue %s: %w", o.TaskQueue, err)
	}
	o.Logger.Info().Str("task_queue", o.TaskQueue).Str("rejects_dir", dir).
		Strs("connections", o.Connections.Describe()).Msg("worker started")
	return &Worker{w: w}, nil
}

// Stop drains the worker: it stops polling and waits for running tasks up to
// the stop timeout.
func (w *Worker) Stop() { w.w.Stop() }

// Run starts a worker and stops it when ctx is done.
func Run(ctx context.Context, c client.Client, o Options) error {
	w, err := Start(c, o)
	if err != nil {
		return err
	}
	<-ctx.Done()
	o.Logger.Info().Msg("stopping worker: finishing running tasks")
	w.Stop()
	return nil
}
