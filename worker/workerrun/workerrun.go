// Package workerrun runs the importer's Temporal worker: the same code for
// the worker binary, the one-command demo and the end-to-end tests.
package workerrun

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"importer/activities/fynd/audience"
	"importer/activities/imports"
	"importer/activities/notify"
	"importer/activities/source"
	"importer/internal/artifacts"
	"importer/internal/connections"
	"importer/internal/limits"
	"importer/internal/metrics"
	"importer/internal/store"
	"importer/workflows"
	"importer/workflows/gate"
	"importer/workflows/pacer"
)

// Options configures a worker.
type Options struct {
	TaskQueue   string
	Connections connections.Set
	// Store keeps the importer's records (rejects, duplicate scans,
	// incremental state); the caller closes it. Nil means Start opens the
	// store StoreURL names, and Stop closes it.
	Store *store.Store
	// StoreURL selects the store when Store is nil (see store.Options.URL):
	// "" is the embedded SQLite file under DataDir, for one host only;
	// postgres://... is shared by every worker of a deployment.
	StoreURL string
	// DataDir holds the embedded store's file; "" means ".importer".
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
	Artifacts artifacts.Store
	// VendorRoots verify vendor HTTPS and http(s) sources; nil means the
	// system's roots (see internal/vendorca).
	VendorRoots *x509.CertPool
	// VendorTimeout bounds one vendor call; 0 keeps
	// imports.DefaultHTTPTimeout.
	VendorTimeout time.Duration
	// S3PathStyle addresses s3:// sources by path, for S3-compatible
	// services (IMPORTER_S3_PATH_STYLE); false is AWS's virtual-hosted
	// style.
	S3PathStyle bool
	// Staging is where compressed sources are decompressed to, once per
	// import: an object-storage prefix (s3://bucket/staging) that every
	// worker reads, or a local directory for one host. "" is
	// <DataDir>/staging.
	Staging string
	// UI is the Temporal web UI's base URL (IMPORTER_UI_URL), for the
	// run's link in notifications; "" leaves the link out.
	UI string
	// NotifyRetry is the wait between two attempts to deliver a
	// notification to its webhook (Connections knows the webhooks); zero
	// is notify.Backoff's default, 1s doubling to 5 minutes.
	NotifyRetry notify.Backoff
	// Sources is what sources imports may read: local files inside its
	// roots, http(s) sources on public addresses or its hosts (see
	// source.Policy). Nil reads no local file and reaches public
	// addresses only. The worker adds its own places (DataDir, Staging)
	// as private, never read as a source; the caller adds the artifact
	// store's (artifacts.Config.Places) to the policy it passes.
	Sources *source.Policy
	// Limits are the operator's caps on what an import's input may ask;
	// zero fields are limits' defaults.
	Limits limits.Limits
	// Sealed says that the client encrypts payloads (IMPORTER_CODEC_KEYS):
	// only then may a source URL carry a credential.
	Sealed bool
	// SourceLimits cap what reading a list may take: columns, nesting,
	// header and chunk bytes, Parquet footers (IMPORTER_MAX_COLUMNS, ...);
	// zero fields are source.Limits' defaults.
	SourceLimits source.Limits
	// StagingLimits cap decompression into the staging area
	// (IMPORTER_STAGING_*); zero fields are source.StageLimits' defaults.
	StagingLimits source.StageLimits
	// Health, when set, answers the readiness probe: ready once the worker
	// polls, while it reaches its store; not ready once it stops.
	Health *metrics.Health
}

// Worker is a started worker.
type Worker struct {
	health *metrics.Health
	w      worker.Worker
	store  *store.Store // closed by Stop when Start opened it
	cancel context.CancelFunc
}

