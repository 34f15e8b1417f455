package userpilot

import (
	"context"
	"strings"

	"importer/activities/vendorapi"
)

// Vendor is Userpilot as the import flow calls it: a bulk call only queues
// a job, which is waited for, and an account processes one bulk job at a
// time, so jobs go through the account's gate, at most MaxBulk rows each.
type Vendor struct{}

// Spec says what a Userpilot import needs: a user_id per row and an API key.
func (Vendor) Spec() vendorapi.Spec {
	return vendorapi.Spec{
		Name:        vendor,
		Required:    RequiredFields,
		KeyFields:   []string{FieldUserID},
		Credentials: []string{"API_KEY"},
		Settings:    []string{"BASE_URL"},
		Endpoints:   []string{"BASE_URL"},
		Traits:      vendorapi.Traits{Gated: true, Jobs: true, MaxChunkRows: MaxBulk},
	}
}

// Build makes a User of a mapped row; its key is the user_id.
func (Vendor) Build(fields map[string]any) (User, string, error) {
	u, err := FromFields(fields)
	return u, u.UserID, err
}

// KeyOf is the user_id column, trimmed as FromFields trims it.
func (Vendor) KeyOf(values []string) string { return strings.TrimSpace(values[0]) }

func (Vendor) client(to vendorapi.Target) (*Client, error) {
	key, err := to.Conn.Require("API_KEY")
	if err != nil {
		return nil, err
	}
	return New(to.Conn.GetOr("BASE_URL", DefaultBaseURL), key, to.HTTP), nil
}

// Submit queues users as one bulk identify job.
func (v Vendor) Submit(ctx context.Context, to vendorapi.Target, users []User) (string, error) {
	c, err := v.client(to)
	if err != nil {
		return "", err
	}
	job, err := c.BulkIdentify(ctx, users)
	if err != nil {
		return "", err
	}
	return job.JobID, nil
}

// Job reads a job's status.
func (v Vendor) Job(ctx context.Context, to vendorapi.Target, id string) (vendorapi.JobStatus, error) {
	c, err := v.client(to)
	if err != nil {
		return vendorapi.JobStatus{}, err
	}
	j, err := c.Job(ctx, id)
	if err != nil {
		return vendorapi.JobStatus{}, err
	}
	return vendorapi.JobStatus{Status: j.Status, Terminal: j.Terminal(), Failed: j.Failed(), Reason: j.Reason, Done: j.CompletedRows, Total: j.TotalRows}, nil
}
