package workflows

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"importer/activities/failure"
	"importer/activities/fynd/audience"
	"importer/activities/mapping"
	"importer/activities/notify"
	"importer/activities/source"
	"importer/internal/metrics"
	"importer/internal/steps"
)

// AudienceWorkflowName is the registered name of the Fynd audience sync.
const AudienceWorkflowName = "AudienceSync"

// AudienceInput asks for a user list to become a Fynd user group, with user
// attributes set from the list's columns.
type AudienceInput struct {
	Connection  string          `json:"connection,omitempty"`
	Group       string          `json:"group"`
	Description string          `json:"description,omitempty"`
	Category    string          `json:"category,omitempty"`
	Source      source.Ref      `json:"source"`
	Mapping     mapping.Mapping `json:"mapping"`
	// KeepMissing leaves group members that are not in the list; by
	// default the group is made to match the list exactly.
	KeepMissing bool `json:"keep_missing,omitempty"`
	// MaxAttributeSets bounds distinct combinations of attribute values.
	MaxAttributeSets int `json:"max_attribute_sets,omitempty"`
	// AttributeJobs is how many bulk attribute jobs run at once.
	AttributeJobs int `json:"attribute_jobs,omitempty"`
	// Deadline bounds each step, waits included: a job or a group that
	// has not finished by then fails the sync.
	Deadline         time.Duration `json:"deadline,omitempty"`
	Poll             time.Duration `json:"poll,omitempty"`
	MaxPoll          time.Duration `json:"max_poll,omitempty"`
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	// Notify names the webhook to notify when the sync ends, and on which
	// ends; nil notifies no one.
	Notify *notify.Spec `json:"notify,omitempty"`
}

// AudienceResult is the summary of a finished sync.
type AudienceResult struct {
	WorkflowID    string                         `json:"workflow_id"`
	Connection    string                         `json:"connection"`
	Group         string                         `json:"group"`
	GroupID       string                         `json:"group_id"`
	Source        string                         `json:"source"`
	Mode          string                         `json:"mode"` // created, patched, unchanged
	Added         int                            `json:"added"`
	Removed       int                            `json:"removed"`
	RowsRead      int64                          `json:"rows_read"`
	Accepted      int64                          `json:"accepted"`
	Rejected      int64                          `json:"rejected"`
	Members       int                            `json:"members"`
	Attributes    []audience.AttributeDefinition `json:"attributes,omitempty"`
	AttributeJobs int                            `json:"attribute_jobs"`
	TotalUsers    int                            `json:"total_users"`
	Verified      audience.Verification          `json:"verified"`
	// RejectsCommand lists the rejected rows; empty without rejects.
	RejectsCommand string    `json:"rejects_command,omitempty"`
	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at"`
}

// AudienceProgress answers the progress query of a sync.
type AudienceProgress struct {
	Phase     string    `json:"phase"`
	Waiting   string    `json:"waiting,omitempty"` // what the sync waits for at the vendor
	RowsRead  int64     `json:"rows_read"`
	Members   int       `json:"members"`
	Rejected  int64     `json:"rejected"`
	JobsDone  int       `json:"jobs_done"`
	Jobs      int       `json:"jobs"`
	StartedAt time.Time `json:"started_at"`
	Error     string    `json:"error,omitempty"`
}

// Defaults of an audience sync.
const (
	DefaultAudienceDeadline = 2 * time.Hour
	defaultAttributeJobs    = 4
	maxBusyGroupRounds      = 5
)

func (in *AudienceInput) applyDefaults(d Defaults) {
	if in.Connection == "" {
		in.Connection = "default"
	}
	if in.Deadline <= 0 {
		in.Deadline = d.AudienceDeadline
	}
	if in.HeartbeatTimeout <= 0 {
		in.HeartbeatTimeout = d.HeartbeatTimeout
	}
	if in.AttributeJobs <= 0 {
		in.AttributeJobs = d.AttributeJobs
	}
}

type audienceRun struct {
	in   AudienceInput
	spec audience.AudienceSpec
	prog AudienceProgress
}

