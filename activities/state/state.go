// Package state keeps what an incremental import needs between runs: for
// every user the last successful run delivered (or found unchanged), a hash
// of the user's key and a hash of the content sent. A run sends only users
// whose content hash changed or who are new, and writes its own records
// batch by batch; only when the whole run has succeeded do those records
// become the state the next run compares with. A failed run leaves the old
// state, so everything it did not finish is sent again next time. Users the
// vendor refused are not in the new state, so they are retried too.
//
// This package defines the hashes and records; the importer's store
// (internal/store) keeps them outside workflow history, where every worker
// reads and writes them.
//
// It imports nothing from Temporal.
package state

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
)

// KeyHash hashes a user key. FNV-1a is stable across processes and
// versions, which the state needs; it is not a defence against crafted
// collisions, which a user list is not.
func KeyHash(key string) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	return h.Sum64()
}

// ContentHash hashes a vendor payload as JSON. encoding/json writes struct
// fields in declaration order and map keys sorted, so equal payloads hash
// equally.
func ContentHash(v any) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("hash payload: %w", err)
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64(), nil
}
