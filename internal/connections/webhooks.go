package connections

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultWebhook is the name of the webhook IMPORTER_WEBHOOK_URL defines.
const DefaultWebhook = "default"

// webhook is what the worker knows of one webhook. Both fields are secrets.
type webhook struct {
	// url is where notifications go; "" only for a secret whose
	// webhook has no URL, which Load refuses.
	url string
	// secret, a Standard Webhooks "whsec_<base64 key>", signs the posts;
	// "" posts them unsigned.
	secret string
}

// Settings of a webhook, as its variables end (IMPORTER_WEBHOOK_[<NAME>_]URL)
// and as a config file names them in lower case.
const (
	webhookURL    = "URL"
	webhookSecret = "SECRET"
)

// Bounds of a webhook's signing key, in bytes, as the Standard Webhooks
// specification sets them for HMAC-SHA256 secrets.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// webhookKey is how a webhook's name is compared: in lower case, with '-'
// and '_' alike, so --notify on-call finds IMPORTER_WEBHOOK_ON_CALL_URL.
func webhookKey(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
}

// WebhookEnvName is the variable that defines a webhook.
func WebhookEnvName(name string) string { return webhookEnvName(name, webhookURL) }

// webhookEnvName is the variable that holds one setting of a webhook:
// IMPORTER_WEBHOOK_<SETTING> for the default one,
// IMPORTER_WEBHOOK_<NAME>_<SETTING> for the others.
func webhookEnvName(name, setting string) string {
	k := webhookKey(name)
	if k == DefaultWebhook || k == "" {
		return "IMPORTER_WEBHOOK_" + setting
	}
	return "IMPORTER_WEBHOOK_" + strings.ToUpper(k) + "_" + setting
}

// webhookVar reads a variable's name as a webhook's setting: the webhook's
// key and webhookURL or webhookSecret. A name ends with one suffix only, so
// IMPORTER_WEBHOOK_OPS_SECRET is never a webhook named "ops_secret" and
// IMPORTER_WEBHOOK_SECRET_URL is the URL of a webhook named "secret".
func webhookVar(name string) (key, setting string, ok bool) {
	rest, ok := strings.CutPrefix(name, "IMPORTER_WEBHOOK_")
	if !ok {
		return "", "", false
	}
	for _, setting := range []string{webhookURL, webhookSecret} {
		if rest == setting {
			return DefaultWebhook, setting, true
		}
		if n, ok := strings.CutSuffix(rest, "_"+setting); ok && n != "" {
			return webhookKey(n), setting, true
		}
	}
	return "", "", false
}

// webhooksFromEnv reads the IMPORTER_WEBHOOK_[<NAME>_]URL and
// IMPORTER_WEBHOOK_[<NAME>_]SECRET variables that are set and not empty,
// by key.
func webhooksFromEnv(environ []string) map[string]webhook {
	out := map[string]webhook{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		key, setting, ok := webhookVar(k)
		if !ok {
			continue
		}
		w := out[key]
		if setting == webhookURL {
			w.url = v
		} else {
			w.secret = v
		}
		out[key] = w
	}
	return out
}

