package activities

import "net/url"

// redact drops a URL's query and user info, which can hold a presigned
// credential, before the URL goes into an error or a log.
func redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return uri
	}
	u.RawQuery = ""
	u.User = nil
	u.Fragment = ""
	return u.String()
}
