package connections

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultWebhook is the name of the webhook IMPORTER_WEBHOOK_URL defines.
const DefaultWebhook = "default"

// webhookKey is how a webhook's name is compared: in lower case, with '-'
// and '_' alike, so --notify on-call finds IMPORTER_WEBHOOK_ON_CALL_URL.
func webhookKey(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
}

// WebhookEnvName is the variable that defines a webhook.
func WebhookEnvName(name string) string {
	k := webhookKey(name)
	if k == DefaultWebhook || k == "" {
		return "IMPORTER_WEBHOOK_URL"
	}
	return "IMPORTER_WEBHOOK_" + strings.ToUpper(k) + "_URL"
}

// webhooksFromEnv reads the IMPORTER_WEBHOOK_[<NAME>_]URL variables that
// are set and not empty, by key.
func webhooksFromEnv(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" || !strings.HasPrefix(k, "IMPORTER_WEBHOOK_") || !strings.HasSuffix(k, "_URL") {
			continue
		}
		name := DefaultWebhook
		if k != "IMPORTER_WEBHOOK_URL" {
			name = strings.TrimSuffix(strings.TrimPrefix(k, "IMPORTER_WEBHOOK_"), "_URL")
		}
		if name == "" {
			continue
		}
		out[webhookKey(name)] = v
	}
	return out
}

// checkWebhookURL says what is wrong with a webhook's URL without quoting
// it: the URL is the secret.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("is not an http(s) URL with a host")
	}
	return nil
}

// Webhook returns the URL of the named webhook ("" is the default one), or
// an error in one sentence that says how to define it.
func (s Set) Webhook(name string) (string, error) {
	key := webhookKey(name)
	if key == "" {
		key = DefaultWebhook
	}
	u, ok := s.webhooks[key]
	if !ok {
		known := "it knows none"
		if names := s.Webhooks(); len(names) > 0 {
			known = "it knows " + strings.Join(names, ", ")
		}
		return "", fmt.Errorf("the worker has no webhook named %q (%s): set %s in its environment or webhooks.%s.url in its config file",
			name, known, WebhookEnvName(key), key)
	}
	if err := checkWebhookURL(u); err != nil {
		return "", fmt.Errorf("the url of webhook %q %v: fix %s or webhooks.%s.url in the worker's config file", key, err, WebhookEnvName(key), key)
	}
	return u, nil
}

// Webhooks lists the names of the webhooks the worker knows (never their
// URLs), for its startup log and for messages.
func (s Set) Webhooks() []string {
	out := make([]string, 0, len(s.webhooks))
	for k := range s.webhooks {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// WithWebhook returns a copy of s that knows one more webhook (or another
// URL for one it knows); tests use it.
func (s Set) WithWebhook(name, rawURL string) Set {
	out := s.copy()
	out.webhooks[webhookKey(name)] = rawURL
	return out
}

// validWebhooks checks every webhook's URL once, when the worker starts, so
// a typo stops it instead of failing the first notification.
func (s Set) validWebhooks(fromEnv map[string]string, path string) error {
	for _, k := range s.Webhooks() {
		if err := checkWebhookURL(s.webhooks[k]); err != nil {
			if _, env := fromEnv[k]; env || path == "" {
				return fmt.Errorf("%s %v", WebhookEnvName(k), err)
			}
			return fmt.Errorf("config file %s: webhook %q: url %v", path, k, err)
		}
	}
	return nil
}

// parseWebhooks reads a config file's webhooks block: names mapped to
// {url: ...}.
func parseWebhooks(n *yaml.Node, lookup func(string) (string, bool)) (map[string]string, error) {
	out := map[string]string{}
	if isNull(n) {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, at(n, "webhooks must map webhook names to their settings")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if !validConnName(k.Value) || strings.Contains(k.Value, ".") {
			return nil, at(k, "webhooks has a name that is not 1 to 64 letters, digits, '-' or '_'")
		}
		key := webhookKey(k.Value)
		if _, dup := out[key]; dup {
			return nil, at(k, "webhook %q appears twice", key)
		}
		if v.Kind != yaml.MappingNode {
			return nil, at(v, "webhook %q must map setting names to values: {url: ...}", key)
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			sk, sv := v.Content[j], resolve(v.Content[j+1])
			if sk.Value != "url" {
				return nil, at(sk, "webhook %q: unknown setting %s (a webhook has a url only)", key, quoteName(sk.Value))
			}
			if _, dup := out[key]; dup {
				return nil, at(sk, "webhook %q sets url twice", key)
			}
			switch {
			case sv.Kind != yaml.ScalarNode:
				return nil, at(sv, "webhook %q: url must be a single value", key)
			case isNull(sv):
				return nil, at(sv, "webhook %q: url has no value", key)
			}
			val, err := expand(sv.Value, lookup)
			if err != nil {
				return nil, at(sv, "webhook %q: url %v", key, err)
			}
			if val == "" {
				return nil, at(sv, "webhook %q: url is empty", key)
			}
			out[key] = val
		}
		if _, ok := out[key]; !ok {
			return nil, at(k, "webhook %q has no url", key)
		}
	}
	return out, nil
}
