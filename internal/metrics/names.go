// Package metrics owns what a worker tells Prometheus: the names, labels and
// buckets of the importer's own metrics, the Temporal SDK's metrics handler
// (tally with Prometheus naming, so Temporal's SDK dashboards work
// unchanged), the /metrics endpoint, the transport that counts vendor
// requests, and the helpers activities and workflows record with.
//
// Everything is recorded through the SDK's metrics handler
// (activity.GetMetricsHandler, workflow.GetMetricsHandler): the importer's
// metrics carry the SDK's namespace and task_queue labels, and workflow code
// records nothing while it replays. A label value is a vendor or connection
// name, an outcome, an HTTP status code or a Temporal name: never user data,
// a URL or a credential.
package metrics

import "slices"

// The importer's metrics, as Prometheus shows them. Catalog describes each.
const (
	// RowsTotal counts rows by what became of them: accepted by the
	// vendor, rejected (invalid, duplicate, or refused by the vendor) or
	// unchanged (an incremental import did not send them).
	RowsTotal = "importer_rows_total"
	// VendorRequestsTotal counts vendor HTTP calls by status: the HTTP
	// status code, "network" when no answer came, "canceled" when the
	// activity gave up first.
	VendorRequestsTotal = "importer_vendor_requests_total"
	// VendorRequestDuration is the time to a vendor's answer (its headers).
	VendorRequestDuration = "importer_vendor_request_duration_seconds"
	// RetryAfterSecondsTotal adds up the Retry-After pauses vendors asked for.
	RetryAfterSecondsTotal = "importer_retry_after_seconds_total"
	// GateWait is how long a chunk waited for its vendor account's gate.
	GateWait = "importer_gate_wait_seconds"
	// GateHold is how long a chunk held the gate (its bulk call or job).
	GateHold = "importer_gate_hold_seconds"
	// PacerDelay is how long a request waited for its turn at the pacer.
	PacerDelay = "importer_pacer_delay_seconds"
	// ChunkDuration is how long a chunk took from its start (for a gated
	// vendor: its grant) to its result, retries included.
	ChunkDuration = "importer_chunk_duration_seconds"
	// ImportsTotal counts ended imports and audience syncs by result.
	ImportsTotal = "importer_imports_total"
)

// Label names. Namespace, task queue and workflow type come from the SDK's
// tags on the handler that records.
const (
	LabelNamespace    = "namespace"
	LabelTaskQueue    = "task_queue"
	LabelWorkflowType = "workflow_type"
	LabelVendor       = "vendor"
	LabelConnection   = "connection"
	LabelOutcome      = "outcome"
	LabelStatus       = "status"
	LabelResult       = "result"
)

// Label values.
const (
	OutcomeAccepted  = "accepted"
	OutcomeRejected  = "rejected"
	OutcomeUnchanged = "unchanged"

	StatusNetwork  = "network"
	StatusCanceled = "canceled"

	ResultCompleted = "completed"
	ResultFailed    = "failed"
	ResultCanceled  = "canceled"
)

// Kind is what a metric is in Prometheus.
type Kind int

// The kinds of the importer's metrics.
const (
	Counter Kind = iota
	Histogram
)

// Metric describes one of the importer's metrics.
type Metric struct {
	Name string
	Kind Kind
	Help string
	// Labels are the metric's label names, the same at every recording: a
	// label the recording handler has no tag for is empty, and a tag it
	// has beyond these is left out.
	Labels []string
	// Buckets are a histogram's upper bounds, in seconds.
	Buckets []float64
}

// Catalog lists the importer's metrics. The worker exports exactly these
// (and the SDK's own, and the Go runtime's).
func Catalog() []Metric {
	sdk := []string{LabelNamespace, LabelTaskQueue}
	labels := func(own ...string) []string { return append(slices.Clone(sdk), own...) }
	return []Metric{
		{Name: RowsTotal, Kind: Counter, Labels: labels(LabelVendor, LabelConnection, LabelOutcome),
			Help: "Rows the completed chunk activities accounted for, by outcome: accepted, rejected or unchanged."},
		{Name: VendorRequestsTotal, Kind: Counter, Labels: labels(LabelVendor, LabelStatus),
			Help: "Vendor HTTP requests by status: the HTTP status code, network (no answer) or canceled."},
		{Name: VendorRequestDuration, Kind: Histogram, Labels: labels(LabelVendor),
			Help: "Time from sending a vendor request to its answer.",
			// A vendor call is abandoned after IMPORTER_VENDOR_TIMEOUT (30 s).
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}},
		{Name: RetryAfterSecondsTotal, Kind: Counter, Labels: labels(LabelVendor),
			Help: "Seconds of Retry-After pause vendors asked for."},
		{Name: GateWait, Kind: Histogram, Labels: labels(LabelVendor, LabelConnection),
			Help: "Time a chunk waited for its vendor account's one-bulk-at-a-time gate.",
			// Behind other imports' bulks: seconds to hours.
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400}},
		{Name: GateHold, Kind: Histogram, Labels: labels(LabelVendor, LabelConnection),
			Help: "Time a chunk held its vendor account's gate: its bulk call, or its job until it ended.",
			// A BitLabs bulk takes seconds; a Userpilot job of 10,000 rows about 8 minutes.
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}},
		{Name: PacerDelay, Kind: Histogram, Labels: labels(LabelVendor),
			Help: "Time a request waited for its turn at the vendor's pacer (the deployment's request rate), Retry-After pauses included.",
			// 150 requests a minute is one every 0.4 s; a queue of chunks waits minutes.
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600}},
		{Name: ChunkDuration, Kind: Histogram, Labels: labels(LabelVendor),
			Help:    "Time from a chunk's start (for a gated vendor: its grant) to its result, retries included.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}},
		{Name: ImportsTotal, Kind: Counter, Labels: labels(LabelWorkflowType, LabelVendor, LabelResult),
			Help: "Imports and audience syncs (workflow_type AudienceSync, vendor fynd) that ended, by result: completed, failed or canceled."},
	}
}

// sdkBuckets are the upper bounds, in seconds, of the SDK's timers
// (temporal_*_latency_seconds): from a local request's milliseconds to a
// workflow's hours.
func sdkBuckets() []float64 {
	return []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
}