// AudienceSync makes a Fynd user group hold a user list and sets the list's
// attribute values on its users: it reads and validates the list into the
// files Fynd fetches, makes the attribute definitions exist, runs one bulk
// attribute job per combination of values and waits for each, creates the
// group (or patches the existing one with what to add and remove) and waits
// for Fynd to process it, refreshes the group's total users and waits for
// the new count, and lists the group to verify it. Every wait polls with
// backoff in a heartbeating activity bounded by the deadline; the vendor's
// job and group ids are in history before any wait, so a worker that dies
// mid-wait is replaced by one that resumes the same wait. When it ends, it
// notifies the webhook its input names, if any (see Notify).
//
// Its input is checked first and held within the worker's caps, as an
// import's is, under the Decisions it records; syncs started before the
// check replay without it, on the code's defaults.
func (f *flows) AudienceSync(ctx workflow.Context, in AudienceInput) (AudienceResult, error) {
	if workflow.GetVersion(ctx, "admit-input", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		in.applyDefaults(codeDefaults())
	} else {
		d := f.decide(ctx, "", nil)
		in.applyDefaults(d.Defaults)
		if err := in.admit(ctx, d.Settings); err != nil {
			return AudienceResult{}, err
		}
	}
	var end runEnd
	res, err := audienceSync(ctx, in, &end)
	return notifyAudience(ctx, in, &end, res, err)
}

// audienceSync is the sync up to its result.
func audienceSync(ctx workflow.Context, in AudienceInput, end *runEnd) (AudienceResult, error) {
	info := workflow.GetInfo(ctx)
	r := &audienceRun{in: in, spec: audience.AudienceSpec{
		Connection: in.Connection, Group: in.Group, Description: in.Description, Category: in.Category,
		SyncKey:     importKeyOf(info),
		KeepMissing: in.KeepMissing,
	}}
	end.aud = r
	r.prog = AudienceProgress{Phase: "reading the list", StartedAt: workflow.Now(ctx)}
	if in.Group == "" {
		return AudienceResult{}, temporal.NewNonRetryableApplicationError("the sync names no group", failure.BadInput, nil)
	}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (AudienceProgress, error) { return r.prog, nil }); err != nil {
		return AudienceResult{}, err
	}
	r.describe(ctx)

	res := AudienceResult{WorkflowID: info.WorkflowExecution.ID, Connection: in.Connection, Group: in.Group,
		Source: source.Redact(in.Source.URI), StartedAt: r.prog.StartedAt}
	prep, err := r.sync(ctx, &res)

	// The rejects are joined and the artifacts (user data) deleted whatever
	// happened, so a failed or cancelled sync leaves its record and no copies.
	r.phase(ctx, "finishing", "")
	fctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var fin audience.FinishedAudience
	finIn := audience.FinishAudienceInput{Spec: r.spec, Artifacts: prep.artifacts(), Members: prep.Members}
	if err == nil && ctx.Err() == nil {
		rejected := prep.Counts.Rejected
		finIn.Rejected = &rejected
	}
	ferr := workflow.ExecuteActivity(r.options(fctx, "join rejects, delete the sync's files", 5*time.Minute),
		audience.FinishAudienceName, finIn).Get(fctx, &fin)
	switch {
	case ctx.Err() != nil:
		r.phase(ctx, "canceled", "")
		r.ended(ctx, metrics.ResultCanceled)
		return AudienceResult{}, temporal.NewCanceledError("audience sync canceled")
	case err != nil:
		r.prog.Error = sentence(err)
		r.phase(ctx, "failed", "")
		r.ended(ctx, metrics.ResultFailed)
		return AudienceResult{}, failed(err, AudienceSyncFailed, fin.Rejects, info.WorkflowExecution.ID)
	case ferr != nil:
		r.ended(ctx, metrics.ResultFailed)
		var app *temporal.ApplicationError
		if errors.As(ferr, &app) && app.Type() == failure.StoreNotShared {
			r.prog.Error = app.Message()
			r.phase(ctx, "failed", "")
			return AudienceResult{}, temporal.NewNonRetryableApplicationError(app.Message(), app.Type(), nil)
		}
		return AudienceResult{}, temporal.NewNonRetryableApplicationError("joining the rejects: "+steps.Message(ferr), RejectsUncounted, nil)
	}
	res.RowsRead = prep.Counts.Rows
	res.Rejected = prep.Counts.Rejected + int64(fin.VendorRejected)
	res.RejectsCommand = rejectsCommand(info.WorkflowExecution.ID, fin.Rejects)
	res.Accepted = int64(prep.Members - fin.VendorRejected)
	res.Members = prep.Members
	res.FinishedAt = workflow.Now(ctx)
	r.prog.Rejected = res.Rejected
	r.phase(ctx, "done", "")
	r.ended(ctx, metrics.ResultCompleted)
	return res, nil
}

