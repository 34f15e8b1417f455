package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
)

// repoRoot is the directory of the importer module's go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(string(b)) == "importer" {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of module importer above the test's directory")
		}
		dir = parent
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// --- go.mod ---------------------------------------------------------------

func modulePath(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1]
		}
	}
	return ""
}

// goDirective returns the version of go.mod's go line ("1.26.8").
func goDirective(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "go" {
			return f[1]
		}
	}
	return ""
}

// requiredVersion returns the version go.mod requires of a module path.
func requiredVersion(gomod, path string) string {
	for _, line := range strings.Split(gomod, "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	return ""
}

// majorMinor turns "v1.32.1", "1.32.1" or "1.32" into "1.32".
func majorMinor(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[0] + "." + parts[1]
}

// --- docker-compose.yml ---------------------------------------------------

// composeEnv is what a user has after `cp .env.example .env` and filling in
// the required values: the variables compose interpolates the file with.
var composeEnv = map[string]string{
	"POSTGRES_PASSWORD":     "s3cret-pw",
	"IMPORTER_DB_PASSWORD":  "importer-pw",
	"AWS_ACCESS_KEY_ID":     "store-access-key",
	"AWS_SECRET_ACCESS_KEY": "store-secret-key",
}

// withEnv returns composeEnv with the given variables added or replaced.
func withEnv(kv ...string) map[string]string {
	env := maps.Clone(composeEnv)
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func composeDetails(root string, env map[string]string) types.ConfigDetails {
	return types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping(maps.Clone(env)),
	}
}

// tryLoadProject loads docker-compose.yml the way `docker compose up` does,
// with env as the variables of the shell and .env: compose-go parses it,
// validates it against the compose schema, interpolates it, normalises it
// (paths made absolute under root, short forms made long), checks its
// consistency (depends_on and volumes name what exists) and applies profiles
// (none are enabled, as with a plain `up`).
//
// Only the worker's env_file is left unread: .env in the repository is a
// developer's own file, and each service's Environment is then exactly what
// docker-compose.yml sets.
func tryLoadProject(root string, env map[string]string, profiles ...string) (*types.Project, error) {
	return loader.LoadWithContext(context.Background(), composeDetails(root, env), func(o *loader.Options) {
		o.SkipResolveEnvironment = true
		o.Profiles = profiles
	})
}

// loadProfiles is loadProject with profiles enabled, as `docker compose
// --profile NAME up` loads it; "*" enables every profile.
func loadProfiles(t *testing.T, root string, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	p, err := tryLoadProject(root, env, profiles...)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load with profiles %v: %v", profiles, err)
	}
	return p
}

func loadProject(t *testing.T, root string, env map[string]string) *types.Project {
	t.Helper()
	p, err := tryLoadProject(root, env)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load (variables %v): %v", slices.Sorted(maps.Keys(env)), err)
	}
	if len(p.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return p
}

// rawModel is docker-compose.yml as compose parses it, before interpolation.
func rawModel(t *testing.T, root string) map[string]any {
	t.Helper()
	m, err := loader.LoadModelWithContext(context.Background(), composeDetails(root, nil), func(o *loader.Options) {
		o.SkipInterpolation = true
		o.SkipValidation = true
		o.SkipNormalization = true
		o.SkipResolveEnvironment = true
	})
	if err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	return m
}

// composeVariables lists the variables the whole file interpolates, as
// compose reads the ${...} expressions.
func composeVariables(t *testing.T, root string) map[string]template.Variable {
	t.Helper()
	return template.ExtractVariables(rawModel(t, root), template.DefaultPattern)
}

// serviceVariables lists the variables one service's definition interpolates.
func serviceVariables(t *testing.T, root, name string) map[string]template.Variable {
	t.Helper()
	services, _ := rawModel(t, root)["services"].(map[string]any)
	s, ok := services[name].(map[string]any)
	if !ok {
		t.Fatalf("no service %s in the raw model", name)
	}
	return template.ExtractVariables(s, template.DefaultPattern)
}

// serviceEnv returns a service's environment as docker-compose.yml sets it
// (after interpolation); a variable listed without a value is "".
func serviceEnv(s types.ServiceConfig) map[string]string {
	out := make(map[string]string, len(s.Environment))
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		} else {
			out[k] = ""
		}
	}
	return out
}

// healthcheckDefined reports whether a service has a health check that runs
// a test.
func healthcheckDefined(h *types.HealthCheckConfig) bool {
	return h != nil && !h.Disable && len(h.Test) > 1 && h.Test[0] != "NONE"
}

// imageRepo and imageTag split "repo[:tag][@digest]"; a registry port is
// not a tag.
func imageRepo(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

func imageTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ""
}

// roles finds the services by what they run rather than by name, so that a
// rename does not hide a broken wiring from the tests.
type roles struct {
	postgres, schema, server, setup, ui, worker string
	// The job that creates the importer's role and database, and the
	// S3-compatible store of artifacts.
	importerDB, objectStore string
}

