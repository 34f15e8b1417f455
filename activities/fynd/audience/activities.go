// Package audience holds the activities of Fynd's audience sync
// (workflows.AudienceSync) and group lookup: reading and validating a list
// into files a Fynd job fetches by URL, the attribute definitions and bulk
// jobs, the group's sync, processing and refresh, and the final check. Each
// vendor step is its own activity, so what Fynd answered (a job or group
// id) is in history before anything waits on it; no member's data goes
// into history.
//
// One file a concern: audience.go prepares the list, attributes.go the
// attribute definitions and jobs, group.go the group's sync and wait (and
// diffMembers, the patch), listing.go the member listing that survives a
// retry, refresh.go the refresh of total users, verify.go the final check
// and Fynd's error files, finish.go the merge of Fynd's rejects and the
// clean-up, lookup.go the group lookup.
package audience

import (
	"net/http"
	"sync"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"importer/activities/fynd"
	"importer/activities/source"
	"importer/internal/connections"
	"importer/internal/limits"
	"importer/internal/store"
)

// Activities carries what the audience activities need from the worker. It
// holds no per-sync state: any worker can run any step.
type Activities struct {
	Connections connections.Set
	// Store keeps the sync's rejects, where every worker reads them.
	Store  *store.Store
	Opener *source.Opener
	// HTTP is the client for Fynd's calls; its timeout bounds one call.
	HTTP *http.Client
	// Artifacts publishes the files Fynd fetches by URL; without it a sync
	// fails with a Config failure.
	Artifacts ArtifactStore
	// Limits are the operator's caps; a sync's polls of Fynd are no more
	// frequent than Limits.MinPoll, whatever its input asks. Zero fields
	// are limits' defaults.
	Limits limits.Limits

	// One Fynd client per connection, kept for its OAuth token.
	fyndMu      sync.Mutex
	fyndClients map[string]*fynd.Client
}

// Register registers the activities under their public names.
func (a *Activities) Register(w worker.ActivityRegistry) {
	for name, fn := range map[string]any{
		PrepareAudienceName:   a.PrepareAudience,
		EnsureAttributesName:  a.EnsureAttributes,
		StartAttributeJobName: a.StartAttributeJob,
		WaitAttributeJobName:  a.WaitAttributeJob,
		SyncGroupName:         a.SyncGroup,
		WaitGroupName:         a.WaitGroup,
		RefreshGroupName:      a.RefreshGroup,
		WaitRefreshName:       a.WaitRefresh,
		VerifyGroupName:       a.VerifyGroup,
		FinishAudienceName:    a.FinishAudience,
		LookupGroupsName:      a.LookupGroups,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}
