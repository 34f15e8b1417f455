package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"importer/activities"
	bitlabsfake "importer/activities/bitlabs/fake"
	dynamicfake "importer/activities/dynamic/fake"
	fyndfake "importer/activities/fynd/fake"
	"importer/activities/mapping"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/source"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/activities/vendorapi/fakeapi"
	"importer/internal/gen"
	"importer/workflows"
)

// Credentials the fakes accept and the workers are given.
const (
	nebulyKey     = "soak-nebuly-key"
	bitlabsToken  = "soak-bitlabs-token"
	userpilotKey  = "soak-userpilot-key"
	dynamicToken  = "soak-dynamic-token"
	fyndClientID  = "soak-fynd-client"
	fyndSecret    = "soak-fynd-secret"
	fyndCompany   = "1201"
	fyndApp       = "64b0000000000000000050a4"
	invalidEvery  = 97 // every 97th row of a list breaks the vendor's rules
	earlyGrace    = 500 * time.Millisecond
	userpilotRate = 1_200_000 // rows a minute: 1,000 times the documented pace
)

// vendors are the vendors the soak knows, in the order it runs them.
var vendors = []string{"nebuly", "bitlabs", "userpilot", "dynamic", "fynd"}

// settings are what the fakes are made with, the same for every run.
type settings struct {
	latency      time.Duration // added to every vendor call
	dynamicScale int           // Dynamic's limit: 150 requests per minute/scale
	heartbeat    time.Duration // import heartbeat timeout: how soon a dead worker's chunk moves
}

// workerEnv points a worker's default connections at the fakes' URLs.
func workerEnv(urls map[string]string, s settings) []string {
	return []string{
		"IMPORTER_NEBULY_BASE_URL=" + urls["nebuly"], "IMPORTER_NEBULY_API_KEY=" + nebulyKey,
		"IMPORTER_BITLABS_BASE_URL=" + urls["bitlabs"], "IMPORTER_BITLABS_S2S_TOKEN=" + bitlabsToken,
		"IMPORTER_USERPILOT_BASE_URL=" + urls["userpilot"], "IMPORTER_USERPILOT_API_KEY=" + userpilotKey,
		"IMPORTER_DYNAMIC_BASE_URL=" + urls["dynamic"], "IMPORTER_DYNAMIC_API_TOKEN=" + dynamicToken,
		"IMPORTER_DYNAMIC_ENVIRONMENT_ID=" + dynamicfake.DefaultEnvironmentID,
		"IMPORTER_DYNAMIC_REQUESTS_PER_MINUTE=" + strconv.Itoa(dynamicfake.DefaultRequests*s.dynamicScale),
		"IMPORTER_FYND_BASE_URL=" + urls["fynd"], "IMPORTER_FYND_CLIENT_ID=" + fyndClientID,
		"IMPORTER_FYND_CLIENT_SECRET=" + fyndSecret, "IMPORTER_FYND_COMPANY_ID=" + fyndCompany,
		"IMPORTER_FYND_APPLICATION_ID=" + fyndApp,
	}
}

// list is a generated user list: its rows, and the key the vendor knows
// each valid row's user by.
type list struct {
	path    string
	rows    int
	valid   int
	invalid int
	keys    []string // valid rows' users
}

// outcome is what a finished import (or audience sync) reported, and what
// a vendor's own checks found wrong with it.
type outcome struct {
	rows, accepted, rejected int64
	problems                 []string
}

// target is one vendor's side of one soak run: a fresh fake, the list
// imported into it, how to start the import, and what the fake can tell.
type target struct {
	vendor string
	fake   http.Handler
	faults *fakeapi.Faults
	list   list
	// alike exempts requests every worker sends alike (see watch).
	alike func(*http.Request) bool
	// start starts an import of the list under id; deadline 0 keeps the
	// default vendor deadline. The result is waited on with wait.
	start func(ctx context.Context, c client.Client, id, queue string, deadline time.Duration) (client.WorkflowRun, error)
	wait  func(ctx context.Context, run client.WorkflowRun) (outcome, error)
	// stored counts the users the fake holds (cheap: progress).
	stored func() int
	// holds returns the set of user keys the fake holds.
	holds func() map[string]bool
	// delivered, when the fake can tell, counts the accepted requests
	// each user arrived in; nil when it cannot.
	delivered func(key string) int
	overlaps  func() int64
	// early is the fake's own count of requests inside a Retry-After
	// window; nil when only the watch can tell.
	early   func() int64
	limited func() int64
	close   func()
}

