package connections

import (
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// reportPanic, deferred, fails t with the stack of a panic of the input
// being read, instead of ending the test binary (and every test after it)
// when go test replays the corpus.
func reportPanic(t *testing.T) {
	if p := recover(); p != nil {
		t.Fatalf("panic: %v\n%s", p, debug.Stack())
	}
}

// canary starts every value the fuzzed config file's environment holds:
// none of them may show in an error.
const canary = "Kx9canary"

// fuzzEnviron is the worker's environment for FuzzConfigFile: variables a
// file may refer to, each a secret whose value starts with canary, one
// that is empty, and a default connection's key and a webhook's URL.
func fuzzEnviron() []string {
	return []string{
		"CANARY=" + canary + "VALUE1",
		"CANARY_URL=http://" + canary + "HOST2.example/path", // not https: refused as an endpoint
		"CANARY_SECRET=whsec_" + canary + "SECRET3",          // not a Standard Webhooks secret
		"CANARY_NESTED=" + canary + "RAW4${CANARY}",          // never expanded again
		"CANARY_HOOK=https://hooks.example/" + canary + "HOOK5",
		"EMPTY_VAR=",
		"IMPORTER_NEBULY_API_KEY=" + canary + "ENV6",
		"IMPORTER_WEBHOOK_URL=https://hooks.example/" + canary + "ENV7",
	}
}

// fuzzSchema has a vendor of each shape: one required setting, two, and
// endpoints that may be full URLs.
func fuzzSchema() Schema {
	return Schema{
		"nebuly":  {Required: []string{"API_KEY"}, Optional: []string{"BASE_URL"}, Endpoints: []string{"BASE_URL"}},
		"dynamic": {Required: []string{"API_TOKEN", "ENVIRONMENT_ID"}, Optional: []string{"BASE_URL", "REQUESTS_PER_MINUTE"}, Endpoints: []string{"BASE_URL"}},
		"fynd":    {Required: []string{"CLIENT_SECRET"}, Optional: []string{"BASE_URL", "PATH_TOKEN"}, Endpoints: []string{"BASE_URL", "PATH_TOKEN"}},
	}
}

// endpointAllowed says, apart from checkEndpoint, whether v may be where a
// vendor's calls go: a path under the base URL, an https:// URL, or an
// http:// one to a loopback host.
func endpointAllowed(v string) bool {
	if strings.HasPrefix(v, "/") {
		return true
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		ip, err := netip.ParseAddr(h)
		return strings.EqualFold(h, "localhost") || err == nil && ip.Unmap().IsLoopback()
	}
	return false
}

// A config file of any bytes loads, or fails with an error that names the
// file and shows no value of a variable it refers to (nor any part that
// starts one). A file that loads holds what Load promises: each variable
// expanded once (a value's "${" comes only from a variable's value), every
// endpoint https or loopback, every connection with its required settings,
// every webhook usable; and Describe shows no value.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte(`
connections:
  nebuly:
    eu: {api_key: "${CANARY}", base_url: "https://backend.eu.nebuly.com"}
    us: {api_key: "pre-${CANARY_NESTED}-post"}
    default: {base_url: "http://127.0.0.1:8080"}
  dynamic:
    prod:
      api_token: "tok-${CANARY}-end"
      environment_id: env-1
      requests_per_minute: 150
  fynd:
    main: {client_secret: "${CANARY}", path_token: /oauth/token}
webhooks:
  oncall: {url: "${CANARY_HOOK}"}
  default: {url: "https://audit.example.com/hooks"}
sources:
  roots: [/exports, "${CANARY}"]
  hosts: [exports.internal]
`))
	f.Add([]byte("connections:\n  nebuly:\n    eu: {api_key: k, base_url: \"${CANARY_URL}\"}\n"))
	f.Add([]byte("connections:\n  fynd:\n    x: {client_secret: s, path_token: \"${CANARY}\"}\n"))
	f.Add([]byte("webhooks:\n  audit: {url: \"https://a.example/h\", secret: \"${CANARY_SECRET}\"}\n"))
	f.Add([]byte("webhooks:\n  audit: {url: \"${CANARY}\"}\n"))
	f.Add([]byte("connections:\n  nebuly:\n    eu: {api_key: \"${CANARY\"}\n"))
	f.Add([]byte("connections:\n  nebuly:\n    eu: {api_key: \"${EMPTY_VAR}${CANARY}\"}\n"))
	f.Add([]byte("connections:\n  nebuly:\n    eu:\n      api_key: [\"${CANARY}\"]\n"))
	f.Add([]byte("connections:\n  dynamic:\n    prod: {api_token: \"${CANARY}\"}\n"))
	f.Add([]byte("connections:\n  nebuly:\n    base: &b {api_key: \"${CANARY}\"}\n    eu: *b\n    us: {<<: *b}\n"))
	f.Add([]byte("sources:\n  roots: [\"${CANARY}\", {a: b}]\n"))
	f.Add([]byte("connections:\n  nebuly:\n    \"${CANARY}\": {api_key: x}\n"))
	f.Add([]byte("- ${CANARY}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer reportPanic(t)
		path := filepath.Join(t.TempDir(), "importer.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		schema := fuzzSchema()
		s, err := Load(path, fuzzEnviron(), schema)
		shows := func(text string) bool {
			return strings.Contains(text, canary) && !strings.Contains(string(data), canary)
		}
		if err != nil {
			if shows(err.Error()) {
				t.Fatalf("the error shows a variable's value: %v", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		for _, line := range s.Describe() {
			if shows(line) {
				t.Fatalf("Describe shows a value: %s", line)
			}
			vendor, rest, _ := strings.Cut(line, "/")
			name, _, _ := strings.Cut(rest, ":")
			c, err := s.Get(vendor, name)
			if err != nil {
				t.Fatalf("Describe lists %s, which Get does not find: %v", line, err)
			}
			vs := schema[vendor]
			for _, req := range vs.Required {
				if name != Default && c.Get(req) == "" {
					t.Fatalf("%s/%s loaded without %s", vendor, name, req)
				}
			}
			for _, setting := range append(append([]string{}, vs.Required...), vs.Optional...) {
				v := c.Get(setting)
				if strings.Contains(strings.ReplaceAll(v, canary+"RAW4${CANARY}", ""), "${") || strings.Contains(v, canary+"RAW4"+canary) {
					t.Fatalf("%s/%s %s holds a ${ that was not expanded, or was expanded twice: %q", vendor, name, setting, v)
				}
				if v != "" && vs.isEndpoint(setting) && !endpointAllowed(v) {
					t.Fatalf("%s/%s %s is an endpoint that is neither https nor loopback: %q", vendor, name, setting, v)
				}
			}
		}
		for _, name := range s.Webhooks() {
			if shows(name) {
				t.Fatalf("Webhooks shows a value: %s", name)
			}
			if _, err := s.Webhook(name); err != nil {
				t.Fatalf("webhook %s loaded, and cannot be used: %v", name, err)
			}
			if _, _, err := s.WebhookSecret(name); err != nil {
				t.Fatalf("webhook %s loaded with a secret that cannot be used: %v", name, err)
			}
		}
	})
}