// ended counts the sync among the imports that ended, with its result.
func (r *audienceRun) ended(ctx workflow.Context, result string) {
	metrics.ImportEnded(workflow.GetMetricsHandler(ctx), audience.AudienceVendor, result)
}

type prepared struct{ audience.PreparedAudience }

// artifacts lists the files the sync published, for deletion.
func (p prepared) artifacts() []string {
	if p.MembersFile == "" {
		return nil
	}
	out := []string{p.MembersFile, p.LinesFile, p.Manifest, p.PatchFile}
	for _, s := range p.Sets {
		out = append(out, s.File)
	}
	return out
}

// sync runs the steps up to the verification.
func (r *audienceRun) sync(ctx workflow.Context, res *AudienceResult) (prepared, error) {
	in, spec := r.in, r.spec
	var prep prepared
	err := workflow.ExecuteActivity(r.options(ctx, "read and validate "+displayName(in.Source.URI), time.Hour),
		audience.PrepareAudienceName, audience.PrepareAudienceInput{Spec: spec, Source: in.Source, Mapping: in.Mapping, MaxAttributeSets: in.MaxAttributeSets}).
		Get(ctx, &prep.PreparedAudience)
	if err != nil {
		return prep, steps.GaveUp(err, in.Deadline, "reading "+displayName(in.Source.URI))
	}
	if prep.Counts.Rows != int64(prep.Members)+prep.Counts.Rejected {
		return prep, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the list's accounting does not add up: %d rows, %d members, %d rejected", prep.Counts.Rows, prep.Members, prep.Counts.Rejected), failure.AccountingError, nil)
	}
	r.prog.RowsRead, r.prog.Members, r.prog.Rejected, r.prog.Jobs = prep.Counts.Rows, prep.Members, prep.Counts.Rejected, len(prep.Sets)
	res.AttributeJobs = len(prep.Sets)

	if slugs := r.slugs(prep.Slugs); len(slugs) > 0 {
		r.phase(ctx, "attribute definitions", "")
		if err := workflow.ExecuteActivity(r.options(ctx, fmt.Sprintf("ensure %d attribute definitions", len(slugs)), 10*time.Minute),
			audience.EnsureAttributesName, audience.EnsureAttributesInput{Spec: spec, Slugs: slugs, Mapping: in.Mapping}).Get(ctx, &res.Attributes); err != nil {
			return prep, steps.GaveUp(err, r.in.Deadline, "attribute definitions")
		}
	}
	if len(prep.Sets) > 0 {
		r.phase(ctx, "setting attributes", fmt.Sprintf("%d bulk attribute jobs", len(prep.Sets)))
		if err := r.attributeJobs(ctx, prep); err != nil {
			return prep, err
		}
	}

	r.phase(ctx, "syncing the group", "")
	var gs audience.GroupSync
	groupFile := ""
	for round := 1; ; round++ {
		if err := workflow.ExecuteActivity(r.options(ctx, fmt.Sprintf("sync group %q", in.Group), 30*time.Minute),
			audience.SyncGroupName, audience.SyncGroupInput{Spec: spec, MembersFile: prep.MembersFile, PatchFile: prep.PatchFile}).Get(ctx, &gs); err != nil {
			return prep, steps.GaveUp(err, r.in.Deadline, fmt.Sprintf("group %q", in.Group))
		}
		if gs.Mode != "unchanged" {
			if err := r.waitGroup(ctx, gs, prep.LinesFile); err != nil {
				return prep, err
			}
		}
		if gs.File != "" {
			groupFile = gs.File
		}
		if gs.Mode != "busy" {
			break
		}
		if round == maxBusyGroupRounds {
			return prep, temporal.NewNonRetryableApplicationError(fmt.Sprintf("group %q kept processing other changes; try again later", in.Group), GroupBusy, nil)
		}
	}
	res.GroupID, res.Mode, res.Added, res.Removed = gs.GroupID, gs.Mode, gs.Added, gs.Removed
	if gs.Mode == "created" {
		res.Added = prep.Members
	}

	r.phase(ctx, "refreshing total users", "")
	var started audience.RefreshStarted
	rin := audience.RefreshInput{Spec: spec, GroupID: gs.GroupID, Expected: prep.Members, Poll: r.poll()}
	if err := workflow.ExecuteActivity(r.options(ctx, "refresh total users", 10*time.Minute), audience.RefreshGroupName, rin).Get(ctx, &started); err != nil {
		return prep, steps.GaveUp(err, r.in.Deadline, fmt.Sprintf("refresh group %q", in.Group))
	}
	rin.Before, rin.RequestedAt = started.Before, started.RequestedAt
	r.phase(ctx, "refreshing total users", "the new total users of "+in.Group)
	var total audience.TotalUsers
	if err := workflow.ExecuteActivity(r.waitOptions(ctx, "wait for the new total users"), audience.WaitRefreshName, rin).Get(ctx, &total); err != nil {
		return prep, steps.GaveUp(err, r.in.Deadline, fmt.Sprintf("refresh group %q", in.Group))
	}
	res.TotalUsers = total.Count

	r.phase(ctx, "verifying", "")
	if err := workflow.ExecuteActivity(r.options(ctx, "list the group's members", 30*time.Minute), audience.VerifyGroupName,
		audience.VerifyInput{Spec: spec, GroupID: gs.GroupID, MembersFile: prep.MembersFile, LinesFile: prep.LinesFile, GroupFile: groupFile}).Get(ctx, &res.Verified); err != nil {
		return prep, steps.GaveUp(err, r.in.Deadline, fmt.Sprintf("verify group %q", in.Group))
	}
	return prep, nil
}

