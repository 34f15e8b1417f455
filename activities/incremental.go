package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/nebuly"
	"importer/activities/rejects"
	"importer/activities/state"
	"importer/internal/fsname"
)

// Activity names of an incremental import's last steps. The state becomes
// the one the next run compares with only after the whole run succeeded.
const (
	PrepareStateName      = "PrepareState"
	DeactivateMissingName = "DeactivateMissing"
	CommitStateName       = "CommitState"
	DiscardStateName      = "DiscardState"
)

// StateInput names the state of an incremental import and this run of it.
type StateInput struct {
	Vendor      string      `json:"vendor"`
	Connection  string      `json:"connection"`
	Incremental Incremental `json:"incremental"`
	// RunKey is the import's key; its records and rejects carry it.
	RunKey string `json:"run_key"`
}

// StatePrepared says what committing the run will do.
type StatePrepared struct {
	Users       int `json:"users"`
	Disappeared int `json:"disappeared"`
	// DisappearedFile lists the users that are gone, one key a line; it is
	// kept after the commit, as the run's report.
	DisappearedFile string `json:"disappeared_file,omitempty"`
}

// Deactivated is what DeactivateMissing did.
type Deactivated struct {
	Deactivated int `json:"deactivated"`
	// Absent counts users that were gone from the vendor already.
	Absent int `json:"absent"`
}

// stateIndex is a loaded state, shared by the chunks one worker runs: an
// import's state does not change while it runs (only a success replaces
// it), so loading it once per version is enough.
type stateIndex struct {
	version state.Version
	index   *state.Index
}

func (a *Activities) loadIndex(stateKey string) (*state.Index, error) {
	v, err := a.State.StatCurrent(stateKey)
	if err != nil {
		return nil, err
	}
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	if c, ok := a.stateIdx[stateKey]; ok && c.version == v {
		return c.index, nil
	}
	x, err := a.State.LoadIndex(stateKey)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "BadState", nil)
	}
	if a.stateIdx == nil {
		a.stateIdx = map[string]stateIndex{}
	}
	a.stateIdx[stateKey] = stateIndex{version: v, index: x}
	return x, nil
}

// markUnchanged hashes each valid row's payload and marks the rows whose
// content the last successful run already delivered.
func (a *Activities) markUnchanged(in ChunkInput, rows []row) error {
	if in.Incremental == nil {
		return nil
	}
	x, err := a.loadIndex(in.Incremental.StateKey)
	if err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		if r.key == "" {
			continue
		}
		r.keyHash = state.KeyHash(r.key)
		if r.item == nil {
			continue
		}
		if r.contentHash, err = state.ContentHash(r.item); err != nil {
			return err
		}
		if prev, ok := x.Lookup(r.keyHash); ok && prev == r.contentHash {
			r.unchanged = true
		}
	}
	return nil
}

// recordState writes what a batch did for the next run: rows delivered or
// unchanged are kept; rows in the list that were not delivered are seen, so
// they are sent again next time and not reported as gone.
func (a *Activities) recordState(in ChunkInput, part string, batch []row, failed map[string]string) error {
	if in.Incremental == nil {
		return nil
	}
	recs := make([]state.Record, 0, len(batch))
	for _, r := range batch {
		if r.key == "" {
			continue
		}
		kept := r.unchanged
		if r.item != nil && !r.unchanged {
			_, refused := failed[r.key]
			kept = !refused
		}
		recs = append(recs, state.Record{KeyHash: r.keyHash, ContentHash: r.contentHash, Key: r.key, Kept: kept})
	}
	return a.State.WritePart(in.Incremental.StateKey, in.ImportKey, part, recs)
}

// PrepareState joins the run's records into the next state and lists the
// users that disappeared, without replacing the current state yet.
func (a *Activities) PrepareState(ctx context.Context, in StateInput) (StatePrepared, error) {
	p, err := a.State.Prepare(in.Incremental.StateKey, in.RunKey)
	if err != nil {
		return StatePrepared{}, err
	}
	out := StatePrepared{Users: p.Users, Disappeared: p.Disappeared}
	if p.Disappeared > 0 {
		// The run's directory goes at commit; the report stays beside the
		// rejects.
		dst := filepath.Join(a.Rejects.Dir, fsname.Safe(in.RunKey)+".disappeared.txt")
		data, err := os.ReadFile(a.State.DisappearedPath(in.Incremental.StateKey, in.RunKey))
		if err != nil {
			return StatePrepared{}, fmt.Errorf("read disappeared users: %w", err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			return StatePrepared{}, fmt.Errorf("write disappeared users: %w", err)
		}
		if abs, err := filepath.Abs(dst); err == nil {
			dst = abs
		}
		out.DisappearedFile = dst
	}
	return out, nil
}

// DeactivateMissing ends the access of users that disappeared from the
// list, where the vendor has such a thing. For Nebuly it sets active_to to
// today on each of them that still exists (the API has no partial update,
// so the stored user is read and sent back whole with the new date).
func (a *Activities) DeactivateMissing(ctx context.Context, in StateInput) (Deactivated, error) {
	v, conn, err := a.vendorConn(in.Vendor, in.Connection)
	if err != nil {
		return Deactivated{}, err
	}
	if v.name() != "nebuly" {
		return Deactivated{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s has no way to deactivate a user; use --missing report", v.name()), "BadInput", nil)
	}
	gone := map[string]bool{}
	if err := a.State.Disappeared(in.Incremental.StateKey, in.RunKey, func(k string) error { gone[k] = true; return nil }); err != nil {
		return Deactivated{}, err
	}
	key, _ := conn.Require("API_KEY")
	c := nebuly.New(conn.GetOr("BASE_URL", nebuly.DefaultBaseURL), key, a.HTTP)
	users, err := c.List(ctx)
	if err != nil {
		return Deactivated{}, toTemporal(fmt.Errorf("list users to deactivate: %w", err), authHint(v, conn))
	}
	today := time.Now().UTC().Format(time.DateOnly)
	var out Deactivated
	var batch []nebuly.User
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
	for i := 0; i < len(batch); i += DefaultBatchSize {
		part := batch[i:min(i+DefaultBatchSize, len(batch))]
		updated, err := c.Update(ctx, part)
		if err != nil {
			return Deactivated{}, toTemporal(fmt.Errorf("deactivate %d users: %w", len(part), err), authHint(v, conn))
		}
		out.Deactivated += len(updated)
		activity.RecordHeartbeat(ctx, out)
	}
	return out, nil
}

// CommitState makes the run's state the one the next run compares with.
func (a *Activities) CommitState(ctx context.Context, in StateInput) error {
	return a.State.Commit(in.Incremental.StateKey, in.RunKey)
}

// DiscardState drops a failed run's records: the next run compares with
// the last success and sends again what this one did not finish.
func (a *Activities) DiscardState(ctx context.Context, in StateInput) error {
	return a.State.Discard(in.Incremental.StateKey, in.RunKey)
}

// statePart names a batch's state records like its rejects part.
func statePart(chunk, batch int) string { return rejects.PartName(chunk, batch) }
