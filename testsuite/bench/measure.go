package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"importer/activities/mapping"
	"importer/activities/nebuly"
	"importer/activities/source"
	"importer/internal/temporalclient"
	"importer/workflows"
)

type result struct {
	rows        int
	latency     time.Duration
	wall        time.Duration
	temporalRPS float64
	plainRPS    float64
	eventsPerK  float64
	runs        int
	workerMB    float64
	serverMB    float64
	fakeMB      float64
	bytesRatio  float64
	// CPU time used during the import by the worker, the server and the
	// fake, and during the plain loop by the loop and its fake.
	cpuWorker, cpuServer, cpuFake time.Duration
	cpuPlain, cpuPlainFake        time.Duration
}

// measure imports one list once through Temporal and, with cfg.plain, once
// through the plain loop, each into a fresh fake; the two fakes must end
// with the same users.
func measure(ctx context.Context, cfg config, path string, n int, lat time.Duration) (result, error) {
	r := result{rows: n, latency: lat}
	st, err := os.Stat(path)
	if err != nil {
		return r, err
	}
	files := &fileServer{path: path}
	hs := httptest.NewServer(files)
	defer hs.Close()
	uri := hs.URL + "/" + filepath.Base(path)

	fake, fakeURL, err := startFake(cfg.self, lat)
	if err != nil {
		return r, err
	}
	defer fake.stop()
	data := filepath.Join(cfg.dir, fmt.Sprintf("run-%d-%d", n, lat.Milliseconds()))
	queue := fmt.Sprintf("bench-%d-%d", n, lat.Milliseconds())
	env := append(os.Environ(), "IMPORTER_NEBULY_BASE_URL="+fakeURL, "IMPORTER_NEBULY_API_KEY="+key,
		// The bench's lists, and its file server on loopback.
		source.EnvRoots+"="+cfg.dir, source.EnvHosts+"=127.0.0.1")

	var server, worker *child
	var address, namespace string
	if cfg.dev {
		port, err := freePort()
		if err != nil {
			return r, err
		}
		ui, err := freePort()
		if err != nil {
			return r, err
		}
		cmd := exec.Command(cfg.workerBin, "--dev", "--dev-port", strconv.Itoa(port), "--ui-port", strconv.Itoa(ui),
			"--data-dir", data, "--task-queue", queue, "--log-level", "error")
		cmd.Env = env
		if worker, _, err = start(cmd, false); err != nil {
			return r, err
		}
		address, namespace = fmt.Sprintf("127.0.0.1:%d", port), "default"
	} else {
		var f []string
		if server, f, err = start(exec.Command(cfg.self, "-role", roleTemporal, "-dir", data), true); err != nil {
			return r, err
		}
		defer server.stop()
		address, namespace = f[0], f[1]
		cmd := exec.Command(cfg.workerBin, "--address", address, "--namespace", namespace,
			"--task-queue", queue, "--data-dir", data, "--log-level", "error")
		cmd.Env = env
		if worker, _, err = start(cmd, false); err != nil {
			return r, err
		}
	}
	defer worker.stop()
	var c client.Client
	err = waitFor(ctx, "dial the Temporal frontend", func() error {
		var err error
		c, err = temporalclient.Dial(ctx, temporalclient.Options{Address: address, Namespace: namespace, Logger: zerolog.Nop()})
		return err
	})
	if err != nil {
		return r, err
	}
	defer c.Close()
	// A worker runs before anyone starts an import: the clock starts once
	// it polls for both kinds of task, not while it starts.
	err = waitFor(ctx, "wait for the worker to poll "+queue, func() error {
		for _, kind := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			d, err := c.DescribeTaskQueue(ctx, queue, kind)
			if err != nil {
				return err
			}
			if len(d.GetPollers()) == 0 {
				return fmt.Errorf("no %s poller yet", kind)
			}
		}
		return nil
	})
	if err != nil {
		return r, err
	}

	id := fmt.Sprintf("bench-%d-%s-%d", n, lat, time.Now().UnixNano())
	cpuW, cpuF := worker.cpu(), fake.cpu()
	var cpuS time.Duration
	if server != nil {
		cpuS = server.cpu()
	}
	begin := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ImportWorkflowName, workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: uri, Format: cfg.format},
		BatchSize: cfg.batch, ChunkRows: cfg.chunkRows, Concurrency: cfg.concurrency,
	})
	if err != nil {
		return r, err
	}
	// Get follows the runs continue-as-new starts, and GetRunID with it:
	// the first run is the one to count history from.
	firstRun := run.GetRunID()
	var res workflows.ImportResult
	if err := run.Get(ctx, &res); err != nil {
		return r, fmt.Errorf("import: %w", err)
	}
	r.wall = time.Since(begin)
	r.temporalRPS = float64(n) / r.wall.Seconds()
	r.bytesRatio = float64(files.sent.Load()) / float64(st.Size())
	r.workerMB, r.fakeMB = worker.peakMB(), fake.peakMB()
	r.cpuWorker, r.cpuFake = worker.cpu()-cpuW, fake.cpu()-cpuF
	if server != nil {
		r.serverMB = server.peakMB()
		r.cpuServer = server.cpu() - cpuS
	}
	got, err := getFakeStats(ctx, fakeURL)
	if err != nil {
		return r, err
	}
	if res.RowsRead != int64(n) || got.Users != int(res.Accepted) {
		return r, fmt.Errorf("accounting: read %d of %d rows, accepted %d, the fake holds %d", res.RowsRead, n, res.Accepted, got.Users)
	}
	r.runs = res.Runs
	events, err := countEvents(ctx, c, id, firstRun, cfg.timeline)
	if err != nil {
		return r, err
	}
	r.eventsPerK = float64(events) / float64(n) * 1000
	c.Close()
	worker.stop()
	if server != nil {
		server.stop()
	}
	fake.stop()
	if !cfg.plain {
		return r, nil
	}

	// Plain loop: same reader, mapping, validation and client, same batches,
	// same concurrency, a fresh fake with the same latency, the list over
	// the same HTTP server.
	fake2, fake2URL, err := startFake(cfg.self, lat)
	if err != nil {
		return r, err
	}
	defer fake2.stop()
	cpuB, cpuF2 := cpuTime(os.Getpid()), fake2.cpu()
	begin = time.Now()
	if err := plainLoop(ctx, cfg, uri, fake2URL); err != nil {
		return r, err
	}
	r.plainRPS = float64(n) / time.Since(begin).Seconds()
	// The bench's own CPU time includes serving the list, in both runs.
	r.cpuPlain, r.cpuPlainFake = cpuTime(os.Getpid())-cpuB, fake2.cpu()-cpuF2
	got2, err := getFakeStats(ctx, fake2URL)
	if err != nil {
		return r, err
	}
	if got2 != got {
		return r, fmt.Errorf("the plain loop left %d users (digest %x), the import %d (digest %x)", got2.Users, got2.Digest, got.Users, got.Digest)
	}
	return r, nil
}

// plainLoop is what a careful script would do: plan the file, then have
// `concurrency` goroutines read chunks, validate rows and upsert batches.
func plainLoop(ctx context.Context, cfg config, uri, baseURL string) error {
	opener := &source.Opener{}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	cl := nebuly.New(baseURL, key, &http.Client{Transport: transport, Timeout: 30 * time.Second})
	var chunks []source.Chunk
	var page source.Page
	var err error
	for !page.Done {
		page, err = source.Plan(ctx, opener, source.PlanRequest{URI: uri, Format: cfg.format, From: page.Next, FromLine: page.NextLine,
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
				err := source.ReadChunk(ctx, opener, uri, cfg.format, page.Header, page.Version, ch, func(rec source.Record) error {
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

// countEvents counts the events of every run of an import, from its first;
// with timeline, it prints where the time went.
func countEvents(ctx context.Context, c client.Client, id, runID string, timeline bool) (int, error) {
	total := 0
	t := newTimeline()
	for runID != "" {
		it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		next := ""
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return 0, err
			}
			total++
			t.add(ev)
			if a := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
				next = a.GetNewExecutionRunId()
			}
		}
		runID = next
	}
	if timeline {
		t.print(os.Stderr)
	}
	return total, nil
}
