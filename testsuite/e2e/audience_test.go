package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.temporal.io/sdk/client"

	fyndfake "importer/activities/fynd/fake"
	"importer/activities/mapping"
	"importer/activities/source"
	"importer/internal/artifacts"
	"importer/internal/connections"
	"importer/internal/store/storetest"
	"importer/workflows"
)

const (
	fyndClient  = "fynd-e2e-client"
	fyndSecret  = "fynd-e2e-secret-value"
	fyndCompany = "559"
	fyndApp     = "64b000000000000000000001"
)

// aud is a harness with a fake Fynd application and an artifact store.
type aud struct {
	*harness
	fake *fyndfake.Server
	url  string
}

func newAud(t testing.TB, o fyndfake.Options) *aud {
	h := newHarness(t)
	h.withArtifacts()
	o.ClientID, o.ClientSecret, o.CompanyID, o.ApplicationID = fyndClient, fyndSecret, fyndCompany, fyndApp
	if o.JobStep == 0 {
		o.JobStep, o.GroupStep, o.RefreshDelay = 20*time.Millisecond, 20*time.Millisecond, 30*time.Millisecond
	}
	a := &aud{harness: h, fake: fyndfake.New(o)}
	t.Cleanup(a.fake.Close)
	srv := httptest.NewServer(a.fake)
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *aud) fyndConns() connections.Set {
	return a.conns(apiKey).With("fynd", connections.Default, map[string]string{
		"BASE_URL": a.url, "CLIENT_ID": fyndClient, "CLIENT_SECRET": fyndSecret,
		"COMPANY_ID": fyndCompany, "APPLICATION_ID": fyndApp,
	})
}

// audienceList is a list of n customers by e-mail with a tier and a
// newsletter flag. Every 25th row has a broken e-mail; rows for the first
// dups customers are repeated at the end with another tier, which wins.
type audienceList struct {
	n, dups int
}

func (l audienceList) email(i int) string { return fmt.Sprintf("customer%05d@shop.example", i) }
func (l audienceList) invalid(i int) bool { return i%25 == 24 }
func (l audienceList) tier(i int) string  { return []string{"gold", "silver", "bronze"}[i%3] }
func (l audienceList) valid() int {
	v := 0
	for i := 0; i < l.n; i++ {
		if !l.invalid(i) {
			v++
		}
	}
	return v
}

func (l audienceList) write(t testing.TB, path string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Email,tier,newsletter\n")
	for i := 0; i < l.n; i++ {
		email := l.email(i)
		if l.invalid(i) {
			email = "not an address " + fmt.Sprint(i)
		}
		fmt.Fprintf(&b, "%s,%s,%t\n", email, l.tier(i), i%2 == 0)
	}
	for i := 0; i < l.dups; i++ {
		fmt.Fprintf(&b, "%s,platinum,%t\n", l.email(i), i%2 == 0)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func audienceMapping() mapping.Mapping {
	return mapping.Mapping{
		Fields: map[string]string{"email": "Email", "attributes.tier": "tier", "attributes.newsletter": "newsletter"},
		Attributes: map[string]mapping.Attribute{
			"tier":       {Name: "Loyalty tier", Type: "string"},
			"newsletter": {Name: "Newsletter", Type: "boolean"},
		},
	}
}

func (a *aud) sync(id, group, path string, hb time.Duration) client.WorkflowRun {
	a.t.Helper()
	run, err := a.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: a.queue}, workflows.AudienceWorkflowName,
		workflows.AudienceInput{Group: group, Source: source.Ref{URI: path, Format: source.CSV}, Mapping: audienceMapping(),
			Poll: 20 * time.Millisecond, MaxPoll: 200 * time.Millisecond, HeartbeatTimeout: hb})
	if err != nil {
		a.t.Fatal(err)
	}
	return run
}

func waitAudience(t testing.TB, run client.WorkflowRun, timeout time.Duration) (workflows.AudienceResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var res workflows.AudienceResult
	err := run.Get(ctx, &res)
	return res, err
}

// seed registers every valid customer of the list but the unknown ones.
func seed(l audienceList, unknown map[int]bool) []fyndfake.User {
	var users []fyndfake.User
	for i := 0; i < l.n; i++ {
		if !l.invalid(i) && !unknown[i] {
			users = append(users, fyndfake.User{Email: l.email(i)})
		}
	}
	return users
}

