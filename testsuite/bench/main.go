// Command bench measures the importer against the fake Nebuly on the
// embedded Temporal server, next to a plain Go loop that posts the same
// batches to the same fake at the same concurrency without Temporal. The
// ratio of the two is the cost of durability. It prints a table; it is a
// measurement, not a test, because this machine is shared and noisy.
//
//	go run ./testsuite/bench -rows 100000,1000000 -latency 0,50ms
//	go run ./testsuite/bench -incremental -rows 1000000 -store sqlite,postgres
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"importer/activities/imports"
	"importer/activities/mapping"
	"importer/activities/nebuly"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/source"
	"importer/internal/devserver"
	"importer/internal/gen"
	"importer/internal/store"
	"importer/internal/store/storetest"
	"importer/internal/temporalclient"
	"importer/workflows"
)

const key = "bench-key"

type config struct {
	rows        []int
	latencies   []time.Duration
	concurrency int
	batch       int
	chunkRows   int
	dir         string
	incremental bool
	backends    []string
}

type result struct {
	rows        int
	latency     time.Duration
	temporalRPS float64
	plainRPS    float64
	eventsPerK  float64
	runs        int
	peakRSSMB   float64
}

func main() {
	rowsFlag := flag.String("rows", "100000,1000000", "list sizes, comma-separated")
	latFlag := flag.String("latency", "0,50ms", "added vendor latencies, comma-separated")
	conc := flag.Int("concurrency", workflows.DefaultConcurrency, "chunks (and plain-loop goroutines) in flight")
	batch := flag.Int("batch", imports.DefaultBatchSize, "users per vendor request")
	chunk := flag.Int("chunk-rows", 0, "rows per chunk (default 5 batches)")
	incr := flag.Bool("incremental", false, "measure incremental imports instead, on each -store backend: a first run that writes the state, and a re-run of the unchanged list")
	backends := flag.String("store", "sqlite,postgres", "with -incremental: the store backends, comma-separated")
	flag.Parse()
	cfg := config{concurrency: *conc, batch: *batch, chunkRows: *chunk, incremental: *incr}
	for _, b := range strings.Split(*backends, ",") {
		cfg.backends = append(cfg.backends, strings.TrimSpace(b))
	}
	if cfg.chunkRows == 0 {
		cfg.chunkRows = cfg.batch * workflows.DefaultBatchesPerChunk
	}
	for _, s := range strings.Split(*rowsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatal(fmt.Errorf("bad -rows %q", s))
		}
		cfg.rows = append(cfg.rows, n)
	}
	for _, s := range strings.Split(*latFlag, ",") {
		s = strings.TrimSpace(s)
		if s == "0" {
			s = "0s"
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			fatal(fmt.Errorf("bad -latency %q", s))
		}
		cfg.latencies = append(cfg.latencies, d)
	}
	dir, err := os.MkdirTemp("", "importer-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg.dir = dir
	if err := run(cfg); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func run(cfg config) error {
	ctx := context.Background()
	log := zerolog.New(os.Stderr).Level(zerolog.ErrorLevel)
	fmt.Fprintln(os.Stderr, "building the worker binary...")
	workerBin := filepath.Join(cfg.dir, "worker")
	build := exec.Command("go", "build", "-o", workerBin, "./worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build worker: %w", err)
	}
	srv, err := devserver.Start(ctx, devserver.Options{DisableUI: true, DBFile: filepath.Join(cfg.dir, "temporal.db"), Logger: log})
	if err != nil {
		return err
	}
	defer srv.Stop()
	c, err := temporalclient.Dial(ctx, temporalclient.Options{Address: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()

	if cfg.incremental {
		return runIncremental(ctx, cfg, c, srv, workerBin)
	}
	var results []result
	for _, n := range cfg.rows {
		path := filepath.Join(cfg.dir, fmt.Sprintf("users-%d.csv", n))
		if _, err := gen.VendorFile("nebuly", path, gen.Options{Rows: n, InvalidEvery: 1000, QuotedNewlineEvery: 100}); err != nil {
			return err
		}
		for _, lat := range cfg.latencies {
			fmt.Fprintf(os.Stderr, "%d rows, %s vendor latency...\n", n, lat)
			r, err := measure(ctx, cfg, c, srv, workerBin, path, n, lat)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
		os.Remove(path)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rows\tvendor latency\ttemporal rows/s\tplain loop rows/s\tratio\thistory events/1k rows\truns\tworker peak RSS MB\t\n")
	for _, r := range results {
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.0f\t%.2f\t%.2f\t%d\t%.0f\t\n", r.rows, r.latency, r.temporalRPS, r.plainRPS,
			r.temporalRPS/r.plainRPS, r.eventsPerK, r.runs, r.peakRSSMB)
	}
	tw.Flush()
	fmt.Printf("\nconcurrency %d, batch %d users, chunk %d rows; embedded Temporal on SQLite; fake Nebuly in this process; %d CPUs\n",
		cfg.concurrency, cfg.batch, cfg.chunkRows, runtime.NumCPU())
	return nil
}

func measure(ctx context.Context, cfg config, c client.Client, srv *devserver.Server, workerBin, path string, n int, lat time.Duration) (result, error) {
	r := result{rows: n, latency: lat}

	// Temporal: a separate worker process, so its memory is its own.
	fake := nebulyfake.New(nebulyfake.Options{APIKey: key, Latency: lat})
	hs := httptest.NewServer(fake)
	defer hs.Close()
	queue := fmt.Sprintf("bench-%d-%d", n, lat.Milliseconds())
	w := exec.Command(workerBin, "--address", srv.FrontendAddress(), "--namespace", srv.Namespace(),
		"--task-queue", queue, "--data-dir", filepath.Join(cfg.dir, "data"), "--log-level", "error")
	w.Env = append(os.Environ(), "IMPORTER_NEBULY_BASE_URL="+hs.URL, "IMPORTER_NEBULY_API_KEY="+key)
	w.Stderr = os.Stderr
	if err := w.Start(); err != nil {
		return r, fmt.Errorf("start worker: %w", err)
	}
	defer func() { _ = w.Process.Kill(); _ = w.Wait() }()

	id := fmt.Sprintf("bench-%d-%s-%d", n, lat, time.Now().UnixNano())
	start := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ImportWorkflowName, workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV},
		BatchSize: cfg.batch, ChunkRows: cfg.chunkRows, Concurrency: cfg.concurrency,
	})
	if err != nil {
		return r, err
	}
	var res workflows.ImportResult
	if err := run.Get(ctx, &res); err != nil {
		return r, fmt.Errorf("import: %w", err)
	}
	took := time.Since(start)
	r.peakRSSMB = peakRSS(w.Process.Pid)
	if res.RowsRead != int64(n) || fake.Count() != int(res.Accepted) {
		return r, fmt.Errorf("accounting: read %d of %d rows, accepted %d, the fake holds %d", res.RowsRead, n, res.Accepted, fake.Count())
	}
	r.temporalRPS = float64(n) / took.Seconds()
	r.runs = res.Runs
	events, err := countEvents(ctx, c, id, run.GetRunID())
	if err != nil {
		return r, err
	}
	r.eventsPerK = float64(events) / float64(n) * 1000

	// Plain loop: same reader, mapping, validation and client, same batches,
	// same concurrency, a fresh fake with the same latency.
	fake2 := nebulyfake.New(nebulyfake.Options{APIKey: key, Latency: lat})
	hs2 := httptest.NewServer(fake2)
	defer hs2.Close()
	start = time.Now()
	if err := plainLoop(ctx, cfg, path, hs2.URL); err != nil {
		return r, err
	}
	r.plainRPS = float64(n) / time.Since(start).Seconds()
	if fake2.Count() != int(res.Accepted) {
		return r, fmt.Errorf("plain loop stored %d users, the import %d", fake2.Count(), res.Accepted)
	}
	return r, nil
}

