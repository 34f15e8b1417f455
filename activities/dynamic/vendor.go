package dynamic

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"importer/activities/vendorapi"
	"importer/internal/connections"
)

// DefaultRequestsPerMinute is Dynamic's documented limit on the bulk
// endpoint, per IP.
const DefaultRequestsPerMinute = 150

// Vendor is Dynamic as the import flow calls it: the bulk endpoint answers
// at once, and its limit is a request rate (150 a minute per IP), which the
// pacer keeps across workers.
type Vendor struct{}

// Spec says what a Dynamic import needs: an id or an e-mail per row, an API
// token and an environment.
func (Vendor) Spec() vendorapi.Spec {
	return vendorapi.Spec{
		Name:        "dynamic",
		AnyOf:       []string{FieldID, FieldEmail},
		KeyFields:   []string{FieldID, FieldEmail},
		Credentials: []string{"API_TOKEN", "ENVIRONMENT_ID"},
		// Pacing reads REQUESTS_PER_MINUTE and RATE_GROUP.
		Settings:  []string{"BASE_URL", "REQUESTS_PER_MINUTE", "RATE_GROUP"},
		Endpoints: []string{"BASE_URL"},
		Traits:    vendorapi.Traits{Paced: true},
	}
}

// Build makes a User of a mapped row; its key is User.Key.
func (Vendor) Build(fields map[string]any) (User, string, error) {
	u, err := FromFields(fields)
	return u, u.Key(), err
}

// KeyOf is User.Key on the id and e-mail columns.
func (Vendor) KeyOf(values []string) string {
	return User{ID: strings.TrimSpace(values[0]), Email: strings.TrimSpace(values[1])}.Key()
}

// Pacing reads the connection's limit: REQUESTS_PER_MINUTE (default 150)
// and RATE_GROUP, the pacer that connections sharing one egress IP share
// (default "shared": every connection of the deployment).
func (Vendor) Pacing(conn connections.Connection) (vendorapi.Pacing, error) {
	rpm := DefaultRequestsPerMinute
	if s := conn.Get("REQUESTS_PER_MINUTE"); s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return vendorapi.Pacing{}, fmt.Errorf("dynamic connection %q: REQUESTS_PER_MINUTE %q is not a positive whole number", conn.Name, s)
		}
		rpm = n
	}
	return vendorapi.Pacing{Group: conn.GetOr("RATE_GROUP", "shared"), Interval: vendorapi.IntervalFor(rpm, time.Minute)}, nil
}

// Send upserts one batch.
func (Vendor) Send(ctx context.Context, to vendorapi.Target, users []User, _ map[string]bool) (vendorapi.Outcome, error) {
	token, err := to.Conn.Require("API_TOKEN")
	if err != nil {
		return vendorapi.Outcome{}, err
	}
	env, err := to.Conn.Require("ENVIRONMENT_ID")
	if err != nil {
		return vendorapi.Outcome{}, err
	}
	res, err := New(to.Conn.GetOr("BASE_URL", DefaultBaseURL), token, env, to.HTTP).BulkUpsert(ctx, users)
	if err != nil {
		return vendorapi.Outcome{}, err
	}
	failed := make(map[string]string, len(res.Failed))
	for _, f := range res.Failed {
		failed[f.Key] = f.Reason
	}
	return vendorapi.Outcome{Inserted: res.Created, Updated: res.Updated, Failed: failed}, nil
}
