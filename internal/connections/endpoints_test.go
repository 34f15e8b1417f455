package connections

import (
	"strings"
	"testing"
)

// endpointSchema has a vendor whose paths may be full URLs, as Fynd's are.
var endpointSchema = Schema{
	"nebuly": {Required: []string{"API_KEY"}, Optional: []string{"BASE_URL"}, Endpoints: []string{"BASE_URL"}},
	"fynd":   {Required: []string{"CLIENT_SECRET"}, Optional: []string{"BASE_URL", "PATH_TOKEN"}, Endpoints: []string{"BASE_URL", "PATH_TOKEN"}},
}

// A vendor base URL set in the worker's environment must be https, so the
// credentials sent there travel encrypted; sandboxes and fakes on this
// machine may use http. A refusal names the variable, never the value.
func TestLoadRefusesAnEnvironmentBaseURLThatIsNotHTTPS(t *testing.T) {
	for _, u := range []string{
		"http://backend.nebuly.com",
		"http://tok3n-in-url@10.0.0.5:8080/api",
		"HTTP://backend.nebuly.com",
		"backend.nebuly.com",
		"ftp://backend.nebuly.com",
		"https:///no-host",
		"http://127.0.0.1.evil.example",
		"http://localhost.evil.example",
	} {
		_, err := Load("", []string{"IMPORTER_NEBULY_API_KEY=k", "IMPORTER_NEBULY_BASE_URL=" + u}, endpointSchema)
		if err == nil {
			t.Errorf("%s: loaded", u)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "IMPORTER_NEBULY_BASE_URL must be an https:// URL") || strings.Contains(msg, u) || strings.Contains(msg, "tok3n") {
			t.Errorf("%s: error %q; want the variable named and the value left out", u, msg)
		}
	}
	for _, u := range []string{
		"https://backend.eu.nebuly.com",
		"HTTPS://backend.eu.nebuly.com/",
		"http://127.0.0.1:41234",
		"http://127.9.8.7:80/nebuly",
		"http://[::1]:9000",
		"http://localhost:8080",
		"http://LocalHost",
	} {
		s, err := Load("", []string{"IMPORTER_NEBULY_API_KEY=k", "IMPORTER_NEBULY_BASE_URL=" + u}, endpointSchema)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if c, _ := s.Get("nebuly", ""); c.Get("BASE_URL") != u {
			t.Errorf("%s: base URL %q", u, c.Get("BASE_URL"))
		}
	}
}

// In the config file, an endpoint that is not https is refused with the
// file, the line, the connection and the setting named; a path under the
// base URL, and an https URL, are fine. A variable that overrides the
// file's default is checked as the variable.
func TestLoadRefusesAConfigFileEndpointThatIsNotHTTPS(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"connections:\n  nebuly:\n    eu: {api_key: k, base_url: \"http://" + secret + "@backend.eu.nebuly.com\"}\n",
			`line 3: nebuly connection "eu": base_url must be an https:// URL`},
		{"connections:\n  fynd:\n    prod:\n      client_secret: s\n      path_token: \"http://auth.example/" + secret + "\"\n",
			`line 5: fynd connection "prod": path_token must be an https:// URL`},
	} {
		path := writeConfig(t, tc.body, 0o600)
		_, err := Load(path, nil, endpointSchema)
		if err == nil {
			t.Fatalf("loaded %s", tc.body)
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tc.want) || strings.Contains(msg, secret) {
			t.Errorf("error %q; want the file and %q, and no value", msg, tc.want)
		}
	}

	path := writeConfig(t, "connections:\n  fynd:\n    prod: {client_secret: s, base_url: \"https://api.fynd.example\", path_token: /oauth/token}\n"+
		"    local: {client_secret: s, base_url: \"http://127.0.0.1:9\", path_token: \"https://auth.example/token\"}\n", 0o600)
	if _, err := Load(path, nil, endpointSchema); err != nil {
		t.Fatalf("https URLs, a path and loopback http: %v", err)
	}

	path = writeConfig(t, "connections:\n  nebuly:\n    default: {api_key: k, base_url: \"https://backend.eu.nebuly.com\"}\n", 0o600)
	_, err := Load(path, []string{"IMPORTER_NEBULY_BASE_URL=http://backend.nebuly.com"}, endpointSchema)
	if err == nil || !strings.Contains(err.Error(), "IMPORTER_NEBULY_BASE_URL must be") {
		t.Fatalf("a variable overriding the file's base URL: %v; want the variable named", err)
	}
}