// slugs are the definitions to ensure: the ones values were found for, and
// the ones the mapping declares.
func (r *audienceRun) slugs(used []string) []string {
	set := map[string]bool{}
	for _, s := range used {
		set[s] = true
	}
	for s := range r.in.Mapping.Attributes {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// attributeJobs starts and waits for every attribute set's job, a few at a
// time. The first failure cancels the rest.
func (r *audienceRun) attributeJobs(ctx workflow.Context, prep prepared) error {
	jctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sem := workflow.NewSemaphore(jctx, int64(r.in.AttributeJobs))
	wg := workflow.NewWaitGroup(jctx)
	var failure error
	for _, set := range prep.Sets {
		wg.Add(1)
		workflow.Go(jctx, func(ctx workflow.Context) {
			defer wg.Done()
			if err := sem.Acquire(ctx, 1); err != nil {
				return
			}
			defer sem.Release(1)
			if err := r.attributeJob(ctx, prep, set); err != nil {
				if failure == nil && ctx.Err() == nil {
					failure = err
					cancel()
				}
				return
			}
			r.prog.JobsDone++
			r.phase(ctx, "setting attributes", fmt.Sprintf("%d of %d bulk attribute jobs done", r.prog.JobsDone, r.prog.Jobs))
		})
	}
	wg.Wait(ctx)
	if failure == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return failure
}

func (r *audienceRun) attributeJob(ctx workflow.Context, prep prepared, set audience.AttributeSet) error {
	jin := audience.AttributeJobInput{Spec: r.spec, Manifest: prep.Manifest, Set: set, LinesFile: prep.LinesFile, Poll: r.poll()}
	var started audience.AttributeJobResult
	if err := workflow.ExecuteActivity(r.options(ctx, fmt.Sprintf("attribute set %d: start (%d users)", set.Index+1, set.Rows), 10*time.Minute),
		audience.StartAttributeJobName, jin).Get(ctx, &started); err != nil {
		return steps.GaveUp(err, r.in.Deadline, fmt.Sprintf("attribute set %d", set.Index+1))
	}
	if started.JobID == "" {
		return nil // Fynd applied the values at once
	}
	jin.JobID = started.JobID
	var done audience.AttributeJobResult
	if err := workflow.ExecuteActivity(r.waitOptions(ctx, fmt.Sprintf("attribute set %d: wait for job %s", set.Index+1, started.JobID)),
		audience.WaitAttributeJobName, jin).Get(ctx, &done); err != nil {
		return steps.GaveUp(err, r.in.Deadline, fmt.Sprintf("attribute set %d", set.Index+1))
	}
	return nil
}

// waitGroup waits until Fynd has processed the group's latest change.
func (r *audienceRun) waitGroup(ctx workflow.Context, gs audience.GroupSync, lines string) error {
	what := "processing of group " + r.in.Group
	if gs.Mode == "busy" {
		what = "an earlier change to group " + r.in.Group
	}
	r.phase(ctx, "syncing the group", what)
	var st audience.GroupState
	if err := workflow.ExecuteActivity(r.waitOptions(ctx, "wait for "+what), audience.WaitGroupName,
		audience.GroupWaitInput{Spec: r.spec, GroupID: gs.GroupID, LinesFile: lines, Poll: r.poll()}).Get(ctx, &st); err != nil {
		return steps.GaveUp(err, r.in.Deadline, fmt.Sprintf("group %q", r.in.Group))
	}
	return nil
}

func (r *audienceRun) poll() steps.Poll {
	return steps.Poll{Every: r.in.Poll, Max: r.in.MaxPoll}
}

// options are for a step that calls the vendor: retried with backoff while
// the failure is retryable, within the sync's deadline.
func (r *audienceRun) options(ctx workflow.Context, summary string, attempt time.Duration) workflow.Context {
	return steps.Retrying(ctx, steps.Options{Summary: summary, Attempt: attempt, Deadline: r.in.Deadline, Heartbeat: r.in.HeartbeatTimeout})
}

// waitOptions are for a wait: one attempt may poll until the deadline.
func (r *audienceRun) waitOptions(ctx workflow.Context, summary string) workflow.Context {
	return r.options(ctx, summary, r.in.Deadline)
}

func (r *audienceRun) phase(ctx workflow.Context, phase, waiting string) {
	r.prog.Phase, r.prog.Waiting = phase, waiting
	r.describe(ctx)
}

// describe sets the current details the Temporal UI shows for the sync.
func (r *audienceRun) describe(ctx workflow.Context) {
	p := r.prog
	d := fmt.Sprintf("**fynd** audience %q: %s", r.in.Group, p.Phase)
	if p.Waiting != "" {
		d += " (waiting for " + p.Waiting + ")"
	}
	if p.RowsRead > 0 {
		d += fmt.Sprintf("\n\n%d rows read · %d members · %d rejected", p.RowsRead, p.Members, p.Rejected)
	}
	if p.Jobs > 0 {
		d += fmt.Sprintf(" · attribute jobs %d/%d", p.JobsDone, p.Jobs)
	}
	if p.Error != "" {
		d += "\n\nerror: " + p.Error
	}
	workflow.SetCurrentDetails(ctx, d)
}

// displayName is a source without a URL's query, which can hold a
// presigned credential.
func displayName(uri string) string {
	return source.Redact(uri)
}

// AudienceLookupWorkflowName is the short workflow through which the
// starter lists or shows Fynd groups: only the worker holds credentials.
const AudienceLookupWorkflowName = "AudienceLookup"

// AudienceLookup lists a connection's groups, or finds one.
func AudienceLookup(ctx workflow.Context, in audience.GroupLookup) ([]audience.GroupInfo, error) {
	const deadline = 2 * time.Minute
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: deadline,
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: 10 * time.Second},
		Summary:                "ask fynd",
	})
	var out []audience.GroupInfo
	if err := workflow.ExecuteActivity(ctx, audience.LookupGroupsName, in).Get(ctx, &out); err != nil {
		return nil, steps.GaveUp(err, deadline, "asking fynd")
	}
	return out, nil
}
