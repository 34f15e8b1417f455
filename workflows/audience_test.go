package workflows

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/failure"
	"importer/activities/fynd/audience"
	"importer/activities/source"
)

// audienceFakes stand in for the Fynd audience activities, under their
// registered names: each answers what the test set, and records that it
// ran (and, for a wait, that it returned) in the order the sync ran them.
type audienceFakes struct {
	prep     audience.PreparedAudience
	defs     []audience.AttributeDefinition
	jobs     map[int]string // attribute set index → job id; "" applied at once
	group    audience.GroupSync
	groupErr error // what WaitGroup fails with
	before   audience.RefreshStarted
	total    audience.TotalUsers
	verified audience.Verification
	fin      audience.FinishedAudience

	mu       sync.Mutex
	steps    []string
	waitIns  []audience.GroupWaitInput
	refresh  []audience.RefreshInput
	verifyIn []audience.VerifyInput
	finIns   []audience.FinishAudienceInput
}

func (f *audienceFakes) ran(step string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps = append(f.steps, step)
}

func (f *audienceFakes) register(env *testsuite.TestWorkflowEnvironment) {
	RegisterWithTraits(env, testSettings, nil)
	for name, fn := range map[string]any{
		audience.PrepareAudienceName: func(_ context.Context, in audience.PrepareAudienceInput) (audience.PreparedAudience, error) {
			f.ran("PrepareAudience")
			return f.prep, nil
		},
		audience.EnsureAttributesName: func(_ context.Context, in audience.EnsureAttributesInput) ([]audience.AttributeDefinition, error) {
			f.ran("EnsureAttributes " + strings.Join(in.Slugs, ","))
			return f.defs, nil
		},
		audience.StartAttributeJobName: func(_ context.Context, in audience.AttributeJobInput) (audience.AttributeJobResult, error) {
			f.ran(fmt.Sprintf("StartAttributeJob set %d", in.Set.Index))
			id := f.jobs[in.Set.Index]
			if id == "" {
				return audience.AttributeJobResult{Status: "applied"}, nil
			}
			return audience.AttributeJobResult{JobID: id, Status: "submitted"}, nil
		},
		audience.WaitAttributeJobName: func(_ context.Context, in audience.AttributeJobInput) (audience.AttributeJobResult, error) {
			f.ran(fmt.Sprintf("WaitAttributeJob set %d %s", in.Set.Index, in.JobID))
			defer f.ran(fmt.Sprintf("WaitAttributeJob set %d %s returned", in.Set.Index, in.JobID))
			return audience.AttributeJobResult{JobID: in.JobID, Status: "completed", Processed: in.Set.Rows}, nil
		},
		audience.SyncGroupName: func(_ context.Context, in audience.SyncGroupInput) (audience.GroupSync, error) {
			f.ran("SyncGroup")
			return f.group, nil
		},
		audience.WaitGroupName: func(_ context.Context, in audience.GroupWaitInput) (audience.GroupState, error) {
			f.ran("WaitGroup")
			f.mu.Lock()
			f.waitIns = append(f.waitIns, in)
			f.mu.Unlock()
			if f.groupErr != nil {
				return audience.GroupState{}, f.groupErr
			}
			return audience.GroupState{Status: "processed"}, nil
		},
		audience.RefreshGroupName: func(_ context.Context, in audience.RefreshInput) (audience.RefreshStarted, error) {
			f.ran("RefreshGroup")
			f.mu.Lock()
			f.refresh = append(f.refresh, in)
			f.mu.Unlock()
			return f.before, nil
		},
		audience.WaitRefreshName: func(_ context.Context, in audience.RefreshInput) (audience.TotalUsers, error) {
			f.ran("WaitRefresh")
			f.mu.Lock()
			f.refresh = append(f.refresh, in)
			f.mu.Unlock()
			return f.total, nil
		},
		audience.VerifyGroupName: func(_ context.Context, in audience.VerifyInput) (audience.Verification, error) {
			f.ran("VerifyGroup")
			f.mu.Lock()
			f.verifyIn = append(f.verifyIn, in)
			f.mu.Unlock()
			return f.verified, nil
		},
		audience.FinishAudienceName: func(_ context.Context, in audience.FinishAudienceInput) (audience.FinishedAudience, error) {
			f.ran("FinishAudience")
			f.mu.Lock()
			f.finIns = append(f.finIns, in)
			f.mu.Unlock()
			return f.fin, nil
		},
	} {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// newAudienceFakes is a list of 10 rows, 2 rejected, whose 8 members fall
// into three attribute sets: two become Fynd jobs, one Fynd applies at
// once. The group exists and gets a patch; Fynd's other answers are set so
// that no two counts agree by chance.
func newAudienceFakes() *audienceFakes {
	return &audienceFakes{
		prep: audience.PreparedAudience{
			Counts: audience.ListCounts{Rows: 10, Rejected: 2}, Members: 8,
			MembersFile: "audiences/k/members.csv", LinesFile: "audiences/k/lines.csv",
			PatchFile: "audiences/k/patch.csv", Manifest: "audiences/k/manifest.json",
			Slugs: []string{"tier"},
			Sets: []audience.AttributeSet{
				{Index: 0, File: "audiences/k/set-0001.csv", Rows: 3},
				{Index: 1, File: "audiences/k/set-0002.csv", Rows: 4},
				{Index: 2, File: "audiences/k/set-0003.csv", Rows: 1},
			},
		},
		defs:     []audience.AttributeDefinition{{Slug: "tier", ID: "def-1", Action: "created"}},
		jobs:     map[int]string{0: "job-a", 1: "job-b"},
		group:    audience.GroupSync{GroupID: "g-1", Mode: "patched", Added: 3, Removed: 1, File: "audiences/k/patch.csv"},
		before:   audience.RefreshStarted{Before: audience.TotalUsers{Count: 5, Known: true}},
		total:    audience.TotalUsers{Count: 6, Known: true},
		verified: audience.Verification{Expected: 8, Present: 6, Missing: 2, Unexpected: 0},
		fin:      audience.FinishedAudience{VendorRejected: 1, Rejects: 3},
	}
}

func audienceInput() AudienceInput {
	return AudienceInput{Group: "vip", Source: source.Ref{URI: "/data/audience.csv", Format: source.CSV}}
}

// runAudience runs a sync against f to its end.
func runAudience(t *testing.T, f *audienceFakes) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	f.register(env)
	env.ExecuteWorkflow(AudienceWorkflowName, audienceInput())
	if !env.IsWorkflowCompleted() {
		t.Fatal("the sync did not end")
	}
	return env
}

// A sync reads the list, makes the attribute definitions exist, sets the
// attributes, and only once every attribute job it started has ended does
// it touch the group: sync it, wait for Fynd to process it, refresh and
// wait for its count, verify it, and finish.
func TestAudienceSyncRunsItsStepsInOrderAndWaitsForEveryAttributeJob(t *testing.T) {
	f := newAudienceFakes()
	env := runAudience(t, f)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("the sync failed: %v", err)
	}

	var main, jobs []string
	for _, s := range f.steps {
		if strings.Contains(s, "AttributeJob") {
			jobs = append(jobs, s)
			continue
		}
		main = append(main, s)
	}
	want := []string{"PrepareAudience", "EnsureAttributes tier", "SyncGroup", "WaitGroup", "RefreshGroup", "WaitRefresh", "VerifyGroup", "FinishAudience"}
	if !slices.Equal(main, want) {
		t.Fatalf("steps %q, want %q", main, want)
	}
	// Every attribute step ran between the definitions and the group.
	ensured := slices.Index(f.steps, "EnsureAttributes tier")
	synced := slices.Index(f.steps, "SyncGroup")
	for i, s := range f.steps {
		if strings.Contains(s, "AttributeJob") && (i < ensured || i > synced) {
			t.Errorf("%q ran outside the attribute phase: %q", s, f.steps)
		}
	}
	// One start per set; a wait for each job Fynd started, after its
	// start, with its id; none for the set Fynd applied at once.
	wantJobs := []string{
		"StartAttributeJob set 0", "WaitAttributeJob set 0 job-a", "WaitAttributeJob set 0 job-a returned",
		"StartAttributeJob set 1", "WaitAttributeJob set 1 job-b", "WaitAttributeJob set 1 job-b returned",
		"StartAttributeJob set 2",
	}
	if got := slices.Sorted(slices.Values(jobs)); !slices.Equal(got, slices.Sorted(slices.Values(wantJobs))) {
		t.Fatalf("attribute steps %q, want %q in some order", jobs, wantJobs)
	}
	for _, set := range []string{"set 0 job-a", "set 1 job-b"} {
		start := slices.Index(f.steps, "StartAttributeJob "+set[:5])
		wait := slices.Index(f.steps, "WaitAttributeJob "+set)
		if wait < start {
			t.Errorf("the wait for %s ran before its start: %q", set, f.steps)
		}
	}
	// What one step answered is what the next was handed.
	if len(f.waitIns) != 1 || f.waitIns[0].GroupID != "g-1" || f.waitIns[0].LinesFile != f.prep.LinesFile {
		t.Errorf("WaitGroup was handed %+v; want group g-1 and the lines file", f.waitIns)
	}
	if len(f.refresh) != 2 || f.refresh[1].Before != f.before.Before || f.refresh[0].Expected != f.prep.Members || f.refresh[1].GroupID != "g-1" {
		t.Errorf("the refresh steps were handed %+v", f.refresh)
	}
	if len(f.verifyIn) != 1 || f.verifyIn[0].GroupID != "g-1" || f.verifyIn[0].GroupFile != f.group.File || f.verifyIn[0].MembersFile != f.prep.MembersFile {
		t.Errorf("VerifyGroup was handed %+v", f.verifyIn)
	}
}

