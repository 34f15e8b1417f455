// Package deploy checks the production topology files (docker-compose.yml,
// Dockerfile, .dockerignore, .env.example and the scripts under deploy/)
// without a Docker engine: compose-go loads docker-compose.yml as docker
// compose does, and the setup scripts run against stand-in temporal,
// temporal-sql-tool and psql commands that record what they were asked to do.
package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	enumspb "go.temporal.io/api/enums/v1"
	"gopkg.in/yaml.v3"

	"importer/activities/vendors"
	"importer/workflows"
)

func TestComposeImagesArePinnedAndMatchGoMod(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	gomod := readFile(t, filepath.Join(root, "go.mod"))
	versionTag := regexp.MustCompile(`^v?[0-9]+(\.[0-9]+)*([-.][0-9A-Za-z.]+)?$`)
	// Every service of every profile (monitoring too).
	for name, s := range loadProfiles(t, root, composeEnv, "*").Services {
		if s.Image == "" {
			if s.Build == nil {
				t.Errorf("service %s has neither image nor build", name)
			}
			continue
		}
		tag := imageTag(s.Image)
		switch {
		case tag == "":
			t.Errorf("service %s: image %q has no tag: every `docker compose pull` may bring another version", name, s.Image)
		case tag == "latest" || !versionTag.MatchString(tag):
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
	}

	r := findRoles(t, p)
	server := imageTag(p.Services[r.server].Image)
	// The schema the admin-tools image applies must be the one the server expects.
	for _, job := range []string{r.schema, r.setup} {
		if got := imageTag(p.Services[job].Image); got != server {
			t.Errorf("service %s runs admin-tools %s but the server is %s: the schema would not match", job, got, server)
		}
	}
	// The importer's database job runs the psql of the server it talks to.
	if got, want := p.Services[r.importerDB].Image, p.Services[r.postgres].Image; got != want {
		t.Errorf("service %s runs %s but PostgreSQL is %s: pull one image, and a psql that knows the server", r.importerDB, got, want)
	}
	if want := requiredVersion(gomod, "go.temporal.io/server"); majorMinor(server) != majorMinor(want) {
		t.Errorf("temporalio/server:%s, but go.mod requires go.temporal.io/server %s (the version the code is tested with)", server, want)
	}
	ui := imageTag(p.Services[r.ui].Image)
	if want := requiredVersion(gomod, "github.com/temporalio/ui-server/v2"); majorMinor(ui) != majorMinor(want) {
		t.Errorf("temporalio/ui:%s, but go.mod requires ui-server %s (the UI of worker --dev)", ui, want)
	}
}

func TestComposeStartsEachServiceAfterWhatItNeeds(t *testing.T) {
	p := loadProject(t, repoRoot(t), composeEnv)
	r := findRoles(t, p)
	const healthy, done = types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully
	want := map[string]map[string]string{
		r.schema:     {r.postgres: healthy},
		r.server:     {r.schema: done},
		r.setup:      {r.server: healthy},
		r.ui:         {r.server: healthy},
		r.importerDB: {r.postgres: healthy},
		// The worker needs the namespace and search attributes, not only a
		// server; its own database, created; and the bucket, created.
		r.worker: {r.server: healthy, r.setup: done, r.importerDB: done, r.objectStore: healthy},
	}
	for name, s := range p.Services {
		got := map[string]string{}
		for dep, d := range s.DependsOn {
			got[dep] = d.Condition
		}
		for dep, cond := range want[name] {
			if got[dep] != cond {
				t.Errorf("service %s: depends_on %s should be condition %s, is %q", name, dep, cond, got[dep])
			}
		}
		for dep, cond := range got {
			if cond != healthy && cond != done {
				t.Errorf("service %s: depends_on %s with condition %s starts it before %s is usable", name, dep, cond, dep)
			}
		}
	}
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == done {
				if r := p.Services[dep].Restart; r != types.RestartPolicyNo && r != "" {
					t.Errorf("%s waits for one-shot job %s to complete, but %s has restart: %s", name, dep, dep, r)
				}
			}
		}
	}
	pg := p.Services[r.postgres].HealthCheck
	if !healthcheckDefined(pg) || !strings.Contains(fmt.Sprint(pg.Test), "pg_isready") {
		t.Errorf("postgres healthcheck should use pg_isready, is %v", pg)
	}
	for _, name := range []string{r.postgres, r.server, r.ui, r.objectStore, r.worker} {
		if got := p.Services[name].Restart; got != types.RestartPolicyUnlessStopped {
			t.Errorf("long-running service %s: restart is %q, want unless-stopped", name, got)
		}
	}
}

// A service that others wait on to be healthy must have a health check: compose
// refuses to start them otherwise.
func TestComposeHealthyMeansAHealthCheck(t *testing.T) {
	p := loadProject(t, repoRoot(t), composeEnv)
	waited := 0
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				continue
			}
			waited++
			if !healthcheckDefined(p.Services[dep].HealthCheck) {
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
	if waited == 0 {
		t.Error("no service waits for another to be healthy; the check is broken")
	}
}

