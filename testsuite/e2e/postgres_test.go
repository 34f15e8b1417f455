package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/imports"
	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/internal/devserver"
	"importer/internal/store"
	"importer/internal/store/storetest"
	"importer/internal/temporalclient"
	"importer/workflows"
)

// requirePostgresEnv, when set, turns a missing PostgreSQL into a failure
// instead of a skip. CI sets it.
const requirePostgresEnv = "IMPORTER_REQUIRE_POSTGRES"

// TestPostgresTopologyTwoWorkerProcesses runs the production topology: the
// Temporal server on PostgreSQL (fresh databases, schema applied with the
// server's own SQL tool) and two separate worker processes that share a
// task queue and the importer's store on PostgreSQL, and nothing else: each
// has its own data directory, as on two hosts. It checks that both
// processes run chunks of one import from an http source with rejects and
// duplicate users, with exact accounting and every reject listed by
// `starter rejects` from a third directory; that an incremental import
// survives a killed worker and its re-run sends nothing; and that a second
// import survives a restart of the Temporal server and its store's
// connections being cut. Last, two workers with separate embedded stores
// fail an import loudly instead of losing its rejects.
//
// PostgreSQL is found with the libpq variables PGHOST, PGPORT, PGUSER and
// PGPASSWORD (defaults 127.0.0.1, 5432, postgres, none).
func TestPostgresTopologyTwoWorkerProcesses(t *testing.T) {
	pg := postgresForTest(t)
	// The build links the Temporal SDK and takes a while: do it before the
	// server starts, so nothing waits on it.
	began := time.Now()
	workerBin := buildWorker(t)
	t.Logf("built the worker binary in %s", time.Since(began).Round(time.Second))

	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	ctx := context.Background()
	port, err := devserver.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	opts := devserver.Options{
		DisableUI:        true,
		FrontendPort:     port, // the workers must find the restarted server where the first one was
		Postgres:         &pg,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           log.Level(zerolog.ErrorLevel),
	}
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start Temporal on PostgreSQL: %v", err)
	}
	t.Cleanup(func() { srv.Stop() }) // whichever server runs at the end
	checkSearchAttributes(t, srv)

	h := harnessAround(t, srv, log)
	c, fake := h.c, h.fake
	storeURL := storetest.Postgres(t)
	h.records = storeURL
	files := httptest.NewServer(http.FileServer(http.Dir(h.dir)))
	t.Cleanup(files.Close)

	workers := []*workerProcess{
		startWorkerProcess(t, workerBin, "worker-a", srv, h.queue, filepath.Join(h.dir, "data-a"), storeURL, h.url),
		startWorkerProcess(t, workerBin, "worker-b", srv, h.queue, filepath.Join(h.dir, "data-b"), storeURL, h.url),
	}
	waitPollers(t, c, h.queue, workers)

	// Import 1: two processes share the chunks. Each may run two chunks at
	// once while the import keeps eight in flight, so neither can take all.
	// The list is read over http, and ends with a second row for 100 of its
	// users, so the first rows of those users are rejects the duplicate
	// scan (on one worker) tells the chunks (on both) about.
	const chunkRows = 1000
	o1 := gen.Options{Rows: 50_000, InvalidEvery: 97, QuotedNewlineEvery: 41}
	path1, gen1 := h.generate("users-1.csv", o1)
	st1 := appendDuplicates(t, path1, o1, gen1, 100)
	began = time.Now()
	run1 := h.start("import-pg-two-workers", workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: files.URL + "/users-1.csv", Format: source.CSV},
		BatchSize: 250, ChunkRows: chunkRows, Concurrency: 8,
	})
	res1, err := h.wait(run1, 5*time.Minute)
	if err != nil {
		t.Fatalf("import 1 failed: %v%s", err, workerLogs(workers))
	}
	t.Logf("import 1: %d rows in %s", st1.Rows, time.Since(began).Round(time.Millisecond))
	checkResult(t, "import 1", res1, st1)
	checkStored(t, fake, o1, gen1)
	if res1.Duplicates != 100 {
		t.Fatalf("import 1: %d duplicates, want 100", res1.Duplicates)
	}
	for i, seen := 0, 0; seen < 100; i++ {
		if !dupOf(o1, i) {
			continue
		}
		seen++
		if u, _ := fake.User(o1.Email(i)); u.ActiveFrom != duplicateFrom {
			t.Fatalf("import 1: user %d has the first row's active_from %q; the later row must win", i, u.ActiveFrom)
		}
	}
	// Every reject, from a directory no worker uses, through the store.
	out, errOut, code := h.runCLI(ctx, "rejects", res1.WorkflowID, "-o", "json", "--store", storeURL, "--data-dir", t.TempDir())
	if n := strings.Count(out, "\n"); code != 0 || n != st1.Invalid || strings.Count(out, "duplicate user id") != 100 {
		t.Fatalf("import 1: starter rejects listed %d rows (exit %d, %d duplicates), want %d with 100 duplicates: %s", n, code, strings.Count(out, "duplicate user id"), st1.Invalid, errOut)
	}
	perWorker, _ := chunkCompletions(h.history(run1.GetID(), run1.GetRunID()), time.Time{})
	total := 0
	for _, w := range workers {
		n := perWorker[w.identityPrefix()]
		t.Logf("import 1: %s (pid %d) completed %d chunks", w.name, w.cmd.Process.Pid, n)
		if n == 0 {
			t.Errorf("import 1: %s ran no chunk; the chunks went to %v", w.name, perWorker)
		}
		total += n
	}
	if want := (st1.Rows + chunkRows - 1) / chunkRows; total != want || len(perWorker) != len(workers) {
		t.Fatalf("import 1: chunk completions by worker %v; want %d in all, from the two worker processes only", perWorker, want)
	}

	// An incremental import with a worker killed in the middle, then its
	// re-run of the unchanged list: it sends nothing.
	fake.SetLatency(20 * time.Millisecond)
	incr := workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: files.URL + "/users-1.csv", Format: source.CSV},
		BatchSize: 250, ChunkRows: chunkRows, Concurrency: 8, HeartbeatTimeout: 5 * time.Second,
		Incremental: &imports.Incremental{StateKey: "pg-share-nothing", Missing: imports.MissingReport},
	}
	runI := h.start("import-pg-incremental-1", incr)
	waitRowsDone(t, h, runI.GetID(), 10_000)
	_ = workers[0].cmd.Process.Kill()
	<-workers[0].done
	workers[0] = startWorkerProcess(t, workerBin, "worker-a2", srv, h.queue, filepath.Join(h.dir, "data-a2"), storeURL, h.url)
	resI, err := h.wait(runI, 5*time.Minute)
	if err != nil {
		t.Fatalf("incremental import with a killed worker failed: %v%s", err, workerLogs(workers))
	}
	checkResult(t, "incremental import", resI, st1)
	fake.SetLatency(0)
	sent := fake.Rows(http.MethodPost) + fake.Rows(http.MethodPut)
	resR, err := h.wait(h.start("import-pg-incremental-2", incr), 5*time.Minute)
	if err != nil {
		t.Fatalf("incremental re-run failed: %v%s", err, workerLogs(workers))
	}
	again := fake.Rows(http.MethodPost) + fake.Rows(http.MethodPut) - sent
	t.Logf("incremental re-run of the unchanged list: %d rows sent, %d unchanged, %d rejected", again, resR.Unchanged, resR.Rejected)
	if again != 0 || resR.Unchanged != int64(st1.Valid) || resR.Accepted != 0 || resR.Rejected != int64(st1.Invalid) {
		t.Fatalf("the re-run of an unchanged list sent %d rows: %+v", again, resR)
	}

	// Import 2: the server stops and starts again on the same databases
	// while chunks are in flight, and the store's connections are cut.
	fake.SetLatency(40 * time.Millisecond)
	const concurrency = 4
	o2 := gen.Options{Rows: 50_000, InvalidEvery: 89, QuotedNewlineEvery: 53, Domain: "second.example.com"}
	path2, st2 := h.generate("users-2.csv", o2)
	began = time.Now()
	run2 := h.start("import-pg-server-restart", workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: path2, Format: source.CSV},
		BatchSize: 100, ChunkRows: chunkRows, Concurrency: concurrency, HeartbeatTimeout: 5 * time.Second,
	})
	before := waitRowsDone(t, h, run2.GetID(), 10_000)
	// Chunks in flight may finish while the server is down; the rest of the
	// import must need the restarted server.
	if before.RowsDone+concurrency*chunkRows >= int64(st2.Rows) {
		t.Fatalf("import 2 was nearly done (%d of %d rows) before the restart; the test proves nothing", before.RowsDone, st2.Rows)
	}
	if n, err := storetest.CutConnections(ctx, storeURL); err != nil || n == 0 {
		t.Fatalf("cut the store's connections: ended %d sessions, %v", n, err)
	}
	srv.Stop()
	stopped := time.Now()
	for _, w := range workers {
		if w.exited() {
			t.Fatalf("%s exited when the server stopped%s", w.name, workerLogs(workers))
		}
	}
	srv, err = devserver.Start(ctx, opts)
	if err != nil {
		t.Fatalf("restart Temporal on the same databases: %v", err)
	}
	t.Logf("server stopped at %d of %d rows and started again in %s", before.RowsDone, st2.Rows, time.Since(stopped).Round(time.Millisecond))
	checkSearchAttributes(t, srv)

	res2, err := h.wait(run2, 5*time.Minute)
	if err != nil {
		t.Fatalf("import 2 failed after the server restart: %v%s", err, workerLogs(workers))
	}
	t.Logf("import 2: %d rows in %s, server restart included", st2.Rows, time.Since(began).Round(time.Millisecond))
	checkResult(t, "import 2", res2, st2)
	if got, want := fake.Count(), st1.Valid+st2.Valid; got != want {
		t.Errorf("the fake holds %d users; the two lists have %d valid rows", got, want)
	}
	for i := 0; i < st2.Rows; i++ {
		if _, ok := fake.User(o2.Email(i)); ok == o2.Invalid(i) {
			t.Fatalf("import 2: row %d (valid: %v) stored: %v", i, !o2.Invalid(i), ok)
		}
	}
	if n := len(h.readRejects(res2.WorkflowID)); n != st2.Invalid {
		t.Fatalf("import 2: rejects file has %d rows, want %d", n, st2.Invalid)
	}
	perWorker, afterRestart := chunkCompletions(h.history(run2.GetID(), run2.GetRunID()), stopped)
	if afterRestart == 0 {
		t.Fatalf("no chunk of import 2 completed after the restart (by worker: %v)", perWorker)
	}
	t.Logf("import 2: %d chunks completed after the restart; by worker: %v; %d inserted + %d updated (resent)",
		afterRestart, perWorker, res2.Inserted, res2.Updated)

	// Import 1 finished before the restart: the new server must know it
	// from PostgreSQL.
	desc, err := c.DescribeWorkflowExecution(ctx, run1.GetID(), run1.GetRunID())
	if err != nil {
		t.Fatalf("import 1 is unknown after the restart: %v", err)
	}
	if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("import 1 is %s after the restart, want completed", s)
	}
	for _, w := range workers {
		if w.exited() {
			t.Fatalf("%s exited during the test%s", w.name, workerLogs(workers))
		}
	}

	// Two workers that each keep their own embedded store (nothing set, as
	// a new user might deploy them) fail an import with rejects loudly.
	h.queue += "-split"
	split := []*workerProcess{
		startWorkerProcess(t, workerBin, "split-a", srv, h.queue, filepath.Join(h.dir, "split-a"), "", h.url),
		startWorkerProcess(t, workerBin, "split-b", srv, h.queue, filepath.Join(h.dir, "split-b"), "", h.url),
	}
	waitPollers(t, c, h.queue, split)
	o3 := gen.Options{Rows: 20_000, InvalidEvery: 50, Domain: "split.example.com"}
	path3, _ := h.generate("users-3.csv", o3)
	_, err = h.wait(h.start("import-split-stores", workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: path3, Format: source.CSV}, BatchSize: 250, ChunkRows: chunkRows, Concurrency: 8,
	}), 5*time.Minute)
	// Which step finds the other worker's store missing depends on which
	// worker ran what: a step's failure ends the import as ImportFailed
	// with the step's type as its cause; the last step's ends it with the
	// type itself.
	var app *temporal.ApplicationError
	cause := ""
	if errors.As(err, &app) {
		cause = app.Type()
		var d workflows.FailureDetails
		if app.Type() == workflows.ImportFailed && app.Details(&d) == nil {
			cause = d.Cause
		}
	}
	if cause != failure.StoreNotShared || !strings.Contains(err.Error(), "do not share one store") || !strings.Contains(err.Error(), store.EnvVar) {
		t.Fatalf("an import on workers with separate stores: %v; want a %s failure naming the cause and %s", err, failure.StoreNotShared, store.EnvVar)
	}
	t.Logf("separate stores: %s", app.Message())
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(workerLogs(split), "other workers poll this task queue") {
		if time.Now().After(deadline) {
			t.Fatalf("no worker with the embedded store warned about the others%s", workerLogs(split))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// duplicateFrom is the active_from of the second rows appendDuplicates
// writes, which must win over the first.
const duplicateFrom = "2026-02-02"

// dupOf says whether appendDuplicates gave row i a second row.
func dupOf(o gen.Options, i int) bool { return i%97 == 5 && !o.Invalid(i) }

// appendDuplicates adds a second row, with another active_from, for n of
// the list's valid users, and returns the list's new stats: each first row
// becomes a reject.
func appendDuplicates(t *testing.T, path string, o gen.Options, st gen.Stats, n int) gen.Stats {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	added := 0
	for i := 0; i < st.Rows && added < n; i++ {
		if dupOf(o, i) {
			fmt.Fprintf(f, "%s,%s,,Free,US,second row\n", o.Email(i), duplicateFrom)
			added++
		}
	}
	if added != n {
		t.Fatalf("the list has %d users to duplicate, want %d", added, n)
	}
	st.Rows += n
	st.Invalid += n
	return st
}

// postgresForTest returns options for a fresh pair of databases with a
// random suffix, dropped when the test ends, or skips the test when
// PostgreSQL is unreachable and not required.
func postgresForTest(t *testing.T) devserver.PostgresOptions {
	t.Helper()
	pg, err := devserver.PostgresFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Reachable(3 * time.Second); err != nil {
		if os.Getenv(requirePostgresEnv) == "" {
			t.Skipf("PostgreSQL is not reachable at %s (%v); start it (see .ci/run) or set %s=1 to make this a failure", pg.Addr(), err, requirePostgresEnv)
		}
		t.Fatalf("%s is set but PostgreSQL is not reachable at %s: %v", requirePostgresEnv, pg.Addr(), err)
	}
	if err := pg.CheckLogin(); err != nil {
		t.Fatalf("PostgreSQL at %s does not let user %q in (set PGUSER and PGPASSWORD; the driver's reason is logged above): %v", pg.Addr(), pg.User, err)
	}
	if pg, err = pg.WithFreshDatabases("importer_e2e_"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.DropDatabases(); err != nil {
			t.Errorf("drop the test databases: %v", err)
		}
	})
	return pg
}

// checkSearchAttributes asserts that the namespace on PostgreSQL has the
// importer's search attributes with their types.
func checkSearchAttributes(t *testing.T, srv *devserver.Server) {
	t.Helper()
	c, err := temporalclient.Dial(context.Background(), temporalclient.Options{Address: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatalf("list search attributes: %v", err)
	}
	for name, typ := range workflows.SearchAttributes() {
		if got, ok := resp.GetCustomAttributes()[name]; !ok || got != typ {
			t.Fatalf("search attribute %s is %v (registered: %v), want %s", name, got, ok, typ)
		}
	}
}

// buildWorker builds the worker binary once, as the benchmark does.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	cmd := exec.Command("go", "build", "-o", bin, "./worker")
	cmd.Dir = filepath.Join("..", "..") // the module root, from testsuite/e2e
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./worker: %v\n%s", err, out)
	}
	return bin
}

