package audience

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd"
	"importer/activities/rejects"
	"importer/activities/vendorapi"
	"importer/internal/steps"
)

// EnsureAttributesName is what EnsureAttributes is registered as and workflows call.
const EnsureAttributesName = "EnsureAttributes"

// EnsureAttributes makes every attribute definition the sync sets exist,
// found by slug: a missing one is created, and one whose name, type or
// description differs from what the mapping declares is updated.
func (a *Activities) EnsureAttributes(ctx context.Context, in EnsureAttributesInput) ([]AttributeDefinition, error) {
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return nil, err
	}
	var out []AttributeDefinition
	for _, slug := range in.Slugs {
		want := in.Mapping.Attributes[slug]
		input := fynd.DefinitionInput{
			Name:        or(want.Name, slug),
			Slug:        slug,
			Description: or(want.Description, "Set by importer audience syncs"),
			Type:        or(want.Type, fynd.TypeString),
		}
		def, err := c.FindDefinition(ctx, slug)
		if err != nil {
			return nil, a.fyndError(conn, err, "find attribute definition %s", slug)
		}
		switch {
		case def == nil:
			created, err := c.CreateDefinition(ctx, input)
			if ve, ok := vendorapi.As(err); ok && ve.Status == http.StatusBadRequest {
				// Another sync may have created it a moment ago.
				if again, ferr := c.FindDefinition(ctx, slug); ferr == nil && again != nil {
					out = append(out, AttributeDefinition{Slug: slug, ID: again.ID, Action: "unchanged"})
					continue
				}
			}
			if err != nil {
				return nil, a.fyndError(conn, err, "create attribute definition %s", slug)
			}
			out = append(out, AttributeDefinition{Slug: slug, ID: created.ID, Action: "created"})
		case (want.Name != "" && def.Name != want.Name) || (want.Type != "" && !strings.EqualFold(def.Type, want.Type)) ||
			(want.Description != "" && def.Description != want.Description):
			if _, err := c.UpdateDefinition(ctx, def.ID, input); err != nil {
				return nil, a.fyndError(conn, err, "update attribute definition %s", slug)
			}
			out = append(out, AttributeDefinition{Slug: slug, ID: def.ID, Action: "updated"})
		default:
			out = append(out, AttributeDefinition{Slug: slug, ID: def.ID, Action: "unchanged"})
		}
	}
	return out, nil
}

func or(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// StartAttributeJobName is what StartAttributeJob is registered as and workflows call.
const StartAttributeJobName = "StartAttributeJob"

// StartAttributeJob starts the bulk attribute update of one attribute set:
// the values from the manifest on every user of the set's file. The job id
// is recorded as a heartbeat the moment Fynd answers, so an attempt retried
// after a crash returns that job instead of starting another.
func (a *Activities) StartAttributeJob(ctx context.Context, in AttributeJobInput) (AttributeJobResult, error) {
	if activity.HasHeartbeatDetails(ctx) {
		var id string
		if err := activity.GetHeartbeatDetails(ctx, &id); err == nil && id != "" {
			return AttributeJobResult{JobID: id, Status: "submitted"}, nil
		}
	}
	store, err := a.artifacts()
	if err != nil {
		return AttributeJobResult{}, err
	}
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return AttributeJobResult{}, err
	}
	man, err := readManifest(ctx, store, in.Manifest)
	if err != nil {
		return AttributeJobResult{}, err
	}
	if in.Set.Index < 0 || in.Set.Index >= len(man.Sets) || man.Sets[in.Set.Index].File != in.Set.File {
		return AttributeJobResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("attribute set %d is not in the manifest %s", in.Set.Index, in.Manifest), failure.BadInput, nil)
	}
	set := man.Sets[in.Set.Index]
	slugs := make([]string, 0, len(set.Values))
	for s := range set.Values {
		slugs = append(slugs, s)
	}
	sort.Strings(slugs)
	attrs := make([]fynd.KeyValue, 0, len(slugs))
	for _, s := range slugs {
		attrs = append(attrs, fynd.KeyValue{Key: s, Value: set.Values[s]})
	}
	url, err := store.URL(ctx, set.File, artifactTTL)
	if err != nil {
		return AttributeJobResult{}, failure.Classify(fmt.Errorf("publish attribute file %d: %w", set.Index+1, err), "")
	}
	job, err := c.BulkUpdateAttributes(ctx, url, attrs)
	if err != nil {
		return AttributeJobResult{}, a.fyndError(conn, err, "attribute set %d (%d users): start the bulk update", set.Index+1, set.Rows)
	}
	if job.JobID == "" {
		if job.Sync() {
			// Applied at once: nothing to wait for.
			return AttributeJobResult{Status: "applied"}, nil
		}
		return AttributeJobResult{}, temporal.NewNonRetryableApplicationError("fynd accepted a bulk attribute update without a job id to follow", failure.VendorRejected, nil)
	}
	activity.RecordHeartbeat(ctx, job.JobID)
	return AttributeJobResult{JobID: job.JobID, Status: "submitted"}, nil
}

