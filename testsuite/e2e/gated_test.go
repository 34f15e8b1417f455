package e2e

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	bitlabsfake "importer/activities/bitlabs/fake"
	"importer/activities/imports"
	"importer/activities/source"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/activities/vendors/gen"
	"importer/internal/connections"
	"importer/workflows"
)

const (
	bitlabsToken = "s2s-test-token"
	userpilotKey = "up-test-key"
)

// gated is a harness with fake BitLabs and Userpilot accounts.
type gated struct {
	*harness
	bitlabs   *bitlabsfake.Server
	userpilot *userpilotfake.Server
	blURL     string
	upURL     string
}

func newGated(t testing.TB, bl bitlabsfake.Options, up userpilotfake.Options) *gated {
	h := newHarness(t)
	bl.Token, up.APIKey = bitlabsToken, userpilotKey
	g := &gated{harness: h, bitlabs: bitlabsfake.New(bl), userpilot: userpilotfake.New(up)}
	s1, s2 := httptest.NewServer(g.bitlabs), httptest.NewServer(g.userpilot)
	t.Cleanup(s1.Close)
	t.Cleanup(s2.Close)
	g.blURL, g.upURL = s1.URL, s2.URL
	return g
}

func (g *gated) gatedConns() connections.Set {
	return g.conns(apiKey).
		With("bitlabs", connections.Default, map[string]string{"BASE_URL": g.blURL, "S2S_TOKEN": bitlabsToken}).
		With("userpilot", connections.Default, map[string]string{"BASE_URL": g.upURL, "API_KEY": userpilotKey})
}

func (g *gated) list(vendor, name string, o gen.Options) (string, gen.Stats) {
	g.t.Helper()
	path := filepath.Join(g.dir, name)
	st, err := gen.VendorFile(vendor, path, o)
	if err != nil {
		g.t.Fatal(err)
	}
	return path, st
}

// twoImports starts two imports into one vendor account at the same moment
// and waits for both.
func (g *gated) twoImports(vendor string, rows int, in workflows.ImportInput) []workflows.ImportResult {
	g.t.Helper()
	var paths []string
	var stats []gen.Stats
	for _, p := range []string{"a", "b"} {
		path, st := g.list(vendor, p+".csv", gen.Options{Rows: rows, InvalidEvery: 97, IDPrefix: p})
		paths, stats = append(paths, path), append(stats, st)
	}
	results := make([]workflows.ImportResult, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range paths {
		in := in
		in.Vendor = vendor
		in.Source = source.Ref{URI: paths[i], Format: source.CSV}
		run := g.start("import-"+vendor+"-"+string(rune('a'+i)), in)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = g.wait(run, 3*time.Minute)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			g.t.Fatalf("import %d: %v", i, err)
		}
		r, st := results[i], stats[i]
		if r.RowsRead != int64(st.Rows) || r.Accepted != int64(st.Valid) || r.Rejected != int64(st.Invalid) {
			g.t.Fatalf("import %d: %+v; want %d rows = %d + %d", i, r, st.Rows, st.Valid, st.Invalid)
		}
	}
	return results
}

func TestTwoBitLabsImportsOnTwoWorkersNeverOverlap(t *testing.T) {
	g := newGated(t, bitlabsfake.Options{BulkLatency: 20 * time.Millisecond}, userpilotfake.Options{})
	g.startWorker(g.gatedConns(), 0)
	g.startWorker(g.gatedConns(), 0)
	// While they run, the progress of import a says how many of its chunks
	// wait for the gate: with one bulk at a time, most of them do.
	stop := make(chan struct{})
	var mostWaiting atomic.Int32
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if p := g.progress("import-bitlabs-a"); int32(p.GateWaits) > mostWaiting.Load() {
				mostWaiting.Store(int32(p.GateWaits))
			}
		}
	}()
	g.twoImports("bitlabs", 3000, workflows.ImportInput{BatchSize: 100, ChunkRows: 300, Concurrency: 4})
	close(stop)
	if mostWaiting.Load() == 0 {
		t.Error("the progress never showed a chunk waiting for the gate")
	}
	if n := g.bitlabs.Overlaps(); n != 0 {
		t.Fatalf("the fake saw %d overlapping bulks", n)
	}
	want := 2 * (3000 - 3000/97)
	if g.bitlabs.Count() != want {
		t.Fatalf("the fake holds %d users, want %d", g.bitlabs.Count(), want)
	}
	if g.bitlabs.Bulks() < 40 {
		t.Fatalf("only %d bulks; the test did not exercise the gate", g.bitlabs.Bulks())
	}
}

