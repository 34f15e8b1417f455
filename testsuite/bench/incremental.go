package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"importer/activities/imports"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/internal/devserver"
	"importer/internal/store"
	"importer/internal/store/storetest"
	"importer/internal/temporalclient"
	"importer/workflows"
)

// incrResult is one backend's incremental runs over one list.
type incrResult struct {
	rows            int
	backend         string
	firstRPS, again float64 // rows/s of the first run and of the re-run
	stateUsers      int64
	peakRSSMB       float64
	sentAgain       int
}

// runIncremental measures incremental imports on each store backend: the
// first run sends every user and writes the state; the re-run of the same
// list looks every user up and sends none. The worker never loads the
// state, so its peak RSS should not grow with the state's size.
func runIncremental(ctx context.Context, cfg config) error {
	srv, err := devserver.Start(ctx, devserver.Options{DisableUI: true, DBFile: filepath.Join(cfg.dir, "temporal.db"), Logger: zerolog.New(os.Stderr).Level(zerolog.ErrorLevel)})
	if err != nil {
		return err
	}
	defer srv.Stop()
	c, err := temporalclient.Dial(ctx, temporalclient.Options{Address: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: zerolog.Nop()})
	if err != nil {
		return err
	}
	defer c.Close()
	var results []incrResult
	for _, n := range cfg.rows {
		path := filepath.Join(cfg.dir, fmt.Sprintf("users-%d.csv", n))
		st, err := gen.VendorFile("nebuly", path, gen.Options{Rows: n, InvalidEvery: 1000})
		if err != nil {
			return err
		}
		for _, b := range cfg.backends {
			fmt.Fprintf(os.Stderr, "%d rows, incremental, %s store...\n", n, b)
			r, err := measureIncremental(ctx, cfg, c, srv, path, n, st, b)
			if err != nil {
				return fmt.Errorf("%s: %w", b, err)
			}
			results = append(results, r)
		}
		os.Remove(path)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rows\tstore\tfirst run rows/s\tre-run rows/s\tre-run rows sent\tstate users\tworker peak RSS MB\t\n")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.0f\t%d\t%d\t%.0f\t\n", r.rows, r.backend, r.firstRPS, r.again, r.sentAgain, r.stateUsers, r.peakRSSMB)
	}
	tw.Flush()
	byRows := map[int]map[string]incrResult{}
	for _, r := range results {
		if byRows[r.rows] == nil {
			byRows[r.rows] = map[string]incrResult{}
		}
		byRows[r.rows][r.backend] = r
	}
	for _, n := range cfg.rows {
		pg, ok1 := byRows[n][store.Postgres]
		sq, ok2 := byRows[n][store.SQLite]
		if ok1 && ok2 {
			fmt.Printf("%d rows: PostgreSQL / SQLite rows/s: first run %.2f, re-run %.2f\n", n, pg.firstRPS/sq.firstRPS, pg.again/sq.again)
		}
	}
	fmt.Printf("\nconcurrency %d, batch %d users, chunk %d rows; embedded Temporal on SQLite; one worker process; fake Nebuly in this process; %d CPUs\n",
		cfg.concurrency, cfg.batch, cfg.chunkRows, runtime.NumCPU())
	return nil
}

func measureIncremental(ctx context.Context, cfg config, c client.Client, srv *devserver.Server, path string, n int, st gen.Stats, backend string) (incrResult, error) {
	r := incrResult{rows: n, backend: backend}
	var storeURL string
	switch backend {
	case store.SQLite:
		storeURL = "sqlite:" + filepath.Join(cfg.dir, fmt.Sprintf("store-%d.db", n))
	case store.Postgres:
		u, drop, err := storetest.NewDatabase(ctx)
		if err != nil {
			return r, err
		}
		defer func() { _ = drop() }()
		storeURL = u
	default:
		return r, fmt.Errorf("unknown store %q: want sqlite or postgres", backend)
	}
	fake := nebulyfake.New(nebulyfake.Options{APIKey: key, Compact: true})
	hs := httptest.NewServer(fake)
	defer hs.Close()
	queue := fmt.Sprintf("bench-incr-%d-%s", n, backend)
	w := exec.Command(cfg.workerBin, "--address", srv.FrontendAddress(), "--namespace", srv.Namespace(),
		"--task-queue", queue, "--data-dir", filepath.Join(cfg.dir, "data-"+backend), "--log-level", "error")
	w.Env = append(os.Environ(), "IMPORTER_NEBULY_BASE_URL="+hs.URL, "IMPORTER_NEBULY_API_KEY="+key, store.EnvVar+"="+storeURL,
		source.EnvRoots+"="+cfg.dir, source.EnvHosts+"=127.0.0.1")
	w.Stderr = os.Stderr
	if err := w.Start(); err != nil {
		return r, fmt.Errorf("start worker: %w", err)
	}
	defer func() { _ = w.Process.Kill(); _ = w.Wait() }()

	in := workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
		BatchSize: cfg.batch, ChunkRows: cfg.chunkRows, Concurrency: cfg.concurrency,
		Incremental: &imports.Incremental{StateKey: "bench-" + backend, Missing: imports.MissingReport},
	}
	importOnce := func(label string) (workflows.ImportResult, time.Duration, error) {
		id := fmt.Sprintf("bench-incr-%d-%s-%s-%d", n, backend, label, time.Now().UnixNano())
		start := time.Now()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ImportWorkflowName, in)
		if err != nil {
			return workflows.ImportResult{}, 0, err
		}
		var res workflows.ImportResult
		err = run.Get(ctx, &res)
		return res, time.Since(start), err
	}
	first, took, err := importOnce("first")
	if err != nil {
		return r, fmt.Errorf("first run: %w", err)
	}
	if first.Accepted != int64(st.Valid) {
		return r, fmt.Errorf("first run accepted %d of %d valid rows", first.Accepted, st.Valid)
	}
	r.firstRPS = float64(n) / took.Seconds()
	sent := fake.Rows(http.MethodPost) + fake.Rows(http.MethodPut)
	again, took, err := importOnce("again")
	if err != nil {
		return r, fmt.Errorf("re-run: %w", err)
	}
	r.again = float64(n) / took.Seconds()
	r.sentAgain = fake.Rows(http.MethodPost) + fake.Rows(http.MethodPut) - sent
	if again.Unchanged != int64(st.Valid) || r.sentAgain != 0 {
		return r, fmt.Errorf("the re-run of an unchanged list sent %d rows and found %d of %d unchanged", r.sentAgain, again.Unchanged, st.Valid)
	}
	r.peakRSSMB = peakRSS(w.Process.Pid)
	s, err := store.Open(ctx, store.Options{URL: storeURL})
	if err != nil {
		return r, err
	}
	defer s.Close()
	if r.stateUsers, err = s.StateUsers(ctx, "bench-"+backend); err != nil {
		return r, err
	}
	return r, nil
}
