package imports

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/state"
	"importer/activities/vendorapi"
	"importer/internal/steps"
	"importer/internal/store"
)

// StateInput names the state of an incremental import and this run of it.
type StateInput struct {
	Vendor      string      `json:"vendor"`
	Connection  string      `json:"connection"`
	Incremental Incremental `json:"incremental"`
	// RunKey is the import's key; its records and rejects carry it.
	RunKey string `json:"run_key"`
	// Expected is how many state records the run's chunks wrote (their
	// Recorded counts, in history); a store that holds fewer fails the run
	// before anything is committed. Nil skips the check.
	Expected *int64 `json:"expected,omitempty"`
}

// StatePrepared says what committing the run will do.
type StatePrepared struct {
	Users       int `json:"users"`
	Disappeared int `json:"disappeared"`
	// DisappearedFile was where the gone users were listed before they
	// went to the store; empty now (`starter rejects --disappeared` lists
	// them).
	DisappearedFile string `json:"disappeared_file,omitempty"`
}

// Deactivated is what DeactivateMissing did.
type Deactivated struct {
	Deactivated int `json:"deactivated"`
	// Absent counts users that were gone from the vendor already.
	Absent int `json:"absent"`
}

// markUnchanged hashes each valid row's payload, looks the chunk's users up
// in the current state (one query for the chunk), and marks the rows whose
// content the last successful run already delivered, and the users it
// delivered at all.
func (a *Activities) markUnchanged(ctx context.Context, in ChunkInput, rows []row, payloads vendorapi.Rows) error {
	if in.Incremental == nil {
		return nil
	}
	var hashes []uint64
	for i := range rows {
		r := &rows[i]
		if r.key == "" {
			continue
		}
		r.keyHash = state.KeyHash(r.key)
		if r.slot < 0 {
			continue
		}
		var err error
		if r.contentHash, err = payloads.ContentHash(r.slot); err != nil {
			return err
		}
		hashes = append(hashes, r.keyHash)
	}
	last, err := a.Store.LookupState(ctx, in.Incremental.StateKey, hashes)
	if err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		if r.slot < 0 {
			continue
		}
		prev, ok := last[r.keyHash]
		r.known = ok
		r.unchanged = ok && prev == r.contentHash
	}
	return nil
}

// recordState writes what a batch did for the next run: rows delivered or
// unchanged are kept; rows in the list that were not delivered are seen, so
// they are sent again next time and not reported as gone. It returns how
// many records it wrote.
func (a *Activities) recordState(ctx context.Context, in ChunkInput, part string, batch []row, failed map[string]string) (int64, error) {
	if in.Incremental == nil {
		return 0, nil
	}
	recs := make([]store.StateRecord, 0, len(batch))
	for _, r := range batch {
		if r.key == "" {
			continue
		}
		kept := r.unchanged
		if r.slot >= 0 && !r.unchanged {
			_, refused := failed[r.key]
			kept = !refused
		}
		recs = append(recs, store.StateRecord{KeyHash: r.keyHash, ContentHash: r.contentHash, Key: r.key, Kept: kept})
	}
	if err := a.Store.StageState(ctx, in.Incremental.StateKey, in.ImportKey, part, recs); err != nil {
		return 0, err
	}
	return int64(len(recs)), nil
}

// The activity names of an incremental import's last steps. The state becomes
// the one the next run compares with only after the whole run succeeded.
//
// PrepareStateName is what PrepareState is registered as and workflows call.
const PrepareStateName = "PrepareState"

// PrepareState computes the run's next state and lists the users that
// disappeared, without replacing the current state yet.
func (a *Activities) PrepareState(ctx context.Context, in StateInput) (StatePrepared, error) {
	if err := ownKey(ctx, in.RunKey); err != nil {
		return StatePrepared{}, err
	}
	if in.Expected != nil {
		n, err := a.Store.StagedCount(ctx, in.Incremental.StateKey, in.RunKey)
		if err != nil {
			return StatePrepared{}, err
		}
		if n < *in.Expected {
			return StatePrepared{}, failure.NotShared(a.Store, fmt.Sprintf("the store holds %d of the %d incremental-state records this import wrote", n, *in.Expected))
		}
	}
	// One statement over every user of the run: the worker is alive while
	// it runs, however long that is.
	hb := steps.StartHeartbeat(ctx, "preparing the state")
	p, err := a.Store.PrepareState(ctx, in.Incremental.StateKey, in.RunKey)
	hb.Stop()
	if err != nil {
		return StatePrepared{}, err
	}
	return StatePrepared{Users: p.Users, Disappeared: p.Disappeared}, nil
}

// DeactivateMissingName is what DeactivateMissing is registered as and workflows call.
const DeactivateMissingName = "DeactivateMissing"

// DeactivateMissing ends the access of users that disappeared from the
// list, where the vendor has such a thing (Traits.Deactivates; Nebuly sets
// active_to to today).
func (a *Activities) DeactivateMissing(ctx context.Context, in StateInput) (Deactivated, error) {
	if err := ownKey(ctx, in.RunKey); err != nil {
		return Deactivated{}, err
	}
	v, conn, err := a.vendorConn(in.Vendor, in.Connection)
	if err != nil {
		return Deactivated{}, err
	}
	if !v.Spec().Traits.Deactivates {
		return Deactivated{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s has no way to deactivate a user; use --missing report", v.Spec().Name), failure.BadInput, nil)
	}
	gone := map[string]bool{}
	if err := a.Store.Disappeared(ctx, in.RunKey, func(k string) error { gone[k] = true; return nil }); err != nil {
		return Deactivated{}, err
	}
	d, err := v.Deactivate(ctx, a.target(conn), gone, func(done int) {
		activity.RecordHeartbeat(ctx, Deactivated{Deactivated: done})
	})
	if err != nil {
		return Deactivated{}, failure.Classify(err, authHint(v, conn))
	}
	return Deactivated{Deactivated: d.Deactivated, Absent: d.Absent}, nil
}

// CommitStateName is what CommitState is registered as and workflows call.
const CommitStateName = "CommitState"

// CommitState makes the run's state the one the next run compares with.
func (a *Activities) CommitState(ctx context.Context, in StateInput) error {
	if err := ownKey(ctx, in.RunKey); err != nil {
		return err
	}
	defer steps.StartHeartbeat(ctx, "committing the state").Stop()
	return a.Store.CommitState(ctx, in.Incremental.StateKey, in.RunKey)
}

// DiscardStateName is what DiscardState is registered as and workflows call.
const DiscardStateName = "DiscardState"

// DiscardState drops a failed run's records: the next run compares with
// the last success and sends again what this one did not finish.
func (a *Activities) DiscardState(ctx context.Context, in StateInput) error {
	if err := ownKey(ctx, in.RunKey); err != nil {
		return err
	}
	return a.Store.DiscardState(ctx, in.Incremental.StateKey, in.RunKey)
}
