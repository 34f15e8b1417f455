package nebuly

import (
	"context"
	"fmt"
	"strings"
	"time"

	"importer/activities/vendorapi"
)

// Vendor is Nebuly as the import flow calls it: users are upserted in
// batches (POST, then PUT for the ones that exist; PUT first for the ones
// an incremental state knows), and users that left a list can be ended by
// setting active_to.
type Vendor struct{}

// Spec says what a Nebuly import needs: an end_user per row and an API key.
func (Vendor) Spec() vendorapi.Spec {
	return vendorapi.Spec{
		Name:        vendor,
		Required:    RequiredFields,
		KeyFields:   []string{FieldEndUser},
		Credentials: []string{"API_KEY"},
		Settings:    []string{"BASE_URL"},
		Endpoints:   []string{"BASE_URL"},
		Traits:      vendorapi.Traits{Deactivates: true},
	}
}

// Build makes a User of a mapped row; its key is the end_user.
func (Vendor) Build(fields map[string]any) (User, string, error) {
	u, err := FromFields(fields)
	return u, u.EndUser, err
}

// KeyOf is the end_user column, trimmed as FromFields trims it.
func (Vendor) KeyOf(values []string) string { return strings.TrimSpace(values[0]) }

func (Vendor) client(to vendorapi.Target) (*Client, error) {
	key, err := to.Conn.Require("API_KEY")
	if err != nil {
		return nil, err
	}
	return New(to.Conn.GetOr("BASE_URL", DefaultBaseURL), key, to.HTTP), nil
}

// Send upserts one batch; known users go PUT first.
func (v Vendor) Send(ctx context.Context, to vendorapi.Target, users []User, known map[string]bool) (vendorapi.Outcome, error) {
	c, err := v.client(to)
	if err != nil {
		return vendorapi.Outcome{}, err
	}
	out, err := c.UpsertKnown(ctx, users, known)
	if err != nil {
		return vendorapi.Outcome{}, err
	}
	failed := make(map[string]string, len(out.Failed))
	for _, f := range out.Failed {
		failed[f.EndUser] = f.Reason
	}
	return vendorapi.Outcome{Inserted: out.Inserted, Updated: out.Updated, Failed: failed}, nil
}

// deactivateBatch is how many users one deactivating PUT carries.
const deactivateBatch = 1000

// Deactivate sets active_to to today on each of the users that still
// exists. The API has no partial update, so each stored user is read and
// sent back whole with the new date.
func (v Vendor) Deactivate(ctx context.Context, to vendorapi.Target, gone map[string]bool, progress func(done int)) (vendorapi.Deactivated, error) {
	c, err := v.client(to)
	if err != nil {
		return vendorapi.Deactivated{}, err
	}
	users, err := c.List(ctx)
	if err != nil {
		return vendorapi.Deactivated{}, fmt.Errorf("list users to deactivate: %w", err)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	var out vendorapi.Deactivated
	var batch []User
	found := 0
	for _, u := range users {
		if !gone[u.EndUser] {
			continue
		}
		found++
		if u.ActiveTo != "" && u.ActiveTo <= today {
			continue // already ended
		}
		u.ActiveTo = today
		if u.Tags == nil {
			u.Tags = map[string]string{} // required by PUT
		}
		if u.ActiveFrom > today {
			u.ActiveFrom = today // active_to must not come before active_from
		}
		batch = append(batch, u)
	}
	out.Absent = len(gone) - found
	for i := 0; i < len(batch); i += deactivateBatch {
		part := batch[i:min(i+deactivateBatch, len(batch))]
		updated, err := c.Update(ctx, part)
		if err != nil {
			return out, fmt.Errorf("deactivate %d users: %w", len(part), err)
		}
		out.Deactivated += len(updated)
		progress(out.Deactivated)
	}
	return out, nil
}
