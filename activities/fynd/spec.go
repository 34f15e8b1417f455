package fynd

import "importer/activities/vendorapi"

// Credentials are the connection settings an audience sync needs.
var Credentials = []string{"CLIENT_ID", "CLIENT_SECRET", "COMPANY_ID", "APPLICATION_ID"}

// Spec says what Fynd needs: it takes no imports, only audience syncs,
// with an application's OAuth client; the other settings are the base URL
// and the path overrides (PATH_TOKEN, ...).
func Spec() vendorapi.Spec {
	return vendorapi.Spec{
		Name:        "fynd",
		Credentials: Credentials,
		Settings:    append([]string{"BASE_URL"}, PathSettings()...),
		// A path may be a full URL, and the token path gets the client
		// secret.
		Endpoints: append([]string{"BASE_URL"}, PathSettings()...),
		Traits:    vendorapi.Traits{Audiences: true},
	}
}
