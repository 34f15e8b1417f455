package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"importer/activities/failure"
	"importer/activities/imports"
	"importer/activities/source"
	"importer/activities/vendorapi"
	"importer/activities/vendors"
	"importer/internal/connections"
	"importer/internal/limits"
)

// Settings are what the worker's operator decided that the workflows
// follow: the caps on what a caller may ask (limits.Limits), and whether
// payloads are encrypted. A worker registers the workflows with its own
// (Register); each import records them once, with its other Decisions, so
// every replay, on any worker, sees what the import saw, and a deploy that
// changes them changes new imports.
type Settings struct {
	Limits limits.Limits `json:"limits"`
	// Sealed: the workers encrypt every payload (IMPORTER_CODEC_KEYS), so
	// a source URL that carries a credential (a presigned query) travels
	// sealed. Without it such a URL is refused: it would be kept in
	// history in plain text.
	Sealed bool `json:"sealed,omitempty"`
}

// Decisions are what a run takes from outside its workflow code: the
// worker's Settings, the vendor's traits and the code's Defaults. An
// import's first run records them (a SideEffect) and carries them in its
// state; every replay and every later run, on any worker, whatever code or
// settings it was deployed with, decides the same. A deploy that flips a
// vendor's traits (Gated, Jobs, SingleBypass) or a default changes new
// imports only.
type Decisions struct {
	Settings Settings         `json:"settings"`
	Traits   vendorapi.Traits `json:"traits"`
	Defaults Defaults         `json:"defaults"`
	// Unknown is why the vendor has no traits (it is no import vendor);
	// "" when it has.
	Unknown string `json:"unknown,omitempty"`
}

// decide returns the Decisions a run follows: the ones its import
// recorded, carried in st, in a run that continued as new from it; else
// the registering worker's, recorded now. vendor "" records no traits (an
// audience sync).
func (f *flows) decide(ctx workflow.Context, vendor string, st *ImportState) Decisions {
	info := workflow.GetInfo(ctx)
	if st != nil && st.Decided != nil && info.ContinuedExecutionRunID != "" && st.ImportKey == importKeyOf(info) {
		return *st.Decided
	}
	var d Decisions
	err := workflow.SideEffect(ctx, func(workflow.Context) any { return f.live(vendor) }).Get(&d)
	if err != nil {
		d = f.live(vendor)
	}
	d.Settings.Limits = d.Settings.Limits.WithDefaults()
	return d
}

// traitsOf reads a vendor's traits as the worker's code has them now.
func (f *flows) traitsOf(vendor string) (vendorapi.Traits, error) {
	if f.traits != nil {
		return f.traits(vendor)
	}
	return vendors.Traits(vendor)
}

// live is what the worker and its code say now.
func (f *flows) live(vendor string) Decisions {
	d := Decisions{Settings: f.settings, Defaults: codeDefaults()}
	if vendor != "" {
		t, err := f.traitsOf(vendor)
		if err != nil {
			d.Unknown = err.Error()
		}
		d.Traits = t
	}
	return d
}

// Limits on the fields a caller writes that no operator cap covers.
const (
	maxURILength      = 4096
	maxStateKeyLength = 200
	maxGroupLength    = 200
	// maxAttributeSets bounds the Fynd bulk attribute jobs one sync may
	// start, one per distinct combination of attribute values.
	maxAttributeSets = 1000
)

// badInput is the failure of a run whose input is refused: one sentence,
// not retried.
func badInput(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), failure.BadInput, nil)
}

// importKeyOf is the key an import's records carry: its workflow ID and the
// first 8 characters of its first run's ID, so two imports that reuse one
// workflow ID never mix their rejects. It is derived, never read from
// input: whoever starts an import cannot name another's records.
func importKeyOf(info *workflow.Info) string {
	return info.WorkflowExecution.ID + "-" + shortID(info.FirstRunID)
}