func newTarget(vendor, dir, prefix string, rows int, s settings) (*target, error) {
	switch vendor {
	case "nebuly":
		return nebulyTarget(dir, prefix, rows, s)
	case "bitlabs":
		return bitlabsTarget(dir, prefix, rows, s)
	case "userpilot":
		return userpilotTarget(dir, prefix, rows, s)
	case "dynamic":
		return dynamicTarget(dir, prefix, rows, s)
	case "fynd":
		return fyndTarget(dir, prefix, rows, s)
	}
	return nil, fmt.Errorf("unknown vendor %q (want one of %s)", vendor, strings.Join(vendors, ", "))
}

// importTarget fills what every import vendor (all but Fynd) shares.
func importTarget(t *target, s settings, extra func(*workflows.ImportInput)) {
	t.start = func(ctx context.Context, c client.Client, id, queue string, deadline time.Duration) (client.WorkflowRun, error) {
		in := workflows.ImportInput{
			Vendor: t.vendor, Source: activities.SourceRef{URI: t.list.path, Format: source.CSV},
			HeartbeatTimeout: s.heartbeat, VendorDeadline: deadline,
		}
		if extra != nil {
			extra(&in)
		}
		return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.ImportWorkflowName, in)
	}
	t.wait = func(ctx context.Context, run client.WorkflowRun) (outcome, error) {
		var res workflows.ImportResult
		if err := run.Get(ctx, &res); err != nil {
			return outcome{}, err
		}
		return outcome{rows: res.RowsRead, accepted: res.Accepted, rejected: res.Rejected}, nil
	}
	t.close = func() {}
}

func genList(vendor, dir, prefix string, o gen.Options, key func(int) string) (list, error) {
	path := filepath.Join(dir, prefix+"-"+vendor+".csv")
	st, err := gen.VendorFile(vendor, path, o)
	if err != nil {
		return list{}, err
	}
	l := list{path: path, rows: st.Rows, valid: st.Valid, invalid: st.Invalid}
	for i := 0; i < st.Rows; i++ {
		if !o.Invalid(i) {
			l.keys = append(l.keys, key(i))
		}
	}
	return l, nil
}

func nebulyTarget(dir, prefix string, rows int, s settings) (*target, error) {
	o := gen.Options{Rows: rows, InvalidEvery: invalidEvery, QuotedNewlineEvery: 101, Domain: prefix + ".example.com"}
	l, err := genList("nebuly", dir, prefix, o, o.Email)
	if err != nil {
		return nil, err
	}
	fake := nebulyfake.New(nebulyfake.Options{APIKey: nebulyKey, Latency: s.latency, Seed: 1})
	t := &target{vendor: "nebuly", fake: fake, faults: fake.Faults(), list: l,
		stored: fake.Count,
		holds: func() map[string]bool {
			m := map[string]bool{}
			for _, u := range fake.Users() {
				m[u.EndUser] = true
			}
			return m
		},
		// Nebuly's POST answers which users it inserted and PUT replaces
		// the rest: the store is keyed by end_user, and the fake keeps
		// no delivery count. Holding each valid user is the check.
		overlaps: func() int64 { return 0 },
		limited:  func() int64 { return fake.Limiter().Limited() },
	}
	importTarget(t, s, nil)
	return t, nil
}