func TestComposeWorkerEnvironment(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	r := findRoles(t, p)
	w := p.Services[r.worker]
	if w.Build == nil || w.Build.Context != root {
		t.Errorf("worker build = %+v, want the repository root as context (the Dockerfile there)", w.Build)
	}

	// A developer who runs the starter on this machine exports
	// TEMPORAL_ADDRESS=localhost:7233; inside the container that would be the
	// worker itself.
	for _, vars := range []map[string]string{composeEnv, withEnv("TEMPORAL_ADDRESS", "localhost:7233")} {
		got := serviceEnv(loadProject(t, root, vars).Services[r.worker])
		if want := r.server + ":7233"; got["TEMPORAL_ADDRESS"] != want {
			t.Errorf("with %v: worker TEMPORAL_ADDRESS = %q, want %q", vars, got["TEMPORAL_ADDRESS"], want)
		}
	}
	cloud := serviceEnv(loadProject(t, root, withEnv(
		"WORKER_TEMPORAL_ADDRESS", "ns.acct.tmprl.cloud:7233", "TEMPORAL_NAMESPACE", "ns.acct")).Services[r.worker])
	if cloud["TEMPORAL_ADDRESS"] != "ns.acct.tmprl.cloud:7233" || cloud["TEMPORAL_NAMESPACE"] != "ns.acct" {
		t.Errorf("WORKER_TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE in .env should point the worker at Cloud; got %v", cloud)
	}

	vars := serviceEnv(w)
	setup := serviceEnv(p.Services[r.setup])
	if vars["TEMPORAL_NAMESPACE"] == "" || vars["TEMPORAL_NAMESPACE"] != setup["TEMPORAL_NAMESPACE"] {
		t.Errorf("worker namespace %q is not the one the setup job creates (%q)", vars["TEMPORAL_NAMESPACE"], setup["TEMPORAL_NAMESPACE"])
	}
	dataDir := vars["IMPORTER_DATA_DIR"]
	if dataDir == "" {
		t.Fatal("worker has no IMPORTER_DATA_DIR: it would write under its working directory")
	}
	// Scratch on a tmpfs of each replica: the image declares VOLUME /data, which
	// would otherwise give each container an anonymous volume that compose
	// carries over to the next container.
	if !onTmpfs(w, dataDir) {
		t.Errorf("IMPORTER_DATA_DIR=%s is not a tmpfs of the worker (tmpfs %v, volumes %v)", dataDir, w.Tmpfs, w.Volumes)
	}

	// Credentials come from .env, never from the compose file; and the file
	// must be optional or compose refuses to start without it.
	optional := slices.ContainsFunc(w.EnvFiles, func(f types.EnvFile) bool {
		return f.Path == filepath.Join(root, ".env") && !bool(f.Required)
	})
	if !optional {
		t.Errorf("worker env_file = %+v, want .env with required: false", w.EnvFiles)
	}
	if w.StopGracePeriod == nil || time.Duration(*w.StopGracePeriod) <= 10*time.Second {
		// workerrun gives running chunks 10 s after SIGTERM; compose's default
		// 10 s grace would kill them first.
		t.Errorf("worker stop_grace_period = %v, want more than the worker's 10 s drain", w.StopGracePeriod)
	}
	if len(w.Ports) > 0 {
		t.Errorf("worker publishes %v; it needs no inbound port, and a fixed host port allows one replica only", w.Ports)
	}
}

// onTmpfs reports whether dir is (under) a tmpfs of the service, in either
// of compose's forms (tmpfs: or a volume of type tmpfs).
func onTmpfs(s types.ServiceConfig, dir string) bool {
	under := func(target string) bool {
		target = strings.TrimSuffix(target, "/")
		return dir == target || strings.HasPrefix(dir, target+"/")
	}
	for _, m := range s.Tmpfs {
		target, _, _ := strings.Cut(m, ":")
		if under(target) {
			return true
		}
	}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeTmpfs && under(v.Target) {
			return true
		}
	}
	return false
}

// secretName matches the environment variables that hold credentials.
var secretName = regexp.MustCompile(`(?i)(_KEY|_KEYS|_TOKEN|_TOKENS|_SECRET|PASSWORD|_PWD)$`)

