package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"importer/internal/metrics"
)

// Monitoring: `docker compose --profile monitoring up` adds Prometheus,
// scraping every worker replica, and Grafana, provisioned with the
// dashboards in deploy/grafana, whose queries read only metrics the worker
// exports.

const monitoringProfile = "monitoring"

// monitoringRoles finds the monitoring services by image.
func monitoringRoles(t *testing.T, p *types.Project) (prometheus, grafana string) {
	t.Helper()
	for name, s := range p.Services {
		switch imageRepo(s.Image) {
		case "prom/prometheus":
			prometheus = name
		case "grafana/grafana":
			grafana = name
		}
	}
	return prometheus, grafana
}

func TestMonitoringRunsOnlyInItsProfile(t *testing.T) {
	root := repoRoot(t)
	if prom, graf := monitoringRoles(t, loadProject(t, root, composeEnv)); prom != "" || graf != "" {
		t.Errorf("a plain `docker compose up` starts %q and %q; they belong to the %s profile", prom, graf, monitoringProfile)
	}
	p := loadProfiles(t, root, composeEnv, monitoringProfile)
	prom, graf := monitoringRoles(t, p)
	if prom == "" || graf == "" {
		t.Fatalf("with --profile %s: prometheus %q, grafana %q; want both", monitoringProfile, prom, graf)
	}
	for _, name := range []string{prom, graf} {
		s := p.Services[name]
		if !slices.Equal(s.Profiles, []string{monitoringProfile}) {
			t.Errorf("service %s has profiles %v, want [%s]", name, s.Profiles, monitoringProfile)
		}
		if s.Restart != types.RestartPolicyUnlessStopped {
			t.Errorf("long-running service %s: restart is %q, want unless-stopped", name, s.Restart)
		}
		if !healthcheckDefined(s.HealthCheck) {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
	if got := p.Services[graf].DependsOn[prom].Condition; got != types.ServiceConditionHealthy {
		t.Errorf("grafana depends_on prometheus with condition %q, want %s", got, types.ServiceConditionHealthy)
	}
	// The rest of the topology is unchanged by the profile: the worker
	// still starts after what it needs, and nothing waits on a service
	// without a health check.
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionHealthy && !healthcheckDefined(p.Services[dep].HealthCheck) {
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
	// Published on this machine only, each on its usual port.
	want := map[string]string{graf: "3000->3000", prom: "9090->9090"}
	for _, name := range []string{prom, graf} {
		var got []string
		for _, port := range p.Services[name].Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %+v; publish on 127.0.0.1 only (no auth in front of it)", name, port)
			}
			got = append(got, fmt.Sprintf("%s->%d", port.Published, port.Target))
		}
		if strings.Join(got, ",") != want[name] {
			t.Errorf("service %s publishes %v, want %s", name, got, want[name])
		}
	}
}

// prometheusConfig is what the tests read of prometheus.yml.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName      string `yaml:"job_name"`
		MetricsPath  string `yaml:"metrics_path"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestPrometheusScrapesEveryWorkerReplica(t *testing.T) {
	root := repoRoot(t)
	p := loadProfiles(t, root, composeEnv, monitoringProfile)
	prom, _ := monitoringRoles(t, p)
	worker := findRoles(t, p).worker

	listen := serviceEnv(p.Services[worker])[metrics.EnvListen]
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("worker %s=%q: %v", metrics.EnvListen, listen, err)
	}
	if host != "0.0.0.0" && host != "" {
		t.Errorf("worker %s=%q listens on %s only; Prometheus reaches it from another container", metrics.EnvListen, listen, host)
	}
	if len(p.Services[worker].Ports) > 0 {
		t.Errorf("worker publishes %v; its metrics are for the project's network", p.Services[worker].Ports)
	}
	// Without .env setting it, the worker serves metrics all the same: the
	// profile only adds the scraper.
	if v := serviceVariables(t, root, worker)[metrics.EnvListen]; v.DefaultValue == "" {
		t.Errorf("worker ${%s} has no default; the workers would serve no metrics", metrics.EnvListen)
	}

	const configPath = "/etc/prometheus/prometheus.yml"
	host2 := mountSource(p.Services[prom], configPath)
	if host2 == "" || !inRepository(root, host2) {
		t.Fatalf("%s is not bind-mounted from the repository into %s", configPath, prom)
	}
	var cfg prometheusConfig
	if err := yaml.Unmarshal([]byte(readFile(t, host2)), &cfg); err != nil {
		t.Fatalf("%s: %v", host2, err)
	}
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, sd := range sc.DNSSDConfigs {
			if !slices.Contains(sd.Names, worker) {
				continue
			}
			found = true
			// The service name resolves to every replica's address.
			if sd.Type != "A" || fmt.Sprint(sd.Port) != port {
				t.Errorf("job %s discovers %s as type %q port %d; want A records and port %s (%s)", sc.JobName, worker, sd.Type, sd.Port, port, metrics.EnvListen)
			}
			if sc.MetricsPath != "" && sc.MetricsPath != metrics.Path {
				t.Errorf("job %s scrapes %s; the worker serves %s", sc.JobName, sc.MetricsPath, metrics.Path)
			}
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				if strings.HasPrefix(target, worker+":") {
					t.Errorf("job %s scrapes %s by a static target: one replica only; use dns_sd_configs", sc.JobName, target)
				}
			}
		}
	}
	if !found {
		t.Errorf("%s has no job that discovers the %s service's replicas", host2, worker)
	}
}

func TestGrafanaIsProvisionedWithEveryDashboard(t *testing.T) {
	root := repoRoot(t)
	p := loadProfiles(t, root, composeEnv, monitoringProfile)
	prom, graf := monitoringRoles(t, p)
	g := p.Services[graf]

	prov := mountSource(g, "/etc/grafana/provisioning")
	if prov == "" || !inRepository(root, prov) {
		t.Fatalf("grafana's /etc/grafana/provisioning is not bind-mounted from the repository")
	}
	var ds struct {
		Datasources []struct{ Name, Type, URL string } `yaml:"datasources"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(prov, "datasources", "prometheus.yml"))), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://"+prom+":9090" {
		t.Errorf("data sources %+v; want one of type prometheus at http://%s:9090", ds.Datasources, prom)
	}
	var dp struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(prov, "dashboards", "importer.yml"))), &dp); err != nil {
		t.Fatal(err)
	}
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path == "" {
		t.Fatalf("dashboard providers %+v; want one of type file with a path", dp.Providers)
	}
	dir := dp.Providers[0].Options.Path
	dashboards, err := filepath.Glob(filepath.Join(root, "deploy", "grafana", "*.json"))
	if err != nil || len(dashboards) < 2 {
		t.Fatalf("deploy/grafana has dashboards %v (%v); want the importer's and the SDK's", dashboards, err)
	}
	for _, d := range dashboards {
		target := dir + "/" + filepath.Base(d)
		if got := mountSource(g, target); got != d {
			t.Errorf("%s is not mounted at %s, where the provider reads (got %q)", d, target, got)
		}
	}
	if home := serviceEnv(g)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; mountSource(g, home) == "" {
		t.Errorf("the home dashboard %q is not a mounted file", home)
	}
	for k, v := range serviceEnv(g) {
		if secretName.MatchString(k) {
			t.Errorf("grafana sets %s=%q in docker-compose.yml", k, v)
		}
	}
}