func bitlabsTarget(dir, prefix string, rows int, s settings) (*target, error) {
	o := gen.Options{Rows: rows, InvalidEvery: invalidEvery, IDPrefix: prefix}
	l, err := genList("bitlabs", dir, prefix, o, o.UID)
	if err != nil {
		return nil, err
	}
	// A bulk holds BitLabs' one-at-a-time lock for the vendor latency, so
	// that two bulks sent together would be seen overlapping.
	fake := bitlabsfake.New(bitlabsfake.Options{Token: bitlabsToken, BulkLatency: s.latency, Seed: 1})
	t := &target{vendor: "bitlabs", fake: fake, faults: fake.Faults(), list: l,
		stored: fake.Count,
		holds: func() map[string]bool {
			m := map[string]bool{}
			for _, u := range fake.Users() {
				m[u.UID] = true
			}
			return m
		},
		delivered: fake.Received,
		overlaps:  fake.Overlaps,
		limited:   func() int64 { return fake.Limiter().Limited() },
	}
	importTarget(t, s, nil)
	return t, nil
}

func userpilotTarget(dir, prefix string, rows int, s settings) (*target, error) {
	o := gen.Options{Rows: rows, InvalidEvery: invalidEvery, IDPrefix: prefix}
	l, err := genList("userpilot", dir, prefix, o, o.UID)
	if err != nil {
		return nil, err
	}
	fake := userpilotfake.New(userpilotfake.Options{APIKey: userpilotKey, RowsPerMinute: userpilotRate, Latency: s.latency, Seed: 1})
	t := &target{vendor: "userpilot", fake: fake, faults: fake.Faults(), list: l,
		stored: fake.Count,
		holds: func() map[string]bool {
			m := map[string]bool{}
			for _, u := range fake.Users() {
				m[u.UserID] = true
			}
			return m
		},
		delivered: fake.Received,
		// A conflict is a job submitted while another ran: the gate
		// should make it impossible, so it counts as an overlap.
		overlaps: func() int64 { return fake.Overlaps() + fake.Conflicts() },
		limited:  func() int64 { return fake.Limiter().Limited() },
	}
	importTarget(t, s, func(in *workflows.ImportInput) {
		in.JobPoll, in.JobMaxPoll = 100*time.Millisecond, time.Second
	})
	return t, nil
}

func dynamicTarget(dir, prefix string, rows int, s settings) (*target, error) {
	o := gen.Options{Rows: rows, InvalidEvery: invalidEvery, IDPrefix: prefix}
	l, err := genList("dynamic", dir, prefix, o, o.DynamicID)
	if err != nil {
		return nil, err
	}
	fake := dynamicfake.New(dynamicfake.Options{Token: dynamicToken, Requests: dynamicfake.DefaultRequests,
		Window: dynamicfake.DefaultWindow / time.Duration(s.dynamicScale), Latency: s.latency, Seed: 1})
	t := &target{vendor: "dynamic", fake: fake, faults: fake.Faults(), list: l,
		stored: fake.Count,
		holds: func() map[string]bool {
			m := map[string]bool{}
			for _, u := range fake.Users() {
				m[u.ID] = true
			}
			return m
		},
		delivered: fake.Writes,
		overlaps:  func() int64 { return 0 },
		// Dynamic limits per IP, and both workers are 127.0.0.1: any
		// request inside a window counts, not only a retry of the one
		// refused. One pacer for the deployment must hold them all back.
		// A request sent in the moment before a worker heard of a 429 is
		// in flight, hence the grace.
		early:   func() int64 { return fake.Window().EarlyRequestsAfter(earlyGrace) },
		limited: fake.Limited,
	}
	importTarget(t, s, nil)
	return t, nil
}

// audienceList is a Fynd customer list: e-mail, loyalty tier and a
// newsletter flag; every invalidEvery-th row has an e-mail that is none.
type audienceList struct {
	prefix string
	rows   int
}

func (a audienceList) email(i int) string {
	return fmt.Sprintf("%s-customer%07d@shop.example", a.prefix, i)
}
func (a audienceList) invalid(i int) bool    { return i%invalidEvery == invalidEvery-1 }
func (a audienceList) tier(i int) string     { return []string{"gold", "silver", "bronze"}[i%3] }
func (a audienceList) newsletter(i int) bool { return i%2 == 0 }