func TestBitLabsPerUserErrorsBecomeRejects(t *testing.T) {
	g := newGated(t, bitlabsfake.Options{}, userpilotfake.Options{})
	g.startWorker(g.gatedConns(), 0)
	path := filepath.Join(g.dir, "langs.csv")
	csv := "uid,country,languages,birthdate,gender\n" +
		"ok1,DE,de,1990-01-01,MALE\n" +
		"nolang,DE,xx,1990-01-01,FEMALE\n" +
		"ok2,US,en,1985-05-05,OTHER\n"
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	run := g.start("import-bitlabs-langs", workflows.ImportInput{Vendor: "bitlabs", Source: source.Ref{URI: path, Format: source.CSV}})
	res, err := g.wait(run, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Rejected != 1 {
		t.Fatalf("%+v, want 2 accepted 1 rejected", res)
	}
	rej := g.readRejects(res.WorkflowID)
	if len(rej) != 1 || rej[0].UserID != "nolang" || rej[0].Line != 3 || !strings.Contains(rej[0].Reason, "unsupported_languages") {
		t.Fatalf("rejects %+v", rej)
	}
}

func TestTwoUserpilotImportsNeverOverlapJobs(t *testing.T) {
	g := newGated(t, bitlabsfake.Options{}, userpilotfake.Options{RowsPerMinute: 1_200_000})
	g.startWorker(g.gatedConns(), 0)
	g.startWorker(g.gatedConns(), 0)
	g.twoImports("userpilot", 2000, workflows.ImportInput{ChunkRows: 400, Concurrency: 3, JobPoll: 20 * time.Millisecond, JobMaxPoll: 100 * time.Millisecond})
	if c, o := g.userpilot.Conflicts(), g.userpilot.Overlaps(); c != 0 || o != 0 {
		t.Fatalf("the fake refused %d jobs for overlap and saw %d overlapping jobs", c, o)
	}
	for _, p := range []string{"a", "b"} {
		o := gen.Options{IDPrefix: p}
		for i := 0; i < 2000; i++ {
			want := 1
			if (gen.Options{InvalidEvery: 97}).Invalid(i) {
				want = 0
			}
			if n := g.userpilot.Received(o.UID(i)); n != want {
				t.Fatalf("user %s arrived %d times, want %d", o.UID(i), n, want)
			}
		}
	}
	u, ok := g.userpilot.User(gen.Options{IDPrefix: "a"}.UID(3))
	if !ok || u.Metadata["plan"] != "Pro" {
		t.Fatalf("user not stored with its metadata: %+v", u)
	}
	if _, isString := u.Metadata["seats"].(string); isString {
		t.Fatalf("seats was stringified: %#v", u.Metadata["seats"])
	}
}

func TestUserpilotWaitResumesAfterWorkerRestart(t *testing.T) {
	// 600 rows a minute: a 100-row job takes 10 s, long enough to stop the
	// worker while it waits.
	g := newGated(t, bitlabsfake.Options{}, userpilotfake.Options{RowsPerMinute: 600})
	w1 := g.startWorker(g.gatedConns(), time.Millisecond)
	path, st := g.list("userpilot", "one.csv", gen.Options{Rows: 100})
	run := g.start("import-userpilot-restart", workflows.ImportInput{Vendor: "userpilot", Source: source.Ref{URI: path, Format: source.CSV},
		HeartbeatTimeout: 2 * time.Second, JobPoll: 200 * time.Millisecond, JobMaxPoll: 500 * time.Millisecond})
	deadline := time.Now().Add(30 * time.Second)
	for len(g.userpilot.Jobs()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no job was submitted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	w1.Stop()
	// The wait was cut: the worker stopped while the vendor's job still ran.
	if jobs := g.userpilot.Jobs(); len(jobs) != 1 || !jobs[0].Ended.IsZero() {
		t.Fatalf("jobs when the worker stopped: %+v; want one still running, or the test cuts no wait", jobs)
	}
	time.Sleep(time.Second)
	g.startWorker(g.gatedConns(), 0)
	res, err := g.wait(run, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != int64(st.Valid) {
		t.Fatalf("%+v", res)
	}
	// The wait that finished is a later attempt of the one the stop cut,
	// resumed on the new worker from its heartbeat (the job ID), not a
	// new submission.
	waits := map[int64]bool{}
	var lastAttempt int32
	for _, ev := range g.history(run.GetID(), run.GetRunID()) {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == imports.WaitJobName {
			waits[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && waits[a.GetScheduledEventId()] {
			lastAttempt = max(lastAttempt, a.GetAttempt())
		}
	}
	if len(waits) != 1 || lastAttempt < 2 {
		t.Fatalf("%d waits scheduled, the last started at attempt %d; want one wait that finished on a later attempt", len(waits), lastAttempt)
	}
	if n := len(g.userpilot.Jobs()); n != 1 {
		t.Fatalf("%d jobs submitted, want 1: the resumed wait resubmitted the rows", n)
	}
	for i := 0; i < st.Rows; i++ {
		if n := g.userpilot.Received(gen.Options{}.UID(i)); n != 1 {
			t.Fatalf("user %d arrived %d times", i, n)
		}
	}
}

func TestUserpilotFailedJobRowsBecomeRejects(t *testing.T) {
	g := newGated(t, bitlabsfake.Options{}, userpilotfake.Options{RowsPerMinute: 1_200_000})
	g.startWorker(g.gatedConns(), 0)
	g.userpilot.FailNextJob("metadata.plan is not allowed")
	path, st := g.list("userpilot", "fail.csv", gen.Options{Rows: 50, InvalidEvery: 10})
	run := g.start("import-userpilot-fail", workflows.ImportInput{Vendor: "userpilot", Source: source.Ref{URI: path, Format: source.CSV},
		JobPoll: 20 * time.Millisecond})
	res, err := g.wait(run, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || res.Rejected != int64(st.Rows) {
		t.Fatalf("%+v, want every row rejected", res)
	}
	rej := g.readRejects(res.WorkflowID)
	failed := 0
	for _, r := range rej {
		if strings.Contains(r.Reason, "metadata.plan is not allowed") {
			failed++
		}
	}
	if len(rej) != st.Rows || failed != st.Valid {
		t.Fatalf("%d rejects, %d with the job's reason; want %d and %d", len(rej), failed, st.Rows, st.Valid)
	}
}

// BenchmarkBitLabsGate measures imports into one BitLabs account against its
// physical limit: one bulk at a time, so at most batch size / bulk latency
// rows a second, whatever the concurrency.
//
//	go test ./testsuite/e2e -run x -bench Gate -benchtime 1x
func BenchmarkBitLabsGate(b *testing.B) {
	const bulk = 100 * time.Millisecond
	const batch, rows = 500, 20000
	limit := float64(batch) / bulk.Seconds()
	for _, imports := range []int{1, 2} {
		b.Run(fmt.Sprintf("imports=%d", imports), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				g := newGated(b, bitlabsfake.Options{BulkLatency: bulk}, userpilotfake.Options{})
				g.startWorker(g.gatedConns(), 0)
				var runs []client.WorkflowRun
				start := time.Now()
				for k := 0; k < imports; k++ {
					path, _ := g.list("bitlabs", fmt.Sprintf("l%d.csv", k), gen.Options{Rows: rows, IDPrefix: fmt.Sprintf("p%d-", k)})
					runs = append(runs, g.start(fmt.Sprintf("bench-%d", k), workflows.ImportInput{
						Vendor: "bitlabs", Source: source.Ref{URI: path, Format: source.CSV}, BatchSize: batch}))
				}
				for _, run := range runs {
					if _, err := g.wait(run, 10*time.Minute); err != nil {
						b.Fatal(err)
					}
				}
				rate := float64(imports*rows) / time.Since(start).Seconds()
				if g.bitlabs.Overlaps() != 0 {
					b.Fatalf("%d overlapping bulks", g.bitlabs.Overlaps())
				}
				b.ReportMetric(rate, "rows/s")
				b.ReportMetric(rate/limit, "of-limit")
			}
		})
	}
}

// BenchmarkUserpilotJobOverhead measures what waiting on Userpilot jobs
// costs beyond the jobs' own processing: submitting, polling, and passing
// the gate from one job to the next.
//
//	go test ./testsuite/e2e -run x -bench Userpilot -benchtime 1x
func BenchmarkUserpilotJobOverhead(b *testing.B) {
	const rows, chunk = 20000, 2000
	for i := 0; i < b.N; i++ {
		g := newGated(b, bitlabsfake.Options{}, userpilotfake.Options{RowsPerMinute: 600_000})
		g.startWorker(g.gatedConns(), 0)
		path, _ := g.list("userpilot", "l.csv", gen.Options{Rows: rows})
		start := time.Now()
		run := g.start("bench-up", workflows.ImportInput{Vendor: "userpilot", Source: source.Ref{URI: path, Format: source.CSV},
			ChunkRows: chunk, JobPoll: 50 * time.Millisecond, JobMaxPoll: time.Second})
		if _, err := g.wait(run, 10*time.Minute); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		var processing time.Duration
		jobs := g.userpilot.Jobs()
		for _, j := range jobs {
			processing += j.Ended.Sub(j.Started)
		}
		b.ReportMetric(float64(len(jobs)), "jobs")
		b.ReportMetric((elapsed-processing).Seconds()*1000/float64(len(jobs)), "ms-overhead/job")
		b.ReportMetric(processing.Seconds()*1000/float64(len(jobs)), "ms-processing/job")
	}
}