// exported lists the metric names (as PromQL reads them) a worker exports:
// the importer's (Catalog), and the Temporal SDK's, read from the SDK's
// source: its metric name constants that its code uses, a timer for names
// ending in _latency, a gauge for those it records with Gauge, a counter
// otherwise; named as the tally handler names them (counters end in
// _total, timers are histograms in seconds).
func exported(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	histogram := func(name string) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			out[name+suffix] = true
		}
	}
	for _, m := range metrics.Catalog() {
		switch m.Kind {
		case metrics.Counter:
			out[m.Name] = true
		case metrics.Histogram:
			histogram(m.Name)
		}
	}

	dir := strings.TrimSpace(string(goList(t, root, "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk")))
	constants := readFile(t, filepath.Join(dir, "internal", "common", "metrics", "constants.go"))
	values := map[string]string{}
	defRE := regexp.MustCompile(`(?m)^\s*([A-Z][A-Za-z]*)\s*=\s*(?:([A-Z][A-Za-z]*)\s*\+\s*)?"([a-z_]+)"`)
	for range 3 { // definitions build on each other
		for _, m := range defRE.FindAllStringSubmatch(constants, -1) {
			if m[2] == "" {
				values[m[1]] = m[3]
			} else if base, ok := values[m[2]]; ok {
				values[m[1]] = base + m[3]
			}
		}
	}
	var code strings.Builder
	err := filepath.WalkDir(filepath.Join(dir, "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "constants.go") {
			return err
		}
		b, err := os.ReadFile(path)
		code.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	src := code.String()
	for ident, name := range values {
		if !strings.HasPrefix(name, "temporal_") || !regexp.MustCompile(`\b`+ident+`\b`).MatchString(src) {
			continue // a prefix, a tag, or a name the Go SDK never records
		}
		switch {
		case strings.HasSuffix(name, "_latency"):
			histogram(name + "_seconds")
		case regexp.MustCompile(`Gauge\((metrics\.)?` + ident + `\)`).MatchString(src):
			out[name] = true
		default:
			out[name+"_total"] = true
		}
	}
	for _, must := range []string{"temporal_worker_task_slots_available", "temporal_request_failure_total", "temporal_activity_schedule_to_start_latency_seconds_bucket"} {
		if !out[must] {
			t.Fatalf("reading the SDK's metric names from %s found no %s: the reading is broken", dir, must)
		}
	}
	return out
}

