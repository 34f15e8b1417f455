package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"importer/internal/vendorcall"
)

// sdkTags are the tags the SDK puts on every handler it derives from the
// client's (its root tags), as a worker polling "importer-e2e" would.
var sdkTags = map[string]string{
	"namespace": "default", "client_name": "temporal_go", "worker_type": "ActivityWorker",
	"workflow_type": "Import", "activity_type": "ImportChunk", "task_queue": "importer-e2e",
}

func newMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := New(Options{Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// scrape returns what /metrics answers, as Prometheus reads it.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.HTTPHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// sample finds the value of the one series of name whose labels include
// every pair of want; it fails the test when there is none or more than one.
func sample(t *testing.T, text, name string, want map[string]string) float64 {
	t.Helper()
	var found []float64
	for _, s := range samples(text, name) {
		ok := true
		for k, v := range want {
			ok = ok && s.labels[k] == v
		}
		if ok {
			found = append(found, s.value)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v: %d series match, want 1; the scrape:\n%s", name, want, len(found), grepLines(text, name))
	}
	return found[0]
}

type series struct {
	labels map[string]string
	value  float64
}

var (
	lineRE  = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	labelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

func samples(text, name string) []series {
	var out []series
	for _, line := range strings.Split(text, "\n") {
		m := lineRE.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			continue
		}
		s := series{labels: map[string]string{}, value: v}
		for _, l := range labelRE.FindAllStringSubmatch(m[3], -1) {
			s.labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestSDKMetricsAreNamedAsTemporalsDashboardsExpect(t *testing.T) {
	m := newMetrics(t)
	h := m.Handler().WithTags(sdkTags)
	// What the SDK records, under the names it records them by.
	h.Counter("temporal_request").Inc(3)
	h.WithTags(map[string]string{"operation": "PollActivityTaskQueue", "status_code": "Unavailable"}).Counter("temporal_request_failure").Inc(1)
	h.Timer("temporal_activity_schedule_to_start_latency").Record(40 * time.Millisecond)
	h.WithTags(map[string]string{"worker_type": "ActivityWorker"}).Gauge("temporal_worker_task_slots_available").Update(7)
	// Tally buffers counters and gauges until its next report; Close
	// reports one last time.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, m)
	tq := map[string]string{"task_queue": "importer_e2e", "namespace": "default"}
	if got := sample(t, text, "temporal_request_total", tq); got != 3 {
		t.Errorf("temporal_request_total = %v, want 3", got)
	}
	if got := sample(t, text, "temporal_request_failure_total", map[string]string{"status_code": "Unavailable"}); got != 1 {
		t.Errorf("temporal_request_failure_total = %v, want 1", got)
	}
	if got := sample(t, text, "temporal_worker_task_slots_available", tq); got != 7 {
		t.Errorf("temporal_worker_task_slots_available = %v, want 7", got)
	}
	if got := sample(t, text, "temporal_activity_schedule_to_start_latency_seconds_bucket", map[string]string{"le": "0.05"}); got != 1 {
		t.Errorf("schedule-to-start bucket le=0.05 = %v, want 1 (40 ms)", got)
	}
	if got := sample(t, text, "temporal_activity_schedule_to_start_latency_seconds_bucket", map[string]string{"le": "0.025"}); got != 0 {
		t.Errorf("schedule-to-start bucket le=0.025 = %v, want 0 (40 ms)", got)
	}
	for _, prefixed := range []string{"importer_temporal_", "temporal_temporal_"} {
		if strings.Contains(text, prefixed) {
			t.Errorf("the SDK's metrics carry a prefix %q", prefixed)
		}
	}
}

func TestImporterMetricsCarryTheSDKsTagsAndTheirOwnLabels(t *testing.T) {
	m := newMetrics(t)
	h := m.Handler().WithTags(sdkTags)
	Rows(h, "nebuly", "eu", 95, 5, 0)
	Rows(h, "nebuly", "eu", 10, 0, 3)
	h.Counter("temporal_request").Inc(1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, m)
	want := map[string]string{"vendor": "nebuly", "connection": "eu", "namespace": "default"}
	for outcome, n := range map[string]float64{OutcomeAccepted: 105, OutcomeRejected: 5, OutcomeUnchanged: 3} {
		want["outcome"] = outcome
		if got := sample(t, text, RowsTotal, want); got != n {
			t.Errorf("%s{outcome=%s} = %v, want %v", RowsTotal, outcome, got, n)
		}
	}
	// The same task queue label as the SDK's, so that both join.
	sdk := samples(text, "temporal_request_total")
	own := samples(text, RowsTotal)
	if len(sdk) != 1 || len(own) == 0 || own[0].labels["task_queue"] != sdk[0].labels["task_queue"] || own[0].labels["task_queue"] == "" {
		t.Errorf("task_queue of %s %v and of the SDK's %v differ", RowsTotal, own, sdk)
	}
	// Only the catalog's labels: the activity type is the SDK's business.
	for _, s := range own {
		if _, ok := s.labels["activity_type"]; ok || len(s.labels) != 5 {
			t.Errorf("%s has labels %v; want namespace, task_queue, vendor, connection, outcome", RowsTotal, s.labels)
		}
	}
}

func TestEachHistogramHasItsOwnBuckets(t *testing.T) {
	m := newMetrics(t)
	h := m.Handler().WithTags(sdkTags)
	ChunkDone(h, "nebuly", 90*time.Second)
	GateWaited(h, "bitlabs", "default", 3*time.Hour)
	Paced(h, "dynamic", 400*time.Millisecond)
	text := scrape(t, m)
	for _, c := range []struct {
		name, le string
		want     float64
	}{
		{ChunkDuration + "_bucket", "60", 0},
		{ChunkDuration + "_bucket", "120", 1},
		{GateWait + "_bucket", "7200", 0},
		{GateWait + "_bucket", "14400", 1},
		{PacerDelay + "_bucket", "0.25", 0},
		{PacerDelay + "_bucket", "0.5", 1},
	} {
		if got := sample(t, text, c.name, map[string]string{"le": c.le}); got != c.want {
			t.Errorf("%s{le=%s} = %v, want %v", c.name, c.le, got, c.want)
		}
	}
	if got := sample(t, text, ChunkDuration+"_sum", nil); got != 90 {
		t.Errorf("%s_sum = %v, want 90 (seconds)", ChunkDuration, got)
	}
	for _, spec := range Catalog() {
		if spec.Kind == Histogram && (len(spec.Buckets) == 0 || !strings.HasSuffix(spec.Name, "_seconds")) {
			t.Errorf("histogram %s: buckets %v; want buckets, in seconds", spec.Name, spec.Buckets)
		}
		if spec.Kind == Counter && !strings.HasSuffix(spec.Name, "_total") {
			t.Errorf("counter %s does not end in _total", spec.Name)
		}
	}
}

func TestAnImporterMetricUsedAsAnotherKindRecordsNothing(t *testing.T) {
	m := newMetrics(t)
	h := m.Handler().WithTags(sdkTags)
	h.Timer(RowsTotal).Record(time.Second)
	h.Gauge(ChunkDuration).Update(1)
	h.Counter(GateWait).Inc(1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, m)
	for _, bad := range []string{RowsTotal + "_seconds", RowsTotal + "{", ChunkDuration + "{", GateWait + "_total", GateWait + "_bucket"} {
		if strings.Contains(text, bad) {
			t.Errorf("the scrape has %s:\n%s", bad, grepLines(text, "importer_"))
		}
	}
}

// The transport counts what an activity sends to a vendor, by status, and
// nothing else.
func TestVendorRequestsAreCountedByStatusInsideActivitiesOnly(t *testing.T) {
	m := newMetrics(t)
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/busy":
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer vendor.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + closed.Addr().String()
	_ = closed.Close()

	hc := &http.Client{Transport: VendorTransport(http.DefaultTransport)}
	get := func(ctx context.Context, url string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	// A query that holds user data and a key: neither may become a label.
	const query = "?email=someone%40example.com&api_key=sk-live-0123456789"
	send := func(ctx context.Context) error {
		v := vendorcall.WithVendor(ctx, "nebuly")
		get(v, vendor.URL+"/ok"+query)
		get(v, vendor.URL+"/ok")
		get(v, vendor.URL+"/busy"+query)
		get(v, vendor.URL+"/down")
		get(v, gone+"/ok"+query)
		get(ctx, vendor.URL+"/ok") // names no vendor
		return nil
	}
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(m.Handler())
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(send, activity.RegisterOptions{Name: "Send"})
	if _, err := env.ExecuteActivity("Send"); err != nil {
		t.Fatal(err)
	}
	// Outside an activity: not counted.
	get(vendorcall.WithVendor(context.Background(), "nebuly"), vendor.URL+"/ok")

	text := scrape(t, m)
	for status, want := range map[string]float64{"200": 2, "429": 1, "503": 1, StatusNetwork: 1} {
		if got := sample(t, text, VendorRequestsTotal, map[string]string{"vendor": "nebuly", "status": status}); got != want {
			t.Errorf("%s{status=%s} = %v, want %v", VendorRequestsTotal, status, got, want)
		}
	}
	if n := len(samples(text, VendorRequestsTotal)); n != 4 {
		t.Errorf("%d series of %s, want 4 (200, 429, 503, network):\n%s", n, VendorRequestsTotal, grepLines(text, VendorRequestsTotal))
	}
	if got := sample(t, text, RetryAfterSecondsTotal, map[string]string{"vendor": "nebuly"}); got != 2 {
		t.Errorf("%s = %v, want 2", RetryAfterSecondsTotal, got)
	}
	if got := sample(t, text, VendorRequestDuration+"_count", map[string]string{"vendor": "nebuly"}); got != 4 {
		t.Errorf("%s_count = %v, want 4 (the answered requests)", VendorRequestDuration, got)
	}
	for _, leak := range []string{"example.com", "someone", "sk-live", "api_key", "/ok", "127.0.0.1:"} {
		if strings.Contains(grepLines(text, "importer_"), leak) {
			t.Errorf("a label holds %q:\n%s", leak, grepLines(text, "importer_"))
		}
	}
}

// Workflow code records through the workflow's handler, whose tags (on a
// worker: the root tags, the task queue and the workflow type; the test
// environment adds none, so they are set here) label the count.
func TestAnEndedImportIsCountedWithItsWorkflowType(t *testing.T) {
	m := newMetrics(t)
	var s testsuite.WorkflowTestSuite
	s.SetMetricsHandler(m.Handler().WithTags(sdkTags))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		ImportEnded(workflow.GetMetricsHandler(ctx), "bitlabs", ResultFailed)
		return nil
	}, workflow.RegisterOptions{Name: "Import"})
	env.ExecuteWorkflow("Import")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	text := scrape(t, m)
	if got := sample(t, text, ImportsTotal, map[string]string{"workflow_type": "Import", "task_queue": "importer_e2e", "vendor": "bitlabs", "result": ResultFailed}); got != 1 {
		t.Errorf("%s = %v, want 1", ImportsTotal, got)
	}
}

func TestServeAnswersAtTheMetricsPathOnly(t *testing.T) {
	m := newMetrics(t)
	Rows(m.Handler(), "nebuly", "default", 1, 0, 0)
	srv, err := Serve("127.0.0.1:0", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasSuffix(srv.URL(), Path) {
		t.Fatalf("URL %s does not end in %s", srv.URL(), Path)
	}
	resp, err := http.Get(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), RowsTotal) {
		t.Fatalf("GET %s: %d\n%s", srv.URL(), resp.StatusCode, body)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type %q, want Prometheus's text format", resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(strings.TrimSuffix(srv.URL(), Path) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / answered %d, want 404", resp.StatusCode)
	}
	if _, err := Serve(strings.TrimPrefix(strings.TrimSuffix(srv.URL(), Path), "http://"), m, nil); err == nil {
		t.Error("a second endpoint on the same address started")
	}
}

// A handler for the client: what the worker passes to client.Options.
var _ client.MetricsHandler = (*handler)(nil)

// The probes: alive from the start; ready only once readiness is set, and
// only while its check passes, saying why not when it does not.
func TestTheProbesSayAliveAndReadyOnlyWhenTheWorkerIs(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var h Health
	srv, err := Serve("127.0.0.1:0", m, &h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := strings.TrimSuffix(srv.URL(), Path)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(HealthPath); code != http.StatusOK {
		t.Fatalf("%s: %d, want 200", HealthPath, code)
	}
	if code, body := get(ReadyPath); code != http.StatusServiceUnavailable || !strings.Contains(body, "does not poll yet") {
		t.Fatalf("%s before the worker polls: %d %q", ReadyPath, code, body)
	}
	var down atomic.Bool
	h.SetReady(func(context.Context) error {
		if down.Load() {
			return errors.New("reach the store (importer@db:5432/importer): connection refused")
		}
		return nil
	})
	if code, _ := get(ReadyPath); code != http.StatusOK {
		t.Fatalf("%s once the worker polls: %d", ReadyPath, code)
	}
	down.Store(true)
	if code, body := get(ReadyPath); code != http.StatusServiceUnavailable || !strings.Contains(body, "reach the store") {
		t.Fatalf("%s with the store down: %d %q", ReadyPath, code, body)
	}
}