func (a audienceList) write(path string) (list, error) {
	f, err := os.Create(path)
	if err != nil {
		return list{}, err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "Email,tier,newsletter")
	l := list{path: path, rows: a.rows}
	for i := 0; i < a.rows; i++ {
		email := a.email(i)
		if a.invalid(i) {
			email = fmt.Sprintf("no address %d", i)
			l.invalid++
		} else {
			l.valid++
			l.keys = append(l.keys, email)
		}
		fmt.Fprintf(w, "%s,%s,%t\n", email, a.tier(i), a.newsletter(i))
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return list{}, fmt.Errorf("write %s: %w", path, err)
	}
	return l, f.Close()
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

// fyndTarget syncs a list into one Fynd user group. Customers unknown to
// the application are created on first sight (AutoCreateUsers), so every
// valid row ends up a member. The background steps take a second each, as
// a vendor's queue would, so that a sync lasts long enough to lose workers.
func fyndTarget(dir, prefix string, rows int, s settings) (*target, error) {
	a := audienceList{prefix: prefix, rows: rows}
	l, err := a.write(filepath.Join(dir, prefix+"-fynd.csv"))
	if err != nil {
		return nil, err
	}
	fake := fyndfake.New(fyndfake.Options{
		ClientID: fyndClientID, ClientSecret: fyndSecret, CompanyID: fyndCompany, ApplicationID: fyndApp,
		AutoCreateUsers: true, JobStep: time.Second, GroupStep: time.Second, RefreshDelay: time.Second,
		Latency: s.latency, Seed: 1,
	})
	group := "soak " + prefix
	tokenPath := strings.ReplaceAll(strings.ReplaceAll(fyndfake.TokenPath, "{company_id}", fyndCompany), "{application_id}", fyndApp)
	t := &target{vendor: "fynd", fake: fake, faults: fake.Faults(), list: l,
		// Every worker asks for a token with the same credentials.
		alike:  func(r *http.Request) bool { return r.URL.Path == tokenPath },
		stored: fake.UserCount,
		holds: func() map[string]bool {
			m := map[string]bool{}
			g, ok := fake.Group(group)
			if !ok {
				return m
			}
			members := map[string]bool{}
			for _, id := range g.Members {
				members[id] = true
			}
			for _, email := range l.keys {
				if u, ok := fake.User(email); ok && members[u.UserID] {
					m[email] = true
					delete(members, u.UserID)
				}
			}
			// Members that are no valid row of the list show as extra.
			for id := range members {
				m["member "+id] = true
			}
			return m
		},
		overlaps: func() int64 { return 0 },
		limited:  func() int64 { return fake.Limiter().Limited() },
		close:    fake.Close,
	}
	t.start = func(ctx context.Context, c client.Client, id, queue string, deadline time.Duration) (client.WorkflowRun, error) {
		return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.AudienceWorkflowName,
			workflows.AudienceInput{Group: group, Source: activities.SourceRef{URI: l.path, Format: source.CSV}, Mapping: audienceMapping(),
				Poll: 100 * time.Millisecond, MaxPoll: time.Second, HeartbeatTimeout: s.heartbeat, Deadline: deadline})
	}
	t.wait = func(ctx context.Context, run client.WorkflowRun) (outcome, error) {
		var res workflows.AudienceResult
		if err := run.Get(ctx, &res); err != nil {
			return outcome{}, err
		}
		o := outcome{rows: res.RowsRead, accepted: res.Accepted, rejected: res.Rejected}
		if n := fake.GroupsCreated(); n != 1 {
			o.problems = append(o.problems, fmt.Sprintf("%d groups created for one sync", n))
		}
		if res.Members != l.valid || res.Verified.Present != l.valid || res.Verified.Missing != 0 || res.Verified.Unexpected != 0 {
			o.problems = append(o.problems, fmt.Sprintf("sync reports %d members, verified %+v; the list has %d valid rows", res.Members, res.Verified, l.valid))
		}
		if n := fake.UserCount(); n != l.valid {
			o.problems = append(o.problems, fmt.Sprintf("the application has %d users; the list has %d valid customers", n, l.valid))
		}
		return o, nil
	}
	return t, nil
}