// grafanaDashboard is what the tests read of a dashboard.
type grafanaDashboard struct {
	UID, Title string
	Panels     []grafanaPanel
	Templating struct {
		List []struct {
			Name, Type string
			Query      any
		}
	}
}

type grafanaPanel struct {
	Type       string
	Title      string
	Datasource *struct{ Type, UID string }
	Targets    []struct {
		Expr       string
		Datasource *struct{ Type, UID string }
	}
	Panels []grafanaPanel
}

var (
	metricNameRE = regexp.MustCompile(`\b(?:importer|temporal)_[a-z0-9_]+\b`)
	selectorRE   = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{`)
)

// queries returns every PromQL expression of a dashboard, by where it is.
func (d grafanaDashboard) queries() map[string]string {
	out := map[string]string{}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				out[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		switch q := v.Query.(type) {
		case string:
			if v.Type == "query" {
				out["variable "+v.Name] = q
			}
		case map[string]any:
			if s, ok := q["query"].(string); ok {
				out["variable "+v.Name] = s
			}
		}
	}
	return out
}

func readDashboards(t *testing.T, root string) map[string]grafanaDashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy", "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in deploy/grafana (%v)", err)
	}
	out := map[string]grafanaDashboard{}
	for _, f := range files {
		var d grafanaDashboard
		if err := json.Unmarshal([]byte(readFile(t, f)), &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

func TestDashboardsQueryOnlyMetricsTheWorkerExports(t *testing.T) {
	root := repoRoot(t)
	have := exported(t, root)
	uids := map[string]string{}
	for file, d := range readDashboards(t, root) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q, title %q; want both", file, d.UID, d.Title)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %q", file, other, d.UID)
		}
		uids[d.UID] = file
		hasDatasource := false
		for _, v := range d.Templating.List {
			hasDatasource = hasDatasource || (v.Name == "datasource" && v.Type == "datasource")
		}
		if !hasDatasource {
			t.Errorf("%s has no $datasource variable: it would work with one data source name only", file)
		}
		qs := d.queries()
		if len(qs) == 0 {
			t.Errorf("%s has no query", file)
		}
		used := map[string]bool{}
		for where, q := range qs {
			names := metricNameRE.FindAllString(q, -1)
			if len(names) == 0 {
				t.Errorf("%s %s: %q reads no importer_ or temporal_ metric", file, where, q)
			}
			for _, n := range names {
				used[n] = true
				if !have[n] {
					t.Errorf("%s %s: %s is not a metric the worker exports", file, where, n)
				}
			}
			for _, m := range selectorRE.FindAllStringSubmatch(q, -1) {
				if !metricNameRE.MatchString(m[1]) {
					t.Errorf("%s %s: selects %s, which is neither the importer's nor the SDK's", file, where, m[1])
				}
			}
		}
		var walk func(ps []grafanaPanel)
		walk = func(ps []grafanaPanel) {
			for _, p := range ps {
				if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != "${datasource}") {
					t.Errorf("%s panel %q: data source %+v, want ${datasource}", file, p.Title, p.Datasource)
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		t.Logf("%s reads %d metrics", file, len(used))
		if file == "importer.json" {
			// Every metric of the importer's has a panel, and so do the slots.
			for _, m := range metrics.Catalog() {
				name := m.Name
				if m.Kind == metrics.Histogram {
					name += "_bucket"
				}
				if !used[name] {
					t.Errorf("importer.json has no panel for %s", name)
				}
			}
			if !used["temporal_worker_task_slots_available"] {
				t.Error("importer.json does not show the workers' task slots")
			}
		}
	}
	keys := make([]string, 0, len(uids))
	for k := range uids {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("dashboards: %v", keys)
}
