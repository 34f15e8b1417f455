package connections

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Schema says which settings the connections of each vendor take, by vendor
// name. The vendor code owns it (imports.ConnectionSchema), so a config
// file can set only what some vendor code reads.
type Schema map[string]VendorSchema

// VendorSchema lists one vendor's settings, upper case as Get takes them.
type VendorSchema struct {
	// Required are needed before any call: credentials and account ids.
	Required []string
	// Optional are read when set: base URL, limits, paths.
	Optional []string
	// Endpoints are those settings that say where calls, and the
	// credentials with them, go (the base URL, and paths that may be full
	// URLs). Load refuses one that is not https://, except to a loopback
	// host; a value starting with "/" is a path under the base URL.
	Endpoints []string
}

func (s Schema) vendors() []string {
	out := make([]string, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func (v VendorSchema) knows(setting string) bool {
	for _, list := range [][]string{v.Required, v.Optional} {
		for _, s := range list {
			if strings.EqualFold(s, setting) {
				return true
			}
		}
	}
	return false
}

// names lists the settings as a config file spells them, for messages.
func (v VendorSchema) names() string {
	var out []string
	for _, s := range append(append([]string{}, v.Required...), v.Optional...) {
		out = append(out, strings.ToLower(s))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// maxConfigSize bounds what Load reads; a real config file is a few KiB.
const maxConfigSize = 1 << 20

// Load returns the worker's connections. Every vendor of schema has a
// default connection read from environ (os.Environ form) as FromEnv does.
// When path is not "", the YAML config file there adds its connections:
//
//	connections:
//	  nebuly:
//	    eu: {api_key: "${NEBULY_EU_KEY}", base_url: "https://backend.eu.nebuly.com"}
//	    us: {api_key: "${NEBULY_US_KEY}"}
//
// Setting names are the settings lower-cased. A value may hold ${VAR}
// references to environ, so the file need not hold secrets; a variable's
// value is inserted as is, never expanded again. A vendor's connection
// named "default" in the file is the base of its default connection: each
// IMPORTER_<VENDOR>_<SETTING> variable that is set and not empty overrides
// that one setting.
//
// A webhooks block names the webhooks notifications go to (see Webhook),
// each with the secret that signs its posts if it has one (see
// WebhookSecret):
//
//	webhooks:
//	  oncall: {url: "${SLACK_ONCALL_URL}"}
//	  audit: {url: "https://audit.example.com/hooks", secret: "${AUDIT_HOOK_SECRET}"}
//
// An IMPORTER_WEBHOOK_[<NAME>_]URL or IMPORTER_WEBHOOK_[<NAME>_]SECRET
// variable overrides that one setting of the file's webhook of the same
// name. Every webhook's URL must be an http(s) URL, every secret a Standard
// Webhooks one (whsec_ and a key of 24 to 64 bytes in standard base64), and
// a secret needs its webhook's URL.
//
// The file must not be open to group or others (mode & 0o077 == 0). Unknown
// vendors and settings, and a file's connection without its vendor's
// required settings, are errors, and so is an endpoint setting
// (VendorSchema.Endpoints, in the file or in an IMPORTER_<VENDOR>_<SETTING>
// variable) that is not an https:// URL, unless its host is loopback.
// Errors name the file, the line, the vendor, the connection and the
// setting, never a value.
func Load(path string, environ []string, schema Schema) (Set, error) {
	s := FromEnv(environ, schema.vendors())
	if err := schema.checkEnvEndpoints(s); err != nil {
		return Set{}, err
	}
	if path == "" {
		return s, s.validWebhooks(s.webhooks, "")
	}
	data, err := readPrivate(path)
	if err != nil {
		return Set{}, err
	}
	env := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, dup := env[k]; !dup {
				env[k] = v
			}
		}
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	file, hooks, sources, err := parseConfig(data, lookup, schema)
	if err != nil {
		return Set{}, fmt.Errorf("config file %s: %w", path, err)
	}
	// A variable overrides that setting of the file's webhook of the same
	// name; s.webhooks holds the variables' settings already.
	fromEnv := webhooksFromEnv(environ)
	for k, fw := range hooks {
		w := s.webhooks[k]
		if w.url == "" {
			w.url = fw.url
		}
		if w.secret == "" {
			w.secret = fw.secret
		}
		s.webhooks[k] = w
	}
	if err := s.validWebhooks(fromEnv, path); err != nil {
		return Set{}, err
	}
	s.sources = sources
	for _, c := range file {
		key := c.Vendor + "/" + c.Name
		if c.Name == Default {
			for k, v := range s.conns[key].settings {
				if v != "" {
					c.settings[k] = v
				}
			}
		}
		for _, req := range schema[c.Vendor].Required {
			if c.Get(req) != "" {
				continue
			}
			where := "set it in the file"
			if c.Name == Default {
				where += " or in " + EnvName(c.Vendor, req)
			}
			return Set{}, fmt.Errorf("config file %s: %s connection %q has no %s: %s",
				path, c.Vendor, c.Name, strings.ToLower(req), where)
		}
		s.conns[key] = c
	}
	return s, nil
}

// readPrivate reads a config file that only its owner may open. The mode is
// checked on the open file, so a swap between the check and the read cannot
// slip a wider-open file past it.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("config file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("config file %s holds credentials but group or others may open it (mode %04o): chmod 600 %s",
			path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config file %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config file %s is larger than %d bytes", path, maxConfigSize)
	}
	return data, nil
}

// parseConfig reads the connections and the webhooks (settings by key) of a
// config file. It walks the YAML node tree itself rather than decoding into
// Go types: the decoder's type errors quote the offending value, which may
// be a secret.
func parseConfig(data []byte, lookup func(string) (string, bool), schema Schema) ([]Connection, map[string]webhook, Sources, error) {
	var doc yaml.Node
	var sources Sources
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// The parser's messages name a line and a problem, not the text.
		return nil, nil, sources, fmt.Errorf("not valid YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, nil, sources, nil // an empty file defines nothing
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, nil, sources, at(root, "the file must be a mapping with a connections key")
	}
	var out []Connection
	var hooks map[string]webhook
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		var err error
		switch k.Value {
		case "webhooks":
			if hooks, err = parseWebhooks(v, lookup); err != nil {
				return nil, nil, sources, err
			}
			continue
		case "sources":
			if sources, err = parseSources(v, lookup); err != nil {
				return nil, nil, sources, err
			}
			continue
		case "connections":
		default:
			return nil, nil, sources, at(k, "unknown key %s: the file has connections, webhooks and sources keys only", quoteName(k.Value))
		}
		if isNull(v) {
			continue
		}
		if v.Kind != yaml.MappingNode {
			return nil, nil, sources, at(v, "connections must map vendor names to their connections")
		}
		conns, err := parseVendors(v, lookup, schema)
		if err != nil {
			return nil, nil, sources, err
		}
		out = append(out, conns...)
	}
	return out, hooks, sources, nil
}

