package fake

import "importer/activities/vendorapi/fakeapi"

// Sandbox runs the fake as the sandbox's Dynamic. It keeps the documented
// 150 bulk requests a minute: the sandbox shows the pacer at work, as the
// real vendor needs it.
func Sandbox(o fakeapi.SandboxOptions) fakeapi.Sandbox {
	return sandbox{New(Options{Token: o.Key, Latency: o.Latency}), o.Key}
}

type sandbox struct {
	*Server
	key string
}

func (s sandbox) Settings(baseURL string) map[string]string {
	return map[string]string{"BASE_URL": baseURL, "API_TOKEN": s.key, "ENVIRONMENT_ID": DefaultEnvironmentID}
}

func (sandbox) Close() {}
