// Package connections holds vendor credentials and endpoints, and the URLs
// of the webhooks notifications go to with the secrets that sign them, as
// the worker knows them. Workflows name a connection ("default") or a
// webhook; only the worker reads their settings, so secrets never enter
// workflow history, logs or the UI.
//
// The default connection of each vendor reads IMPORTER_<VENDOR>_<SETTING>
// environment variables, e.g. IMPORTER_NEBULY_API_KEY, and webhooks read
// IMPORTER_WEBHOOK_[<NAME>_]URL and IMPORTER_WEBHOOK_[<NAME>_]SECRET. Those
// names are a contract that scripts and tests rely on. A config file (Load)
// adds named connections, several accounts per vendor, and named webhooks,
// and may hold default ones too.
package connections

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// Default is the name of the connection that the environment defines.
const Default = "default"

// Connection is one account at one vendor.
type Connection struct {
	Vendor   string
	Name     string
	settings map[string]string
}

// Get returns a setting ("API_KEY", "BASE_URL"), or "".
func (c Connection) Get(setting string) string { return c.settings[strings.ToUpper(setting)] }

// GetOr returns a setting or def when it is unset.
func (c Connection) GetOr(setting, def string) string {
	if v := c.Get(setting); v != "" {
		return v
	}
	return def
}

// Require returns a setting, or an error that tells the operator where to
// set it: the environment variable for a default connection, the config
// file for a named one.
func (c Connection) Require(setting string) (string, error) {
	if v := c.Get(setting); v != "" {
		return v, nil
	}
	name := strings.ToLower(setting)
	if c.Name != Default {
		return "", fmt.Errorf("%s connection %q has no %s: set it under connections.%s.%s in the worker's config file",
			c.Vendor, c.Name, name, c.Vendor, c.Name)
	}
	return "", fmt.Errorf("%s connection %q has no %s: set %s in the worker's environment (or %s under connections.%s.default in its config file)",
		c.Vendor, c.Name, name, EnvName(c.Vendor, setting), name, c.Vendor)
}

// EnvName is the variable that holds a default-connection setting.
func EnvName(vendor, setting string) string {
	return "IMPORTER_" + strings.ToUpper(vendor) + "_" + strings.ToUpper(setting)
}

// Set is every connection and webhook the worker knows.
type Set struct {
	conns    map[string]Connection // key vendor/name
	webhooks map[string]webhook    // by webhookKey(name)
	sources  Sources               // the config file's sources block
}

// FromEnv builds the default connection of each vendor, and the webhooks,
// from environ (os.Environ() form: KEY=VALUE).
func FromEnv(environ []string, vendors []string) Set {
	s := Set{conns: map[string]Connection{}, webhooks: webhooksFromEnv(environ)}
	for _, v := range vendors {
		prefix := "IMPORTER_" + strings.ToUpper(v) + "_"
		c := Connection{Vendor: v, Name: Default, settings: map[string]string{}}
		for _, kv := range environ {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || !strings.HasPrefix(k, prefix) {
				continue
			}
			c.settings[strings.TrimPrefix(k, prefix)] = val
		}
		s.conns[v+"/"+Default] = c
	}
	return s
}

// FromOS is FromEnv on the process environment.
func FromOS(vendors []string) Set { return FromEnv(os.Environ(), vendors) }

// With returns a copy of s with one connection's settings replaced; the
// embedded demo uses it to point vendors at the sandbox fakes.
func (s Set) With(vendor, name string, settings map[string]string) Set {
	out := s.copy()
	c := Connection{Vendor: vendor, Name: name, settings: map[string]string{}}
	for k, v := range settings {
		c.settings[strings.ToUpper(k)] = v
	}
	out.conns[vendor+"/"+name] = c
	return out
}

// copy is a copy of s whose maps may be changed.
func (s Set) copy() Set {
	out := Set{conns: make(map[string]Connection, len(s.conns)+1), webhooks: make(map[string]webhook, len(s.webhooks)+1), sources: s.sources}
	for k, c := range s.conns {
		out.conns[k] = c
	}
	for k, u := range s.webhooks {
		out.webhooks[k] = u
	}
	return out
}

// Get returns the named connection of a vendor.
func (s Set) Get(vendor, name string) (Connection, error) {
	if name == "" {
		name = Default
	}
	c, ok := s.conns[vendor+"/"+name]
	if !ok {
		return Connection{}, fmt.Errorf("the worker has no %s connection named %q (known: %s)", vendor, name, strings.Join(s.names(vendor), ", "))
	}
	return c, nil
}

func (s Set) names(vendor string) []string {
	var out []string
	for _, c := range s.conns {
		if c.Vendor == vendor {
			out = append(out, c.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Describe lists the connections with which settings are set (never their
// values), for the worker's startup log.
func (s Set) Describe() []string {
	var out []string
	for _, c := range s.conns {
		var keys []string
		for k, v := range c.settings {
			if v != "" {
				keys = append(keys, strings.ToLower(k))
			}
		}
		sort.Strings(keys)
		out = append(out, fmt.Sprintf("%s/%s: %s", c.Vendor, c.Name, strings.Join(keys, ",")))
	}
	sort.Strings(out)
	return out
}

// ValidName says whether s can name a connection: 1 to 64 letters, digits,
// '-', '_' or '.', starting with a letter or digit. Workflow input names a
// connection; a name that no connection could have is refused before it
// reaches a log or a metric's label.
func ValidName(s string) bool { return validConnName(s) }