func parseVendors(n *yaml.Node, lookup func(string) (string, bool), schema Schema) ([]Connection, error) {
	var out []Connection
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		vendor := strings.ToLower(k.Value)
		vs, ok := schema[vendor]
		if !ok {
			return nil, at(k, "unknown vendor %s: choose one of %s", quoteName(k.Value), strings.Join(schema.vendors(), ", "))
		}
		if seen[vendor] {
			return nil, at(k, "vendor %s appears twice", vendor)
		}
		seen[vendor] = true
		if isNull(v) {
			continue
		}
		if v.Kind != yaml.MappingNode {
			return nil, at(v, "%s must map connection names to their settings", vendor)
		}
		names := map[string]bool{}
		for j := 0; j+1 < len(v.Content); j += 2 {
			ck, cv := v.Content[j], resolve(v.Content[j+1])
			name := ck.Value
			if !validConnName(name) {
				return nil, at(ck, "%s has a connection name that is not 1 to 64 letters, digits, '-', '_' or '.'", vendor)
			}
			if names[name] {
				return nil, at(ck, "%s connection %q appears twice", vendor, name)
			}
			names[name] = true
			c, err := parseSettings(vendor, name, vs, cv, lookup)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func parseSettings(vendor, name string, vs VendorSchema, n *yaml.Node, lookup func(string) (string, bool)) (Connection, error) {
	c := Connection{Vendor: vendor, Name: name, settings: map[string]string{}}
	if isNull(n) {
		return c, nil
	}
	if n.Kind != yaml.MappingNode {
		return c, at(n, "%s connection %q must map setting names to values", vendor, name)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		setting := strings.ToUpper(k.Value)
		if k.Value == "<<" {
			return c, at(k, "%s connection %q: YAML merge keys (<<) are not supported; write each setting out", vendor, name)
		}
		if !vs.knows(setting) {
			return c, at(k, "%s connection %q: unknown setting %s (%s reads %s)", vendor, name, quoteName(k.Value), vendor, vs.names())
		}
		label := strings.ToLower(setting)
		if _, dup := c.settings[setting]; dup {
			return c, at(k, "%s connection %q sets %s twice", vendor, name, label)
		}
		switch {
		case v.Kind != yaml.ScalarNode:
			return c, at(v, "%s connection %q: %s must be a single value", vendor, name, label)
		case isNull(v):
			return c, at(v, "%s connection %q: %s has no value", vendor, name, label)
		}
		val, err := expand(v.Value, lookup)
		if err != nil {
			return c, at(v, "%s connection %q: %s %v", vendor, name, label, err)
		}
		if val == "" {
			return c, at(v, "%s connection %q: %s is empty", vendor, name, label)
		}
		if vs.isEndpoint(setting) {
			if err := checkEndpoint(val); err != nil {
				return c, at(v, "%s connection %q: %s %v", vendor, name, label, err)
			}
		}
		c.settings[setting] = val
	}
	return c, nil
}

// expand replaces ${NAME} references with variables' values. A value with
// no "${" is kept as written, so a literal needs no escaping; one that must
// hold "${" comes from a variable instead, whose value is never expanded.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return "", errors.New("has a ${ without its closing }")
		}
		name := rest[:j]
		if !validEnvName(name) {
			// Not a reference; what is inside may be part of a secret.
			return "", errors.New("has a ${...} that does not hold a variable name")
		}
		v, ok := lookup(name)
		switch {
		case !ok:
			return "", fmt.Errorf("refers to ${%s}, which is not set in the worker's environment", name)
		case v == "":
			return "", fmt.Errorf("refers to ${%s}, which is empty", name)
		}
		b.WriteString(v)
		s = rest[j+1:]
	}
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func at(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{n.Line}, args...)...)
}

// quoteName quotes a key that looks like a name. Anything else, a key that
// should have been a value for one, is left out of the message: a secret
// pasted one level too deep becomes a key.
func quoteName(s string) string {
	if len(s) == 0 || len(s) > 30 {
		return "(a key that is not a name)"
	}
	letter := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			letter = true
		case r >= '0' && r <= '9', r == '_':
		default:
			return "(a key that is not a name)"
		}
	}
	if !letter {
		return "(a key that is not a name)"
	}
	return strconv.Quote(s)
}

func validConnName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '-' || r == '_' || r == '.'):
		default:
			return false
		}
	}
	return true
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}