// objectStoreImages are the S3-compatible stores the tests recognise.
var objectStoreImages = []string{"chrislusf/seaweedfs", "dxflrs/garage", "minio/minio"}

func findRoles(t *testing.T, p *types.Project) roles {
	t.Helper()
	var r roles
	set := func(slot *string, name, what string) {
		if *slot != "" {
			t.Fatalf("two services run %s: %s and %s", what, *slot, name)
		}
		*slot = name
	}
	for name, s := range p.Services {
		entrypoint := strings.Join(s.Entrypoint, " ")
		switch repo := imageRepo(s.Image); {
		case s.Build != nil:
			set(&r.worker, name, "the importer worker (build)")
		case repo == "postgres" && strings.Contains(entrypoint, "create-database"):
			set(&r.importerDB, name, "the importer database job")
		case repo == "postgres":
			set(&r.postgres, name, "PostgreSQL")
		case repo == "temporalio/server":
			set(&r.server, name, "the Temporal server")
		case repo == "temporalio/ui":
			set(&r.ui, name, "the Temporal UI")
		case repo == "temporalio/admin-tools" && strings.Contains(entrypoint, "setup-schema"):
			set(&r.schema, name, "the schema job")
		case repo == "temporalio/admin-tools" && strings.Contains(entrypoint, "setup-namespace"):
			set(&r.setup, name, "the namespace and search attribute job")
		case slices.Contains(objectStoreImages, repo):
			set(&r.objectStore, name, "an object store")
		}
	}
	for what, name := range map[string]string{
		"PostgreSQL": r.postgres, "the schema job (admin-tools running setup-schema.sh)": r.schema,
		"the Temporal server": r.server, "the setup job (admin-tools running setup-namespace.sh)": r.setup,
		"the Temporal UI": r.ui, "the worker (built from the Dockerfile)": r.worker,
		"the importer database job (postgres running deploy/importer/create-database.sh)": r.importerDB,
		"the object store (one of " + strings.Join(objectStoreImages, ", ") + ")":         r.objectStore,
	} {
		if name == "" {
			t.Fatalf("docker-compose.yml has no service for %s", what)
		}
	}
	return r
}

// mountSource returns the host path that a service's bind mounts put at
// containerPath, or "" when nothing does. compose has made the sources
// absolute.
func mountSource(s types.ServiceConfig, containerPath string) string {
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if containerPath == v.Target {
			return v.Source
		}
		if rest, ok := strings.CutPrefix(containerPath, strings.TrimSuffix(v.Target, "/")+"/"); ok {
			return filepath.Join(v.Source, rest)
		}
	}
	return ""
}

// inRepository reports whether an absolute host path lies in the repository.
func inRepository(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// --- Dockerfile -----------------------------------------------------------

type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

type stage struct {
	image, name string
	body        []instruction
}

// parseDockerfile joins continuation lines, drops comments and splits the
// instructions into stages.
func parseDockerfile(text string) ([]stage, error) {
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() error {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			var st stage
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) == 0 {
				return fmt.Errorf("line %d: FROM without an image", start)
			}
			st.image = f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				return nil
			}
			return fmt.Errorf("line %d: %s before the first FROM", start, in.cmd)
		}
		last := &stages[len(stages)-1]
		last.body = append(last.body, in)
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			cur.WriteString(body)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur.Len() > 0 {
		return nil, errors.New("the last instruction ends in a line continuation")
	}
	return stages, flush()
}

// --- .dockerignore ----------------------------------------------------------

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// parseDockerignore compiles the patterns the way the Docker builder reads
// them: paths relative to the context, "*" and "?" within one path element,
// "**" across elements, a later "!" rule re-including, and a pattern that
// matches a directory excluding all below it.
func parseDockerignore(text string) []ignoreRule {
	var rules []ignoreRule
	for _, line := range strings.Split(text, "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(p, "!") {
			r.negate, p = true, strings.TrimSpace(p[1:])
		}
		p = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("(/.*)?$")
		r.re = regexp.MustCompile(re.String())
		rules = append(rules, r)
	}
	return rules
}

// ignored reports whether a context-relative path (slash-separated) is left
// out of the build context.
func ignored(rules []ignoreRule, path string) bool {
	out := false
	for _, r := range rules {
		if r.re.MatchString(path) {
			out = !r.negate
		}
	}
	return out
}

// --- .env.example -----------------------------------------------------------

// envExample returns the variables .env.example assigns and those it
// mentions only in comments ("# NAME=").
func envExample(text string) (assigned map[string]string, commented map[string]bool) {
	assigned, commented = map[string]string{}, map[string]bool{}
	nameRE := regexp.MustCompile(`^#?\s*([A-Z][A-Z0-9_]*)=(.*)$`)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		m := nameRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if strings.HasPrefix(line, "#") {
			commented[m[1]] = true
		} else {
			assigned[m[1]] = m[2]
		}
	}
	return assigned, commented
}