// When Fynd fails to process the group, the sync fails with what Fynd said
// about it; it neither refreshes nor verifies a group that failed, and it
// still finishes (rejects joined, files deleted), pointing at the rejects.
func TestAFailedGroupFailsTheAudienceSyncWithFyndsReasons(t *testing.T) {
	f := newAudienceFakes()
	f.prep.Sets, f.prep.Slugs = nil, nil
	f.group = audience.GroupSync{GroupID: "g-1", Mode: "created", File: f.prep.MembersFile}
	const said = `fynd could not process group "vip": status failed, 2 errors: user not found; phone blocked (error file https://files.example/err.csv)`
	f.groupErr = temporal.NewNonRetryableApplicationError(said, failure.VendorJobFailed, nil)
	f.fin = audience.FinishedAudience{Rejects: 2}
	env := runAudience(t, f)

	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != AudienceSyncFailed {
		t.Fatalf("%v; want an %s failure", err, AudienceSyncFailed)
	}
	if !strings.Contains(app.Message(), "user not found; phone blocked") || !strings.HasPrefix(app.Message(), said) {
		t.Errorf("the failure says %q; want Fynd's reasons (%q)", app.Message(), said)
	}
	var d FailureDetails
	if err := app.Details(&d); err != nil {
		t.Fatal(err)
	}
	if d.Cause != failure.VendorJobFailed || d.Rejects != 2 || d.RejectsCommand == "" {
		t.Errorf("details %+v; want cause %s and the 2 rejects", d, failure.VendorJobFailed)
	}
	want := []string{"PrepareAudience", "SyncGroup", "WaitGroup", "FinishAudience"}
	if !slices.Equal(f.steps, want) {
		t.Errorf("steps %q, want %q", f.steps, want)
	}
	if len(f.finIns) != 1 || f.finIns[0].Rejected != nil || len(f.finIns[0].Artifacts) == 0 {
		t.Errorf("FinishAudience was handed %+v; want the files to delete and no reject count to check", f.finIns)
	}
}