// workerProcess is one worker binary running as its own process.
type workerProcess struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startWorkerProcess starts the worker binary with its own data directory;
// storeURL is its IMPORTER_STORE ("" for the embedded SQLite file).
func startWorkerProcess(t *testing.T, bin, name string, srv *devserver.Server, queue, dataDir, storeURL, nebulyURL string) *workerProcess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--address", srv.FrontendAddress(), "--namespace", srv.Namespace(),
		"--task-queue", queue, "--data-dir", dataDir, "--max-concurrent-chunks", "2",
		"--log-format", "json", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "IMPORTER_NEBULY_BASE_URL="+nebulyURL, "IMPORTER_NEBULY_API_KEY="+apiKey, store.EnvVar+"="+storeURL,
		source.EnvRoots+"="+os.TempDir(), source.EnvHosts+"=127.0.0.1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	w := &workerProcess{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-w.done
	})
	return w
}

func (w *workerProcess) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// identityPrefix is how the SDK's default worker identity starts: the pid.
func (w *workerProcess) identityPrefix() string { return strconv.Itoa(w.cmd.Process.Pid) + "@" }

// workerLogs is the tail of every worker's log, for failure messages.
func workerLogs(workers []*workerProcess) string {
	var b strings.Builder
	for _, w := range workers {
		f, err := os.Open(w.log)
		if err != nil {
			continue
		}
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		_ = f.Close()
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
		fmt.Fprintf(&b, "\n--- %s (last %d log lines) ---\n%s", w.name, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// waitPollers waits until every worker process polls the activity task
// queue, so the first import cannot start before both can take chunks.
func waitPollers(t *testing.T, c client.Client, queue string, workers []*workerProcess) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := c.DescribeTaskQueue(context.Background(), queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		polling := 0
		if err == nil {
			for _, w := range workers {
				for _, p := range resp.GetPollers() {
					if strings.HasPrefix(p.GetIdentity(), w.identityPrefix()) {
						polling++
						break
					}
				}
			}
		}
		if polling == len(workers) {
			return
		}
		for _, w := range workers {
			if w.exited() {
				t.Fatalf("%s exited%s", w.name, workerLogs(workers))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d worker processes poll %s after a minute (last error: %v)%s", polling, len(workers), queue, err, workerLogs(workers))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRowsDone polls the progress query until the import has done at least
// rows rows.
func waitRowsDone(t *testing.T, h *harness, id string, rows int64) workflows.Progress {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p := h.progress(id)
		if p.RowsDone >= rows {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import did not reach %d rows in two minutes: %+v", rows, p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkResult(t *testing.T, name string, res workflows.ImportResult, st gen.Stats) {
	t.Helper()
	if res.RowsRead != int64(st.Rows) || res.Accepted != int64(st.Valid) || res.Rejected != int64(st.Invalid) {
		t.Fatalf("%s: result %+v; want rows %d = accepted %d + rejected %d", name, res, st.Rows, st.Valid, st.Invalid)
	}
}

// chunkCompletions counts completed chunk activities by the identity
// prefix (the pid) of the worker that ran them, read from the
// ActivityTaskStarted event each completion refers to, and how many
// completed after since (the server's event time; same machine).
func chunkCompletions(events []*historypb.HistoryEvent, since time.Time) (byWorker map[string]int, after int) {
	chunk := map[int64]bool{}      // scheduled event ID → is a chunk
	identity := map[int64]string{} // started event ID → worker identity
	byWorker = map[string]int{}
	for _, ev := range events {
		if ev.GetWorkflowExecutionStartedEventAttributes() != nil {
			// Event IDs start again in each run after continue-as-new.
			clear(chunk)
			clear(identity)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			chunk[ev.GetEventId()] = a.GetActivityType().GetName() == imports.ImportChunkName
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			identity[ev.GetEventId()] = a.GetIdentity()
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil && chunk[a.GetScheduledEventId()] {
			id := identity[a.GetStartedEventId()]
			if at := strings.Index(id, "@"); at > 0 {
				id = id[:at+1]
			}
			byWorker[id]++
			if !since.IsZero() && ev.GetEventTime().AsTime().After(since) {
				after++
			}
		}
	}
	return byWorker, after
}