func readManifest(ctx context.Context, store ArtifactStore, key string) (audienceManifest, error) {
	rc, err := store.Open(ctx, key)
	if err != nil {
		return audienceManifest{}, failure.Classify(fmt.Errorf("read manifest %s: %w", key, err), "")
	}
	defer rc.Close()
	var man audienceManifest
	dec := json.NewDecoder(rc)
	dec.UseNumber()
	if err := dec.Decode(&man); err != nil {
		return audienceManifest{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("manifest %s is unreadable: %v", key, err), failure.BadArtifact, nil)
	}
	return man, nil
}

// WaitAttributeJobName is what WaitAttributeJob is registered as and workflows call.
const WaitAttributeJobName = "WaitAttributeJob"

// WaitAttributeJob polls a bulk attribute job until it ends. A failed job
// fails the sync with Fynd's reason; rows a completed job refused become
// rejects.
func (a *Activities) WaitAttributeJob(ctx context.Context, in AttributeJobInput) (AttributeJobResult, error) {
	conn, c, err := a.fyndConn(in.Spec.Connection)
	if err != nil {
		return AttributeJobResult{}, err
	}
	var st fynd.JobStatus
	err = steps.PollUntil(ctx, a.poll(in.Poll), func(polls int) (bool, error) {
		var err error
		st, err = c.BulkJobStatus(ctx, in.JobID)
		if err != nil {
			return false, a.fyndError(conn, err, "attribute job %s", in.JobID)
		}
		activity.RecordHeartbeat(ctx, waitProgress{Status: st.Status, Done: st.Processed, Total: st.Total, Polls: polls})
		return st.Terminal(), nil
	})
	if err != nil {
		return AttributeJobResult{}, err
	}
	if !st.Succeeded() {
		msg := fmt.Sprintf("fynd bulk attribute job %s (attribute set %d, %d users) ended %s", in.JobID, in.Set.Index+1, in.Set.Rows, st.Status)
		if st.Message != "" {
			msg += ": " + vendorapi.Trim(st.Message)
		}
		return AttributeJobResult{}, temporal.NewNonRetryableApplicationError(msg, failure.VendorJobFailed, nil)
	}
	res := AttributeJobResult{JobID: in.JobID, Status: st.Status, Processed: st.Processed, Failed: st.Failed}
	if len(st.Errors) > 0 {
		idx, err := a.loadLines(ctx, in.LinesFile)
		if err != nil {
			return AttributeJobResult{}, err
		}
		var rs []rejects.Reject
		for _, e := range st.Errors {
			key, line := idx.find(e.Identifier)
			rs = append(rs, rejects.Reject{Line: line, UserID: key, Vendor: AudienceVendor,
				Reason: "attributes not set: " + vendorapi.Trim(e.Reason)})
		}
		if err := a.Store.PutRejects(ctx, in.Spec.SyncKey, fmt.Sprintf("%sattrs-%04d", vendorRejectPrefix, in.Set.Index), rejects.Stored(rs)); err != nil {
			return AttributeJobResult{}, err
		}
		res.Failed = len(rs)
	}
	return res, nil
}

// waitProgress is the heartbeat of a wait: what the vendor last said.
type waitProgress struct {
	Status string `json:"status"`
	Done   int    `json:"done,omitempty"`
	Total  int    `json:"total,omitempty"`
	Polls  int    `json:"polls"`
}
