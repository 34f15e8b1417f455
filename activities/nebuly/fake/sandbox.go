package fake

import "importer/activities/vendorapi/fakeapi"

// Sandbox runs the fake as the sandbox's Nebuly.
func Sandbox(o fakeapi.SandboxOptions) fakeapi.Sandbox {
	return sandbox{New(Options{APIKey: o.Key, Latency: o.Latency}), o.Key}
}

type sandbox struct {
	*Server
	key string
}

func (s sandbox) Settings(baseURL string) map[string]string {
	return map[string]string{"BASE_URL": baseURL, "API_KEY": s.key}
}

func (sandbox) Close() {}
