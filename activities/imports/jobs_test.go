package imports

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"importer/activities/failure"
	"importer/activities/rejects"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/internal/store"
)

// manualClock is a time only the test moves.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// jobList is a Userpilot list of five rows: three users for the job, a row
// without a user_id and a row its user's later row replaces.
const jobList = "user_id,company_id,metadata.plan\n" +
	"u1,c1,free\n" + // line 2: replaced by line 5
	",c1,free\n" + // line 3: no user_id
	"u2,c2,pro\n" + // line 4
	"u1,c1,pro\n" + // line 5
	"u3,,gold\n" // line 6

// The rejects SubmitJob writes for jobList, before any job is sent.
var jobListInvalid = []partReject{
	{rejects.PartName(0, 0), store.Reject{Line: 2, UserID: "u1", Vendor: "userpilot", Reason: "duplicate user id: line 5 has the same id and replaces this row"}},
	{rejects.PartName(0, 0), store.Reject{Line: 3, UserID: "", Vendor: "userpilot", Reason: "user_id is empty"}},
}

// userpilotJobs is a Userpilot fake on a clock the test moves (its jobs
// progress only when the test says), behind h when h is not nil, and the
// input of the import of jobList as one chunk.
func userpilotJobs(t *testing.T, wrap func(http.Handler) http.Handler) (*Activities, *store.Store, *userpilotfake.Server, *manualClock, ChunkInput) {
	t.Helper()
	clock := &manualClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	fake := userpilotfake.New(userpilotfake.Options{APIKey: "k", Clock: clock.Now})
	var h http.Handler = fake
	if wrap != nil {
		h = wrap(fake)
	}
	a, st := onVendor(t, "userpilot", h, map[string]string{"API_KEY": "k"})
	return a, st, fake, clock, oneChunk(t, a, "userpilot", jobList, 0)
}

func submitJob(t *testing.T, env *testsuite.TestActivityEnvironment, a *Activities, in ChunkInput) (JobSubmitResult, error) {
	t.Helper()
	env.RegisterActivity(a.SubmitJob)
	v, err := env.ExecuteActivity(a.SubmitJob, in)
	if err != nil {
		return JobSubmitResult{}, err
	}
	var res JobSubmitResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, nil
}

// waitJob runs WaitJob and returns, besides its result, the first status
// it heartbeat (the SDK sends an attempt's first heartbeat at once).
func waitJob(t *testing.T, a *Activities, in WaitJobInput) (ChunkResult, jobWaitProgress, error) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	var mu sync.Mutex
	var first *jobWaitProgress
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var p jobWaitProgress
		if err := details.Get(&p); err != nil {
			t.Errorf("heartbeat details: %v", err)
			return
		}
		mu.Lock()
		if first == nil {
			first = &p
		}
		mu.Unlock()
	})
	env.RegisterActivity(a.WaitJob)
	v, err := env.ExecuteActivity(a.WaitJob, in)
	mu.Lock()
	var seen jobWaitProgress
	if first != nil {
		seen = *first
	}
	mu.Unlock()
	if err != nil {
		return ChunkResult{}, seen, err
	}
	var res ChunkResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res, seen, nil
}

// submitted submits the chunk and checks what every submission of jobList
// gives: the invalid rows counted and stored as rejects, the three valid
// ones pending in one job of three rows.
func submitted(t *testing.T, a *Activities, st *store.Store, fake *userpilotfake.Server, in ChunkInput) JobSubmitResult {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	sub, err := submitJob(t, ts.NewTestActivityEnvironment(), a, in)
	if err != nil {
		t.Fatalf("SubmitJob: %v", err)
	}
	if sub.JobID == "" || sub.Chunk != 0 || sub.Pending != 3 || sub.Counts != (Counts{Rows: 5, Rejected: 2}) {
		t.Fatalf("submitted %+v; want a job of 3 pending rows, 5 rows counted and 2 rejected", sub)
	}
	if jobs := fake.Jobs(); len(jobs) != 1 || jobs[0].ID != sub.JobID || jobs[0].Rows != 3 {
		t.Fatalf("Userpilot has the jobs %+v; want the one submitted, of 3 rows", jobs)
	}
	wantRejects(t, storedRejects(t, st), jobListInvalid)
	return sub
}

// A chunk submitted as a job: the rows not sent are counted and stored at
// once; the wait for a completed job accepts the rows sent. Between them,
// every row is counted once.
func TestChunkSentAsAJobCountsEveryRowOnceWhenTheJobCompletes(t *testing.T) {
	a, st, fake, clock, in := userpilotJobs(t, nil)
	sub := submitted(t, a, st, fake, in)
	clock.Advance(time.Minute) // 3 rows at 1,200 a minute: done

	res, _, err := waitJob(t, a, WaitJobInput{Chunk: in, JobID: sub.JobID, Pending: sub.Pending})
	if err != nil {
		t.Fatalf("WaitJob: %v", err)
	}
	if res.Chunk != 0 || res.Counts != (Counts{Accepted: 3, Inserted: 3}) {
		t.Fatalf("the wait counted %+v; want the job's 3 rows accepted", res.Counts)
	}
	total := sub.Counts
	total.Add(res.Counts)
	if !total.Balanced() || total.Rows != int64(in.Chunk.Rows) {
		t.Fatalf("submission and wait together count %+v for a chunk of %d rows", total, in.Chunk.Rows)
	}
	wantRejects(t, storedRejects(t, st), jobListInvalid)
	var users []string
	for _, u := range fake.Users() {
		users = append(users, u.UserID+" "+u.CompanyID+" "+u.Metadata["plan"].(string))
	}
	if want := []string{"u1 c1 pro", "u2 c2 pro", "u3  gold"}; !reflect.DeepEqual(users, want) {
		t.Fatalf("Userpilot holds %q; want %q", users, want)
	}
}