// Credentials live in .env only: docker-compose.yml refers to them, and
// compose refuses to start without them rather than fall back to a default.
func TestComposeCredentialsComeFromEnv(t *testing.T) {
	root := repoRoot(t)
	vars := composeVariables(t, root)
	for name, v := range vars {
		if secretName.MatchString(name) && (!v.Required || v.DefaultValue != "") {
			t.Errorf("${%s} is a credential but not required (${%s:?...}): compose would start with a default", name, name)
		}
	}

	// Load with each variable set to a marker of its own name: a credential
	// that is not exactly one variable's marker is written in the file.
	marked := map[string]string{}
	for name := range vars {
		marked[name] = "fromenv" + strings.ToLower(strings.ReplaceAll(name, "_", ""))
	}
	isMarker := func(v string) bool {
		for name, m := range marked {
			if v == m && vars[name].Required {
				return true
			}
		}
		return false
	}
	p := loadProject(t, root, marked)
	for name, s := range p.Services {
		for k, v := range serviceEnv(s) {
			if secretName.MatchString(k) && !isMarker(v) {
				t.Errorf("service %s: %s=%q is written in docker-compose.yml; refer to a required variable from .env instead", name, k, v)
			}
			// A password inside a URL (user:password@host) counts as well.
			if u, err := url.Parse(v); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && !isMarker(pw) {
					t.Errorf("service %s: %s has the password %q written in docker-compose.yml; refer to a required variable from .env instead", name, k, pw)
				}
			}
		}
	}
}

// Each required variable stops compose when it is missing, with a message
// that says where to set it.
func TestComposeRefusesToStartWithoutRequiredValues(t *testing.T) {
	root := repoRoot(t)
	vars := composeVariables(t, root)
	for name, v := range vars {
		if !v.Required {
			continue
		}
		if _, ok := composeEnv[name]; !ok {
			t.Errorf("docker-compose.yml requires %s, which composeEnv (the tests' .env) lacks", name)
			continue
		}
		env := maps.Clone(composeEnv)
		delete(env, name)
		_, err := tryLoadProject(root, env)
		if err == nil {
			t.Errorf("without %s compose starts: a default would be used", name)
			continue
		}
		// compose reports every value that fails, one a line, each ending in
		// the message the file gives: ${NAME:?message}.
		named := false
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.Contains(line, name) {
				continue
			}
			named = true
			if _, msg, _ := strings.Cut(line, "missing a value:"); !strings.Contains(msg, ".env") {
				t.Errorf("without %s: %s (the message should say to set it in .env)", name, line)
			}
		}
		if !named {
			t.Errorf("without %s: %v (the message should name %s)", name, err, name)
		}
	}

	p := loadProject(t, root, composeEnv)
	r := findRoles(t, p)
	// Every service that logs in to PostgreSQL as its administrator needs the
	// password, and they all get the same one.
	for _, name := range []string{r.postgres, r.schema, r.server, r.importerDB} {
		if v := serviceVariables(t, root, name)["POSTGRES_PASSWORD"]; !v.Required {
			t.Errorf("service %s starts without POSTGRES_PASSWORD: a default password would be used", name)
		}
	}
	pg := serviceEnv(p.Services[r.postgres])
	schema := serviceEnv(p.Services[r.schema])
	server := serviceEnv(p.Services[r.server])
	job := serviceEnv(p.Services[r.importerDB])
	if pg["POSTGRES_PASSWORD"] != composeEnv["POSTGRES_PASSWORD"] || schema["SQL_PASSWORD"] != pg["POSTGRES_PASSWORD"] ||
		server["POSTGRES_PWD"] != pg["POSTGRES_PASSWORD"] || job["PGPASSWORD"] != pg["POSTGRES_PASSWORD"] {
		t.Errorf("database passwords disagree: postgres %q, schema job %q, server %q, importer database job %q",
			pg["POSTGRES_PASSWORD"], schema["SQL_PASSWORD"], server["POSTGRES_PWD"], job["PGPASSWORD"])
	}
}

