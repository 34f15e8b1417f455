package deploy

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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

type composeFile struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image           string       `yaml:"image"`
	Build           any          `yaml:"build"`
	DependsOn       dependsOn    `yaml:"depends_on"`
	Environment     envMap       `yaml:"environment"`
	EnvFile         any          `yaml:"env_file"`
	Healthcheck     *healthcheck `yaml:"healthcheck"`
	Volumes         []string     `yaml:"volumes"`
	Ports           []string     `yaml:"ports"`
	Entrypoint      []string     `yaml:"entrypoint"`
	Restart         string       `yaml:"restart"`
	StopGracePeriod string       `yaml:"stop_grace_period"`
}

type healthcheck struct {
	Test    any  `yaml:"test"`
	Disable bool `yaml:"disable"`
}

// defined reports whether the healthcheck runs a test.
func (h *healthcheck) defined() bool {
	if h == nil || h.Disable {
		return false
	}
	switch v := h.Test.(type) {
	case string:
		return strings.TrimSpace(v) != ""
	case []any:
		return len(v) > 1 && fmt.Sprint(v[0]) != "NONE"
	}
	return false
}

// dependsOn maps a service to the condition it waits for. The short (list)
// form means "service_started", which is what a user gets when the long form
// is forgotten.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			(*d)[name] = "service_started"
		}
	case yaml.MappingNode:
		var long map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		for name, v := range long {
			c := v.Condition
			if c == "" {
				c = "service_started"
			}
			(*d)[name] = c
		}
	default:
		return fmt.Errorf("depends_on: unexpected YAML kind %v", n.Kind)
	}
	return nil
}

// envMap is a service's environment in either compose form (map or
// KEY=VALUE list), with values as written (before interpolation).
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	switch n.Kind {
	case yaml.SequenceNode:
		var items []string
		if err := n.Decode(&items); err != nil {
			return err
		}
		for _, it := range items {
			k, v, _ := strings.Cut(it, "=")
			(*e)[k] = v
		}
	case yaml.MappingNode:
		var m map[string]*string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			if v != nil {
				(*e)[k] = *v
			} else {
				(*e)[k] = ""
			}
		}
	default:
		return fmt.Errorf("environment: unexpected YAML kind %v", n.Kind)
	}
	return nil
}

func loadCompose(t *testing.T, root string) (composeFile, string) {
	t.Helper()
	raw := readFile(t, filepath.Join(root, "docker-compose.yml"))
	var c composeFile
	if err := yaml.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c, raw
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
}

func findRoles(t *testing.T, c composeFile) roles {
	t.Helper()
	var r roles
	set := func(slot *string, name, what string) {
		if *slot != "" {
			t.Fatalf("two services run %s: %s and %s", what, *slot, name)
		}
		*slot = name
	}
	for name, s := range c.Services {
		switch repo := imageRepo(s.Image); {
		case s.Build != nil:
			set(&r.worker, name, "the importer worker (build)")
		case repo == "postgres":
			set(&r.postgres, name, "PostgreSQL")
		case repo == "temporalio/server":
			set(&r.server, name, "the Temporal server")
		case repo == "temporalio/ui":
			set(&r.ui, name, "the Temporal UI")
		case repo == "temporalio/admin-tools" && strings.Contains(strings.Join(s.Entrypoint, " "), "setup-schema"):
			set(&r.schema, name, "the schema job")
		case repo == "temporalio/admin-tools" && strings.Contains(strings.Join(s.Entrypoint, " "), "setup-namespace"):
			set(&r.setup, name, "the namespace and search attribute job")
		}
	}
	for what, name := range map[string]string{
		"PostgreSQL": r.postgres, "the schema job (admin-tools running setup-schema.sh)": r.schema,
		"the Temporal server": r.server, "the setup job (admin-tools running setup-namespace.sh)": r.setup,
		"the Temporal UI": r.ui, "the worker (built from the Dockerfile)": r.worker,
	} {
		if name == "" {
			t.Fatalf("docker-compose.yml has no service for %s", what)
		}
	}
	return r
}

// mountSource returns the host path (relative to root) that a service's bind
// mounts put at containerPath, or "" when nothing does.
func mountSource(s service, root, containerPath string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !(strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/")) {
			continue
		}
		src, dst := parts[0], parts[1]
		if containerPath == dst {
			return filepath.Join(root, src)
		}
		if rest, ok := strings.CutPrefix(containerPath, strings.TrimSuffix(dst, "/")+"/"); ok {
			return filepath.Join(root, src, rest)
		}
	}
	return ""
}

// --- interpolation, as docker compose does it ----------------------------

var interpRE = regexp.MustCompile(`\$(\$|\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)`)

// interpolate expands ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?message}, ${VAR?message} and $VAR from env, and $$ to $. It fails
// on a required variable that is missing and on a "$" that compose would not
// accept, the way `docker compose up` would.
func interpolate(s string, env map[string]string) (string, error) {
	var firstErr error
	out := interpRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		expr := strings.TrimPrefix(m, "$")
		if !strings.HasPrefix(expr, "{") {
			return env[expr]
		}
		expr = strings.TrimSuffix(strings.TrimPrefix(expr, "{"), "}")
		name, op, arg := splitInterp(expr)
		val, set := env[name]
		switch op {
		case "":
			return val
		case ":-":
			if val == "" {
				return arg
			}
			return val
		case "-":
			if !set {
				return arg
			}
			return val
		case ":?", "?":
			if (op == ":?" && val == "") || !set {
				if firstErr == nil {
					firstErr = fmt.Errorf("required variable %s is missing a value: %s", name, arg)
				}
			}
			return val
		default:
			if firstErr == nil {
				firstErr = fmt.Errorf("unsupported interpolation %q", m)
			}
			return ""
		}
	})
	if firstErr != nil {
		return "", firstErr
	}
	// A "$" left over is one compose would reject or misread.
	rest := interpRE.ReplaceAllString(s, "")
	if strings.Contains(rest, "$") {
		return "", fmt.Errorf("%q has a $ that is not $$ or a variable reference", s)
	}
	return out, nil
}

func splitInterp(expr string) (name, op, arg string) {
	i := strings.IndexAny(expr, ":-?")
	if i < 0 {
		return expr, "", ""
	}
	name, rest := expr[:i], expr[i:]
	for _, o := range []string{":-", ":?", "-", "?"} {
		if strings.HasPrefix(rest, o) {
			return name, o, rest[len(o):]
		}
	}
	return name, rest, ""
}

// isInterpolationOnly reports whether a raw value is nothing but a reference
// to a variable (so the value itself is not written in the file).
func isInterpolationOnly(raw string) bool {
	return regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*([:]?[-?][^}]*)?\}$`).MatchString(raw)
}

// referencedVariables lists the variables the file interpolates, with
// whether each is required (${VAR:?...}).
func referencedVariables(raw string) map[string]bool {
	out := map[string]bool{}
	for _, m := range interpRE.FindAllString(raw, -1) {
		if m == "$$" {
			continue
		}
		expr := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "$"), "{"), "}")
		name, op, _ := splitInterp(expr)
		out[name] = out[name] || op == ":?" || op == "?"
	}
	return out
}

// resolvedEnv interpolates a service's environment.
func resolvedEnv(t *testing.T, s service, env map[string]string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(s.Environment))
	for k, raw := range s.Environment {
		v, err := interpolate(raw, env)
		if err != nil {
			t.Fatalf("environment %s: %v", k, err)
		}
		out[k] = v
	}
	return out
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