// The result a person reads counts what the steps reported: rows and
// members as the list was read, the group's changes as it was synced, the
// total as Fynd recounted it, and the rejects of the list and of Fynd.
func TestAudienceSyncResultCountsComeFromItsSteps(t *testing.T) {
	f := newAudienceFakes()
	env := runAudience(t, f)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("the sync failed: %v", err)
	}
	var res AudienceResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	got := res
	got.StartedAt, got.FinishedAt = got.StartedAt.UTC(), got.FinishedAt.UTC()
	want := AudienceResult{
		WorkflowID: "default-test-workflow-id", Connection: "default", Group: "vip", Source: "/data/audience.csv",
		GroupID: "g-1", Mode: "patched", Added: 3, Removed: 1,
		RowsRead: 10, Members: 8,
		Rejected:   3, // 2 rows of the list + 1 user Fynd refused
		Accepted:   7, // 8 members - 1 refused
		Attributes: f.defs, AttributeJobs: 3, TotalUsers: 6, Verified: f.verified,
		RejectsCommand: "starter rejects default-test-workflow-id",
		StartedAt:      got.StartedAt, FinishedAt: got.FinishedAt,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result\n got %+v\nwant %+v", got, want)
	}
	if len(f.finIns) != 1 {
		t.Fatalf("FinishAudience ran %d times", len(f.finIns))
	}
	fin := f.finIns[0]
	if fin.Members != 8 || fin.Rejected == nil || *fin.Rejected != 2 {
		t.Errorf("FinishAudience was handed %d members and %v rejected; want 8 and 2", fin.Members, fin.Rejected)
	}
	for _, key := range []string{f.prep.MembersFile, f.prep.LinesFile, f.prep.Manifest, f.prep.PatchFile, f.prep.Sets[2].File} {
		if !slices.Contains(fin.Artifacts, key) {
			t.Errorf("FinishAudience is not told to delete %s: %q", key, fin.Artifacts)
		}
	}

	// A group the sync created gained every member, whatever the step's
	// own count says.
	f = newAudienceFakes()
	f.group = audience.GroupSync{GroupID: "g-2", Mode: "created", File: f.prep.MembersFile}
	env = runAudience(t, f)
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Mode != "created" || res.Added != 8 || res.Removed != 0 || res.GroupID != "g-2" {
		t.Errorf("a created group: %s, %d added, %d removed, id %s; want created, 8, 0, g-2", res.Mode, res.Added, res.Removed, res.GroupID)
	}
}