func TestComposeServerUIAndPorts(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	r := findRoles(t, p)
	pg := serviceEnv(p.Services[r.postgres])
	server := serviceEnv(p.Services[r.server])
	ui := serviceEnv(p.Services[r.ui])

	checks := []struct{ what, got, want string }{
		{"server DB (persistence plugin)", server["DB"], "postgres12"},
		{"server POSTGRES_SEEDS", server["POSTGRES_SEEDS"], r.postgres},
		{"server POSTGRES_USER", server["POSTGRES_USER"], pg["POSTGRES_USER"]},
		{"server BIND_ON_IP (reachable from the other containers)", server["BIND_ON_IP"], "0.0.0.0"},
		{"UI TEMPORAL_ADDRESS", ui["TEMPORAL_ADDRESS"], r.server + ":7233"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
		}
	}

	// The server refuses to start without its dynamic config file.
	dc := server["DYNAMIC_CONFIG_FILE_PATH"]
	host := mountSource(p.Services[r.server], dc)
	if dc == "" || host == "" || !inRepository(root, host) {
		t.Fatalf("DYNAMIC_CONFIG_FILE_PATH %q is not bind-mounted from the repository", dc)
	}
	var dyn map[string][]map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, host)), &dyn); err != nil {
		t.Fatalf("%s: not a dynamic config (key: list of {value, constraints}): %v", host, err)
	}
	for k, vals := range dyn {
		for _, v := range vals {
			if _, ok := v["value"]; !ok {
				t.Errorf("%s: %s has an entry without value", host, k)
			}
		}
	}

	// Published ports: the UI and the frontend, for people on this machine; nothing else.
	published := map[string]string{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" || port.Published == "" {
				t.Errorf("service %s publishes %+v; publish on 127.0.0.1 only (no auth in front of it)", name, port)
				continue
			}
			published[name] = fmt.Sprintf("%s->%d", port.Published, port.Target)
		}
	}
	want := map[string]string{r.ui: "8080->" + ui["TEMPORAL_UI_PORT"], r.server: "7233->7233"}
	if fmt.Sprint(published) != fmt.Sprint(want) {
		t.Errorf("published ports = %v, want %v", published, want)
	}

	// Bind mounts come from the repository, named volumes are declared, and
	// every declared one is used, by the services of some profile.
	used := map[string]bool{}
	for name, s := range loadProfiles(t, root, composeEnv, "*").Services {
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil || !inRepository(root, v.Source) {
					t.Errorf("service %s mounts %s, which is not in the repository", name, v.Source)
				}
			case types.VolumeTypeVolume:
				used[v.Source] = true
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("service %s uses volume %s, which is not declared under volumes:", name, v.Source)
				}
			}
		}
	}
	for v := range p.Volumes {
		if !used[v] {
			t.Errorf("volume %s is declared but no service mounts it", v)
		}
	}
	if !slices.ContainsFunc(p.Services[r.postgres].Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/postgresql/data"
	}) {
		t.Error("PostgreSQL data is not on a volume: the cluster's state would go with the container")
	}
}

// --- the setup scripts, run against stand-in commands -----------------------

// fakeTemporal stands in for the temporal CLI: it records each call (one
// line, arguments separated by \x1f) and answers per FAKE_* variables.
const fakeTemporal = `#!/bin/sh
{ for a in "$@"; do printf '%s\037' "$a"; done; printf '\n'; } >> "$FAKE_DIR/calls"
case "$1 $2 $3" in
"operator cluster health")
	n=$(cat "$FAKE_DIR/health" 2>/dev/null || echo 0)
	n=$((n + 1))
	echo "$n" > "$FAKE_DIR/health"
	if [ "$n" -le "${FAKE_HEALTH_FAILS:-0}" ]; then echo "not serving" >&2; exit 1; fi
	echo SERVING ;;
"operator namespace describe")
	if [ "${FAKE_NS_EXISTS:-0}" != 1 ]; then echo "Namespace not found" >&2; exit 1; fi ;;
"operator namespace create") ;;
"operator search-attribute create")
	if [ "${FAKE_SA_FAILS:-0}" = 1 ]; then echo "unable to add search attributes" >&2; exit 1; fi ;;
*) echo "fake temporal: unexpected call: $*" >&2; exit 3 ;;
esac
`

// fakeSQLTool stands in for temporal-sql-tool: it records its arguments and
// the SQL_* connection it was given, and fails when its arguments contain
// FAKE_FAIL_ON.
const fakeSQLTool = `#!/bin/sh
{ for a in "$@"; do printf '%s\037' "$a"; done
  printf 'env=%s,%s,%s,%s,%s\n' "$SQL_PLUGIN" "$SQL_HOST" "$SQL_PORT" "$SQL_USER" "$SQL_PASSWORD"; } >> "$FAKE_DIR/calls"
case "$*" in
*"${FAKE_FAIL_ON:-@never@}"*) echo "pq: connection refused" >&2; exit 1 ;;
esac
`

type scriptRun struct {
	calls  [][]string // arguments of each recorded call
	err    error
	output string
}

// runJob runs a compose service's entrypoint script as the container would
// (the script from its bind mount, the service's environment), with the
// stand-in command first on PATH.
func runJob(t *testing.T, root string, s types.ServiceConfig, fakeName, fakeBody string, extra map[string]string) scriptRun {
	t.Helper()
	if len(s.Entrypoint) != 2 || s.Entrypoint[0] != "/bin/sh" {
		t.Fatalf("entrypoint %v: want [/bin/sh, <script>]", s.Entrypoint)
	}
	script := mountSource(s, s.Entrypoint[1])
	if script == "" || !inRepository(root, script) {
		t.Fatalf("the job's script %s is not bind-mounted from the repository (volumes %v)", s.Entrypoint[1], s.Volumes)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, fakeName), []byte(fakeBody), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH"), "FAKE_DIR=" + dir}
	for k, v := range serviceEnv(s) {
		env = append(env, k+"="+v)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	// A safety net only: a script stuck in a retry loop fails the test
	// instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", script)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var run scriptRun
	run.err, run.output = err, string(out)
	if b, rerr := os.ReadFile(filepath.Join(dir, "calls")); rerr == nil {
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			run.calls = append(run.calls, strings.Split(line, "\x1f"))
		}
	} else if !errors.Is(rerr, os.ErrNotExist) {
		t.Fatal(rerr)
	}
	return run
}