func TestAudienceSyncBuildsTheGroupSetsAttributesAndAccountsForEveryRow(t *testing.T) {
	l := audienceList{n: 400, dups: 6}
	unknown := map[int]bool{3: true, 50: true, 101: true, 202: true, 303: true}
	a := newAud(t, fyndfake.Options{Users: seed(l, unknown)})
	a.startWorker(a.fyndConns(), 0)
	path := filepath.Join(a.dir, "customers.csv")
	l.write(t, path)

	res, err := waitAudience(t, a.sync("aud-1", "VIP customers", path, 0), 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	invalid := l.n - l.valid()
	members := l.valid() // the repeated rows replace earlier ones
	wantRows := int64(l.n + l.dups)
	if res.RowsRead != wantRows || res.Members != members || res.Accepted != int64(members-len(unknown)) ||
		res.Rejected != int64(invalid+l.dups+len(unknown)) || res.Accepted+res.Rejected != res.RowsRead {
		t.Fatalf("result %+v; want %d rows = %d accepted + %d invalid + %d duplicates + %d unknown", res, wantRows, members-len(unknown), invalid, l.dups, len(unknown))
	}
	if res.Mode != "created" || res.AttributeJobs != 8 {
		// 3 tiers × 2 flags, plus platinum × 2 for the repeated rows.
		t.Fatalf("mode %s with %d attribute jobs", res.Mode, res.AttributeJobs)
	}
	g, ok := a.fake.Group("VIP customers")
	if !ok || len(g.Members) != members-len(unknown) || a.fake.GroupsCreated() != 1 {
		t.Fatalf("group %+v (created %d)", g, a.fake.GroupsCreated())
	}
	if res.Verified.Present != members-len(unknown) || res.Verified.Missing != len(unknown) || res.Verified.Unexpected != 0 {
		t.Fatalf("verified %+v", res.Verified)
	}
	if res.TotalUsers != members-len(unknown) {
		t.Fatalf("total users after the refresh %d, want %d", res.TotalUsers, members-len(unknown))
	}
	if got := a.fake.Attributes(l.email(1)); got["tier"] != "platinum" || got["newsletter"] != false {
		t.Fatalf("customer 1 (repeated at the end) has %v; the last row's tier should win", got)
	}
	if got := a.fake.Attributes(l.email(10)); got["tier"] != l.tier(10) || got["newsletter"] != true {
		t.Fatalf("customer 10 has %v", got)
	}
	defs := map[string]bool{}
	for _, d := range a.fake.Definitions() {
		defs[d.Slug] = true
	}
	if !defs["tier"] || !defs["newsletter"] {
		t.Fatalf("definitions %v", a.fake.Definitions())
	}
	reasons := map[string]int{}
	for _, r := range a.readRejects(res.WorkflowID) {
		switch {
		case strings.Contains(r.Reason, "not in group"):
			reasons["unknown"]++
			if r.Line < 2 || r.UserID == "" {
				t.Fatalf("a vendor-side reject without line or user: %+v", r)
			}
		case strings.Contains(r.Reason, "duplicate user"):
			reasons["duplicate"]++
		case strings.Contains(r.Reason, "email"):
			reasons["invalid"]++
		default:
			t.Fatalf("unexpected reject %+v", r)
		}
	}
	if reasons["unknown"] != len(unknown) || reasons["duplicate"] != l.dups || reasons["invalid"] != invalid {
		t.Fatalf("rejects %v; each unknown user must be rejected once", reasons)
	}
}

func TestAudienceSyncRerunConvergesWithoutADuplicateGroup(t *testing.T) {
	a := newAud(t, fyndfake.Options{AutoCreateUsers: true})
	a.startWorker(a.fyndConns(), 0)
	first := filepath.Join(a.dir, "first.csv")
	audienceList{n: 100}.write(t, first)
	if _, err := waitAudience(t, a.sync("aud-a", "spring-sale", first, 0), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	// The second list drops customers 0-9 and adds 100-109.
	var b strings.Builder
	b.WriteString("Email,tier,newsletter\n")
	l := audienceList{n: 110}
	for i := 10; i < 110; i++ {
		if !l.invalid(i) {
			fmt.Fprintf(&b, "%s,%s,true\n", l.email(i), l.tier(i))
		}
	}
	second := filepath.Join(a.dir, "second.csv")
	if err := os.WriteFile(second, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := waitAudience(t, a.sync("aud-b", "spring-sale", second, 0), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := a.fake.Group("spring-sale")
	if a.fake.GroupsCreated() != 1 || res.Mode != "patched" || len(g.Members) != res.Members {
		t.Fatalf("groups created %d, mode %s, members %d of %d", a.fake.GroupsCreated(), res.Mode, len(g.Members), res.Members)
	}
	// 0-9 leave, 100-109 join (all valid: the invalid rows are 24, 49, ...).
	if res.Added != 10 || res.Removed != 10 || res.Verified.Missing != 0 || res.Verified.Unexpected != 0 {
		t.Fatalf("result %+v", res)
	}
	// A third run of the same list changes nothing.
	res3, err := waitAudience(t, a.sync("aud-c", "spring-sale", second, 0), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res3.Mode != "unchanged" || res3.Added != 0 || res3.Removed != 0 || a.fake.GroupsCreated() != 1 {
		t.Fatalf("re-run of an unchanged list: %+v", res3)
	}
}

func TestAudienceSyncSurvivesATokenRevokedMidSync(t *testing.T) {
	a := newAud(t, fyndfake.Options{AutoCreateUsers: true, GroupStep: 300 * time.Millisecond})
	a.startWorker(a.fyndConns(), 0)
	path := filepath.Join(a.dir, "list.csv")
	audienceList{n: 200}.write(t, path)
	run := a.sync("aud-token", "token-test", path, 0)
	deadline := time.Now().Add(time.Minute)
	for a.fake.GroupsCreated() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the group was never created")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := a.fake.TokensIssued()
	a.fake.RevokeTokens()
	if _, err := waitAudience(t, run, 2*time.Minute); err != nil {
		t.Fatalf("the sync did not survive a revoked token: %v", err)
	}
	if a.fake.TokensIssued() <= before {
		t.Fatalf("no new token after the revocation (%d issued)", a.fake.TokensIssued())
	}
}

func TestAudienceSyncFailsWithTheVendorsReasonWhenTheGroupFails(t *testing.T) {
	a := newAud(t, fyndfake.Options{AutoCreateUsers: true})
	a.startWorker(a.fyndConns(), 0)
	a.fake.FailNextGroup("the file has no column we recognise")
	path := filepath.Join(a.dir, "list.csv")
	audienceList{n: 30}.write(t, path)
	_, err := waitAudience(t, a.sync("aud-fail", "doomed", path, 0), 2*time.Minute)
	if err == nil || !strings.Contains(err.Error(), "could not process group") || !strings.Contains(err.Error(), "no column we recognise") {
		t.Fatalf("want a failure with Fynd's reason, got %v", err)
	}
	// The sync's files (user data) are gone even though it failed.
	left, _ := filepath.Glob(filepath.Join(a.data, "artifacts", "audiences", "*", "*.csv"))
	if len(left) != 0 {
		t.Fatalf("a failed sync left its files: %v", left)
	}
}

func TestAudienceSyncResumesEveryWaitAfterAWorkerRestart(t *testing.T) {
	// The fake moves jobs and groups only when told, so the test can stop
	// the worker while the sync waits on each of them.
	a := newAud(t, fyndfake.Options{AutoCreateUsers: true, ManualSteps: true})
	w := a.startWorker(a.fyndConns(), time.Millisecond)
	var stepping atomic.Bool
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if stepping.Load() {
				_ = a.fake.Step()
			} else {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	path := filepath.Join(a.dir, "list.csv")
	l := audienceList{n: 60}
	l.write(t, path)
	run := a.sync("aud-restart", "restarts", path, 2*time.Second)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	restart := func(what string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // let a poll or two happen
		w.Stop()
		time.Sleep(500 * time.Millisecond)
		w = a.startWorker(a.fyndConns(), time.Millisecond)
		t.Logf("worker restarted while waiting for %s", what)
	}

	waitFor("a bulk attribute job", func() bool { return a.fake.JobsSubmitted() > 0 })
	restart("an attribute job")
	stepping.Store(true)
	waitFor("the group", func() bool { return a.fake.GroupsCreated() > 0 })
	stepping.Store(false)
	restart("the group's processing")
	stepping.Store(true)
	waitFor("a refresh", func() bool { g, _ := a.fake.Group("restarts"); return g.Refreshes > 0 })
	stepping.Store(false)
	restart("the refresh")
	stepping.Store(true)

	res, err := waitAudience(t, run, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != int64(l.valid()) || res.Verified.Missing != 0 {
		t.Fatalf("%+v", res)
	}
	g, _ := a.fake.Group("restarts")
	if a.fake.JobsSubmitted() != res.AttributeJobs || a.fake.GroupsCreated() != 1 || g.Refreshes != 1 {
		t.Fatalf("jobs submitted %d for %d sets, groups created %d, refreshes %d: a resumed wait submitted again",
			a.fake.JobsSubmitted(), res.AttributeJobs, a.fake.GroupsCreated(), g.Refreshes)
	}
}

func TestAudienceCommandsSyncListShowAndStatus(t *testing.T) {
	a := newAud(t, fyndfake.Options{AutoCreateUsers: true})
	a.startWorker(a.fyndConns(), 0)
	list := filepath.Join(a.dir, "list.csv")
	audienceList{n: 50}.write(t, list)
	mappingFile := filepath.Join(a.dir, "audience.yaml")
	if err := os.WriteFile(mappingFile, []byte("fields:\n  email: Email\n  attributes.tier: tier\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, errOut, code := a.runCLI(ctx, "audience", "sync", "--group", "CLI group", "--source", list, "--mapping", mappingFile, "--wait", "-o", "json")
	if code != 0 || !strings.Contains(out, `"status": "completed"`) || !strings.Contains(out, `"group": "CLI group"`) {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = a.runCLI(ctx, "audience", "groups")
	if code != 0 || !strings.Contains(out, "CLI group") || !strings.Contains(out, "completed") {
		t.Fatalf("groups: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = a.runCLI(ctx, "audience", "show", "CLI group")
	if code != 0 || !strings.Contains(out, "total users  48") {
		t.Fatalf("show: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = a.runCLI(ctx, "status", "audience-default-cli-group")
	if code != 0 || !strings.Contains(out, "Audience sync audience-default-cli-group completed") {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = a.runCLI(ctx, "audience", "show", "no such group")
	if code == 0 || !strings.Contains(errOut, `no group named "no such group"`) {
		t.Fatalf("show of a missing group: exit %d, %s", code, errOut)
	}
}

func TestAudienceSyncOfALargeGroupSurvivesAFlakyVendor(t *testing.T) {
	// 10,000 members are 20 pages to list, twice (to diff, to verify): if
	// one failed page started the listing over, a fifth of calls failing
	// would stall the sync.
	a := newAud(t, fyndfake.Options{AutoCreateUsers: true})
	a.startWorker(a.fyndConns(), 0)
	path := filepath.Join(a.dir, "big.csv")
	l := audienceList{n: 10000}
	l.write(t, path)
	if _, err := waitAudience(t, a.sync("aud-flaky-1", "flaky", path, 0), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	a.fake.Faults().SetShare(0.2, 500)
	res, err := waitAudience(t, a.sync("aud-flaky-2", "flaky", path, 0), 3*time.Minute)
	if err != nil {
		t.Fatalf("the sync did not get through a vendor failing one call in five: %v", err)
	}
	if res.Verified.Present != l.valid() || res.Verified.Missing != 0 || res.Mode != "unchanged" {
		t.Fatalf("%+v", res)
	}
	t.Logf("injected %d failures", a.fake.Faults().Injected())
}

// withS3 makes the harness's workers publish vendor files in an
// S3-compatible bucket (gofakes3, in this process), as production does.
func (h *harness) withS3() {
	h.t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("importer"); err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	h.t.Cleanup(srv.Close)
	h.awsEnv(nil)
	s, err := artifacts.NewS3(context.Background(), artifacts.S3Config{Bucket: "importer", Prefix: "e2e", Endpoint: srv.URL, PathStyle: true})
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = s
}

func TestAudienceSyncOnTwoShareNothingWorkersConvergesAfterOneIsKilled(t *testing.T) {
	a := newAud(t, fyndfake.Options{AutoCreateUsers: true})
	a.records = storetest.Postgres(t)
	a.withS3()
	// Two workers with data directories of their own, as on two hosts:
	// they share the PostgreSQL store and the bucket, nothing else.
	one := a.startWorkerIn(a.fyndConns(), time.Millisecond, filepath.Join(a.dir, "host-1"))
	a.startWorkerIn(a.fyndConns(), time.Millisecond, filepath.Join(a.dir, "host-2"))
	path := filepath.Join(a.dir, "list.csv")
	l := audienceList{n: 3000}
	l.write(t, path)
	run := a.sync("aud-share-nothing", "share nothing", path, 2*time.Second)
	deadline := time.Now().Add(time.Minute)
	for a.fake.JobsSubmitted() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no attribute job was submitted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	one.Stop() // cut off at once, as a crash would
	t.Log("worker 1 killed after the first attribute job was submitted")
	res, err := waitAudience(t, run, 3*time.Minute)
	if err != nil {
		t.Fatalf("the sync did not converge on the worker left: %v", err)
	}
	if res.Accepted != int64(l.valid()) || res.Verified.Missing != 0 || res.Verified.Present != l.valid() {
		t.Fatalf("%+v; want %d members present and none missing", res, l.valid())
	}
	rs := a.readRejects(res.WorkflowID)
	if int64(len(rs)) != res.Rejected || res.Rejected == 0 {
		t.Fatalf("the store holds %d rejects, the sync counted %d", len(rs), res.Rejected)
	}
}

// awsEnv gives the AWS default chain of this process (workers and CLI) the
// in-process store's test credentials and nothing of the machine's own
// (profiles, config files, instance metadata), plus extra.
func (h *harness) awsEnv(extra map[string]string) {
	h.t.Helper()
	none := filepath.Join(h.t.TempDir(), "absent")
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": "e2e-access", "AWS_SECRET_ACCESS_KEY": "e2e-secret-key", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": none,
		"AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
	}
	for k, v := range extra {
		env[k] = v
	}
	for k, v := range env {
		h.t.(*testing.T).Setenv(k, v)
	}
}
