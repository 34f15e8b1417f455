package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	bitlabsfake "importer/activities/bitlabs/fake"
	dynamicfake "importer/activities/dynamic/fake"
	fyndfake "importer/activities/fynd/fake"
	"importer/activities/mapping"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/source"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/activities/vendorapi/fakeapi"
	"importer/activities/vendors"
	"importer/activities/vendors/gen"
	"importer/internal/connections"
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

// settings are what the fakes are made with, the same for every run.
type settings struct {
	latency      time.Duration // added to every vendor call
	dynamicScale int           // Dynamic's limit: 150 requests per minute/scale
	heartbeat    time.Duration // import heartbeat timeout: how soon a dead worker's chunk moves
}

// probe is what the soak knows of one vendor beyond the registry, which
// gives the rest (the vendors and their order, their traits, their
// generated lists): how its fakes are tuned for the soak, and how to read
// what a fake holds and counts, which is each fake's own.
type probe struct {
	// connection is the default connection's settings but the base URL:
	// what the vendor's fakes accept.
	connection func(s settings) map[string]string
	// target makes a fresh fake and the list to import into it.
	target func(e vendors.Entry, dir, prefix string, rows int, s settings) (*target, error)
}

// probes are the vendors the soak can run, by registry name.
func probes() map[string]probe {
	return map[string]probe{
		"nebuly": {
			connection: func(settings) map[string]string { return map[string]string{"API_KEY": nebulyKey} },
			target:     nebulyTarget,
		},
		"bitlabs": {
			connection: func(settings) map[string]string { return map[string]string{"S2S_TOKEN": bitlabsToken} },
			target:     bitlabsTarget,
		},
		"userpilot": {
			connection: func(settings) map[string]string { return map[string]string{"API_KEY": userpilotKey} },
			target:     userpilotTarget,
		},
		"dynamic": {
			connection: func(s settings) map[string]string {
				return map[string]string{"API_TOKEN": dynamicToken, "ENVIRONMENT_ID": dynamicfake.DefaultEnvironmentID,
					"REQUESTS_PER_MINUTE": strconv.Itoa(dynamicfake.DefaultRequests * s.dynamicScale)}
			},
			target: dynamicTarget,
		},
		"fynd": {
			connection: func(settings) map[string]string {
				return map[string]string{"CLIENT_ID": fyndClientID, "CLIENT_SECRET": fyndSecret, "COMPANY_ID": fyndCompany, "APPLICATION_ID": fyndApp}
			},
			target: fyndTarget,
		},
	}
}

// soaked lists the vendors of the registry that the soak can run, in the
// registry's order, and those it has no probe of.
func soaked() (names, unprobed []string) {
	p := probes()
	for _, e := range vendors.All() {
		if _, ok := p[e.Spec.Name]; ok {
			names = append(names, e.Spec.Name)
		} else {
			unprobed = append(unprobed, e.Spec.Name)
		}
	}
	return names, unprobed
}

// workerEnv points the workers' default connections of the vendors at the
// fakes' URLs.
func workerEnv(names []string, urls map[string]string, s settings) []string {
	p := probes()
	var env []string
	for _, name := range names {
		conn := p[name].connection(s)
		conn["BASE_URL"] = urls[name]
		for k, v := range conn {
			env = append(env, connections.EnvName(name, k)+"="+v)
		}
	}
	slices.Sort(env)
	return env
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
	e, err := vendors.Get(vendor)
	if err != nil {
		return nil, err
	}
	p, ok := probes()[e.Spec.Name]
	if !ok {
		return nil, fmt.Errorf("the soak has no probe of vendor %s (see testsuite/soak/vendors.go)", e.Spec.Name)
	}
	return p.target(e, dir, prefix, rows, s)
}

// rowsFor is how many rows a vendor's list has: a list that syncs into an
// audience is smaller than an import.
func rowsFor(vendor string, cfg config) int {
	if e, err := vendors.Get(vendor); err == nil && e.Spec.Traits.Audiences {
		return cfg.audienceRows
	}
	return cfg.rows
}