// flagValues collects the values of every occurrence of a flag.
func flagValues(args []string, flag string) []string {
	var out []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			out = append(out, args[i+1])
		}
	}
	return out
}

func verb(call []string) string {
	if len(call) < 3 {
		return strings.Join(call, " ")
	}
	return strings.Join(call[:3], " ")
}

func TestSetupJobRegistersExactlyTheWorkflowSearchAttributes(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	r := findRoles(t, p)
	job := p.Services[r.setup]

	// A server that is not serving yet, and a namespace that does not exist.
	run := runJob(t, root, job, "temporal", fakeTemporal, map[string]string{"FAKE_HEALTH_FAILS": "2", "SETUP_RETRY_SECONDS": "0"})
	if run.err != nil {
		t.Fatalf("setup job failed: %v\n%s", run.err, run.output)
	}
	var verbs []string
	for _, call := range run.calls {
		verbs = append(verbs, verb(call))
		if got := flagValues(call, "--address"); len(got) != 1 || got[0] != r.server+":7233" {
			t.Errorf("%v: --address %v, want %s:7233", call, got, r.server)
		}
	}
	want := []string{
		"operator cluster health", "operator cluster health", "operator cluster health",
		"operator namespace describe", "operator namespace create", "operator search-attribute create",
	}
	if !slices.Equal(verbs, want) {
		t.Fatalf("calls = %v, want %v\n%s", verbs, want, run.output)
	}
	ns := serviceEnv(job)["TEMPORAL_NAMESPACE"]
	create := run.calls[4]
	if got := flagValues(create, "--namespace"); len(got) != 1 || got[0] != ns {
		t.Errorf("namespace create %v: want --namespace %s", create, ns)
	}
	if got := flagValues(create, "--retention"); len(got) != 1 {
		t.Errorf("namespace create %v: want one --retention", create)
	} else if d, err := time.ParseDuration(got[0]); err != nil || d < 24*time.Hour {
		t.Errorf("namespace retention %q: want a duration of at least a day", got[0])
	}

	sa := run.calls[5]
	if got := flagValues(sa, "--namespace"); len(got) != 1 || got[0] != ns {
		t.Errorf("search-attribute create %v: want --namespace %s", sa, ns)
	}
	names, types := flagValues(sa, "--name"), flagValues(sa, "--type")
	if len(names) != len(types) {
		t.Fatalf("search-attribute create %v: %d names but %d types", sa, len(names), len(types))
	}
	registered := map[string]enumspb.IndexedValueType{}
	for i, n := range names {
		typ, err := enumspb.IndexedValueTypeFromString(types[i])
		if err != nil {
			t.Errorf("search attribute %s: type %q is not one the CLI accepts: %v", n, types[i], err)
		}
		registered[n] = typ
	}
	expected := workflows.SearchAttributes()
	for n, typ := range expected {
		if got, ok := registered[n]; !ok {
			t.Errorf("the setup job does not register %s, which workflows set (add it to SEARCH_ATTRIBUTES in docker-compose.yml)", n)
		} else if got != typ {
			t.Errorf("search attribute %s registered as %v, workflows use %v", n, got, typ)
		}
	}
	for n := range registered {
		if _, ok := expected[n]; !ok {
			t.Errorf("the setup job registers %s, which workflows.SearchAttributes() does not list", n)
		}
	}
}

func TestSetupJobRerunsAndFailures(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	job := p.Services[findRoles(t, p).setup]

	t.Run("namespace exists", func(t *testing.T) {
		run := runJob(t, root, job, "temporal", fakeTemporal, map[string]string{"FAKE_NS_EXISTS": "1", "SETUP_RETRY_SECONDS": "0"})
		if run.err != nil {
			t.Fatalf("rerun failed: %v\n%s", run.err, run.output)
		}
		for _, call := range run.calls {
			if verb(call) == "operator namespace create" {
				t.Errorf("an existing namespace was created again: %v", call)
			}
		}
		if v := verb(run.calls[len(run.calls)-1]); v != "operator search-attribute create" {
			t.Errorf("last call %q: search attributes must still be registered on a rerun", v)
		}
	})
	t.Run("server never healthy", func(t *testing.T) {
		run := runJob(t, root, job, "temporal", fakeTemporal, map[string]string{
			"FAKE_HEALTH_FAILS": "1000", "SETUP_ATTEMPTS": "3", "SETUP_RETRY_SECONDS": "0"})
		if run.err == nil {
			t.Fatal("the job succeeded against a server that never became healthy; the worker would start against it")
		}
		if len(run.calls) != 3 {
			t.Errorf("%d calls, want 3 health checks and nothing else; the first: %v", len(run.calls), run.calls[:min(len(run.calls), 5)])
		}
		if !strings.Contains(run.output, "cluster health") {
			t.Errorf("output does not say what failed:\n%s", run.output)
		}
	})
	t.Run("search attributes refused", func(t *testing.T) {
		run := runJob(t, root, job, "temporal", fakeTemporal, map[string]string{
			"FAKE_SA_FAILS": "1", "SETUP_ATTEMPTS": "2", "SETUP_RETRY_SECONDS": "0"})
		if run.err == nil {
			t.Fatal("the job succeeded although the search attributes were refused")
		}
		if !strings.Contains(run.output, "search attributes") {
			t.Errorf("output does not say what failed:\n%s", run.output)
		}
	})
	t.Run("malformed list", func(t *testing.T) {
		run := runJob(t, root, job, "temporal", fakeTemporal, map[string]string{
			"FAKE_NS_EXISTS": "1", "SETUP_RETRY_SECONDS": "0", "SEARCH_ATTRIBUTES": "ImporterVendor=Keyword ImporterSource"})
		if run.err == nil {
			t.Fatal("an entry without a type was accepted")
		}
		for _, call := range run.calls {
			if verb(call) == "operator search-attribute create" {
				t.Errorf("search attributes were sent from a malformed list: %v", call)
			}
		}
	})
}