// admit checks an import's input as it arrives from whoever started it
// (the starter, a schedule, `temporal workflow start`, the UI) and holds
// what it asks within the operator's caps. Only the person's fields may be
// set: the state an import carries from one run to the next is accepted
// only in a run that continued as new (which no start request can make),
// and only when it is this import's own.
func (in *ImportInput) admit(ctx workflow.Context, s Settings) error {
	info := workflow.GetInfo(ctx)
	if in.State != nil {
		if info.ContinuedExecutionRunID == "" {
			return badInput("the input sets state, which only the import itself carries from one run to the next: start an import with the fields a person sets")
		}
		if in.State.ImportKey != importKeyOf(info) {
			return badInput("the carried state belongs to another import")
		}
	}
	if !connections.ValidName(in.Connection) {
		return badInput("the connection must be named by 1 to 64 letters, digits, '-', '_' or '.'")
	}
	if err := checkSource(in.Source, s); err != nil {
		return err
	}
	if in.Notify != nil {
		if err := in.Notify.Check(); err != nil {
			return badInput("%v", err)
		}
	}
	if inc := in.Incremental; inc != nil {
		if inc.StateKey == "" || len(inc.StateKey) > maxStateKeyLength || strings.ContainsFunc(inc.StateKey, isControl) {
			return badInput("the incremental state key must be 1 to %d printable characters", maxStateKeyLength)
		}
		if inc.Missing != "" && inc.Missing != imports.MissingReport && inc.Missing != imports.MissingDeactivate {
			return badInput("unknown missing-user policy: use report or deactivate")
		}
	}
	l := s.Limits
	clamped := map[string]any{}
	note := func(name string, v any, lowered bool) {
		if lowered {
			clamped[name] = v
		}
	}
	var lowered bool
	in.BatchSize, lowered = limits.Clamp(in.BatchSize, imports.DefaultBatchSize, l.MaxBatchSize)
	note("batch_size", in.BatchSize, lowered)
	in.ChunkRows, lowered = limits.Clamp(in.ChunkRows, in.BatchSize*DefaultBatchesPerChunk, l.MaxChunkRows)
	note("chunk_rows", in.ChunkRows, lowered)
	in.Concurrency, lowered = limits.Clamp(in.Concurrency, DefaultConcurrency, l.MaxConcurrency)
	note("concurrency", in.Concurrency, lowered)
	in.PlanPage, lowered = limits.Clamp(in.PlanPage, DefaultPlanPage, l.MaxPlanPage)
	note("plan_page", in.PlanPage, lowered)
	in.ChunksPerRun, lowered = limits.Clamp(in.ChunksPerRun, DefaultChunksPerRun, limits.MaxChunksPerRun)
	note("chunks_per_run", in.ChunksPerRun, lowered)
	in.VendorDeadline, lowered = limits.ClampDuration(in.VendorDeadline, DefaultVendorDeadline, time.Second, limits.MaxDeadline)
	note("vendor_deadline", in.VendorDeadline, lowered)
	in.HeartbeatTimeout, lowered = limits.ClampDuration(in.HeartbeatTimeout, DefaultHeartbeatTimeout, limits.MinHeartbeat, limits.MaxHeartbeat)
	note("heartbeat_timeout", in.HeartbeatTimeout, lowered)
	if in.GateLease > 0 {
		in.GateLease, lowered = limits.ClampDuration(in.GateLease, 0, limits.MinLease, limits.MaxLease)
		note("gate_lease", in.GateLease, lowered)
	}
	if in.JobPoll > 0 || in.JobMaxPoll > 0 {
		in.JobPoll, lowered = limits.ClampDuration(in.JobPoll, l.MinPoll, l.MinPoll, limits.MaxPoll)
		note("job_poll", in.JobPoll, lowered)
		if in.JobMaxPoll > 0 {
			in.JobMaxPoll, lowered = limits.ClampDuration(in.JobMaxPoll, 0, in.JobPoll, limits.MaxPoll)
			note("job_max_poll", in.JobMaxPoll, lowered)
		}
	}
	if len(clamped) > 0 {
		workflow.GetLogger(ctx).Warn("the import asked for more than this worker's operator allows; held within the caps", "held", clamped)
	}
	return nil
}