// A job Userpilot reports failed turns each of its rows into a reject with
// the vendor's reason, beside the rows the submission rejected, and accepts
// none.
func TestRowsOfAFailedJobAreRejectsWithTheVendorsReason(t *testing.T) {
	a, st, fake, clock, in := userpilotJobs(t, nil)
	fake.FailNextJob("the file could not be parsed")
	sub := submitted(t, a, st, fake, in)
	clock.Advance(time.Minute)

	res, _, err := waitJob(t, a, WaitJobInput{Chunk: in, JobID: sub.JobID, Pending: sub.Pending})
	if err != nil {
		t.Fatalf("WaitJob: %v", err)
	}
	if res.Counts != (Counts{Rejected: 3}) {
		t.Fatalf("the wait counted %+v; want the job's 3 rows rejected", res.Counts)
	}
	total := sub.Counts
	total.Add(res.Counts)
	if !total.Balanced() || total.Rows != 5 || total.Rejected != 5 {
		t.Fatalf("submission and wait together count %+v; want all 5 rows rejected", total)
	}
	reason := "userpilot job " + sub.JobID + " failed: the file could not be parsed"
	wantRejects(t, storedRejects(t, st), []partReject{
		jobListInvalid[0],
		jobListInvalid[1],
		{rejects.PartName(0, 1), store.Reject{Line: 4, UserID: "u2", Vendor: "userpilot", Reason: reason}},
		{rejects.PartName(0, 1), store.Reject{Line: 5, UserID: "u1", Vendor: "userpilot", Reason: reason}},
		{rejects.PartName(0, 1), store.Reject{Line: 6, UserID: "u3", Vendor: "userpilot", Reason: reason}},
	})
	if fake.Count() != 0 {
		t.Fatalf("Userpilot holds %d users after the job failed", fake.Count())
	}
}

// Userpilot's job answer has no per-row outcome: a job it reports
// completed accepts every row sent, even when its completed_rows says
// fewer were processed. This pins what WaitJob does today; the rows the
// vendor did not process are neither rejected nor flagged.
func TestJobReportedCompletedAcceptsEveryRowWhateverItsCompletedRows(t *testing.T) {
	a, st, fake, clock, in := userpilotJobs(t, func(fake http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, userpilotfake.JobsPath+"/") {
				fake.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			fake.ServeHTTP(rec, r)
			var job map[string]any
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &job) != nil {
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			job["completed_rows"] = 1 // of 3
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(job)
		})
	})
	sub := submitted(t, a, st, fake, in)
	clock.Advance(time.Minute)

	res, seen, err := waitJob(t, a, WaitJobInput{Chunk: in, JobID: sub.JobID, Pending: sub.Pending})
	if err != nil {
		t.Fatalf("WaitJob: %v", err)
	}
	if seen.Status != "completed" || seen.Done != 1 || seen.Total != 3 {
		t.Fatalf("the wait saw %+v; want the job completed with 1 of 3 rows", seen)
	}
	if res.Counts != (Counts{Accepted: 3, Inserted: 3}) {
		t.Fatalf("the wait counted %+v; want all 3 rows of the completed job accepted", res.Counts)
	}
	wantRejects(t, storedRejects(t, st), jobListInvalid)
}

// A submission retried after its attempt heard the job ID returns that job
// and submits nothing again: the rows are counted once, in one job.
func TestRetriedSubmissionReturnsTheJobItsAttemptSubmitted(t *testing.T) {
	a, st, fake, _, in := userpilotJobs(t, nil)
	sub := submitted(t, a, st, fake, in)

	var ts testsuite.WorkflowTestSuite
	retry := ts.NewTestActivityEnvironment()
	retry.SetHeartbeatDetails(submitProgress{JobID: sub.JobID})
	again, err := submitJob(t, retry, a, in)
	if err != nil {
		t.Fatalf("the retried SubmitJob: %v", err)
	}
	if !reflect.DeepEqual(again, sub) {
		t.Fatalf("the retry returned %+v; want the first attempt's %+v", again, sub)
	}
	if jobs := fake.Jobs(); len(jobs) != 1 || fake.Received("u2") != 1 {
		t.Fatalf("Userpilot has %d jobs and received u2 %d times; want 1 and 1", len(jobs), fake.Received("u2"))
	}
	wantRejects(t, storedRejects(t, st), jobListInvalid)
}

// When the rows a failed job had (Pending, as the submission counted them)
// and the rows the source now gives for it differ, the wait fails as an
// accounting error instead of rejecting a different number of rows.
func TestFailedJobWithADifferentPendingCountIsAnAccountingError(t *testing.T) {
	a, st, fake, clock, in := userpilotJobs(t, nil)
	fake.FailNextJob("")
	sub := submitted(t, a, st, fake, in)
	clock.Advance(time.Minute)

	_, _, err := waitJob(t, a, WaitJobInput{Chunk: in, JobID: sub.JobID, Pending: sub.Pending - 1})
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != failure.AccountingError || !app.NonRetryable() {
		t.Fatalf("WaitJob: %v; want a non-retryable %s", err, failure.AccountingError)
	}
	wantRejects(t, storedRejects(t, st), jobListInvalid)
}