func TestSchemaJobMigratesBothDatabases(t *testing.T) {
	root := repoRoot(t)
	p := loadProject(t, root, composeEnv)
	r := findRoles(t, p)
	job := p.Services[r.schema]
	pg := serviceEnv(p.Services[r.postgres])
	server := serviceEnv(p.Services[r.server])

	run := runJob(t, root, job, "temporal-sql-tool", fakeSQLTool, nil)
	if run.err != nil {
		t.Fatalf("schema job failed: %v\n%s", run.err, run.output)
	}
	wantEnv := "env=postgres12," + r.postgres + ",5432," + pg["POSTGRES_USER"] + "," + pg["POSTGRES_PASSWORD"]
	type step struct{ db, args string }
	var got []step
	for _, call := range run.calls {
		last := call[len(call)-1]
		if last != wantEnv {
			t.Errorf("%v connected with %s, want %s (the PostgreSQL service and its credentials)", call[:len(call)-1], last, wantEnv)
		}
		args := call[:len(call)-1]
		db := flagValues(args, "--database")
		if len(db) != 1 {
			t.Fatalf("%v: want one --database", args)
		}
		rest := slices.DeleteFunc(slices.Clone(args), func(s string) bool { return s == "--database" || s == db[0] })
		got = append(got, step{db[0], strings.Join(rest, " ")})
	}
	// The databases the server reads are the ones the job prepares, each
	// created, versioned and brought up to date, in that order.
	var want []step
	for _, d := range []struct{ db, schema string }{
		{server["DBNAME"], "postgresql/v12/temporal"},
		{server["VISIBILITY_DBNAME"], "postgresql/v12/visibility"},
	} {
		want = append(want,
			step{d.db, "create-database"},
			step{d.db, "setup-schema --version 0.0"},
			step{d.db, "update-schema --schema-name " + d.schema})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("schema steps:\n got %v\nwant %v", got, want)
	}

	// A failing step fails the job, so the server never starts on a half-made schema.
	fail := runJob(t, root, job, "temporal-sql-tool", fakeSQLTool, map[string]string{"FAKE_FAIL_ON": "postgresql/v12/temporal"})
	if fail.err == nil {
		t.Fatal("the schema job succeeded although update-schema failed")
	}
	for _, call := range fail.calls {
		if slices.Contains(call, server["VISIBILITY_DBNAME"]) {
			t.Errorf("the job went on after a failed step: %v", call)
		}
	}
}

// --- Dockerfile and .dockerignore -------------------------------------------

