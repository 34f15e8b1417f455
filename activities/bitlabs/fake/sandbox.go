package fake

import "importer/activities/vendorapi/fakeapi"

// Sandbox runs the fake as the sandbox's BitLabs. A bulk import holds the
// account for a while, as at BitLabs.
func Sandbox(o fakeapi.SandboxOptions) fakeapi.Sandbox {
	return sandbox{New(Options{Token: o.Key, Latency: o.Latency, BulkLatency: 2 * o.Latency}), o.Key}
}

type sandbox struct {
	*Server
	key string
}

func (s sandbox) Settings(baseURL string) map[string]string {
	return map[string]string{"BASE_URL": baseURL, "S2S_TOKEN": s.key}
}

func (sandbox) Close() {}
