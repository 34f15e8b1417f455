package bitlabs

import (
	"context"
	"strings"

	"importer/activities/vendorapi"
)

// Vendor is BitLabs as the import flow calls it. BitLabs runs one bulk
// import (a request of more than one user) at a time per account, so bulks
// go through the account's gate; single-user requests may run in parallel.
type Vendor struct{}

// Spec says what a BitLabs import needs: the user fields BitLabs requires
// and an S2S token.
func (Vendor) Spec() vendorapi.Spec {
	return vendorapi.Spec{
		Name:        "bitlabs",
		Required:    RequiredFields,
		KeyFields:   []string{FieldUID},
		Credentials: []string{"S2S_TOKEN"},
		Settings:    []string{"BASE_URL"},
		Endpoints:   []string{"BASE_URL"},
		Traits:      vendorapi.Traits{Gated: true, SingleBypass: true},
	}
}

// Build makes a User of a mapped row; its key is the uid.
func (Vendor) Build(fields map[string]any) (User, string, error) {
	u, err := FromFields(fields)
	return u, u.UID, err
}

// KeyOf is the uid column, trimmed as FromFields trims it.
func (Vendor) KeyOf(values []string) string { return strings.TrimSpace(values[0]) }

// Send imports one batch. BitLabs does not say which users were new: all
// count as inserted.
func (Vendor) Send(ctx context.Context, to vendorapi.Target, users []User, _ map[string]bool) (vendorapi.Outcome, error) {
	token, err := to.Conn.Require("S2S_TOKEN")
	if err != nil {
		return vendorapi.Outcome{}, err
	}
	res, err := New(to.Conn.GetOr("BASE_URL", DefaultBaseURL), token, to.HTTP).Import(ctx, users)
	if err != nil {
		return vendorapi.Outcome{}, err
	}
	failed := make(map[string]string, len(res.Failed))
	for _, f := range res.Failed {
		failed[f.UID] = f.Reason
	}
	return vendorapi.Outcome{Inserted: res.SuccessCount, Failed: failed}, nil
}