func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	stages, err := parseDockerfile(readFile(t, filepath.Join(root, "Dockerfile")))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s); want a build stage and a small runtime stage", len(stages))
	}
	names := map[string]bool{}
	for _, st := range stages {
		if st.name != "" {
			names[st.name] = true
		}
	}
	for _, st := range stages {
		if names[st.image] {
			continue
		}
		if tag := imageTag(st.image); tag == "" || tag == "latest" {
			t.Errorf("FROM %s: pin a tag", st.image)
		}
		for _, in := range st.body {
			if in.cmd == "ADD" && regexp.MustCompile(`(?i)(https?|git)://|git@`).MatchString(in.args) {
				t.Errorf("line %d: ADD of a remote source (%s): unverified content in the image", in.line, in.args)
			}
			if in.cmd == "ENV" || in.cmd == "ARG" {
				if regexp.MustCompile(`(?i)(KEYS?|TOKENS?|SECRETS?|PASSWORD|PWD)\b`).MatchString(in.args) {
					t.Errorf("line %d: %s %s looks like a secret baked into the image", in.line, in.cmd, in.args)
				}
			}
		}
	}

	// The build stage: the Go go.mod asks for, static binaries, modules in their own layer.
	build := stages[0]
	gomod := readFile(t, filepath.Join(root, "go.mod"))
	goVersion := goDirective(gomod)
	if repo := imageRepo(build.image); repo != "golang" {
		t.Fatalf("first stage builds from %s, want golang", build.image)
	}
	tagVersion, _, _ := strings.Cut(imageTag(build.image), "-")
	if tagVersion != goVersion {
		t.Errorf("build image %s has Go %s, but go.mod says go %s", build.image, tagVersion, goVersion)
	}
	var cgoOff, modLayer, sawSource bool
	var buildRun string
	for _, in := range build.body {
		switch {
		case in.cmd == "ENV" && regexp.MustCompile(`\bCGO_ENABLED=0\b`).MatchString(in.args):
			cgoOff = true
		case in.cmd == "COPY" && strings.Fields(in.args)[0] == ".":
			sawSource = true
		case in.cmd == "COPY" && strings.Contains(in.args, "go.mod") && strings.Contains(in.args, "go.sum"):
			if sawSource {
				t.Errorf("line %d: go.mod and go.sum are copied after the source", in.line)
			}
		case in.cmd == "RUN" && strings.Contains(in.args, "go mod download"):
			modLayer = !sawSource
		case in.cmd == "RUN" && strings.Contains(in.args, "go build"):
			buildRun = in.args
			if strings.Contains(in.args, "CGO_ENABLED=0") {
				cgoOff = true
			}
		}
	}
	if !cgoOff {
		t.Error("the build stage does not set CGO_ENABLED=0: the binaries would need a C library the runtime stage lacks")
	}
	if !modLayer {
		t.Error("no `go mod download` between copying go.mod/go.sum and the source: every change re-downloads every module")
	}
	for _, want := range []string{"-trimpath", "./worker", "./starter"} {
		if !strings.Contains(buildRun, want) {
			t.Errorf("go build %q lacks %s", buildRun, want)
		}
	}

	// The runtime stage: non-root, only the two binaries, /data writable by its user.
	final := stages[len(stages)-1]
	var user, entrypoint, dataOwner string
	var copied []string
	for _, in := range final.body {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			f := strings.Fields(in.args)
			var from, chown string
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				if v, ok := strings.CutPrefix(f[0], "--from="); ok {
					from = v
				}
				if v, ok := strings.CutPrefix(f[0], "--chown="); ok {
					chown = v
				}
				f = f[1:]
			}
			if from != build.name {
				t.Errorf("line %d: runtime stage copies from %q, not from the build stage", in.line, from)
			}
			if len(f) > 0 && f[len(f)-1] == "/data" {
				dataOwner = chown
				continue
			}
			for _, src := range f[:len(f)-1] {
				copied = append(copied, filepath.Base(src))
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" {
		t.Errorf("runtime stage runs as %q; want a non-root USER", user)
	}
	if dataOwner == "" || strings.Split(dataOwner, ":")[0] != uid {
		t.Errorf("/data is owned by %q, not by the runtime user %q: the worker could not write rejects", dataOwner, user)
	}
	slices.Sort(copied)
	if !slices.Equal(copied, []string{"starter", "worker"}) {
		t.Errorf("runtime stage copies %v; want only the worker and starter binaries", copied)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || !slices.Equal(ep, []string{"/usr/local/bin/worker"}) {
		t.Errorf("ENTRYPOINT %s; want the exec form [\"/usr/local/bin/worker\"] so SIGTERM reaches the worker", entrypoint)
	}
}

