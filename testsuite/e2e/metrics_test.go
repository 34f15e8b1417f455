package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/internal/metrics"
	"importer/workflows"
)

// scrapeMetrics reads a worker's /metrics as Prometheus parses it.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: HTTP %d", url, resp.StatusCode)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: not Prometheus's text format: %v", url, err)
	}
	return families
}

// sumOf adds the values of a counter's (or a histogram's sample count's)
// series whose labels include want, by the value of label by ("" for one
// total).
func sumOf(families map[string]*dto.MetricFamily, name, by string, want map[string]string) map[string]float64 {
	out := map[string]float64{}
	f := families[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		var v float64
		switch {
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
		out[labels[by]] += v
	}
	return out
}

// metricsWorker starts the worker binary with --metrics-listen on a free
// loopback port and returns the URL it logged.
func metricsWorker(t *testing.T, h *harness, bin string) string {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "worker.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--address", h.srv.FrontendAddress(), "--namespace", h.srv.Namespace(),
		"--task-queue", h.queue, "--data-dir", h.data, "--log-format", "json", "--log-level", "info",
		"--metrics-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "IMPORTER_NEBULY_BASE_URL="+h.url, "IMPORTER_NEBULY_API_KEY="+apiKey,
		source.EnvRoots+"="+h.dir, source.EnvHosts+"=127.0.0.1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		f, err := os.Open(logPath)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var line struct{ Message, URL string }
				if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "Prometheus metrics served" {
					_ = f.Close()
					return line.URL
				}
			}
			_ = f.Close()
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the worker exited:\n%s", b)
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("the worker logged no metrics URL:\n%s", b)
	return ""
}

