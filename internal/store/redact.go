package store

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// A store setting holds the database's password: in a URL's user info
// (postgres://importer:PASSWORD@db/importer), in its query (?password=,
// ?sslpassword=), or as keyword/value pairs (host=db password=...). No
// message shows it: messages show redacted forms, and scrub what a parser
// says of a setting.

// mask replaces a secret in the forms messages show.
const mask = "xxxxx"

// secretParam matches a password-like parameter of a URL's query or of
// keyword/value settings, with its value: bare, or single-quoted as libpq
// allows, which may hold spaces and escaped quotes.
var secretParam = regexp.MustCompile(`(?i)(\b(?:ssl)?password\s*=\s*)('(?:\\.|[^'\\])*'?|[^&\s]*)`)

// redactURL is a URL setting as messages may show it: the user info's
// password, wherever it appears, and the values of password-like query
// parameters masked (see scrub). A URL that does not parse is not shown:
// it is "".
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	if _, has := p.User.Password(); has {
		p.User = url.UserPassword(p.User.Username(), mask)
	}
	p.Fragment, p.RawFragment = "", ""
	return scrub(p.String(), u)
}

// keywordSetting matches settings written as keyword/value pairs, libpq's
// other form ("host=db user=importer password=...").
var keywordSetting = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)

// settingKey matches a keyword of keyword/value settings.
var settingKey = regexp.MustCompile(`(?:^|\s)([A-Za-z_]+)\s*=`)

// settingKeys lists the keywords of keyword/value settings, never their
// values.
func settingKeys(s string) string {
	var keys []string
	for _, m := range settingKey.FindAllStringSubmatch(secretParam.ReplaceAllString(s, "${1}"), -1) {
		if k := strings.ToLower(m[1]); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return strings.Join(keys, ", ")
}

// scrub removes from msg, a parser's or a driver's message about setting,
// every secret setting holds: the user info's password (as written and
// decoded) and the values of password-like parameters. It finds them by
// position, so a setting too malformed to parse is scrubbed too.
func scrub(msg, setting string) string {
	var secrets []string
	add := func(s string) {
		s = strings.Trim(s, "'")
		if s != "" {
			secrets = append(secrets, s)
			for _, unescape := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
				if d, err := unescape(s); err == nil && d != s {
					secrets = append(secrets, d)
				}
			}
		}
	}
	if _, rest, ok := strings.Cut(setting, "://"); ok {
		authority := rest
		if i := strings.IndexAny(authority, "?#"); i >= 0 {
			authority = authority[:i]
		}
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
				add(pw)
			}
		}
	}
	for _, m := range secretParam.FindAllStringSubmatch(setting, -1) {
		add(m[2])
	}
	// A parser quotes what it stumbled on ("invalid URL escape \"%zz\""),
	// which may be a piece of a secret.
	msg = quoted.ReplaceAllStringFunc(msg, func(q string) string {
		for _, s := range secrets {
			if len(q) > 2 && strings.Contains(s, q[1:len(q)-1]) {
				return `"` + mask + `"`
			}
		}
		return q
	})
	// The longest first, so that a secret holding another is masked whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, mask)
	}
	return msg
}

// quoted matches a double-quoted piece of a message.
var quoted = regexp.MustCompile(`"[^"]*"`)
