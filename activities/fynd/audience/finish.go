package audience

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/rejects"
	"importer/internal/store"
)

// FinishAudienceName is what FinishAudience is registered as and workflows call.
const FinishAudienceName = "FinishAudience"

// FinishAudience merges the vendor-side rejects into one line per member
// (a user Fynd does not know fails both the group and its attribute job),
// joins the rejects file, and deletes the sync's artifacts: they hold user
// data and have served their purpose.
func (a *Activities) FinishAudience(ctx context.Context, in FinishAudienceInput) (FinishedAudience, error) {
	if err := ownSync(ctx, in.Spec); err != nil {
		return FinishedAudience{}, err
	}
	var parts []rejects.Reject
	err := a.Store.Rejects(ctx, in.Spec.SyncKey, vendorRejectPrefix, func(_ string, r store.Reject) error {
		parts = append(parts, rejects.Reject(r))
		return nil
	})
	if err != nil {
		return FinishedAudience{}, err
	}
	merged := map[string]*rejects.Reject{}
	said := map[string]map[string]bool{} // user → the reasons merged for them
	var order []string
	for _, r := range parts {
		if m, ok := merged[r.UserID]; ok {
			if !said[r.UserID][r.Reason] {
				said[r.UserID][r.Reason] = true
				m.Reason += "; " + r.Reason
			}
			if r.Line > 0 && (m.Line == 0 || r.Line < m.Line) {
				m.Line = r.Line
			}
			continue
		}
		r := r
		merged[r.UserID] = &r
		said[r.UserID] = map[string]bool{r.Reason: true}
		order = append(order, r.UserID)
	}
	var out []rejects.Reject
	for _, k := range order {
		out = append(out, *merged[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	if len(out) > in.Members {
		return FinishedAudience{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("fynd refused %d members of the %d sent: the accounting does not add up", len(out), in.Members), failure.AccountingError, nil)
	}
	// The merged part replaces the vendor parts in one transaction; a
	// retry after it finds no vendor parts, keeps the merged one, and
	// counts what Fynd refused from it.
	if len(parts) > 0 {
		if err := a.Store.MergeRejects(ctx, in.Spec.SyncKey, vendorRejectPrefix, mergedVendorPart, rejects.Stored(out)); err != nil {
			return FinishedAudience{}, err
		}
	} else {
		err := a.Store.Rejects(ctx, in.Spec.SyncKey, mergedVendorPart, func(part string, r store.Reject) error {
			if part == mergedVendorPart {
				out = append(out, rejects.Reject(r))
			}
			return nil
		})
		if err != nil {
			return FinishedAudience{}, err
		}
	}
	n, err := a.Store.CountRejects(ctx, in.Spec.SyncKey)
	if err != nil {
		return FinishedAudience{}, err
	}
	if in.Rejected != nil && n < *in.Rejected+int64(len(out)) {
		return FinishedAudience{}, failure.NotShared(a.Store, fmt.Sprintf("the store holds %d of the %d rows this sync rejected", n, *in.Rejected+int64(len(out))))
	}
	if a.Artifacts != nil {
		own := artifactKey(in.Spec, "")
		for _, key := range in.Artifacts {
			if !strings.HasPrefix(key, own) || strings.Contains(key, "..") {
				// Only the sync's own files, under its own prefix.
				activity.GetLogger(ctx).Warn("not deleting an artifact that is not this sync's")
				continue
			}
			if err := a.Artifacts.Delete(ctx, key); err != nil {
				activity.GetLogger(ctx).Warn("could not delete an artifact", "key", key, "error", err)
			}
		}
	}
	return FinishedAudience{VendorRejected: len(out), Rejects: int(n)}, nil
}
