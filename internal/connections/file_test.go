package connections

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testSchema mirrors the shape of the vendors' real tables.
var testSchema = Schema{
	"nebuly":  {Required: []string{"API_KEY"}, Optional: []string{"BASE_URL"}, Endpoints: []string{"BASE_URL"}},
	"dynamic": {Required: []string{"API_TOKEN", "ENVIRONMENT_ID"}, Optional: []string{"BASE_URL", "REQUESTS_PER_MINUTE", "RATE_GROUP"}, Endpoints: []string{"BASE_URL"}},
}

func writeConfig(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "importer.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	// Chmod, not WriteFile's mode, which the umask would narrow.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

const sampleConfig = `
connections:
  nebuly:
    eu: {api_key: "${NEBULY_EU_KEY}", base_url: "https://backend.eu.nebuly.com"}
    us: {api_key: "literal-us-key"}
  dynamic:
    prod:
      api_token: "tok-${DYN_TOKEN_PART}-end"
      environment_id: env-1
      requests_per_minute: 150
`

func TestLoadReadsNamedConnectionsAndExpandsVariables(t *testing.T) {
	path := writeConfig(t, sampleConfig, 0o600)
	s, err := Load(path, []string{"NEBULY_EU_KEY=eu-secret-123", "DYN_TOKEN_PART=$middle${NOT_EXPANDED}", "IMPORTER_NEBULY_API_KEY=env-default"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ vendor, name, setting, want string }{
		{"nebuly", "eu", "API_KEY", "eu-secret-123"},
		{"nebuly", "eu", "base_url", "https://backend.eu.nebuly.com"},
		{"nebuly", "us", "API_KEY", "literal-us-key"},
		{"nebuly", "default", "API_KEY", "env-default"},
		// A variable's value goes in as is: no second expansion.
		{"dynamic", "prod", "API_TOKEN", "tok-$middle${NOT_EXPANDED}-end"},
		{"dynamic", "prod", "REQUESTS_PER_MINUTE", "150"},
	} {
		c, err := s.Get(tc.vendor, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Get(tc.setting); got != tc.want {
			t.Errorf("%s/%s %s = %q, want %q", tc.vendor, tc.name, tc.setting, got, tc.want)
		}
	}
	if _, err := s.Get("nebuly", "ap"); err == nil || !strings.Contains(err.Error(), "default, eu, us") {
		t.Fatalf("an unknown connection must list the known ones: %v", err)
	}
	desc := strings.Join(s.Describe(), "\n")
	for _, want := range []string{"nebuly/eu: api_key,base_url", "nebuly/us: api_key", "dynamic/prod: api_token,environment_id,requests_per_minute"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
	for _, secret := range []string{"eu-secret-123", "literal-us-key", "env-default", "middle", "env-1"} {
		if strings.Contains(desc, secret) {
			t.Fatalf("Describe shows a value (%s):\n%s", secret, desc)
		}
	}
}

func TestLoadRefusesAFileGroupOrOthersCanOpen(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		path := writeConfig(t, sampleConfig, mode)
		_, err := Load(path, []string{"NEBULY_EU_KEY=k", "DYN_TOKEN_PART=p"}, testSchema)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: want a refusal that says chmod 600 %s, got %v", mode, path, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := writeConfig(t, sampleConfig, mode)
		if _, err := Load(path, []string{"NEBULY_EU_KEY=k", "DYN_TOKEN_PART=p"}, testSchema); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	if _, err := Load(t.TempDir(), nil, testSchema); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as config file: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, testSchema); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("a missing config file: %v", err)
	}
}

func TestEnvironmentOverridesTheFilesDefaultPerSetting(t *testing.T) {
	path := writeConfig(t, `
connections:
  nebuly:
    default: {api_key: file-key, base_url: "https://file.example"}
  dynamic:
    default: {api_token: file-token, environment_id: file-env}
`, 0o600)
	s, err := Load(path, []string{
		"IMPORTER_NEBULY_API_KEY=env-key",
		"IMPORTER_DYNAMIC_API_TOKEN=", // set but empty: overrides nothing
	}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := s.Get("nebuly", "")
	if n.Get("API_KEY") != "env-key" || n.Get("BASE_URL") != "https://file.example" {
		t.Fatalf("nebuly default: api_key %q base_url %q; want the variable's key and the file's URL", n.Get("API_KEY"), n.Get("BASE_URL"))
	}
	d, _ := s.Get("dynamic", Default)
	if d.Get("API_TOKEN") != "file-token" || d.Get("ENVIRONMENT_ID") != "file-env" {
		t.Fatalf("dynamic default: %q %q; an empty variable must not clear the file's setting", d.Get("API_TOKEN"), d.Get("ENVIRONMENT_ID"))
	}

	// A file default may leave a credential to the environment.
	path = writeConfig(t, "connections:\n  nebuly:\n    default: {base_url: \"https://file.example\"}\n", 0o600)
	if _, err := Load(path, nil, testSchema); err == nil || !strings.Contains(err.Error(), "IMPORTER_NEBULY_API_KEY") {
		t.Fatalf("a default without its key anywhere: %v", err)
	}
	s, err = Load(path, []string{"IMPORTER_NEBULY_API_KEY=from-env"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Get("nebuly", ""); n.Get("API_KEY") != "from-env" || n.Get("BASE_URL") != "https://file.example" {
		t.Fatalf("merged default: %+v", n)
	}
}

func TestLoadWithoutFileIsTheEnvironment(t *testing.T) {
	s, err := Load("", []string{"IMPORTER_NEBULY_API_KEY=k"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Get("nebuly", ""); c.Get("API_KEY") != "k" {
		t.Fatalf("default from the environment: %+v", c)
	}
	if _, err := s.Get("dynamic", ""); err != nil {
		t.Fatalf("every vendor of the schema has a default connection: %v", err)
	}
	// An empty file adds nothing and is not an error.
	if _, err := Load(writeConfig(t, "", 0o600), nil, testSchema); err != nil {
		t.Fatal(err)
	}
}

// secret is a value every bad file below carries somewhere; no error may
// show it.
const secret = "sk-live-9f8e7d6c5b4a"

func TestLoadErrorsNameTheProblemNeverTheValue(t *testing.T) {
	env := []string{"SECRET_VAR=" + secret, "EMPTY_VAR="}
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown vendor", "connections:\n  nebulyy:\n    eu: {api_key: " + secret + "}\n",
			[]string{"line 2", `unknown vendor "nebulyy"`, "dynamic, nebuly"}},
		{"unknown setting", "connections:\n  nebuly:\n    eu: {api_key: x, api_kye: " + secret + "}\n",
			[]string{"line 3", `nebuly connection "eu"`, `unknown setting "api_kye"`, "api_key, base_url"}},
		{"unset variable", "connections:\n  nebuly:\n    eu: {api_key: \"${NEBULY_EU_KEY}\"}\n",
			[]string{`nebuly connection "eu"`, "api_key refers to ${NEBULY_EU_KEY}, which is not set"}},
		{"empty variable", "connections:\n  nebuly:\n    eu: {api_key: \"${EMPTY_VAR}\"}\n",
			[]string{"${EMPTY_VAR}, which is empty"}},
		{"unclosed reference", "connections:\n  nebuly:\n    eu: {api_key: \"${" + secret + "\"}\n",
			[]string{"api_key has a ${ without its closing }"}},
		{"not a variable name", "connections:\n  nebuly:\n    eu: {api_key: \"${" + secret + "}\"}\n",
			[]string{"does not hold a variable name"}},
		{"list value", "connections:\n  nebuly:\n    eu:\n      api_key: [" + secret + "]\n",
			[]string{"line 4", "api_key must be a single value"}},
		{"empty value", "connections:\n  nebuly:\n    eu: {api_key: \"\"}\n", []string{"api_key is empty"}},
		{"null value", "connections:\n  nebuly:\n    eu: {api_key: }\n", []string{"api_key has no value"}},
		{"twice", "connections:\n  nebuly:\n    eu: {api_key: " + secret + ", API_KEY: " + secret + "}\n",
			[]string{"sets api_key twice"}},
		{"missing credential", "connections:\n  dynamic:\n    prod: {api_token: \"${SECRET_VAR}\"}\n",
			[]string{`dynamic connection "prod" has no environment_id: set it in the file`}},
		{"secret pasted as a key", "connections:\n  nebuly:\n    eu: {" + secret + "}\n",
			[]string{"unknown setting (a key that is not a name)"}},
		{"secret as the connection", "connections:\n  nebuly:\n    eu: " + secret + "\n",
			[]string{`nebuly connection "eu" must map setting names to values`}},
		{"secret as the vendor", "connections:\n  nebuly: " + secret + "\n",
			[]string{"nebuly must map connection names"}},
		{"bad connection name", "connections:\n  nebuly:\n    \"e u\": {api_key: " + secret + "}\n",
			[]string{"connection name that is not"}},
		{"unknown top-level key", "conections:\n  nebuly: {}\n", []string{`unknown key "conections"`}},
		{"anchor outside connections", "base: &b {api_key: " + secret + "}\nconnections:\n  nebuly:\n    eu: {<<: *b}\n",
			[]string{`unknown key "base"`}},
		{"not YAML", "connections:\n  nebuly:\n    eu: {api_key: \"" + secret + "\n", []string{"not valid YAML"}},
		{"not a mapping", "- " + secret + "\n", []string{"must be a mapping with a connections key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body, 0o600)
			_, err := Load(path, env, testSchema)
			if err == nil {
				t.Fatal("loaded a bad file")
			}
			msg := err.Error()
			if strings.Contains(msg, secret) || strings.Contains(msg, "9f8e7d") {
				t.Fatalf("the error shows the value: %s", msg)
			}
			if !strings.Contains(msg, path) {
				t.Errorf("the error does not name the file: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestMergeKeysAreRefusedByName(t *testing.T) {
	path := writeConfig(t, "connections:\n  nebuly:\n    base: &b {api_key: k}\n    eu: {<<: *b}\n", 0o600)
	_, err := Load(path, nil, testSchema)
	if err == nil || !strings.Contains(err.Error(), "merge keys") {
		t.Fatalf("want the merge key named, got %v", err)
	}
}

func TestRequireSaysWhereToSetAMissingSetting(t *testing.T) {
	path := writeConfig(t, "connections:\n  dynamic:\n    prod: {api_token: t, environment_id: e}\n", 0o600)
	s, err := Load(path, nil, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	prod, _ := s.Get("dynamic", "prod")
	if _, err := prod.Require("BASE_URL"); err == nil || !strings.Contains(err.Error(), "connections.dynamic.prod in the worker's config file") {
		t.Fatalf("named connection: %v", err)
	}
	def, _ := s.Get("dynamic", "")
	if _, err := def.Require("API_TOKEN"); err == nil || !strings.Contains(err.Error(), "IMPORTER_DYNAMIC_API_TOKEN") {
		t.Fatalf("default connection: %v", err)
	}
}

// The config file may name where sources come from; a variable of the
// same kind wins (the worker reads the variable first).
func TestTheConfigFileNamesSourceRootsAndHosts(t *testing.T) {
	path := writeConfig(t, `
sources:
  roots: [/exports, "${EXTRA_ROOT}"]
  hosts: [exports.internal, "10.0.0.5:8443"]
`, 0o600)
	s, err := Load(path, []string{"EXTRA_ROOT=/mnt/warehouse"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Sources()
	if strings.Join(got.Roots, "|") != "/exports|/mnt/warehouse" || strings.Join(got.Hosts, "|") != "exports.internal|10.0.0.5:8443" {
		t.Fatalf("sources %+v", got)
	}
	for bad, says := range map[string]string{
		"sources: {roots: /exports}":         "roots must be a list",
		"sources: {paths: [/x]}":             "unknown key",
		"sources: {roots: [{a: b}]}":         "must be one value",
		"sources: {roots: [\"${UNSET_X}\"]}": "UNSET_X",
	} {
		if _, err := Load(writeConfig(t, bad, 0o600), nil, testSchema); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v; want it refused saying %q", bad, err, says)
		}
	}
}