// parseSecret decodes a Standard Webhooks secret, "whsec_" and the key in
// standard base64, into the HMAC key. Its errors say what is wrong without
// quoting the secret.
func parseSecret(raw string) ([]byte, error) {
	b64, ok := strings.CutPrefix(raw, "whsec_")
	if !ok {
		return nil, errors.New("does not start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("is not whsec_ followed by standard base64")
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("holds a key of %d bytes, not %d to %d", len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
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
	w := s.webhooks[key]
	if w.url == "" {
		known := "it knows none"
		if names := s.Webhooks(); len(names) > 0 {
			known = "it knows " + strings.Join(names, ", ")
		}
		return "", fmt.Errorf("the worker has no webhook named %q (%s): set %s in its environment or webhooks.%s.url in its config file",
			name, known, WebhookEnvName(key), key)
	}
	if err := checkWebhookURL(w.url); err != nil {
		return "", fmt.Errorf("the url of webhook %q %v: fix %s or webhooks.%s.url in the worker's config file", key, err, WebhookEnvName(key), key)
	}
	return w.url, nil
}

// WebhookSecret returns the HMAC key that signs the named webhook's posts
// ("" is the default webhook), and whether it has one: a webhook without a
// secret, or one the worker does not know, has none (false, no error). The
// error, for a secret that is not a Standard Webhooks one (Load refuses
// those at start), names where it is set, never its value.
func (s Set) WebhookSecret(name string) ([]byte, bool, error) {
	key := webhookKey(name)
	if key == "" {
		key = DefaultWebhook
	}
	w := s.webhooks[key]
	if w.url == "" || w.secret == "" {
		return nil, false, nil
	}
	k, err := parseSecret(w.secret)
	if err != nil {
		return nil, false, fmt.Errorf("the secret of webhook %q %v: fix %s or webhooks.%s.secret in the worker's config file",
			key, err, webhookEnvName(key, webhookSecret), key)
	}
	return k, true, nil
}

// Webhooks lists the names of the webhooks the worker knows (never their
// URLs), for its startup log and for messages.
func (s Set) Webhooks() []string {
	out := make([]string, 0, len(s.webhooks))
	for k, w := range s.webhooks {
		if w.url != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// WithWebhook returns a copy of s that knows one more webhook (or another
// URL for one it knows, whose secret it keeps); tests use it.
func (s Set) WithWebhook(name, rawURL string) Set {
	out := s.copy()
	w := out.webhooks[webhookKey(name)]
	w.url = rawURL
	out.webhooks[webhookKey(name)] = w
	return out
}

// validWebhooks checks every webhook's URL and secret once, when the
// worker starts, so a typo stops it instead of failing the first
// notification. fromEnv are the webhook settings the environment set;
// errors name their variable, or else the config file at path.
func (s Set) validWebhooks(fromEnv map[string]webhook, path string) error {
	keys := make([]string, 0, len(s.webhooks))
	for k := range s.webhooks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, env := s.webhooks[k], fromEnv[k]
		if w.url == "" {
			// Only a variable leaves a webhook without a URL: a file's
			// webhook needs one.
			return fmt.Errorf("%s is set but webhook %q has no URL: set %s too, or webhooks.%s.url in the config file",
				webhookEnvName(k, webhookSecret), k, WebhookEnvName(k), k)
		}
		if err := checkWebhookURL(w.url); err != nil {
			if env.url != "" || path == "" {
				return fmt.Errorf("%s %v", WebhookEnvName(k), err)
			}
			return fmt.Errorf("config file %s: webhook %q: url %v", path, k, err)
		}
		if w.secret == "" {
			continue
		}
		if _, err := parseSecret(w.secret); err != nil {
			if env.secret != "" || path == "" {
				return fmt.Errorf("%s %v", webhookEnvName(k, webhookSecret), err)
			}
			return fmt.Errorf("config file %s: webhook %q: secret %v", path, k, err)
		}
	}
	return nil
}

// parseWebhooks reads a config file's webhooks block: names mapped to
// {url: ..., secret: ...}, the secret optional.
func parseWebhooks(n *yaml.Node, lookup func(string) (string, bool)) (map[string]webhook, error) {
	out := map[string]webhook{}
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
		var w webhook
		for j := 0; j+1 < len(v.Content); j += 2 {
			sk, sv := v.Content[j], resolve(v.Content[j+1])
			var field *string
			switch sk.Value {
			case "url":
				field = &w.url
			case "secret":
				field = &w.secret
			default:
				return nil, at(sk, "webhook %q: unknown setting %s (a webhook has a url and, to sign its posts, a secret)", key, quoteName(sk.Value))
			}
			if *field != "" {
				return nil, at(sk, "webhook %q sets %s twice", key, sk.Value)
			}
			switch {
			case sv.Kind != yaml.ScalarNode:
				return nil, at(sv, "webhook %q: %s must be a single value", key, sk.Value)
			case isNull(sv):
				return nil, at(sv, "webhook %q: %s has no value", key, sk.Value)
			}
			val, err := expand(sv.Value, lookup)
			if err != nil {
				return nil, at(sv, "webhook %q: %s %v", key, sk.Value, err)
			}
			if val == "" {
				return nil, at(sv, "webhook %q: %s is empty", key, sk.Value)
			}
			if sk.Value == "secret" {
				if _, err := parseSecret(val); err != nil {
					return nil, at(sv, "webhook %q: secret %v", key, err)
				}
			}
			*field = val
		}
		if w.url == "" {
			return nil, at(k, "webhook %q has no url", key)
		}
		out[key] = w
	}
	return out, nil
}
