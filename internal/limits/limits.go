// Package limits owns the operator's caps on what whoever starts an import
// may ask of a worker: rows per chunk and per vendor request, chunks in
// flight, chunk descriptors per planning call, and how often a vendor's job
// may be polled. Workflow input is untrusted (anyone with access to the
// namespace can start an import); the workflows clamp what it asks to these
// caps, recorded once per run, and the activities check again what reaches
// them. Defaults fit a 2-core worker; each cap has a variable an operator
// can set.
package limits

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits are the operator's caps. A zero field is its default.
type Limits struct {
	// MaxChunkRows bounds the rows of one chunk, which one activity reads
	// and holds while it sends them (IMPORTER_MAX_CHUNK_ROWS; default
	// 50,000).
	MaxChunkRows int `json:"max_chunk_rows,omitempty"`
	// MaxBatchSize bounds the users of one vendor request, below each
	// vendor's own limit (IMPORTER_MAX_BATCH_SIZE; default 10,000).
	MaxBatchSize int `json:"max_batch_size,omitempty"`
	// MaxConcurrency bounds the chunks one import keeps in flight, and the
	// bulk attribute jobs one audience sync runs at once
	// (IMPORTER_MAX_CONCURRENCY; default 16).
	MaxConcurrency int `json:"max_concurrency,omitempty"`
	// MaxPlanPage bounds the chunk descriptors one planning call returns,
	// which go into history in one event (IMPORTER_MAX_PLAN_PAGE; default
	// 1,000).
	MaxPlanPage int `json:"max_plan_page,omitempty"`
	// MinPoll is the shortest wait between two polls of a vendor's
	// background job or group (IMPORTER_MIN_POLL; default 1s).
	MinPoll time.Duration `json:"min_poll,omitempty"`
}

// Defaults.
const (
	DefaultMaxChunkRows   = 50_000
	DefaultMaxBatchSize   = 10_000
	DefaultMaxConcurrency = 16
	DefaultMaxPlanPage    = 1_000
	DefaultMinPoll        = time.Second
)

// Caps a caller's durations are held within, whatever the operator says:
// a heartbeat timeout short enough to notice a dead worker and long enough
// for a slow batch, a lease the gate can check, a deadline that ends.
const (
	MinHeartbeat    = time.Second
	MaxHeartbeat    = 10 * time.Minute
	MinLease        = time.Second
	MaxLease        = time.Hour
	MaxDeadline     = 30 * 24 * time.Hour
	MaxPoll         = 10 * time.Minute
	MaxChunksPerRun = 5_000
)

// WithDefaults fills the zero fields with their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxChunkRows <= 0 {
		l.MaxChunkRows = DefaultMaxChunkRows
	}
	if l.MaxBatchSize <= 0 {
		l.MaxBatchSize = DefaultMaxBatchSize
	}
	if l.MaxConcurrency <= 0 {
		l.MaxConcurrency = DefaultMaxConcurrency
	}
	if l.MaxPlanPage <= 0 {
		l.MaxPlanPage = DefaultMaxPlanPage
	}
	if l.MinPoll <= 0 {
		l.MinPoll = DefaultMinPoll
	}
	return l
}

// FromEnv reads the caps an operator set (IMPORTER_MAX_CHUNK_ROWS,
// IMPORTER_MAX_BATCH_SIZE, IMPORTER_MAX_CONCURRENCY, IMPORTER_MAX_PLAN_PAGE,
// IMPORTER_MIN_POLL) and fills the rest with defaults. A value that is not
// a positive number (or duration) is an error that names its variable.
func FromEnv(getenv func(string) string) (Limits, error) {
	var l Limits
	for _, v := range []struct {
		name string
		to   *int
	}{
		{"IMPORTER_MAX_CHUNK_ROWS", &l.MaxChunkRows},
		{"IMPORTER_MAX_BATCH_SIZE", &l.MaxBatchSize},
		{"IMPORTER_MAX_CONCURRENCY", &l.MaxConcurrency},
		{"IMPORTER_MAX_PLAN_PAGE", &l.MaxPlanPage},
	} {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
		if err != nil || n <= 0 {
			return Limits{}, fmt.Errorf("%s=%q: want a positive whole number", v.name, s)
		}
		*v.to = n
	}
	if s := strings.TrimSpace(getenv("IMPORTER_MIN_POLL")); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return Limits{}, fmt.Errorf("IMPORTER_MIN_POLL=%q: want a positive duration such as 1s or 500ms", s)
		}
		l.MinPoll = d
	}
	return l.WithDefaults(), nil
}

// Clamp holds n within [1, maxN], with def for a value not set (n <= 0).
// It says whether a value that was set had to be lowered.
func Clamp(n, def, maxN int) (int, bool) {
	if n <= 0 {
		n = def
	}
	if n > maxN {
		return maxN, true
	}
	return max(n, 1), false
}

// ClampDuration holds d within [lo, hi], with def for a value not set.
func ClampDuration(d, def, lo, hi time.Duration) (time.Duration, bool) {
	if d <= 0 {
		d = def
	}
	switch {
	case d > hi:
		return hi, true
	case d < lo:
		return lo, true
	}
	return d, false
}
