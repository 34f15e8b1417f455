package fake

import "importer/activities/vendorapi/fakeapi"

// The sandbox's Fynd application.
const (
	SandboxClientID      = "sandbox-client"
	SandboxCompanyID     = "559"
	SandboxApplicationID = "64b000000000000000000001"
)

// Sandbox runs the fake as the sandbox's Fynd application. It knows every
// user a list names, as a storefront that registers users on first sight
// would.
func Sandbox(o fakeapi.SandboxOptions) fakeapi.Sandbox {
	return sandbox{New(Options{ClientID: SandboxClientID, ClientSecret: o.Key, CompanyID: SandboxCompanyID,
		ApplicationID: SandboxApplicationID, AutoCreateUsers: true, Latency: o.Latency}), o.Key}
}

type sandbox struct {
	*Server
	key string
}

func (s sandbox) Settings(baseURL string) map[string]string {
	return map[string]string{"BASE_URL": baseURL, "CLIENT_ID": SandboxClientID, "CLIENT_SECRET": s.key,
		"COMPANY_ID": SandboxCompanyID, "APPLICATION_ID": SandboxApplicationID}
}

func (s sandbox) Count() int { return s.UserCount() }
