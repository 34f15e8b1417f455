package connections

import (
	"strings"
	"testing"
)

const hookSecret = "https://hooks.slack.com/services/T000/B000/sk9f8e7d6c5b4a"

func TestWebhooksComeFromTheEnvironmentByName(t *testing.T) {
	s := FromEnv([]string{
		"IMPORTER_WEBHOOK_URL=https://example.com/default",
		"IMPORTER_WEBHOOK_ON_CALL_URL=https://example.com/oncall",
		"IMPORTER_WEBHOOK_EMPTY_URL=",
		"IMPORTER_WEBHOOK_OPS_SECRET=not-a-url-setting",
	}, []string{"nebuly"})
	for name, want := range map[string]string{
		"default": "https://example.com/default", "": "https://example.com/default",
		"on_call": "https://example.com/oncall", "on-call": "https://example.com/oncall", "ON-CALL": "https://example.com/oncall",
	} {
		got, err := s.Webhook(name)
		if err != nil || got != want {
			t.Errorf("Webhook(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if got := strings.Join(s.Webhooks(), ","); got != "default,on_call" {
		t.Errorf("Webhooks() = %s", got)
	}
	_, err := s.Webhook("empty")
	want := `the worker has no webhook named "empty" (it knows default, on_call): set IMPORTER_WEBHOOK_EMPTY_URL in its environment or webhooks.empty.url in its config file`
	if err == nil || err.Error() != want {
		t.Errorf("unknown webhook: %v\nwant %s", err, want)
	}
	if _, err := FromEnv(nil, nil).Webhook("default"); err == nil || !strings.Contains(err.Error(), "(it knows none): set IMPORTER_WEBHOOK_URL") {
		t.Errorf("no webhooks: %v", err)
	}
}

func TestWebhooksInTheConfigFileAreOverriddenByTheEnvironment(t *testing.T) {
	path := writeConfig(t, `
connections:
  nebuly:
    eu: {api_key: k}
webhooks:
  oncall: {url: "${ONCALL_HOOK}"}
  team-a: {url: "https://example.com/file-team-a"}
  default: {url: "https://example.com/file-default"}
`, 0o600)
	s, err := Load(path, []string{"ONCALL_HOOK=" + hookSecret, "IMPORTER_WEBHOOK_TEAM_A_URL=https://example.com/env-team-a"}, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"oncall": hookSecret, "team-a": "https://example.com/env-team-a", "default": "https://example.com/file-default",
	} {
		if got, err := s.Webhook(name); err != nil || got != want {
			t.Errorf("Webhook(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := s.Get("nebuly", "eu"); err != nil {
		t.Errorf("the connections beside the webhooks: %v", err)
	}
	for _, line := range append(s.Webhooks(), s.Describe()...) {
		if strings.Contains(line, "hooks.slack.com") || strings.Contains(line, "example.com") {
			t.Errorf("a description shows a URL: %s", line)
		}
	}
}

func TestBadWebhooksStopTheWorkerWithoutShowingTheURL(t *testing.T) {
	env := []string{"SECRET_HOOK=" + hookSecret}
	for _, tc := range []struct {
		name, body string
		environ    []string
		want       string
	}{
		{"not a URL", "webhooks:\n  oncall: {url: \"ftp://x/" + secret + "\"}\n", nil, `webhook "oncall": url is not an http(s) URL with a host`},
		{"unknown setting", "webhooks:\n  oncall: {url: \"${SECRET_HOOK}\", token: " + secret + "}\n", nil, `webhook "oncall": unknown setting "token" (a webhook has a url and, to sign its posts, a secret)`},
		{"no url", "webhooks:\n  oncall: {}\n", nil, `webhook "oncall" has no url`},
		{"a bare value", "webhooks:\n  oncall: " + hookSecret + "\n", nil, `webhook "oncall" must map setting names to values: {url: ...}`},
		{"unset variable", "webhooks:\n  oncall: {url: \"${NOPE}\"}\n", nil, "url refers to ${NOPE}, which is not set"},
		{"twice", "webhooks:\n  on-call: {url: \"${SECRET_HOOK}\"}\n  on_call: {url: \"${SECRET_HOOK}\"}\n", nil, `webhook "on_call" appears twice`},
		{"bad name", "webhooks:\n  \"on call\": {url: \"${SECRET_HOOK}\"}\n", nil, "webhooks has a name that is not"},
		{"bad variable", "webhooks: {}\n", []string{"IMPORTER_WEBHOOK_OPS_URL=" + secret}, "IMPORTER_WEBHOOK_OPS_URL is not an http(s) URL with a host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body, 0o600)
			_, err := Load(path, append(env, tc.environ...), testSchema)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hooks.slack.com") {
				t.Fatalf("the error shows the value: %v", err)
			}
		})
	}
	// Without a file, the environment's webhooks are checked too.
	if _, err := Load("", []string{"IMPORTER_WEBHOOK_URL=hooks.slack.com/services/x"}, testSchema); err == nil ||
		err.Error() != "IMPORTER_WEBHOOK_URL is not an http(s) URL with a host" {
		t.Fatalf("a bad variable without a file: %v", err)
	}
}

func TestWithWebhookLeavesTheOriginalAlone(t *testing.T) {
	s := FromEnv(nil, []string{"nebuly"})
	s2 := s.WithWebhook("oncall", "http://127.0.0.1:1/hook").With("nebuly", "eu", map[string]string{"api_key": "k"})
	if _, err := s.Webhook("oncall"); err == nil {
		t.Error("WithWebhook changed the original")
	}
	if u, err := s2.Webhook("oncall"); err != nil || u != "http://127.0.0.1:1/hook" {
		t.Errorf("the copy: %q, %v", u, err)
	}
}
