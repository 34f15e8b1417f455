package imports

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/source"
)

// Activity names of staging: a compressed source cannot be range-read, so
// an import first decompresses it once into a plain copy every worker can
// read (StageSource), and deletes the copy when it ends (DropStaged).
const (
	StageSourceName = "StageSource"
	DropStagedName  = "DropStaged"
)

// StageInput names the compressed source of an import.
type StageInput struct {
	ImportKey string     `json:"import_key"`
	Source    source.Ref `json:"source"`
}

// stageProgress is StageSource's heartbeat: compressed bytes read so far.
type stageProgress struct {
	Read int64 `json:"read"`
}

// StageSource decompresses the import's source into the worker's staging
// area (Activities.Staging) and returns the plain copy's Ref, which the
// rest of the import reads. It heartbeats the bytes read; a retried
// attempt starts over and replaces the copy.
func (a *Activities) StageSource(ctx context.Context, in StageInput) (source.Ref, error) {
	hb := activity.RecordHeartbeat
	staged, err := source.Stage(ctx, a.Opener, in.Source, a.Staging, in.ImportKey, func(n int64) { hb(ctx, stageProgress{Read: n}) })
	if err != nil {
		return source.Ref{}, failure.Classify(fmt.Errorf("stage %s: %w", source.Redact(in.Source.URI), err), "")
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

// DropStaged deletes an import's staged copy; one already gone is fine.
func (a *Activities) DropStaged(ctx context.Context, staged source.Ref) error {
	return a.Opener.Unstage(ctx, staged.URI)
}