// checkSource refuses a source that a person could not have named: the
// fields planning and staging fill in (a header, a version, a staged
// copy), an unknown format or compression, and, unless payloads are
// sealed, a URL that carries a credential.
func checkSource(r source.Ref, s Settings) error {
	switch {
	case r.URI == "":
		return badInput("the input names no source")
	case len(r.URI) > maxURILength:
		return badInput("the source's name is longer than %d characters", maxURILength)
	case strings.ContainsFunc(r.URI, isControl):
		return badInput("the source's name holds control characters")
	case r.Staged || len(r.Header) > 0 || r.Version != (source.Version{}):
		return badInput("the source sets its header, version or staged copy, which only the import itself fills in")
	}
	switch r.Format {
	case source.CSV, source.NDJSON, source.Parquet:
	default:
		return badInput("unknown source format: use csv, ndjson or parquet")
	}
	switch r.Compression {
	case "", source.Gzip, source.Zstd:
	default:
		return badInput("unknown source compression: use gzip, zstd or none")
	}
	if msg := source.ObjectOptionProblem(r.URI); msg != "" {
		return temporal.NewNonRetryableApplicationError(msg, failure.SourceRefused, nil)
	}
	if what := source.CredentialIn(r.URI); what != "" && !s.Sealed {
		return badInput("%s", source.CredentialRefusal(r.URI, what))
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// admit checks an audience sync's input as an import's is checked, and
// holds its attribute jobs and polls within the operator's caps.
func (in *AudienceInput) admit(ctx workflow.Context, s Settings) error {
	if !connections.ValidName(in.Connection) {
		return badInput("the connection must be named by 1 to 64 letters, digits, '-', '_' or '.'")
	}
	if in.Group == "" || len(in.Group) > maxGroupLength || strings.ContainsFunc(in.Group, isControl) {
		return badInput("the group must be named by 1 to %d printable characters", maxGroupLength)
	}
	if len(in.Description) > 4*maxGroupLength || len(in.Category) > maxGroupLength {
		return badInput("the group's description or category is too long")
	}
	if err := checkSource(in.Source, s); err != nil {
		return err
	}
	if in.Notify != nil {
		if err := in.Notify.Check(); err != nil {
			return badInput("%v", err)
		}
	}
	l := s.Limits
	clamped := map[string]any{}
	var lowered bool
	if in.AttributeJobs, lowered = limits.Clamp(in.AttributeJobs, defaultAttributeJobs, l.MaxConcurrency); lowered {
		clamped["attribute_jobs"] = in.AttributeJobs
	}
	if in.Deadline, lowered = limits.ClampDuration(in.Deadline, DefaultAudienceDeadline, time.Second, limits.MaxDeadline); lowered {
		clamped["deadline"] = in.Deadline
	}
	if in.HeartbeatTimeout, lowered = limits.ClampDuration(in.HeartbeatTimeout, DefaultHeartbeatTimeout, limits.MinHeartbeat, limits.MaxHeartbeat); lowered {
		clamped["heartbeat_timeout"] = in.HeartbeatTimeout
	}
	if in.Poll > 0 {
		if in.Poll, lowered = limits.ClampDuration(in.Poll, l.MinPoll, l.MinPoll, limits.MaxPoll); lowered {
			clamped["poll"] = in.Poll
		}
	}
	if in.MaxPoll > 0 {
		if in.MaxPoll, lowered = limits.ClampDuration(in.MaxPoll, 0, max(in.Poll, l.MinPoll), limits.MaxPoll); lowered {
			clamped["max_poll"] = in.MaxPoll
		}
	}
	if in.MaxAttributeSets > maxAttributeSets {
		in.MaxAttributeSets = maxAttributeSets
		clamped["max_attribute_sets"] = in.MaxAttributeSets
	}
	if len(clamped) > 0 {
		workflow.GetLogger(ctx).Warn("the sync asked for more than this worker's operator allows; held within the caps", "held", clamped)
	}
	return nil
}