// plainLoop is what a careful script would do: plan the file, then have
// `concurrency` goroutines read chunks, validate rows and upsert batches.
func plainLoop(ctx context.Context, cfg config, path, baseURL string) error {
	opener := &source.Opener{}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	cl := nebuly.New(baseURL, key, &http.Client{Transport: transport, Timeout: 30 * time.Second})
	var chunks []source.Chunk
	var page source.Page
	var err error
	for !page.Done {
		page, err = source.Plan(ctx, opener, source.PlanRequest{URI: path, Format: source.CSV, From: page.Next, FromLine: page.NextLine,
			NextIndex: page.NextIndex, ChunkRows: cfg.chunkRows, MaxChunks: 1000}, nil)
		if err != nil {
			return err
		}
		chunks = append(chunks, page.Chunks...)
	}
	work := make(chan source.Chunk)
	errs := make(chan error, cfg.concurrency)
	var wg sync.WaitGroup
	var m mapping.Mapping
	for i := 0; i < cfg.concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range work {
				var users []nebuly.User
				err := source.ReadChunk(ctx, opener, path, source.CSV, page.Header, page.Version, ch, func(rec source.Record) error {
					if rec.Err != nil {
						return nil
					}
					if u, err := nebuly.FromFields(m.Apply(rec.Fields)); err == nil {
						users = append(users, u)
					}
					return nil
				})
				for len(users) > 0 && err == nil {
					n := min(cfg.batch, len(users))
					_, err = cl.Upsert(ctx, users[:n])
					users = users[n:]
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, ch := range chunks {
		work <- ch
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func countEvents(ctx context.Context, c client.Client, id, runID string) (int, error) {
	total := 0
	for runID != "" {
		it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		next := ""
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return 0, err
			}
			total++
			if a := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				next = a.GetNewExecutionRunId()
			}
		}
		runID = next
	}
	return total, nil
}

// peakRSS reads a process's high-water resident set size (VmHWM), in MB.
func peakRSS(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

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
func runIncremental(ctx context.Context, cfg config, c client.Client, srv *devserver.Server, workerBin string) error {
	var results []incrResult
	for _, n := range cfg.rows {
		path := filepath.Join(cfg.dir, fmt.Sprintf("users-%d.csv", n))
		st, err := gen.VendorFile("nebuly", path, gen.Options{Rows: n, InvalidEvery: 1000})
		if err != nil {
			return err
		}
		for _, b := range cfg.backends {
			fmt.Fprintf(os.Stderr, "%d rows, incremental, %s store...\n", n, b)
			r, err := measureIncremental(ctx, cfg, c, srv, workerBin, path, n, st, b)
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

func measureIncremental(ctx context.Context, cfg config, c client.Client, srv *devserver.Server, workerBin, path string, n int, st gen.Stats, backend string) (incrResult, error) {
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
	fake := nebulyfake.New(nebulyfake.Options{APIKey: key})
	hs := httptest.NewServer(fake)
	defer hs.Close()
	queue := fmt.Sprintf("bench-incr-%d-%s", n, backend)
	w := exec.Command(workerBin, "--address", srv.FrontendAddress(), "--namespace", srv.Namespace(),
		"--task-queue", queue, "--data-dir", filepath.Join(cfg.dir, "data-"+backend), "--log-level", "error")
	w.Env = append(os.Environ(), "IMPORTER_NEBULY_BASE_URL="+hs.URL, "IMPORTER_NEBULY_API_KEY="+key, store.EnvVar+"="+storeURL)
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
