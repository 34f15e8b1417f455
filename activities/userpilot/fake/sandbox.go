package fake

import "importer/activities/vendorapi/fakeapi"

// sandboxRowsPerMinute is how fast the sandbox works through jobs: at the
// documented pace (about 1,200 rows a minute) a demo would last hours.
const sandboxRowsPerMinute = 3_000_000

// Sandbox runs the fake as the sandbox's Userpilot.
func Sandbox(o fakeapi.SandboxOptions) fakeapi.Sandbox {
	return sandbox{New(Options{APIKey: o.Key, Latency: o.Latency, RowsPerMinute: sandboxRowsPerMinute}), o.Key}
}

type sandbox struct {
	*Server
	key string
}

func (s sandbox) Settings(baseURL string) map[string]string {
	return map[string]string{"BASE_URL": baseURL, "API_KEY": s.key}
}

func (sandbox) Close() {}
