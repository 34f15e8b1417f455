// Package rejects names the rows an import could not deliver: a Reject is
// one row with the reason, and a part name says which batch of which chunk
// wrote it. Rejects never travel through workflow history; activities
// write them to the importer's store (internal/store; Stored converts them),
// one part per batch, so an activity that runs twice replaces its own part instead of
// duplicating it, and `starter rejects` reads them from there.
package rejects

import (
	"fmt"

	"importer/internal/store"
)

// Reject is one row that did not reach the vendor, or that the vendor
// refused. Its JSON form is a line of `starter rejects -o json` and of a
// saved rejects file (NDJSON).
type Reject struct {
	Line   int64  `json:"line"`              // 1-based physical line in the source
	UserID string `json:"user_id,omitempty"` // the vendor's user key, when the row had one
	Vendor string `json:"vendor"`
	Reason string `json:"reason"`
}

// PartName names the part of one batch of one chunk; names sort in source
// order.
func PartName(chunk, batch int) string { return fmt.Sprintf("c%08d-b%05d", chunk, batch) }

// Stored is rs as the store keeps them.
func Stored(rs []Reject) []store.Reject {
	out := make([]store.Reject, len(rs))
	for i, r := range rs {
		out[i] = store.Reject(r)
	}
	return out
}