// Start registers the workflows and activities and starts polling.
func Start(c client.Client, o Options) (*Worker, error) {
	if o.TaskQueue == "" {
		o.TaskQueue = workflows.TaskQueue
	}
	st, owned := o.Store, false
	if st == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var err error
		if st, err = store.Open(ctx, store.Options{URL: o.StoreURL, DataDir: o.DataDir}); err != nil {
			return nil, err
		}
		owned = true
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
	workflows.Register(w, workflows.Settings{Limits: o.Limits.WithDefaults(), Sealed: o.Sealed})
	// Every flow's activities, on one set of HTTP clients.
	imp := imports.NewWithRoots(o.Connections, st, o.VendorRoots)
	imp.Pacer = &pacer.Client{Temporal: c}
	imp.Heartbeats = c
	imp.Limits = o.Limits.WithDefaults()
	imp.Opener.S3PathStyle = o.S3PathStyle
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = ".importer"
	}
	if abs, err := filepath.Abs(dataDir); err == nil {
		imp.DuplicatesDir = filepath.Join(abs, "duplicates")
	}
	imp.Staging = o.Staging
	if imp.Staging == "" {
		imp.Staging = filepath.Join(dataDir, "staging")
	}
	imp.Opener.Policy = sourcePolicy(o, dataDir, imp.Staging)
	imp.StagingLimits = o.StagingLimits
	imp.Opener.Limits = o.SourceLimits
	// What a worker killed mid-stage left behind in a local staging area.
	if n, err := source.SweepStaging(context.Background(), imp.Staging, source.StagingSweepAge); err != nil {
		o.Logger.Warn().Err(err).Msg("could not sweep the staging area")
	} else if n > 0 {
		o.Logger.Info().Int("removed", n).Str("staging", imp.Staging).Msg("deleted the temporary files of stages a stopped worker cut off")
	}
	if o.VendorTimeout > 0 {
		imp.HTTP.Timeout = o.VendorTimeout
	}
	imp.Register(w)
	(&gate.Activities{Temporal: c}).Register(w)
	aud := &audience.Activities{Connections: o.Connections, Store: st, Opener: imp.Opener, HTTP: imp.HTTP, Artifacts: o.Artifacts, Limits: imp.Limits}
	aud.Register(w)
	// Webhooks are verified like vendors: the system's roots plus
	// VendorRoots' extra CAs.
	hooks := http.DefaultTransport.(*http.Transport).Clone()
	hooks.TLSClientConfig = &tls.Config{RootCAs: o.VendorRoots, MinVersion: tls.VersionTLS12}
	notifier := &notify.Activities{Webhooks: o.Connections, UI: o.UI, Retry: o.NotifyRetry, Runs: temporalRuns{c: c},
		HTTP: &http.Client{Transport: hooks, Timeout: notify.DefaultTimeout, CheckRedirect: notify.NoRedirects}}
	notifier.Register(w)
	if err := w.Start(); err != nil {
		if owned {
			st.Close()
		}
		return nil, fmt.Errorf("start worker on task queue %s: %w", o.TaskQueue, err)
	}
	roots, hosts := imp.Opener.Policy.Describe()
	o.Logger.Info().Str("task_queue", o.TaskQueue).Str("store", st.Describe()).
		Strs("connections", o.Connections.Describe()).Strs("webhooks", o.Connections.Webhooks()).
		Strs("source_roots", roots).Strs("source_hosts", hosts).Msg("worker started")
	ctx, cancel := context.WithCancel(context.Background())
	var local []string // what this worker keeps where only it can read it
	if st.Backend() == store.SQLite {
		local = append(local, fmt.Sprintf("its records in its own %s (set %s to one PostgreSQL database for all workers)", st.Describe(), store.EnvVar))
	}
	if !source.Remote(imp.Staging) {
		local = append(local, fmt.Sprintf("the plain copies of compressed sources in %s (set IMPORTER_STAGING_URL to an object-storage prefix every worker reads)", imp.Staging))
	}
	if len(local) > 0 {
		go warnIfNotAlone(ctx, c, o.TaskQueue, local, o.Logger)
	}
	out := &Worker{w: w, cancel: cancel, health: o.Health}
	if owned {
		out.store = st
	}
	if o.Health != nil {
		o.Health.SetReady(st.Ping)
	}
	return out, nil
}

// sourcePolicy is the policy the worker reads sources under: the
// operator's (Options.Sources), or none that reads local files, with the
// worker's own places made private and its staging area named.
func sourcePolicy(o Options, dataDir, staging string) *source.Policy {
	p := &source.Policy{}
	if o.Sources != nil {
		cp := *o.Sources
		cp.Private = append([]string(nil), o.Sources.Private...)
		p = &cp
	}
	p.AddPrivate(dataDir, staging)
	p.Staging = staging
	return p
}

// Stop drains the worker: it stops polling and waits for running tasks up to
// the stop timeout.
func (w *Worker) Stop() {
	if w.health != nil {
		w.health.SetReady(nil)
	}
	w.cancel()
	w.w.Stop()
	if w.store != nil {
		w.store.Close()
	}
}

// aloneCheckDelay is how long after its start a worker with the embedded
// store looks for other workers: long enough for every poller of a
// deployment that starts together to have polled once.
const aloneCheckDelay = 5 * time.Second

// warnIfNotAlone logs a warning for each thing a worker keeps where only
// it can read it (the embedded SQLite store, a local staging area), when
// other workers poll its task queue: unless they all run on this host with
// this data directory, imports that need those things will fail.
func warnIfNotAlone(ctx context.Context, c client.Client, taskQueue string, local []string, log zerolog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(aloneCheckDelay):
	}
	ids := map[string]bool{}
	for _, kind := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		resp, err := c.DescribeTaskQueue(ctx, taskQueue, kind)
		if err != nil {
			log.Debug().Err(err).Msg("could not list the task queue's pollers")
			return
		}
		for _, p := range resp.GetPollers() {
			ids[p.GetIdentity()] = true
		}
	}
	for _, what := range local {
		if len(ids) > 1 {
			log.Warn().Int("workers", len(ids)).Str("task_queue", taskQueue).
				Msgf("other workers poll this task queue, but this worker keeps %s: unless every worker runs on this host "+
					"with this data directory, imports will fail", what)
		}
	}
}

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