// The worker binary with --metrics-listen: after an import with rejects
// (and a vendor that throttles twice) and one that fails, /metrics holds
// the summary's row counts, the fake vendor's own count of requests by
// status, the SDK's metrics under Temporal's names, and no user data or key.
func TestMetricsEndpointCountsWhatTheImportsDid(t *testing.T) {
	h := newHarness(t)
	bin := buildWorker(t)
	url := metricsWorker(t, h, bin)
	// Beside its metrics the worker answers its probes: alive, and ready
	// once it polls and reaches its store.
	base := strings.TrimSuffix(url, metrics.Path)
	for _, probe := range []string{metrics.HealthPath, metrics.ReadyPath} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(base + probe)
			if err == nil {
				resp.Body.Close()
			}
			if err == nil && resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never answered 200: %v", probe, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	o := gen.Options{Rows: 6_000, InvalidEvery: 41, QuotedNewlineEvery: 17}
	path, st := h.generate("users.csv", o)
	h.fake.Faults().SetRetryAfter(time.Second)
	h.fake.Faults().FailNext(2, http.StatusTooManyRequests)
	res, err := h.wait(h.start("import-metrics", workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: path, Format: source.CSV}, ChunkRows: 1_000, BatchSize: 250,
	}), 3*time.Minute)
	if err != nil {
		t.Fatalf("import failed: %v", err)
	}
	if res.Rejected != int64(st.Invalid) || res.Accepted != int64(st.Valid) || res.Rejected == 0 {
		t.Fatalf("result %+v; want %d accepted and %d rejected", res, st.Valid, st.Invalid)
	}
	if _, err := h.wait(h.start("import-metrics-missing", workflows.ImportInput{
		Vendor: "nebuly", Source: source.Ref{URI: filepath.Join(h.dir, "missing.csv"), Format: source.CSV},
	}), time.Minute); err == nil {
		t.Fatal("an import of a missing file succeeded")
	}

	// The importer's metrics are there at once; the SDK's reach /metrics
	// at tally's next report (every second).
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		fams = scrapeMetrics(t, url)
		if fams["temporal_workflow_completed_total"] != nil && fams["temporal_workflow_failed_total"] != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	nebuly := map[string]string{metrics.LabelVendor: "nebuly"}
	rows := sumOf(fams, metrics.RowsTotal, metrics.LabelOutcome, map[string]string{metrics.LabelVendor: "nebuly", metrics.LabelConnection: "default"})
	if rows[metrics.OutcomeAccepted] != float64(res.Accepted) || rows[metrics.OutcomeRejected] != float64(res.Rejected) || len(rows) != 2 {
		t.Errorf("%s by outcome = %v; the summary says %d accepted, %d rejected", metrics.RowsTotal, rows, res.Accepted, res.Rejected)
	}
	// Every request the fake answered, by its status, and no other.
	want := map[string]float64{}
	for status, n := range h.fake.Stats().ByStatus {
		want[strconv.Itoa(status)] = float64(n)
	}
	// The worker asks for the API's path only: a 404 for another path came
	// from outside it (tests of other packages run alongside, and a closed
	// server's port may be this fake's now).
	if stray := h.fake.Stray(); stray > 0 {
		t.Logf("the fake answered %d requests for paths it does not serve; they are not the worker's", stray)
		if want["404"] -= float64(stray); want["404"] == 0 {
			delete(want, "404")
		}
	}
	got := sumOf(fams, metrics.VendorRequestsTotal, metrics.LabelStatus, nebuly)
	if fmt.Sprint(got) != fmt.Sprint(want) || want["429"] != 2 {
		t.Errorf("%s by status = %v; the fake vendor answered %v (two of them 429)", metrics.VendorRequestsTotal, got, want)
	}
	if n := sumOf(fams, metrics.RetryAfterSecondsTotal, "", nebuly)[""]; n != 2 {
		t.Errorf("%s = %v, want 2 (two 429s asking for 1 s each)", metrics.RetryAfterSecondsTotal, n)
	}
	var answered float64
	for status, n := range want {
		if status != "0" {
			answered += n
		}
	}
	if n := sumOf(fams, metrics.VendorRequestDuration, "", nebuly)[""]; n != answered {
		t.Errorf("%s counts %v requests; the fake answered %v", metrics.VendorRequestDuration, n, answered)
	}
	if n := sumOf(fams, metrics.ChunkDuration, "", nebuly)[""]; n != float64(res.Chunks) {
		t.Errorf("%s counts %v chunks; the import had %d", metrics.ChunkDuration, n, res.Chunks)
	}
	ended := sumOf(fams, metrics.ImportsTotal, metrics.LabelResult, map[string]string{metrics.LabelVendor: "nebuly", metrics.LabelWorkflowType: workflows.ImportWorkflowName})
	if ended[metrics.ResultCompleted] != 1 || ended[metrics.ResultFailed] != 1 {
		t.Errorf("%s by result = %v; want one completed and one failed", metrics.ImportsTotal, ended)
	}

	// The SDK's, named as Temporal's dashboards read them, labelled with
	// the same task queue as the importer's.
	queue := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, h.queue)
	slots := sumOf(fams, "temporal_worker_task_slots_available", "worker_type", map[string]string{metrics.LabelTaskQueue: queue})
	if slots["ActivityWorker"] <= 0 || slots["WorkflowWorker"] <= 0 {
		t.Errorf("temporal_worker_task_slots_available{task_queue=%q} by worker type = %v; want free slots of both", queue, slots)
	}
	if n := sumOf(fams, metrics.RowsTotal, metrics.LabelTaskQueue, nebuly); n[queue] == 0 {
		t.Errorf("%s by task queue = %v; want the SDK's task queue %q", metrics.RowsTotal, n, queue)
	}
	for _, name := range []string{"temporal_activity_schedule_to_start_latency_seconds", "temporal_request_total",
		"temporal_workflow_completed_total", "temporal_workflow_failed_total", "temporal_activity_execution_failed_total"} {
		if fams[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if f := fams["temporal_activity_schedule_to_start_latency_seconds"]; f != nil && f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("temporal_activity_schedule_to_start_latency_seconds is a %v; Temporal's dashboards read its _bucket", f.GetType())
	}

	// No user data, path or key in any label.
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				if strings.Contains(v, "@") || strings.Contains(v, apiKey) || strings.Contains(v, "/") {
					t.Errorf("%s{%s=%q}: a label holds user data, a path or the key", name, l.GetName(), v)
				}
			}
		}
	}
	t.Logf("%d metric families; rows %v; vendor requests %v", len(fams), rows, got)
}
