package connections

import (
	"encoding/base64"
	"strings"
	"testing"
)

// Signing keys, each unlike the others.
const (
	defaultKey = "default-key-of-32-bytes-exactly!"
	oncallKey  = "oncall-key-0123456789-abcdefghij"
	fileKey    = "file-key-of-twenty-four!"
	envKey     = "env-key-that-overrides-the-file"
)

// whsec is a key's secret as an operator writes it.
func whsec(key string) string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(key)) }

// wantSecret checks the key that signs webhook name's posts; "" wants none.
func wantSecret(t *testing.T, s Set, name string, want string) {
	t.Helper()
	key, ok, err := s.WebhookSecret(name)
	switch {
	case err != nil:
		t.Errorf("WebhookSecret(%q): %v", name, err)
	case want == "" && (ok || key != nil):
		t.Errorf("WebhookSecret(%q) = %q, %v; want no secret", name, key, ok)
	case want != "" && (!ok || string(key) != want):
		t.Errorf("WebhookSecret(%q) = %q, %v; want %q", name, key, ok, want)
	}
}

func TestWebhookSecretsComeFromTheEnvironmentBesideTheirURLs(t *testing.T) {
	s, err := Load("", []string{
		"IMPORTER_WEBHOOK_URL=https://example.com/default",
		"IMPORTER_WEBHOOK_SECRET=" + whsec(defaultKey),
		"IMPORTER_WEBHOOK_ON_CALL_URL=https://example.com/oncall",
		"IMPORTER_WEBHOOK_ON_CALL_SECRET=" + whsec(oncallKey),
		"IMPORTER_WEBHOOK_SLACK_URL=https://example.com/slack",
		"IMPORTER_WEBHOOK_SLACK_SECRET=",
		// The URL of a webhook named "secret", not the default's secret.
		"IMPORTER_WEBHOOK_SECRET_URL=https://example.com/named-secret",
	}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	// No secret variable is taken for a webhook, nor a URL for a secret.
	if got := strings.Join(s.Webhooks(), ","); got != "default,on_call,secret,slack" {
		t.Errorf("Webhooks() = %s", got)
	}
	for name, want := range map[string]string{
		"default": "https://example.com/default", "on-call": "https://example.com/oncall",
		"secret": "https://example.com/named-secret", "slack": "https://example.com/slack",
	} {
		if got, err := s.Webhook(name); err != nil || got != want {
			t.Errorf("Webhook(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	wantSecret(t, s, "default", defaultKey)
	wantSecret(t, s, "", defaultKey)
	wantSecret(t, s, "on-call", oncallKey)
	wantSecret(t, s, "ON_CALL", oncallKey)
	wantSecret(t, s, "slack", "")  // an empty variable is unset: unsigned
	wantSecret(t, s, "secret", "") // its secret would be IMPORTER_WEBHOOK_SECRET_SECRET
	wantSecret(t, s, "pager", "")  // unknown: Webhook says so
	for _, line := range append(s.Webhooks(), s.Describe()...) {
		if strings.Contains(line, "whsec_") {
			t.Errorf("a description shows a secret: %s", line)
		}
	}
}

func TestWebhookSecretsInTheConfigFileAreOverriddenSettingBySetting(t *testing.T) {
	path := writeConfig(t, `
webhooks:
  oncall: {url: "https://example.com/file-oncall", secret: "${ONCALL_HOOK_SECRET}"}
  team-a: {url: "https://example.com/file-team-a", secret: "`+whsec(fileKey)+`"}
  audit: {url: "https://example.com/file-audit", secret: "`+whsec(fileKey)+`"}
  slack: {url: "https://example.com/file-slack"}
`, 0o600)
	s, err := Load(path, []string{
		"ONCALL_HOOK_SECRET=" + whsec(oncallKey),
		// A URL variable keeps the file's secret; a secret variable keeps its URL.
		"IMPORTER_WEBHOOK_TEAM_A_URL=https://example.com/env-team-a",
		"IMPORTER_WEBHOOK_AUDIT_SECRET=" + whsec(envKey),
	}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	wantSecret(t, s, "oncall", oncallKey)
	wantSecret(t, s, "team-a", fileKey)
	wantSecret(t, s, "audit", envKey)
	wantSecret(t, s, "slack", "")
	for name, want := range map[string]string{
		"oncall": "https://example.com/file-oncall", "team-a": "https://example.com/env-team-a",
		"audit": "https://example.com/file-audit", "slack": "https://example.com/file-slack",
	} {
		if got, err := s.Webhook(name); err != nil || got != want {
			t.Errorf("Webhook(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestBadWebhookSecretsStopTheWorkerNamingWhereNotWhat(t *testing.T) {
	short := whsec("sixteen-byte-key")
	noPrefix := strings.TrimPrefix(whsec(oncallKey), "whsec_")
	urlSafe := "whsec_" + base64.URLEncoding.EncodeToString([]byte("a key whose base64 has -_ in it: \xfb\xff\xfe\xfb\xff"))
	const hookURL = "IMPORTER_WEBHOOK_OPS_URL=https://example.com/ops"
	for _, tc := range []struct {
		name, file string // file "" loads no config file
		environ    []string
		value      string // the secret, which no message may show
		want       string
	}{
		{"no prefix", "", []string{hookURL, "IMPORTER_WEBHOOK_OPS_SECRET=" + noPrefix}, noPrefix,
			"IMPORTER_WEBHOOK_OPS_SECRET does not start with whsec_"},
		{"not base64", "", []string{hookURL, "IMPORTER_WEBHOOK_OPS_SECRET=whsec_sk*live*9f8e7d6c5b4a"}, "sk*live*9f8e7d6c5b4a",
			"IMPORTER_WEBHOOK_OPS_SECRET is not whsec_ followed by standard base64"},
		{"URL-safe base64", "", []string{hookURL, "IMPORTER_WEBHOOK_OPS_SECRET=" + urlSafe}, strings.TrimPrefix(urlSafe, "whsec_"),
			"IMPORTER_WEBHOOK_OPS_SECRET is not whsec_ followed by standard base64"},
		{"a short key", "", []string{hookURL, "IMPORTER_WEBHOOK_OPS_SECRET=" + short}, strings.TrimPrefix(short, "whsec_"),
			"IMPORTER_WEBHOOK_OPS_SECRET holds a key of 16 bytes, not 24 to 64"},
		{"the default's, without a URL", "", []string{"IMPORTER_WEBHOOK_SECRET=" + whsec(oncallKey)}, whsec(oncallKey),
			`IMPORTER_WEBHOOK_SECRET is set but webhook "default" has no URL: set IMPORTER_WEBHOOK_URL too, or webhooks.default.url in the config file`},
		{"a named one, without a URL", "webhooks: {}\n", []string{"IMPORTER_WEBHOOK_PAGER_SECRET=" + whsec(oncallKey)}, whsec(oncallKey),
			`IMPORTER_WEBHOOK_PAGER_SECRET is set but webhook "pager" has no URL: set IMPORTER_WEBHOOK_PAGER_URL too, or webhooks.pager.url in the config file`},
		{"a variable over a good file secret", "webhooks:\n  ops: {url: \"https://example.com/ops\", secret: \"" + whsec(fileKey) + "\"}\n",
			[]string{"IMPORTER_WEBHOOK_OPS_SECRET=" + noPrefix}, noPrefix, "IMPORTER_WEBHOOK_OPS_SECRET does not start with whsec_"},
		{"in the file, from a variable", "webhooks:\n  ops:\n    url: https://example.com/ops\n    secret: \"${OPS_SECRET}\"\n",
			[]string{"OPS_SECRET=" + short}, strings.TrimPrefix(short, "whsec_"), `: line 4: webhook "ops": secret holds a key of 16 bytes, not 24 to 64`},
		{"in the file, written out", "webhooks:\n  ops: {url: \"https://example.com/ops\", secret: " + noPrefix + "}\n",
			nil, noPrefix, `: line 2: webhook "ops": secret does not start with whsec_`},
		{"in the file, without a url", "webhooks:\n  ops: {secret: \"" + whsec(fileKey) + "\"}\n",
			[]string{hookURL}, whsec(fileKey), `: line 2: webhook "ops" has no url`},
		{"in the file, twice", "webhooks:\n  ops: {url: \"https://example.com/ops\", secret: \"" + whsec(fileKey) + "\", secret: \"" + whsec(envKey) + "\"}\n",
			nil, whsec(fileKey), `webhook "ops" sets secret twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeConfig(t, tc.file, 0o600)
			}
			_, err := Load(path, tc.environ, testSchema)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %v", err)
			}
			if strings.Contains(err.Error(), tc.value) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestABadSecretOutsideLoadFailsItsWebhookOnly(t *testing.T) {
	// FromEnv checks nothing (Load does): the lookup refuses the secret
	// without showing it, and the other webhooks are untouched.
	s := FromEnv([]string{
		"IMPORTER_WEBHOOK_OPS_URL=https://example.com/ops", "IMPORTER_WEBHOOK_OPS_SECRET=whsec_sk*live*9f8e7d6c5b4a",
		"IMPORTER_WEBHOOK_URL=https://example.com/default", "IMPORTER_WEBHOOK_SECRET=" + whsec(defaultKey),
	}, nil)
	_, ok, err := s.WebhookSecret("ops")
	want := `the secret of webhook "ops" is not whsec_ followed by standard base64: fix IMPORTER_WEBHOOK_OPS_SECRET or webhooks.ops.secret in the worker's config file`
	if ok || err == nil || err.Error() != want {
		t.Fatalf("WebhookSecret(ops) = %v, %v\nwant %s", ok, err, want)
	}
	wantSecret(t, s, "default", defaultKey)
	// Another URL keeps the secret.
	wantSecret(t, s.WithWebhook("default", "http://127.0.0.1:1/hook"), "default", defaultKey)
}
