package imports

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/source"
	"importer/activities/vendors"
)

// A worker that cannot find the plain copy another worker staged on its own
// disk says the workers do not share a staging area, and how to fix it,
// instead of calling the source missing.
func TestAStagedCopyOnAnotherWorkersDiskFailsSayingSo(t *testing.T) {
	a, _ := onOwnStore(t)
	v, err := vendors.Import("nebuly")
	if err != nil {
		t.Fatal(err)
	}
	staged := source.Ref{URI: filepath.Join(t.TempDir(), "other-host", "imp.csv"), Format: source.CSV, Header: []string{"end_user"}, Staged: true}
	_, _, err = a.readRows(context.Background(), v, ChunkInput{ImportKey: "imp", Vendor: "nebuly", Source: staged,
		Chunk: source.Chunk{Offset: 10, Length: 20, Rows: 1, FirstLine: 2}})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != failure.StoreNotShared || !app.NonRetryable() ||
		!strings.Contains(app.Message(), "another worker's disk") || !strings.Contains(app.Message(), "IMPORTER_STAGING_URL") {
		t.Fatalf("got %v; want a final %s failure naming IMPORTER_STAGING_URL", err, failure.StoreNotShared)
	}

	// The same missing file, not a staged copy, is just missing.
	staged.Staged = false
	_, _, err = a.readRows(context.Background(), v, ChunkInput{ImportKey: "imp", Vendor: "nebuly", Source: staged,
		Chunk: source.Chunk{Offset: 10, Length: 20, Rows: 1, FirstLine: 2}})
	if err == nil || !strings.Contains(err.Error(), "no such file") || errors.As(err, &app) && app.Type() == failure.StoreNotShared {
		t.Fatalf("a missing list: %v", err)
	}
}
