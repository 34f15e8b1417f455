package imports

import (
	"context"
	"errors"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/source"
	"importer/internal/steps"
)

// StageInput names the compressed source of an import.
type StageInput struct {
	ImportKey string     `json:"import_key"`
	Source    source.Ref `json:"source"`
}

// stageProgress is StageSource's heartbeat: compressed bytes read so far.
type stageProgress struct {
	Read    int64         `json:"read"`
	Reading steps.Reading `json:"reading"`
}

// The activity names of staging: a compressed source cannot be range-read, so
// an import first decompresses it once into a plain copy every worker can
// read (StageSource), and deletes the copy when it ends (DropStaged).
//
// StageSourceName is what StageSource is registered as and workflows call.
const StageSourceName = "StageSource"

// StageSource decompresses the import's source into the worker's staging
// area (Activities.Staging) and returns the plain copy's Ref, which the
// rest of the import reads. It heartbeats the bytes read; a retried
// attempt starts over and replaces the copy.
func (a *Activities) StageSource(ctx context.Context, in StageInput) (source.Ref, error) {
	if err := ownKey(ctx, in.ImportKey); err != nil {
		return source.Ref{}, err
	}
	var prog stageProgress
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &prog)
	}
	beat := func() { activity.RecordHeartbeat(ctx, prog) }
	if err := startReading(&prog.Reading, in.Source, beat); err != nil {
		return source.Ref{}, err
	}
	staged, err := source.StageWithin(ctx, a.Opener, in.Source, a.Staging, in.ImportKey, a.StagingLimits, func(n int64) { prog.Read = n; beat() })
	prog.Reading.Inside = false
	a.leftReading(ctx, prog)
	if err != nil {
		return source.Ref{}, failure.Classify(err, "") // the source's errors name it
	}
	return staged, nil
}

// notStaged explains a staged copy on a worker's own disk that this worker
// cannot find: the workers do not share the staging area.
func notStaged(src source.Ref, err error) error {
	if !src.LocalStaged() || !errors.Is(err, source.ErrNotFound) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(
		"the plain copy of this import's compressed source is on another worker's disk: the workers do not share a staging area "+
			"(set IMPORTER_STAGING_URL to an object-storage prefix every worker reads, such as s3://bucket/staging)",
		failure.StoreNotShared, nil)
}

// DropStagedInput names the import whose staged copy is deleted. Imports
// started before it existed send the copy's Ref (URI, Format, Staged).
type DropStagedInput struct {
	ImportKey string        `json:"import_key,omitempty"`
	Format    source.Format `json:"format"`
	URI       string        `json:"uri,omitempty"`
}

// DropStagedName is what DropStaged is registered as and workflows call.
const DropStagedName = "DropStaged"

// DropStaged deletes an import's staged copy from the staging area, by the
// name the worker derives from the import's key (source.StagedName): what
// is deleted is never a path a caller chose. One already gone is fine. An
// import that predates the key names its copy's URI; that copy is deleted
// only when it is where this import's own copy would be.
func (a *Activities) DropStaged(ctx context.Context, in DropStagedInput) error {
	key := in.ImportKey
	if key == "" && activity.IsActivity(ctx) {
		key = legacyStagedKey(activity.GetInfo(ctx).WorkflowExecution.ID, in)
		if key == "" {
			activity.GetLogger(ctx).Warn("not deleting a staged copy that is not this import's")
			return nil
		}
	}
	if err := ownKey(ctx, key); err != nil {
		return err
	}
	return a.Opener.Unstage(ctx, a.Staging, key, in.Format)
}

// legacyStagedKey finds the key of an older import's staged copy from its
// URI: the base name must be the copy's name for a key of this workflow's
// ID ("" otherwise).
func legacyStagedKey(workflowID string, in DropStagedInput) string {
	base := in.URI
	if i := strings.LastIndexAny(base, "/\\"); i >= 0 {
		base = base[i+1:]
	}
	name, ok := strings.CutSuffix(base, "."+string(in.Format))
	if !ok {
		return ""
	}
	prefix := strings.TrimSuffix(source.StagedName(workflowID+"-", in.Format), "."+string(in.Format))
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || len(rest) == 0 || len(rest) > 8 {
		return ""
	}
	return workflowID + "-" + rest
}