// importTarget fills what every import vendor shares: the list is
// imported with the workflow's defaults, polling a background job often
// for a vendor whose bulks are jobs.
func importTarget(t *target, e vendors.Entry, s settings) {
	t.start = func(ctx context.Context, c client.Client, id, queue string, deadline time.Duration) (client.WorkflowRun, error) {
		in := workflows.ImportInput{
			Vendor: t.vendor, Source: source.Ref{URI: t.list.path, Format: source.CSV},
			HeartbeatTimeout: s.heartbeat, VendorDeadline: deadline,
		}
		if e.Spec.Traits.Jobs {
			in.JobPoll, in.JobMaxPoll = 100*time.Millisecond, time.Second
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

// importList writes an import vendor's generated list (its Sample's
// shape: each vendor's list reads the options it has a use for), with
// every invalidEvery-th row invalid, and ids and e-mails that are the
// prefix's own.
func importList(e vendors.Entry, dir, prefix string, rows int) (list, error) {
	if e.Sample == nil {
		return list{}, fmt.Errorf("%s has no generated list", e.Spec.Name)
	}
	o := gen.Options{Rows: rows, InvalidEvery: invalidEvery, QuotedNewlineEvery: 101, Domain: prefix + ".example.com", IDPrefix: prefix}
	path := filepath.Join(dir, prefix+"-"+e.Spec.Name+".csv")
	st, err := gen.VendorFile(e.Spec.Name, path, o)
	if err != nil {
		return list{}, err
	}
	l := list{path: path, rows: st.Rows, valid: st.Valid, invalid: st.Invalid}
	for i := 0; i < st.Rows; i++ {
		if !o.Invalid(i) {
			l.keys = append(l.keys, e.Sample.Key(fakeapi.SampleOptions(o), i))
		}
	}
	return l, nil
}

func nebulyTarget(e vendors.Entry, dir, prefix string, rows int, s settings) (*target, error) {
	l, err := importList(e, dir, prefix, rows)
	if err != nil {
		return nil, err
	}
	fake := nebulyfake.New(nebulyfake.Options{APIKey: nebulyKey, Latency: s.latency, Seed: 1})
	t := &target{vendor: e.Spec.Name, fake: fake, faults: fake.Faults(), list: l,
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
	importTarget(t, e, s)
	return t, nil
}

func bitlabsTarget(e vendors.Entry, dir, prefix string, rows int, s settings) (*target, error) {
	l, err := importList(e, dir, prefix, rows)
	if err != nil {
		return nil, err
	}
	// A bulk holds BitLabs' one-at-a-time lock for the vendor latency, so
	// that two bulks sent together would be seen overlapping.
	fake := bitlabsfake.New(bitlabsfake.Options{Token: bitlabsToken, BulkLatency: s.latency, Seed: 1})
	t := &target{vendor: e.Spec.Name, fake: fake, faults: fake.Faults(), list: l,
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
	importTarget(t, e, s)
	return t, nil
}

func userpilotTarget(e vendors.Entry, dir, prefix string, rows int, s settings) (*target, error) {
	l, err := importList(e, dir, prefix, rows)
	if err != nil {
		return nil, err
	}
	fake := userpilotfake.New(userpilotfake.Options{APIKey: userpilotKey, RowsPerMinute: userpilotRate, Latency: s.latency, Seed: 1})
	t := &target{vendor: e.Spec.Name, fake: fake, faults: fake.Faults(), list: l,
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
	importTarget(t, e, s)
	return t, nil
}

func dynamicTarget(e vendors.Entry, dir, prefix string, rows int, s settings) (*target, error) {
	l, err := importList(e, dir, prefix, rows)
	if err != nil {
		return nil, err
	}
	fake := dynamicfake.New(dynamicfake.Options{Token: dynamicToken, Requests: dynamicfake.DefaultRequests,
		Window: dynamicfake.DefaultWindow / time.Duration(s.dynamicScale), Latency: s.latency, Seed: 1})
	t := &target{vendor: e.Spec.Name, fake: fake, faults: fake.Faults(), list: l,
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
	importTarget(t, e, s)
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
func fyndTarget(e vendors.Entry, dir, prefix string, rows int, s settings) (*target, error) {
	a := audienceList{prefix: prefix, rows: rows}
	l, err := a.write(filepath.Join(dir, prefix+"-"+e.Spec.Name+".csv"))
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
	t := &target{vendor: e.Spec.Name, fake: fake, faults: fake.Faults(), list: l,
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
			workflows.AudienceInput{Group: group, Source: source.Ref{URI: l.path, Format: source.CSV}, Mapping: audienceMapping(),
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