// goList runs `go list` in the repository.
func goList(t *testing.T, root string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

type listedPackage struct {
	ImportPath, Dir string
	GoFiles         []string
	EmbedFiles      []string
}

// workerSources lists the repository's packages that the worker and starter
// binaries are built from.
func workerSources(t *testing.T, root string) []listedPackage {
	t.Helper()
	out := goList(t, root, "-deps", "-json=ImportPath,Dir,GoFiles,EmbedFiles", "./worker", "./starter")
	dec := json.NewDecoder(bytes.NewReader(out))
	var pkgs []listedPackage
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.ImportPath == "importer" || strings.HasPrefix(p.ImportPath, "importer/") {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found none of the repository's packages in the worker")
	}
	return pkgs
}

func TestDockerignoreKeepsTheBuildAndDropsTheRest(t *testing.T) {
	root := repoRoot(t)
	rules := parseDockerignore(readFile(t, filepath.Join(root, ".dockerignore")))
	keep := []string{"go.mod", "go.sum"}
	for _, p := range workerSources(t, root) {
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(slices.Clone(p.GoFiles), p.EmbedFiles...) {
			keep = append(keep, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	for _, f := range keep {
		if ignored(rules, f) {
			t.Errorf(".dockerignore drops %s, which the build needs", f)
		}
	}
	for _, f := range []string{
		".git/HEAD", ".importer/temporal.db", ".importer/rejects/x.ndjson", "wt/compose/go.mod",
		".env", "testsuite/histories/import-nebuly.json", "activities/nebuly/client_test.go",
		"activities/source/testdata/big.csv", "worker/worker",
	} {
		if !ignored(rules, f) {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
}

// --- .env.example -------------------------------------------------------------

func TestEnvExampleListsWhatTheWorkerReads(t *testing.T) {
	root := repoRoot(t)
	assigned, commented := envExample(readFile(t, filepath.Join(root, ".env.example")))
	for k, v := range assigned {
		if v != "" {
			t.Errorf(".env.example sets %s=%s; every value there must be empty (it is committed)", k, v)
		}
	}
	listed := func(k string) bool { _, ok := assigned[k]; return ok || commented[k] }

	// Every variable docker-compose.yml interpolates is explained, and the
	// required ones are ready to fill in.
	for name, v := range composeVariables(t, root) {
		if !listed(name) {
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example does not mention", name)
		}
		if _, ok := assigned[name]; v.Required && !ok {
			t.Errorf("docker-compose.yml requires %s; .env.example should have an uncommented %s= line", name, name)
		}
	}

	// Every IMPORTER_* name written in the worker's code.
	pkgs := workerSources(t, root)
	nameRE := regexp.MustCompile(`\bIMPORTER_[A-Z0-9_]*[A-Z0-9]\b`)
	settings := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.GoFiles {
			lits, calls := stringLiterals(t, filepath.Join(p.Dir, f))
			for _, lit := range lits {
				for _, name := range nameRE.FindAllString(lit, -1) {
					// The starter's own setting, not the worker's.
					if name == "IMPORTER_UI_URL" {
						continue
					}
					if !listed(name) {
						t.Errorf("%s names %s, which .env.example does not list", filepath.Join(p.ImportPath, f), name)
					}
				}
			}
			for _, s := range calls {
				settings[s] = true
			}
		}
	}
	// Connection settings are read as conn.Require("API_KEY") and so on, and
	// live in IMPORTER_<VENDOR>_<SETTING>.
	vendors := vendors.Names()
	for s := range settings {
		found := false
		for _, v := range vendors {
			found = found || listed("IMPORTER_"+strings.ToUpper(v)+"_"+s)
		}
		if !found {
			t.Errorf("vendors read connection setting %s, but no IMPORTER_<VENDOR>_%s is in .env.example", s, s)
		}
	}
	if len(settings) == 0 {
		t.Error("found no connection settings in the worker's code; the scan is broken")
	}
	for _, v := range vendors {
		if name := "IMPORTER_" + strings.ToUpper(v) + "_BASE_URL"; !listed(name) {
			t.Errorf("vendor %s has no section in .env.example (%s)", v, name)
		}
	}
}

// stringLiterals returns the string literals of a Go file, and the literal
// arguments of .Require("X"), .Get("X") and .GetOr("X", ...) calls whose
// argument is an upper-case setting name.
func stringLiterals(t *testing.T, path string) (lits, settings []string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	file := fset.AddFile(path, -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0)
	settingRE := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	var prev [3]string // the last tokens: ".", method name, "("
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.STRING {
			if v, err := strconv.Unquote(lit); err == nil {
				lits = append(lits, v)
				if prev[0] == "." && (prev[1] == "Require" || prev[1] == "Get" || prev[1] == "GetOr") && prev[2] == "(" && settingRE.MatchString(v) {
					settings = append(settings, v)
				}
			}
		}
		text := lit
		if text == "" {
			text = tok.String()
		}
		prev = [3]string{prev[1], prev[2], text}
	}
	return lits, settings
}

// Each worker replica's health is its readiness probe (polling, and the
// store reached), asked by the worker binary itself on the port its
// metrics listen on: the image has no shell.
func TestComposeWorkersAreHealthyWhenTheirReadinessProbeSaysSo(t *testing.T) {
	p := loadProject(t, repoRoot(t), composeEnv)
	w := p.Services["worker"]
	if !healthcheckDefined(w.HealthCheck) {
		t.Fatal("the worker has no healthcheck")
	}
	test := w.HealthCheck.Test
	if len(test) != 4 || test[0] != "CMD" || test[1] != "/usr/local/bin/worker" || test[2] != "probe" {
		t.Fatalf("worker healthcheck %q; want [CMD /usr/local/bin/worker probe URL]", test)
	}
	listen := w.Environment["IMPORTER_METRICS_LISTEN"]
	if listen == nil {
		t.Fatal("the worker does not set IMPORTER_METRICS_LISTEN")
	}
	_, port, err := net.SplitHostPort(*listen)
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://127.0.0.1:" + port + "/readyz"; test[3] != want {
		t.Fatalf("the worker's probe asks %s; want %s, its readiness on its metrics port", test[3], want)
	}
}
