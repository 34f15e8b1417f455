package connections

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// errNotHTTPS is why an endpoint setting is refused. It names neither the
// setting (the caller does) nor the value (it may hold a token).
var errNotHTTPS = errors.New("must be an https:// URL (http:// only to a loopback host: 127.0.0.0/8, ::1 or localhost), so that the credentials sent there are encrypted")

// checkEndpoint says whether v may be where a vendor's calls, with their
// credentials, go: an https:// URL, or an http:// one to a loopback host,
// which sandboxes, fakes and simulators use. A value that starts with "/"
// is a path under the connection's base URL and goes where that goes.
func checkEndpoint(v string) error {
	if strings.HasPrefix(v, "/") {
		return nil
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "":
		return errNotHTTPS
	case strings.EqualFold(u.Scheme, "https"):
		return nil
	case strings.EqualFold(u.Scheme, "http") && loopback(u.Hostname()):
		return nil
	}
	return errNotHTTPS
}

// loopback says whether host names this machine: localhost, or an address
// in 127.0.0.0/8 or ::1.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// isEndpoint says whether setting is one of the vendor's endpoints.
func (v VendorSchema) isEndpoint(setting string) bool {
	for _, s := range v.Endpoints {
		if strings.EqualFold(s, setting) {
			return true
		}
	}
	return false
}

// checkEnvEndpoints checks the endpoints the environment sets for the
// default connections, naming the variable of the first one refused.
func (s Schema) checkEnvEndpoints(set Set) error {
	for _, vendor := range s.vendors() {
		c := set.conns[vendor+"/"+Default]
		for _, setting := range s[vendor].Endpoints {
			if v := c.Get(setting); v != "" {
				if err := checkEndpoint(v); err != nil {
					return fmt.Errorf("%s %w", EnvName(vendor, setting), err)
				}
			}
		}
	}
	return nil
}
